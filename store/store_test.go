package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/tributary-data/tributary/store"
	"github.com/tributary-data/tributary/store/storetest"
)

// each runs f against a fresh store of every kind.
func each(t *testing.T, f func(t *testing.T, s store.Store)) { storetest.Each(t, f) }

func TestConnections(t *testing.T) {
	each(t, func(t *testing.T, s store.Store) {
		ctx := context.Background()
		c := &store.Connection{Name: "shop 'ü'", Connector: "postgres", Config: map[string]any{"url": "postgres://x", "n": 1.5}}
		if err := s.CreateConnection(ctx, c); err != nil {
			t.Fatal(err)
		}
		if err := s.CreateConnection(ctx, &store.Connection{Name: c.Name, Connector: "csv"}); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("duplicate name: got %v, want ErrConflict", err)
		}
		got, err := s.ConnectionByName(ctx, c.Name)
		if err != nil {
			t.Fatal(err)
		}
		if got.ID != c.ID || got.Connector != "postgres" || got.Config["url"] != "postgres://x" || got.Config["n"] != 1.5 {
			t.Fatalf("read back %+v", got)
		}
		got.Config["url"] = "postgres://y"
		if err := s.UpdateConnection(ctx, got); err != nil {
			t.Fatal(err)
		}
		again, err := s.Connection(ctx, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		if again.Config["url"] != "postgres://y" || !again.UpdatedAt.After(again.CreatedAt) && !again.UpdatedAt.Equal(again.CreatedAt) {
			t.Fatalf("after update %+v", again)
		}
		for i := range 3 {
			if err := s.CreateConnection(ctx, &store.Connection{Name: string(rune('a' + i)), Connector: "csv"}); err != nil {
				t.Fatal(err)
			}
		}
		page, err := s.Connections(ctx, store.Page{Limit: 2, Offset: 1})
		if err != nil {
			t.Fatal(err)
		}
		if len(page) != 2 || page[0].Name != "b" || page[1].Name != "c" {
			t.Fatalf("page = %+v", page)
		}
		if err := s.DeleteConnection(ctx, c.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Connection(ctx, c.ID); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("deleted connection: got %v, want ErrNotFound", err)
		}
		if err := s.DeleteConnection(ctx, c.ID); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("delete twice: got %v, want ErrNotFound", err)
		}
	})
}

func TestPipelineVersions(t *testing.T) {
	each(t, func(t *testing.T, s store.Store) {
		ctx := context.Background()
		p := &store.Pipeline{Name: "orders"}
		if err := s.CreatePipeline(ctx, p, json.RawMessage(`{"name":"orders","version":1}`)); err != nil {
			t.Fatal(err)
		}
		if p.Version != 1 || !p.Enabled {
			t.Fatalf("new pipeline %+v", p)
		}
		if err := s.CreatePipeline(ctx, &store.Pipeline{Name: "orders"}, json.RawMessage(`{}`)); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("duplicate: got %v", err)
		}
		v, err := s.AddPipelineVersion(ctx, p.ID, "orders2", json.RawMessage(`{"name":"orders2","version":1}`))
		if err != nil || v != 2 {
			t.Fatalf("add version = %d, %v", v, err)
		}
		got, err := s.Pipeline(ctx, p.ID)
		if err != nil || got.Version != 2 || got.Name != "orders2" {
			t.Fatalf("pipeline = %+v, %v", got, err)
		}
		vs, err := s.PipelineVersions(ctx, p.ID, store.Page{})
		if err != nil || len(vs) != 2 || vs[0].Version != 2 {
			t.Fatalf("versions = %+v, %v", vs, err)
		}
		var spec map[string]any
		if err := json.Unmarshal(vs[1].Spec, &spec); err != nil || spec["name"] != "orders" {
			t.Fatalf("version 1 spec = %s (%v)", vs[1].Spec, err)
		}
		if _, err := s.PipelineVersion(ctx, p.ID, 3); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("missing version: %v", err)
		}
		if _, err := s.AddPipelineVersion(ctx, "nope", "x", json.RawMessage(`{}`)); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("missing pipeline: %v", err)
		}
		if err := s.SetPipelineEnabled(ctx, p.ID, false); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.Pipeline(ctx, p.ID); got.Enabled {
			t.Fatal("still enabled")
		}
		list, err := s.Pipelines(ctx, store.Page{})
		if err != nil || len(list) != 1 {
			t.Fatalf("list = %+v, %v", list, err)
		}
	})
}

func TestRunLifecycle(t *testing.T) {
	each(t, func(t *testing.T, s store.Store) {
		ctx := context.Background()
		p := &store.Pipeline{Name: "p"}
		if err := s.CreatePipeline(ctx, p, json.RawMessage(`{}`)); err != nil {
			t.Fatal(err)
		}
		if _, err := s.CreateRun(ctx, store.NewRun{PipelineID: "nope"}); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("run of missing pipeline: %v", err)
		}
		a, err := s.CreateRun(ctx, store.NewRun{PipelineID: p.ID})
		if err != nil {
			t.Fatal(err)
		}
		b, err := s.CreateRun(ctx, store.NewRun{PipelineID: p.ID, FullRefresh: true})
		if err != nil {
			t.Fatal(err)
		}
		if a.Status != store.Queued || a.Version != 1 || !b.FullRefresh {
			t.Fatalf("runs %+v %+v", a, b)
		}
		lease := time.Now().Add(time.Minute)
		ra, err := s.ClaimRun(ctx, a.ID, lease)
		if err != nil || ra.Status != store.Running || ra.Attempts != 1 || ra.StartedAt == nil {
			t.Fatalf("claim a = %+v, %v", ra, err)
		}
		if _, err := s.ClaimRun(ctx, b.ID, lease); !errors.Is(err, store.ErrBusy) {
			t.Fatalf("claim b while a runs: %v, want ErrBusy", err)
		}
		if _, err := s.ClaimRun(ctx, a.ID, lease); !errors.Is(err, store.ErrBusy) {
			t.Fatalf("claim a twice: %v, want ErrBusy", err)
		}
		if err := s.RenewRun(ctx, a.ID, lease, json.RawMessage(`{"streams":[{"name":"s","read":5}]}`)); err != nil {
			t.Fatal(err)
		}
		if err := s.AddRunLog(ctx, a.ID, "info", "started"); err != nil {
			t.Fatal(err)
		}
		if err := s.FinishRun(ctx, a.ID, store.Succeeded, "", json.RawMessage(`{"streams":[{"name":"s","read":7}]}`)); err != nil {
			t.Fatal(err)
		}
		got, err := s.Run(ctx, a.ID)
		if err != nil || got.Status != store.Succeeded || got.FinishedAt == nil || got.LeaseUntil != nil {
			t.Fatalf("finished run %+v, %v", got, err)
		}
		var res struct{ Streams []struct{ Read int } }
		if err := json.Unmarshal(got.Result, &res); err != nil || res.Streams[0].Read != 7 {
			t.Fatalf("result %s, %v", got.Result, err)
		}
		if _, err := s.ClaimRun(ctx, a.ID, lease); !errors.Is(err, store.ErrRunDone) {
			t.Fatalf("claim finished run: %v, want ErrRunDone", err)
		}
		// b may run now; an expired lease lets a rescued job take it over.
		if _, err := s.ClaimRun(ctx, b.ID, time.Now().Add(-time.Second)); err != nil {
			t.Fatal(err)
		}
		rb, err := s.ClaimRun(ctx, b.ID, lease)
		if err != nil || rb.Attempts != 2 {
			t.Fatalf("take over expired lease: %+v, %v", rb, err)
		}
		if err := s.RequeueRun(ctx, b.ID); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.Run(ctx, b.ID); got.Status != store.Queued {
			t.Fatalf("requeued status %s", got.Status)
		}
		if err := s.CancelRun(ctx, b.ID); err != nil {
			t.Fatal(err)
		}
		if err := s.CancelRun(ctx, b.ID); !errors.Is(err, store.ErrRunDone) {
			t.Fatalf("cancel twice: %v, want ErrRunDone", err)
		}
		if err := s.CancelRun(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("cancel missing: %v, want ErrNotFound", err)
		}
		if got, _ := s.Run(ctx, b.ID); got.Status != store.Cancelled || got.FinishedAt == nil {
			t.Fatalf("cancelled run %+v", got)
		}
		runs, err := s.Runs(ctx, store.RunFilter{PipelineID: p.ID}, store.Page{Limit: 1})
		if err != nil || len(runs) != 1 {
			t.Fatalf("runs page %+v, %v", runs, err)
		}
		all, err := s.Runs(ctx, store.RunFilter{}, store.Page{})
		if err != nil || len(all) != 2 {
			t.Fatalf("all runs %+v, %v", all, err)
		}
		logs, err := s.RunLogs(ctx, a.ID, store.Page{})
		if err != nil || len(logs) != 1 || logs[0].Message != "started" {
			t.Fatalf("logs %+v, %v", logs, err)
		}
	})
}

// TestClaimIsExclusive races claims of many queued runs of one pipeline:
// exactly one may win.
func TestClaimIsExclusive(t *testing.T) {
	each(t, func(t *testing.T, s store.Store) {
		ctx := context.Background()
		p := &store.Pipeline{Name: "race"}
		if err := s.CreatePipeline(ctx, p, json.RawMessage(`{}`)); err != nil {
			t.Fatal(err)
		}
		const n = 8
		ids := make([]string, n)
		for i := range ids {
			r, err := s.CreateRun(ctx, store.NewRun{PipelineID: p.ID})
			if err != nil {
				t.Fatal(err)
			}
			ids[i] = r.ID
		}
		var (
			wg   sync.WaitGroup
			mu   sync.Mutex
			won  int
			errs []error
		)
		for _, id := range ids {
			wg.Go(func() {
				_, err := s.ClaimRun(ctx, id, time.Now().Add(time.Minute))
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					won++
				case !errors.Is(err, store.ErrBusy):
					errs = append(errs, err)
				}
			})
		}
		wg.Wait()
		if won != 1 || len(errs) > 0 {
			t.Fatalf("%d claims won, errors %v", won, errs)
		}
	})
}

func TestMigrateTwice(t *testing.T) {
	dir := t.TempDir()
	for range 2 {
		s, err := store.Open(context.Background(), store.Options{DataDir: dir})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Ping(context.Background()); err != nil {
			t.Fatal(err)
		}
		s.Close()
	}
}
