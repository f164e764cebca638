package jobs_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tributary-data/tributary/connector"
	"github.com/tributary-data/tributary/jobs"
	"github.com/tributary-data/tributary/store"
)

// flakySource fails its first `fail` reads of a key, then reads nothing.
type flakySource struct{ key string }

type flakyConfig struct {
	Key  string `json:"key"`
	Fail int    `json:"fail"`
}

var flaky = struct {
	sync.Mutex
	reads map[string]int
	fail  map[string]int
}{reads: map[string]int{}, fail: map[string]int{}}

func (flakySource) Check(context.Context) error { return nil }
func (flakySource) Discover(context.Context) (*connector.Catalog, error) {
	return &connector.Catalog{}, nil
}
func (flakySource) Close() error { return nil }
func (f flakySource) Read(context.Context, connector.ReadRequest, connector.Emitter) error {
	flaky.Lock()
	defer flaky.Unlock()
	flaky.reads[f.key]++
	if n := flaky.reads[f.key]; n <= flaky.fail[f.key] {
		return fmt.Errorf("flaky failure %d", n)
	}
	return nil
}

func init() {
	connector.RegisterSource(connector.NewSpec[flakyConfig, struct{}]("jobs-test-flaky", "fails its first reads"),
		func(_ context.Context, raw json.RawMessage) (connector.Source, error) {
			var c flakyConfig
			if err := json.Unmarshal(raw, &c); err != nil {
				return nil, err
			}
			flaky.Lock()
			flaky.fail[c.Key] = c.Fail
			flaky.Unlock()
			return flakySource{key: c.Key}, nil
		})
}

// startQueue runs a queue with one worker for the test.
func startQueue(t *testing.T, s store.Store, runner *jobs.Runner) *jobs.Queue {
	t.Helper()
	ctx := context.Background()
	q, err := jobs.NewQueue(ctx, s, runner, jobs.Options{Workers: 1, PollInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	if err := q.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := q.Stop(ctx); err != nil {
			t.Error(err)
		}
	})
	return q
}

func createPipeline(t *testing.T, s store.Store, name string, source, options map[string]any, dir string) string {
	t.Helper()
	spec, err := json.Marshal(map[string]any{
		"version": 1, "name": name,
		"source":      source,
		"destination": map[string]any{"connector": "sqlite", "config": map[string]any{"path": filepath.Join(dir, name+".db")}},
		"options":     options,
	})
	if err != nil {
		t.Fatal(err)
	}
	p := &store.Pipeline{Name: name}
	if err := s.CreatePipeline(context.Background(), p, spec); err != nil {
		t.Fatal(err)
	}
	return p.ID
}

func queueRun(t *testing.T, s store.Store, q *jobs.Queue, pipelineID string) string {
	t.Helper()
	run, err := s.CreateRun(context.Background(), store.NewRun{PipelineID: pipelineID})
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Enqueue(context.Background(), run.ID); err != nil {
		t.Fatal(err)
	}
	return run.ID
}

func outcomes(t *testing.T, s store.Store, runID string) []store.Attempt {
	t.Helper()
	as, err := s.Attempts(context.Background(), runID)
	if err != nil {
		t.Fatal(err)
	}
	return as
}

func logText(t *testing.T, s store.Store, runID string) string {
	t.Helper()
	ls, err := s.RunLogs(context.Background(), runID, store.Page{Limit: 500})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, l := range ls {
		b.WriteString(l.Level + " " + l.Message + "\n")
	}
	return b.String()
}

// TestRetries: failed attempts are retried with backoff while the
// pipeline's retries allow, each recorded with its error and next time;
// the last failure is final. Setup errors are not retried.
func TestRetries(t *testing.T) {
	cases := []struct {
		name     string
		fail     int
		options  map[string]any
		status   store.RunStatus
		outcomes []store.Outcome
		logs     []string
	}{
		{"succeeds on the third attempt", 2, map[string]any{"retries": 3, "retry_backoff": "200ms"}, store.Succeeded,
			[]store.Outcome{store.AttemptFailed, store.AttemptFailed, store.AttemptSucceeded},
			[]string{"attempt 1 failed: read: flaky failure 1; retry 1 of 3 at", "attempt 2 failed: read: flaky failure 2; retry 2 of 3", "attempt 3 started by"}},
		{"fails when retries run out", 5, map[string]any{"retries": 1, "retry_backoff": "100ms"}, store.Failed,
			[]store.Outcome{store.AttemptFailed, store.AttemptFailed},
			[]string{"retry 1 of 1", "run finished status=failed error=read: flaky failure 2 attempt=2"}},
		{"no retries by default", 1, nil, store.Failed, []store.Outcome{store.AttemptFailed}, []string{"run finished status=failed"}},
	}
	for name, open := range openStores(t) {
		for i, c := range cases {
			t.Run(name+"/"+c.name, func(t *testing.T) {
				t.Parallel()
				s := open(t)
				dir := t.TempDir()
				key := fmt.Sprintf("%s-%d", name, i)
				src := map[string]any{"connector": "jobs-test-flaky", "config": map[string]any{"key": key, "fail": c.fail}, "streams": []any{map[string]any{"name": "s"}}}
				pl := createPipeline(t, s, "flaky", src, c.options, dir)
				q := startQueue(t, s, &jobs.Runner{Store: s, DataDir: dir, Worker: "test:1"})
				runID := queueRun(t, s, q, pl)
				got := waitDone(t, s, runID)
				if got.Status != c.status {
					t.Fatalf("status %s (%s), want %s\n%s", got.Status, got.Error, c.status, logText(t, s, runID))
				}
				as := outcomes(t, s, runID)
				if len(as) != len(c.outcomes) {
					t.Fatalf("attempts %+v, want outcomes %v", as, c.outcomes)
				}
				for j, want := range c.outcomes {
					a := as[j]
					if a.Outcome != want || a.Worker != "test:1" {
						t.Errorf("attempt %d: %+v, want %s", j+1, a, want)
					}
					retried := want == store.AttemptFailed && j < len(c.outcomes)-1
					if retried && (a.RetryAt == nil || a.Error == "") {
						t.Errorf("retried attempt %d lacks its error or retry time: %+v", j+1, a)
					}
					if retried && j > 0 && a.RetryAt.Sub(*a.FinishedAt) < 100*time.Millisecond {
						t.Errorf("retry %d after %s: the backoff does not grow", j+1, a.RetryAt.Sub(*a.FinishedAt))
					}
					if j > 0 && as[j-1].RetryAt != nil && a.StartedAt.Before(as[j-1].RetryAt.Add(-10*time.Millisecond)) {
						t.Errorf("attempt %d started %v, before its retry time %v", j+1, a.StartedAt, as[j-1].RetryAt)
					}
				}
				mustContain(t, logText(t, s, runID), c.logs...)
			})
		}
	}
}

func mustContain(t *testing.T, got string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(got, w) {
			t.Errorf("missing %q in:\n%s", w, got)
		}
	}
}

// TestRetryWaitIsVisible: between attempts the run is queued with the
// last error, and its failed attempt says when the next one is due.
func TestRetryWaitIsVisible(t *testing.T) {
	ctx := context.Background()
	s, err := store.Open(ctx, store.Options{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	dir := t.TempDir()
	src := map[string]any{"connector": "jobs-test-flaky", "config": map[string]any{"key": "visible", "fail": 1}, "streams": []any{map[string]any{"name": "s"}}}
	pl := createPipeline(t, s, "visible", src, map[string]any{"retries": 1, "retry_backoff": "3s"}, dir)
	q := startQueue(t, s, &jobs.Runner{Store: s, DataDir: dir})
	runID := queueRun(t, s, q, pl)
	deadline := time.Now().Add(10 * time.Second)
	for {
		as := outcomes(t, s, runID)
		if len(as) == 1 && as[0].Outcome == store.AttemptFailed {
			run, err := s.Run(ctx, runID)
			if err != nil {
				t.Fatal(err)
			}
			if run.Status != store.Queued || run.Error != "read: flaky failure 1" {
				t.Fatalf("run between attempts: %s %q", run.Status, run.Error)
			}
			// Due 1.5 s to 3 s after the failure, seen a little later.
			if d := as[0].RetryAt.Sub(*as[0].FinishedAt); d < 1500*time.Millisecond || d > 3*time.Second {
				t.Fatalf("next attempt %s after the failure, want 1.5s to 3s", d)
			}
			if time.Until(*as[0].RetryAt) <= 0 {
				t.Fatalf("the run is queued, but its next attempt was due at %v", as[0].RetryAt)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no failed attempt: %+v", as)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := waitDone(t, s, runID); got.Status != store.Succeeded {
		t.Fatalf("run %s: %s", got.Status, got.Error)
	}
}

// TestTimeout: an attempt longer than options.timeout fails with a clear
// error, and is retried like any failure.
func TestTimeout(t *testing.T) {
	for name, open := range openStores(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := open(t)
			dir := t.TempDir()
			src := map[string]any{"connector": "jobs-test-wait", "streams": []any{map[string]any{"name": "s"}}}
			pl := createPipeline(t, s, "slow", src, map[string]any{"timeout": "300ms", "retries": 1, "retry_backoff": "50ms"}, dir)
			q := startQueue(t, s, &jobs.Runner{Store: s, DataDir: dir})
			start := time.Now()
			runID := queueRun(t, s, q, pl)
			got := waitDone(t, s, runID)
			if got.Status != store.Failed || got.Error != "timed out after 300ms" {
				t.Fatalf("run %s %q, want failed: timed out after 300ms", got.Status, got.Error)
			}
			if took := time.Since(start); took < 600*time.Millisecond || took > 10*time.Second {
				t.Errorf("two attempts of 300ms took %s", took)
			}
			as := outcomes(t, s, runID)
			if len(as) != 2 || as[0].Error != "timed out after 300ms" || as[1].Outcome != store.AttemptFailed {
				t.Errorf("attempts %+v", as)
			}
		})
	}
}

// TestPromptCancel: a cancelled run stops within about a second, long
// before its next lease renewal, and is recorded cancelled.
func TestPromptCancel(t *testing.T) {
	for name, open := range openStores(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			s := open(t)
			dir := t.TempDir()
			src := map[string]any{"connector": "jobs-test-wait", "streams": []any{map[string]any{"name": "s"}}}
			pl := createPipeline(t, s, "waits", src, map[string]any{"retries": 3}, dir)
			// The default lease renews every 10 s; only the poll can notice.
			q := startQueue(t, s, &jobs.Runner{Store: s, DataDir: dir})
			runID := queueRun(t, s, q, pl)
			waitStatus(t, s, runID, store.Running)
			cancelled := time.Now()
			if err := s.CancelRun(ctx, runID); err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(5 * time.Second)
			for {
				as := outcomes(t, s, runID)
				if len(as) == 1 && as[0].Outcome != "" {
					if as[0].Outcome != store.AttemptCancelled {
						t.Fatalf("attempt %+v, want cancelled", as[0])
					}
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("run still running %s after the cancel: %+v", time.Since(cancelled), as)
				}
				time.Sleep(20 * time.Millisecond)
			}
			if took := time.Since(cancelled); took > 3*time.Second {
				t.Errorf("the run stopped %s after the cancel, want about a second", took)
			}
			if got, err := s.Run(ctx, runID); err != nil || got.Status != store.Cancelled {
				t.Fatalf("run %+v, %v", got, err)
			}
			mustContain(t, logText(t, s, runID), "status=cancelled")
		})
	}
}

// TestRescueOfDeadWorker: a run claimed by a worker that died (its lease
// is never renewed) is queued again by the sweep of a live worker, which
// resumes it and records the rescue.
func TestRescueOfDeadWorker(t *testing.T) {
	for name, open := range openStores(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			s := open(t)
			dir := t.TempDir()
			src := map[string]any{"connector": "jobs-test-flaky", "config": map[string]any{"key": "rescue-" + name}, "streams": []any{map[string]any{"name": "s"}}}
			pl := createPipeline(t, s, "orphan", src, nil, dir)
			run, err := s.CreateRun(ctx, store.NewRun{PipelineID: pl})
			if err != nil {
				t.Fatal(err)
			}
			// The dead worker claimed the run; its job is gone with it.
			if _, _, err := s.ClaimAttempt(ctx, run.ID, "ghost:1", time.Now().Add(600*time.Millisecond)); err != nil {
				t.Fatal(err)
			}
			startQueue(t, s, &jobs.Runner{Store: s, DataDir: dir, Worker: "alive:2", Lease: 900 * time.Millisecond})
			got := waitDone(t, s, run.ID)
			if got.Status != store.Succeeded {
				t.Fatalf("rescued run %s: %s", got.Status, got.Error)
			}
			as := outcomes(t, s, run.ID)
			if len(as) != 2 || as[0].Worker != "ghost:1" || as[0].Outcome != store.AttemptLost || as[1].Worker != "alive:2" || as[1].Outcome != store.AttemptSucceeded {
				t.Fatalf("attempts %+v", as)
			}
			mustContain(t, logText(t, s, run.ID),
				"worker ghost:1 lost: no lease renewal for 900ms during attempt 1; run queued again by alive:2",
				"worker ghost:1 lost; resumed from checkpoint by alive:2 (attempt 2)")
		})
	}
}

func TestBackoff(t *testing.T) {
	cases := []struct {
		base     time.Duration
		n        int
		min, max time.Duration
	}{
		{time.Second, 1, 500 * time.Millisecond, time.Second},
		{time.Second, 3, 2 * time.Second, 4 * time.Second},
		{time.Minute, 5, 5 * time.Minute, 10 * time.Minute},
		{time.Minute, 60, 5 * time.Minute, 10 * time.Minute},
		{time.Hour, 3, 30 * time.Minute, time.Hour},
	}
	for _, c := range cases {
		for range 50 {
			if d := jobs.Backoff(c.base, c.n); d < c.min || d > c.max {
				t.Fatalf("Backoff(%s, %d) = %s, want %s..%s", c.base, c.n, d, c.min, c.max)
			}
		}
	}
	var re *jobs.RetryError
	if !errors.As(fmt.Errorf("wrapped: %w", &jobs.RetryError{Delay: time.Second}), &re) || re.Delay != time.Second {
		t.Fatal("RetryError does not unwrap")
	}
}
