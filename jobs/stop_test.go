package jobs_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/tributary-data/tributary/connector"
	"github.com/tributary-data/tributary/jobs"
	"github.com/tributary-data/tributary/store"
)

// waitSource is a source whose reads wait until their context ends, so a
// test can act on a run while it is running.
type waitSource struct{}

func (waitSource) Check(context.Context) error { return nil }
func (waitSource) Discover(context.Context) (*connector.Catalog, error) {
	return &connector.Catalog{}, nil
}
func (waitSource) Close() error { return nil }
func (waitSource) Read(ctx context.Context, _ connector.ReadRequest, _ connector.Emitter) error {
	<-ctx.Done()
	return ctx.Err()
}

func init() {
	connector.RegisterSource(connector.NewSpec[struct{}, struct{}]("jobs-test-wait", "waits for its context to end"),
		func(context.Context, json.RawMessage) (connector.Source, error) { return waitSource{}, nil })
}

func waitStatus(t *testing.T, s store.Store, id string, want store.RunStatus) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		r, err := s.Run(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if r.Status == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("run %s is %s, want %s (error %q)", id, r.Status, want, r.Error)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestCancelAndStop(t *testing.T) {
	cases := []struct {
		name string
		// act interrupts the running run; the run then sees its source end.
		act  func(t *testing.T, s store.Store, q *jobs.Queue, runID string)
		want store.RunStatus
	}{
		{"cancel through the store", func(t *testing.T, s store.Store, _ *jobs.Queue, runID string) {
			// The lease renewal notices within a third of the lease.
			if err := s.CancelRun(context.Background(), runID); err != nil {
				t.Fatal(err)
			}
		}, store.Cancelled},
		{"worker stops", func(t *testing.T, _ store.Store, q *jobs.Queue, _ string) {
			if err := q.Stop(context.Background()); err != nil {
				t.Error(err)
			}
		}, store.Queued},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			dir := t.TempDir()
			s, err := store.Open(ctx, store.Options{DataDir: dir})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			spec, _ := json.Marshal(map[string]any{
				"version": 1, "name": "slow",
				"source":      map[string]any{"connector": "jobs-test-wait", "streams": []any{map[string]any{"name": "s"}}},
				"destination": map[string]any{"connector": "sqlite", "config": map[string]any{"path": filepath.Join(dir, "out.db")}},
			})
			pl := &store.Pipeline{Name: "slow"}
			if err := s.CreatePipeline(ctx, pl, spec); err != nil {
				t.Fatal(err)
			}
			runner := &jobs.Runner{Store: s, DataDir: dir, Lease: 300 * time.Millisecond}
			q, err := jobs.NewQueue(ctx, s, runner, jobs.Options{Workers: 1, PollInterval: 50 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			defer q.Close()
			if err := q.Start(ctx); err != nil {
				t.Fatal(err)
			}
			defer q.Stop(ctx)
			run, err := s.CreateRun(ctx, store.NewRun{PipelineID: pl.ID})
			if err != nil {
				t.Fatal(err)
			}
			if err := q.Enqueue(ctx, run.ID); err != nil {
				t.Fatal(err)
			}
			waitStatus(t, s, run.ID, store.Running)
			c.act(t, s, q, run.ID)
			waitStatus(t, s, run.ID, c.want)
		})
	}
}
