package jobs_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	_ "github.com/tributary-data/tributary/connectors/all"
	"github.com/tributary-data/tributary/engine"
	"github.com/tributary-data/tributary/jobs"
	"github.com/tributary-data/tributary/store"
	"github.com/tributary-data/tributary/store/storetest"
)

func openStores(*testing.T) map[string]func(t *testing.T) store.Store {
	out := map[string]func(t *testing.T) store.Store{}
	for _, kind := range storetest.Kinds {
		out[kind] = func(t *testing.T) store.Store { return storetest.Open(t, kind, t.TempDir()) }
	}
	return out
}

func TestRunsExecuteThroughTheQueue(t *testing.T) {
	for name, open := range openStores(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			s := open(t)
			dir := t.TempDir()
			csv := filepath.Join(dir, "people.csv")
			if err := os.WriteFile(csv, []byte("id,name\n1,Ann\n2,Bob\nx,Eve\n3,Joe\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := s.CreateConnection(ctx, &store.Connection{Name: "out", Connector: "sqlite", Config: map[string]any{"path": filepath.Join(dir, "out.db")}}); err != nil {
				t.Fatal(err)
			}
			good := pipeline(t, s, "people", map[string]any{"connection": "out"}, csv)
			broken := pipeline(t, s, "broken", map[string]any{"connection": "missing"}, csv)

			reg := prometheus.NewRegistry()
			runner := &jobs.Runner{Store: s, DataDir: dir, Metrics: jobs.NewMetrics(reg), Lease: 3 * time.Second}
			q, err := jobs.NewQueue(ctx, s, runner, jobs.Options{Workers: 2, PollInterval: 50 * time.Millisecond})
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

			cases := []struct {
				pipeline          string
				status            store.RunStatus
				read, written, qu int64
				errContains       string
			}{
				{good, store.Succeeded, 4, 3, 1, ""},
				{broken, store.Failed, 0, 0, 0, `no stored connection named "missing"`},
			}
			for _, c := range cases {
				run, err := s.CreateRun(ctx, store.NewRun{PipelineID: c.pipeline})
				if err != nil {
					t.Fatal(err)
				}
				if err := q.Enqueue(ctx, run.ID); err != nil {
					t.Fatal(err)
				}
				got := waitDone(t, s, run.ID)
				if got.Status != c.status {
					t.Fatalf("run of %s: status %s (error %q), want %s", c.pipeline, got.Status, got.Error, c.status)
				}
				if c.errContains != "" {
					if !contains(got.Error, c.errContains) {
						t.Errorf("error %q does not contain %q", got.Error, c.errContains)
					}
					continue
				}
				var res engine.Result
				if err := json.Unmarshal(got.Result, &res); err != nil {
					t.Fatal(err)
				}
				if len(res.Streams) != 1 {
					t.Fatalf("streams %+v", res.Streams)
				}
				st := res.Streams[0]
				if st.Read != c.read || st.Written != c.written || st.Quarantined != c.qu {
					t.Errorf("stream %+v, want read %d written %d quarantined %d", st, c.read, c.written, c.qu)
				}
				logs, err := s.RunLogs(ctx, run.ID, store.Page{})
				if err != nil || len(logs) < 2 {
					t.Errorf("run logs %+v, %v", logs, err)
				}
			}
			if v := testutil.ToFloat64(runner.Metrics.RowsWritten.WithLabelValues("people")); v != 3 {
				t.Errorf("rows written metric = %v, want 3", v)
			}
			if v := testutil.ToFloat64(runner.Metrics.Runs.WithLabelValues("broken", "failed")); v != 1 {
				t.Errorf("failed runs metric = %v, want 1", v)
			}
			if r, qu := testutil.ToFloat64(runner.Metrics.RowsRead.WithLabelValues("people")), testutil.ToFloat64(runner.Metrics.RowsQuarantined.WithLabelValues("people")); r != 4 || qu != 1 {
				t.Errorf("rows read and quarantined metrics = %v, %v, want 4, 1", r, qu)
			}
			// Three rows written: an int64 id (8 bytes) and a three-letter name each.
			if b := testutil.ToFloat64(runner.Metrics.BytesWritten.WithLabelValues("people")); b != 33 {
				t.Errorf("bytes written metric = %v, want 33", b)
			}
			// One duration observed per finished run of the pipeline.
			if n := histogramCount(t, reg, "tributary_run_duration_seconds", "people"); n != 1 {
				t.Errorf("run durations of people observed %d times, want 1", n)
			}

			// Two runs of one pipeline queued together run one after the
			// other; the second resumes from the first's state.
			a, _ := s.CreateRun(ctx, store.NewRun{PipelineID: good})
			b, _ := s.CreateRun(ctx, store.NewRun{PipelineID: good})
			for _, r := range []*store.Run{a, b} {
				if err := q.Enqueue(ctx, r.ID); err != nil {
					t.Fatal(err)
				}
			}
			ra, rb := waitDone(t, s, a.ID), waitDone(t, s, b.ID)
			if ra.Status != store.Succeeded || rb.Status != store.Succeeded {
				t.Fatalf("statuses %s (%s), %s (%s)", ra.Status, ra.Error, rb.Status, rb.Error)
			}
			if ra.StartedAt.Before(*rb.FinishedAt) && rb.StartedAt.Before(*ra.FinishedAt) {
				t.Errorf("runs overlapped: a %v..%v, b %v..%v", ra.StartedAt, ra.FinishedAt, rb.StartedAt, rb.FinishedAt)
			}
		})
	}
}

func pipeline(t *testing.T, s store.Store, name string, dest map[string]any, csv string) string {
	t.Helper()
	spec := map[string]any{
		"version": 1,
		"name":    name,
		"source": map[string]any{
			"connector": "csv",
			"config":    map[string]any{"path": csv},
			"streams":   []any{map[string]any{"name": "people", "sync_mode": "incremental_append", "cursor_field": "id", "schema": map[string]any{"id": "int64"}}},
		},
		"destination": dest,
	}
	b, err := json.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	p := &store.Pipeline{Name: name}
	if err := s.CreatePipeline(context.Background(), p, b); err != nil {
		t.Fatal(err)
	}
	return p.ID
}

func waitDone(t *testing.T, s store.Store, id string) *store.Run {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		r, err := s.Run(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if r.Status.Done() {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("run %s still %s", id, r.Status)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
