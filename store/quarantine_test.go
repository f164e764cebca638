package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/tributary-data/tributary/store"
)

// finished makes a run of p with the trigger and final status, started and
// finished so that it lasted d.
func finished(t *testing.T, s store.Store, pipelineID string, trigger store.Trigger, status store.RunStatus, d time.Duration) *store.Run {
	t.Helper()
	ctx := context.Background()
	r, err := s.CreateRun(ctx, store.NewRun{PipelineID: pipelineID, Trigger: trigger})
	if err != nil {
		t.Fatal(err)
	}
	if status == store.Queued {
		return r
	}
	if _, err := s.ClaimRun(ctx, r.ID, time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if status != store.Running {
		time.Sleep(d)
		if err := s.FinishRun(ctx, r.ID, status, "", nil); err != nil {
			t.Fatal(err)
		}
	}
	return r
}

func ids(rs []store.Run) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.ID
	}
	return out
}

func TestRunFilters(t *testing.T) {
	each(t, func(t *testing.T, s store.Store) {
		ctx := context.Background()
		p := &store.Pipeline{Name: "a"}
		q := &store.Pipeline{Name: "b"}
		for _, x := range []*store.Pipeline{p, q} {
			if err := s.CreatePipeline(ctx, x, json.RawMessage(`{}`)); err != nil {
				t.Fatal(err)
			}
		}
		slow := finished(t, s, p.ID, store.TriggerManual, store.Succeeded, 400*time.Millisecond)
		bad := finished(t, s, p.ID, store.TriggerSchedule, store.Failed, 0)
		mid := time.Now()
		other := finished(t, s, q.ID, store.TriggerManual, store.Succeeded, 150*time.Millisecond)
		queued := finished(t, s, p.ID, store.TriggerReplay, store.Queued, 0)

		cases := []struct {
			name string
			f    store.RunFilter
			want []*store.Run
		}{
			{"all newest first", store.RunFilter{}, []*store.Run{queued, other, bad, slow}},
			{"oldest first", store.RunFilter{Sort: store.SortOldest}, []*store.Run{slow, bad, other, queued}},
			{"pipeline", store.RunFilter{PipelineID: p.ID}, []*store.Run{queued, bad, slow}},
			{"one status", store.RunFilter{Statuses: []store.RunStatus{store.Succeeded}}, []*store.Run{other, slow}},
			{"two statuses", store.RunFilter{PipelineID: p.ID, Statuses: []store.RunStatus{store.Failed, store.Queued}}, []*store.Run{queued, bad}},
			{"trigger", store.RunFilter{Trigger: store.TriggerSchedule}, []*store.Run{bad}},
			{"created from", store.RunFilter{CreatedFrom: mid}, []*store.Run{queued, other}},
			{"created to", store.RunFilter{CreatedTo: mid}, []*store.Run{bad, slow}},
			{"longest, unfinished last", store.RunFilter{Sort: store.SortLongest}, []*store.Run{slow, other, bad, queued}},
			{"shortest, unfinished last", store.RunFilter{Sort: store.SortShortest}, []*store.Run{bad, other, slow, queued}},
		}
		for _, c := range cases {
			got, err := s.Runs(ctx, c.f, store.Page{})
			if err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			want := make([]string, len(c.want))
			for i, r := range c.want {
				want[i] = r.ID
			}
			if !slices.Equal(ids(got), want) {
				t.Errorf("%s: got %v, want %v", c.name, ids(got), want)
			}
		}
		page, err := s.Runs(ctx, store.RunFilter{Sort: store.SortOldest}, store.Page{Limit: 2, Offset: 1})
		if err != nil || !slices.Equal(ids(page), []string{bad.ID, other.ID}) {
			t.Errorf("page: %v, %v", ids(page), err)
		}
		if _, err := s.Runs(ctx, store.RunFilter{Sort: "name"}, store.Page{}); err == nil {
			t.Error("unknown sort accepted")
		}
	})
}

func TestQuarantine(t *testing.T) {
	each(t, func(t *testing.T, s store.Store) {
		ctx := context.Background()
		p := &store.Pipeline{Name: "q"}
		if err := s.CreatePipeline(ctx, p, json.RawMessage(`{}`)); err != nil {
			t.Fatal(err)
		}
		run := finished(t, s, p.ID, store.TriggerManual, store.Running, 0)
		// More rows than the store keeps: the counts say so, the rows kept
		// are the first ones.
		var rows []store.QuarantinedRow
		for i := range store.MaxQuarantinedPerRun + 5 {
			stream := "people"
			if i%2 == 1 {
				stream = "orders"
			}
			rows = append(rows, store.QuarantinedRow{Stream: stream, Origin: fmt.Sprintf("f.csv:%d", i+2), Raw: fmt.Sprintf(`{"id": %d}`, i), Reason: "bad", Step: "validate"})
		}
		if err := s.AddQuarantined(ctx, run.ID, rows[:3]); err != nil {
			t.Fatal(err)
		}
		if err := s.AddQuarantined(ctx, run.ID, rows[3:]); err != nil {
			t.Fatal(err)
		}
		counts, err := s.QuarantineCounts(ctx, run.ID)
		if err != nil {
			t.Fatal(err)
		}
		half := int64(store.MaxQuarantinedPerRun / 2)
		want := []store.QuarantineCount{{Stream: "orders", Total: half + 2, Kept: half}, {Stream: "people", Total: half + 3, Kept: half}}
		if !slices.Equal(counts, want) {
			t.Fatalf("counts %+v, want %+v", counts, want)
		}
		got, err := s.QuarantinedRows(ctx, run.ID, "people", store.Page{Limit: 2, Offset: 1})
		if err != nil || len(got) != 2 || got[0].Origin != "f.csv:4" || got[1].Origin != "f.csv:6" || got[0].Raw != `{"id": 2}` || got[0].Step != "validate" || got[0].RunID != run.ID {
			t.Fatalf("page of people: %+v, %v", got, err)
		}
		n := 0
		err = s.EachQuarantined(ctx, run.ID, "", func(r *store.QuarantinedRow) error {
			if r.Raw != rows[n].Raw {
				return fmt.Errorf("row %d is %s, want %s", n, r.Raw, rows[n].Raw)
			}
			n++
			return nil
		})
		if err != nil || n != store.MaxQuarantinedPerRun {
			t.Fatalf("each: %d rows, %v", n, err)
		}
		// Records refused for their bytes are kept all the same, readable.
		other := finished(t, s, p.ID, store.TriggerManual, store.Queued, 0)
		if err := s.AddQuarantined(ctx, other.ID, []store.QuarantinedRow{{Stream: "people", Raw: "a,\xff\x00b", Reason: "invalid UTF-8", Step: "read"}}); err != nil {
			t.Fatal(err)
		}
		if got, err := s.QuarantinedRows(ctx, other.ID, "", store.Page{}); err != nil || len(got) != 1 || got[0].Raw != "a,\uFFFD\uFFFDb" {
			t.Fatalf("kept bad bytes as %+v, %v", got, err)
		}
		if err := s.AddQuarantined(ctx, "nope", rows[:1]); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("rows of a missing run: %v", err)
		}

		if _, err := s.AddPipelineVersion(ctx, p.ID, p.Name, json.RawMessage(`{"fixed": true}`)); err != nil {
			t.Fatal(err)
		}
		replay, err := s.CreateReplayRun(ctx, run.ID)
		if err != nil {
			t.Fatal(err)
		}
		if replay.Trigger != store.TriggerReplay || replay.Version != 2 || replay.Status != store.Queued || replay.PipelineID != p.ID {
			t.Fatalf("replay %+v", replay)
		}
		if of, err := s.ReplayOf(ctx, replay.ID); err != nil || of != run.ID {
			t.Fatalf("replay of %q, %v", of, err)
		}
		if of, err := s.ReplayOf(ctx, run.ID); err != nil || of != "" {
			t.Fatalf("a plain run replays %q, %v", of, err)
		}
		if _, err := s.CreateReplayRun(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("replay of a missing run: %v", err)
		}
	})
}

func TestRunLogsAfter(t *testing.T) {
	each(t, func(t *testing.T, s store.Store) {
		ctx := context.Background()
		p := &store.Pipeline{Name: "logs"}
		if err := s.CreatePipeline(ctx, p, json.RawMessage(`{}`)); err != nil {
			t.Fatal(err)
		}
		a := finished(t, s, p.ID, store.TriggerManual, store.Queued, 0)
		b := finished(t, s, p.ID, store.TriggerManual, store.Queued, 0)
		for i := range 5 {
			if err := s.AddRunLog(ctx, a.ID, "INFO", fmt.Sprintf("a%d", i)); err != nil {
				t.Fatal(err)
			}
			if err := s.AddRunLog(ctx, b.ID, "INFO", fmt.Sprintf("b%d", i)); err != nil {
				t.Fatal(err)
			}
		}
		first, err := s.RunLogsAfter(ctx, a.ID, 0, 2)
		if err != nil || len(first) != 2 || first[0].Message != "a0" || first[1].Message != "a1" {
			t.Fatalf("first lines %+v, %v", first, err)
		}
		rest, err := s.RunLogsAfter(ctx, a.ID, first[1].ID, 10)
		var msgs []string
		for _, l := range rest {
			msgs = append(msgs, l.Message)
		}
		if err != nil || !slices.Equal(msgs, []string{"a2", "a3", "a4"}) {
			t.Fatalf("after %d: %v, %v", first[1].ID, msgs, err)
		}
		none, err := s.RunLogsAfter(ctx, a.ID, rest[2].ID, 10)
		if err != nil || len(none) != 0 {
			t.Fatalf("after the last line: %+v, %v", none, err)
		}
	})
}
