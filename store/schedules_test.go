package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/tributary-data/tributary/store"
)

func TestScheduleStates(t *testing.T) {
	each(t, func(t *testing.T, s store.Store) {
		ctx := context.Background()
		p := &store.Pipeline{Name: "sched"}
		if err := s.CreatePipeline(ctx, p, []byte(`{"version":1,"name":"sched","schedule":"@hourly"}`)); err != nil {
			t.Fatal(err)
		}
		at := time.Date(2031, 1, 6, 9, 0, 0, 0, time.UTC)
		steps := []struct {
			what string
			do   func() error
			want store.ScheduleState
		}{
			{"start", func() error { return s.StartSchedule(ctx, p.ID, "@hourly", at) }, store.ScheduleState{Schedule: "@hourly", NextSlot: at}},
			// Another scheduler seeing the same schedule later keeps the state.
			{"same schedule again", func() error { return s.StartSchedule(ctx, p.ID, "@hourly", at.Add(time.Hour)) }, store.ScheduleState{Schedule: "@hourly", NextSlot: at}},
			{"changed schedule", func() error { return s.StartSchedule(ctx, p.ID, "@daily", at.Add(15*time.Hour)) }, store.ScheduleState{Schedule: "@daily", NextSlot: at.Add(15 * time.Hour)}},
			{"advance", func() error { return s.AdvanceSchedule(ctx, p.ID, at.Add(39*time.Hour)) }, store.ScheduleState{Schedule: "@daily", NextSlot: at.Add(39 * time.Hour)}},
			{"never back", func() error { return s.AdvanceSchedule(ctx, p.ID, at) }, store.ScheduleState{Schedule: "@daily", NextSlot: at.Add(39 * time.Hour)}},
		}
		for _, st := range steps {
			if err := st.do(); err != nil {
				t.Fatalf("%s: %v", st.what, err)
			}
			states, err := s.ScheduleStates(ctx)
			if err != nil {
				t.Fatal(err)
			}
			got := states[p.ID]
			if got.Schedule != st.want.Schedule || !got.NextSlot.Equal(st.want.NextSlot) {
				t.Fatalf("%s: state %+v, want %+v", st.what, got, st.want)
			}
		}
		if err := s.StartSchedule(ctx, "no-such-pipeline", "@hourly", at); err == nil {
			t.Error("a schedule for a pipeline that does not exist was recorded")
		}
		if err := s.StopSchedule(ctx, p.ID); err != nil {
			t.Fatal(err)
		}
		if states, _ := s.ScheduleStates(ctx); len(states) != 0 {
			t.Fatalf("after stop: %+v", states)
		}
	})
}

func TestSlotsFireOnceAndPrune(t *testing.T) {
	each(t, func(t *testing.T, s store.Store) {
		ctx := context.Background()
		p := &store.Pipeline{Name: "slots"}
		if err := s.CreatePipeline(ctx, p, []byte(`{"version":1,"name":"slots","schedule":"@hourly"}`)); err != nil {
			t.Fatal(err)
		}
		old := time.Date(2031, 1, 1, 9, 0, 0, 0, time.UTC)
		fire := func(slot time.Time) []store.FiredSlot {
			t.Helper()
			got, err := s.FireSlots(ctx, []store.SlotFire{{PipelineID: p.ID, Slot: slot, Next: slot.Add(time.Hour), LateAt: slot.Add(time.Hour)}})
			if err != nil {
				t.Fatal(err)
			}
			return got
		}
		first := fire(old)
		if len(first) != 1 || first[0].Run == nil || first[0].Run.Trigger != store.TriggerSchedule || first[0].Run.Version != 1 {
			t.Fatalf("first fire %+v", first)
		}
		if again := fire(old); len(again) != 0 {
			t.Fatalf("the same slot fired again: %+v", again)
		}
		if err := s.FinishRun(ctx, first[0].Run.ID, store.Succeeded, "", nil); err != nil {
			t.Fatal(err)
		}
		recent := old.Add(10 * 24 * time.Hour)
		if got := fire(recent); len(got) != 1 || got[0].Run == nil {
			t.Fatalf("recent fire %+v", got)
		}
		// The old slot is settled (its run succeeded); the recent one is not
		// due yet.
		late, err := s.CheckLateSlots(ctx, recent.Add(-time.Minute))
		if err != nil || len(late) != 0 {
			t.Fatalf("late slots %+v, %v", late, err)
		}
		n, err := s.PruneSlots(ctx, recent.Add(-7*24*time.Hour))
		if err != nil || n != 1 {
			t.Fatalf("pruned %d, %v; want the old slot", n, err)
		}
		slots, err := s.Slots(ctx, p.ID, store.Page{})
		if err != nil || len(slots) != 1 || !slots[0].Slot.Equal(recent) {
			t.Fatalf("slots left %+v, %v", slots, err)
		}
	})
}
