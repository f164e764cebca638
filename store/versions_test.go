package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/tributary-data/tributary/store"
)

func TestSavePipelineVersionAuthorAndUnchanged(t *testing.T) {
	each(t, func(t *testing.T, s store.Store) {
		ctx := context.Background()
		p := &store.Pipeline{Name: "orders"}
		if err := s.CreatePipelineBy(ctx, p, json.RawMessage(`{"name":"orders","version":1}`), "ana"); err != nil {
			t.Fatal(err)
		}
		steps := []struct {
			spec    string
			author  string
			version int
			changed bool
		}{
			// Same values, other key order and spacing: nothing saved.
			{`{ "version": 1.0, "name": "orders" }`, "bob", 1, false},
			{`{"name":"orders","version":1,"options":{"batch_size":5}}`, "bob", 2, true},
			{`{"name":"orders","version":1,"options":{"batch_size":5}}`, "", 2, false},
			{`{"name":"orders","version":1}`, "", 3, true},
		}
		for i, st := range steps {
			v, changed, err := s.SavePipelineVersion(ctx, p.ID, "orders", json.RawMessage(st.spec), st.author)
			if err != nil || v != st.version || changed != st.changed {
				t.Fatalf("save %d: version %d changed %v err %v; want %d %v", i, v, changed, err, st.version, st.changed)
			}
		}
		vs, err := s.PipelineVersions(ctx, p.ID, store.Page{})
		if err != nil {
			t.Fatal(err)
		}
		var authors []string
		for _, v := range vs {
			authors = append(authors, v.Author)
		}
		if want := []string{"", "bob", "ana"}; !slices.Equal(authors, want) {
			t.Fatalf("authors newest first = %q, want %q", authors, want)
		}
		if _, _, err := s.SavePipelineVersion(ctx, "nope", "x", json.RawMessage(`{}`), ""); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("missing pipeline: %v", err)
		}
		other := &store.Pipeline{Name: "other"}
		if err := s.CreatePipelineBy(ctx, other, json.RawMessage(`{"name":"other"}`), ""); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.SavePipelineVersion(ctx, other.ID, "orders", json.RawMessage(`{"name":"orders"}`), ""); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("rename onto a taken name: %v", err)
		}
		got, err := s.PipelineByName(ctx, "orders")
		if err != nil || got.ID != p.ID || got.Version != 3 {
			t.Fatalf("by name = %+v, %v", got, err)
		}
		if _, err := s.PipelineByName(ctx, "missing"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("missing name: %v", err)
		}
	})
}

func TestListPipelinesFilterSort(t *testing.T) {
	each(t, func(t *testing.T, s store.Store) {
		ctx := context.Background()
		ids := map[string]string{}
		for _, name := range []string{"sales_eu", "sales-us", "inventory", "sales%x"} {
			p := &store.Pipeline{Name: name}
			if err := s.CreatePipelineBy(ctx, p, json.RawMessage(`{}`), ""); err != nil {
				t.Fatal(err)
			}
			ids[name] = p.ID
			// updated_at has microsecond precision; keep the order certain.
			time.Sleep(2 * time.Millisecond)
		}
		if err := s.SetPipelineEnabled(ctx, ids["sales-us"], false); err != nil {
			t.Fatal(err)
		}
		no, yes := false, true
		// Names with punctuation sort by the database's collation, which
		// differs between the stores: those cases compare sets, and the
		// name order is checked on the first and last names only.
		cases := []struct {
			name    string
			q       store.PipelineQuery
			want    []string
			ordered bool
		}{
			{"all by name", store.PipelineQuery{}, []string{"inventory", "sales%x", "sales-us", "sales_eu"}, false},
			{"contains ignoring case", store.PipelineQuery{NameContains: "SALES"}, []string{"sales%x", "sales-us", "sales_eu"}, false},
			{"percent is literal", store.PipelineQuery{NameContains: "%"}, []string{"sales%x"}, true},
			{"underscore is literal", store.PipelineQuery{NameContains: "s_"}, []string{"sales_eu"}, true},
			{"disabled", store.PipelineQuery{Enabled: &no}, []string{"sales-us"}, true},
			{"enabled sales", store.PipelineQuery{NameContains: "sales", Enabled: &yes}, []string{"sales%x", "sales_eu"}, false},
			// sales-us was updated last, by the disable.
			{"updated_at desc", store.PipelineQuery{Sort: "updated_at", Desc: true}, []string{"sales-us", "sales%x", "inventory", "sales_eu"}, true},
			{"updated_at asc", store.PipelineQuery{Sort: "updated_at"}, []string{"sales_eu", "inventory", "sales%x", "sales-us"}, true},
		}
		names := func(q store.PipelineQuery) []string {
			ps, err := s.ListPipelines(ctx, q, store.Page{})
			if err != nil {
				t.Fatalf("%+v: %v", q, err)
			}
			var got []string
			for _, p := range ps {
				got = append(got, p.Name)
			}
			return got
		}
		for _, c := range cases {
			got := names(c.q)
			cmp := slices.Clone(got)
			if !c.ordered {
				slices.Sort(cmp)
			}
			if !slices.Equal(cmp, c.want) {
				t.Errorf("%s: got %q, want %q", c.name, got, c.want)
			}
		}
		if got := names(store.PipelineQuery{}); got[0] != "inventory" {
			t.Errorf("by name: %q", got)
		}
		if got := names(store.PipelineQuery{Desc: true}); got[3] != "inventory" {
			t.Errorf("by name, descending: %q", got)
		}
		if _, err := s.ListPipelines(ctx, store.PipelineQuery{Sort: "id"}, store.Page{}); err == nil {
			t.Fatal("unknown sort accepted")
		}
	})
}

func TestDeletePipeline(t *testing.T) {
	each(t, func(t *testing.T, s store.Store) {
		ctx := context.Background()
		p := &store.Pipeline{Name: "orders"}
		if err := s.CreatePipelineBy(ctx, p, json.RawMessage(`{}`), ""); err != nil {
			t.Fatal(err)
		}
		run, err := s.CreateRun(ctx, store.NewRun{PipelineID: p.ID})
		if err != nil {
			t.Fatal(err)
		}
		idle := func() error {
			called := false
			err := s.WhileIdle(ctx, p.ID, func(context.Context) error { called = true; return nil })
			if (err == nil) != called {
				t.Fatalf("WhileIdle returned %v, called %v", err, called)
			}
			return err
		}
		// A queued run is not running.
		if err := idle(); err != nil {
			t.Fatalf("idle with a queued run: %v", err)
		}
		if err := s.DeletePipeline(ctx, p.ID); !errors.Is(err, store.ErrActiveRuns) {
			t.Fatalf("delete with a queued run: %v", err)
		}
		if _, err := s.ClaimRun(ctx, run.ID, time.Now().Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		if err := idle(); !errors.Is(err, store.ErrBusy) {
			t.Fatalf("idle with a running run: %v", err)
		}
		if err := s.DeletePipeline(ctx, p.ID); !errors.Is(err, store.ErrActiveRuns) {
			t.Fatalf("delete with a running run: %v", err)
		}
		if err := s.AddRunLog(ctx, run.ID, "info", "hello"); err != nil {
			t.Fatal(err)
		}
		if err := s.FinishRun(ctx, run.ID, store.Succeeded, "", nil); err != nil {
			t.Fatal(err)
		}
		if err := s.DeletePipeline(ctx, p.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Pipeline(ctx, p.ID); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("deleted pipeline: %v", err)
		}
		if _, err := s.Run(ctx, run.ID); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("run of a deleted pipeline: %v", err)
		}
		if err := s.DeletePipeline(ctx, p.ID); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("delete twice: %v", err)
		}
		if err := idle(); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("idle of a deleted pipeline: %v", err)
		}
	})
}
