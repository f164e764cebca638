package scheduler_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tributary-data/tributary/scheduler"
	"github.com/tributary-data/tributary/store"
	"github.com/tributary-data/tributary/store/storetest"
)

// each runs f against a fresh store of every kind.
func each(t *testing.T, f func(t *testing.T, s store.Store)) { storetest.Each(t, f) }

// queue records the runs handed to it, in order. The scheduler's tests
// look at what it decides; the River tests and the e2e tests execute.
type queue struct {
	mu   sync.Mutex
	runs []string
}

func (q *queue) Enqueue(_ context.Context, runID string) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.runs = append(q.runs, runID)
	return nil
}

func (q *queue) taken() []string {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := q.runs
	q.runs = nil
	return out
}

type lateReport struct {
	pipeline string
	slot     time.Time
}

type notifier struct {
	mu   sync.Mutex
	late []lateReport
}

func (n *notifier) PipelineLate(_ context.Context, p *store.Pipeline, slot time.Time) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.late = append(n.late, lateReport{p.Name, slot.UTC()})
}

func (n *notifier) taken() []lateReport {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := n.late
	n.late = nil
	return out
}

// create stores a pipeline with the scheduling settings given.
func create(t *testing.T, s store.Store, name string, extra map[string]any) *store.Pipeline {
	t.Helper()
	spec := map[string]any{
		"version": 1, "name": name,
		"source":      map[string]any{"connection": "files", "streams": []any{map[string]any{"name": "x"}}},
		"destination": map[string]any{"connection": "warehouse"},
	}
	for k, v := range extra {
		spec[k] = v
	}
	b, err := json.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	p := &store.Pipeline{Name: name}
	if err := s.CreatePipeline(context.Background(), p, b); err != nil {
		t.Fatal(err)
	}
	return p
}

// quiet keeps the scheduler's logs out of the test output.
var quiet = slog.New(slog.DiscardHandler)

func tick(t *testing.T, sc *scheduler.Scheduler, at time.Time) {
	t.Helper()
	if err := sc.Tick(context.Background(), at); err != nil {
		t.Fatalf("tick at %v: %v", at, err)
	}
}

// runsOf returns the pipeline's runs, oldest first.
func runsOf(t *testing.T, s store.Store, id string) []store.Run {
	t.Helper()
	rs, err := s.Runs(context.Background(), store.RunFilter{PipelineID: id}, store.Page{Limit: 500})
	if err != nil {
		t.Fatal(err)
	}
	slices.Reverse(rs)
	return rs
}

func finish(t *testing.T, s store.Store, runID string, status store.RunStatus) {
	t.Helper()
	if err := s.FinishRun(context.Background(), runID, status, "", nil); err != nil {
		t.Fatal(err)
	}
}

// base is a fake clock's start: a whole hour, so cron slots are easy to
// name. The scheduler only compares it with itself; run timestamps stay
// the store's own.
var base = time.Date(2031, 1, 6, 9, 0, 0, 0, time.UTC) // a Monday

func TestSlotsFireOnceAtTheirTime(t *testing.T) {
	each(t, func(t *testing.T, s store.Store) {
		ctx := context.Background()
		q := &queue{}
		sc := &scheduler.Scheduler{Store: s, Queue: q, Logger: quiet}
		p := create(t, s, "every5", map[string]any{"schedule": "*/5 * * * *"})

		tick(t, sc, base.Add(30*time.Second)) // first sight: the next slot is 09:05
		steps := []struct {
			at       time.Duration
			wantRuns int // runs queued by this tick
		}{
			{4 * time.Minute, 0},
			{5 * time.Minute, 1},
			{5*time.Minute + 10*time.Second, 0}, // same slot again
			{9*time.Minute + 59*time.Second, 0},
			{10*time.Minute + 2*time.Second, 1},
		}
		for _, st := range steps {
			if st.wantRuns == 1 {
				// The previous slot's run finished: the pipeline is free.
				for _, r := range runsOf(t, s, p.ID) {
					if !r.Status.Done() {
						finish(t, s, r.ID, store.Succeeded)
					}
				}
			}
			tick(t, sc, base.Add(st.at))
			if got := q.taken(); len(got) != st.wantRuns {
				t.Fatalf("tick at +%v queued %d runs, want %d", st.at, len(got), st.wantRuns)
			}
		}
		runs := runsOf(t, s, p.ID)
		if len(runs) != 2 || runs[0].Trigger != store.TriggerSchedule || runs[1].Trigger != store.TriggerSchedule {
			t.Fatalf("runs %+v", runs)
		}
		slots, err := s.Slots(ctx, p.ID, store.Page{})
		if err != nil {
			t.Fatal(err)
		}
		want := []time.Time{base.Add(10 * time.Minute), base.Add(5 * time.Minute)}
		if len(slots) != 2 || !slots[0].Slot.Equal(want[0]) || !slots[1].Slot.Equal(want[1]) || slots[0].RunID != runs[1].ID || slots[1].RunID != runs[0].ID {
			t.Fatalf("slots %+v, want %v with runs %s, %s", slots, want, runs[1].ID, runs[0].ID)
		}
	})
}

func TestMissedSlotsRunOnceAfterDowntime(t *testing.T) {
	each(t, func(t *testing.T, s store.Store) {
		ctx := context.Background()
		q := &queue{}
		sc := &scheduler.Scheduler{Store: s, Queue: q, Logger: quiet}
		cases := []struct {
			schedule string
			wantSlot time.Duration // the one slot fired after the downtime
		}{
			{"@hourly", 5 * time.Hour},
			{"*/10 * * * *", 5*time.Hour + 20*time.Minute},
			{"@every 2m", 5*time.Hour + 20*time.Minute},
		}
		var ps []*store.Pipeline
		for i, c := range cases {
			ps = append(ps, create(t, s, "missed"+string(rune('a'+i)), map[string]any{"schedule": c.schedule}))
		}
		tick(t, sc, base.Add(-time.Second)) // every first slot is at 09:00
		// No scheduler ran from 08:59:59 to 14:21.
		tick(t, sc, base.Add(5*time.Hour+21*time.Minute))
		if got := q.taken(); len(got) != len(cases) {
			t.Fatalf("%d runs after the downtime, want %d", len(got), len(cases))
		}
		for i, c := range cases {
			slots, err := s.Slots(ctx, ps[i].ID, store.Page{})
			if err != nil {
				t.Fatal(err)
			}
			if len(slots) != 1 || !slots[0].Slot.Equal(base.Add(c.wantSlot)) {
				t.Fatalf("%s: slots %+v, want one at %v", c.schedule, slots, base.Add(c.wantSlot))
			}
		}
	})
}

func TestBusyDisabledAndChangedSchedules(t *testing.T) {
	each(t, func(t *testing.T, s store.Store) {
		ctx := context.Background()
		q := &queue{}
		sc := &scheduler.Scheduler{Store: s, Queue: q, Logger: quiet}
		busy := create(t, s, "busy", map[string]any{"schedule": "@hourly"})
		off := create(t, s, "off", map[string]any{"schedule": "@hourly"})
		tick(t, sc, base.Add(-time.Minute))

		// A manual run still queued: the slot is recorded as skipped, once.
		manual, err := s.CreateRun(ctx, store.NewRun{PipelineID: busy.ID})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.SetPipelineEnabled(ctx, off.ID, false); err != nil {
			t.Fatal(err)
		}
		tick(t, sc, base)
		tick(t, sc, base.Add(time.Second))
		if got := q.taken(); len(got) != 0 {
			t.Fatalf("queued %v for a busy and a disabled pipeline", got)
		}
		slots, _ := s.Slots(ctx, busy.ID, store.Page{})
		if len(slots) != 1 || slots[0].RunID != "" || slots[0].Skipped == "" {
			t.Fatalf("busy pipeline's slots %+v, want one skipped", slots)
		}
		if runs := runsOf(t, s, busy.ID); len(runs) != 1 || runs[0].ID != manual.ID {
			t.Fatalf("busy pipeline's runs %+v", runs)
		}
		if slots, _ := s.Slots(ctx, off.ID, store.Page{}); len(slots) != 0 {
			t.Fatalf("disabled pipeline's slots %+v", slots)
		}

		// Enabled again mid-hour, the disabled pipeline waits for its next
		// slot rather than catching up on the one it was disabled for.
		if err := s.SetPipelineEnabled(ctx, off.ID, true); err != nil {
			t.Fatal(err)
		}
		finish(t, s, manual.ID, store.Succeeded)
		tick(t, sc, base.Add(30*time.Minute))
		if got := q.taken(); len(got) != 0 {
			t.Fatalf("queued %v mid-hour", got)
		}
		tick(t, sc, base.Add(time.Hour))
		if got := q.taken(); len(got) != 2 {
			t.Fatalf("queued %d runs at the next hour, want 2", len(got))
		}

		// A changed schedule starts from the time it is seen.
		spec, _ := json.Marshal(map[string]any{"version": 1, "name": "busy", "schedule": "@daily",
			"source": map[string]any{"connection": "files", "streams": []any{map[string]any{"name": "x"}}}, "destination": map[string]any{"connection": "warehouse"}})
		if _, _, err := s.SavePipelineVersion(ctx, busy.ID, "busy", spec, ""); err != nil {
			t.Fatal(err)
		}
		for _, r := range append(runsOf(t, s, busy.ID), runsOf(t, s, off.ID)...) {
			if !r.Status.Done() {
				finish(t, s, r.ID, store.Succeeded)
			}
		}
		tick(t, sc, base.Add(90*time.Minute))
		tick(t, sc, base.Add(2*time.Hour))
		if got := q.taken(); len(got) != 1 {
			t.Fatalf("queued %d runs at 11:00, want 1 (the hourly one only)", len(got))
		}
		for _, r := range runsOf(t, s, off.ID) {
			if !r.Status.Done() {
				finish(t, s, r.ID, store.Succeeded)
			}
		}
		tick(t, sc, base.Add(15*time.Hour)) // midnight
		if got := q.taken(); len(got) != 2 {
			t.Fatalf("queued %d runs at midnight, want 2", len(got))
		}
	})
}

func TestTimeZones(t *testing.T) {
	each(t, func(t *testing.T, s store.Store) {
		ctx := context.Background()
		sc := &scheduler.Scheduler{Store: s, Queue: &queue{}, Logger: quiet}
		cases := []struct {
			schedule string
			want     time.Time // the first slot after base
		}{
			{"CRON_TZ=Europe/Paris 0 12 * * *", time.Date(2031, 1, 6, 11, 0, 0, 0, time.UTC)},
			{"CRON_TZ=America/New_York 0 6 * * *", time.Date(2031, 1, 6, 11, 0, 0, 0, time.UTC)},
			{"0 11 * * *", time.Date(2031, 1, 6, 11, 0, 0, 0, time.UTC)},
			{"CRON_TZ=Asia/Tokyo @daily", time.Date(2031, 1, 6, 15, 0, 0, 0, time.UTC)},
		}
		var ids []string
		for i, c := range cases {
			ids = append(ids, create(t, s, "tz"+string(rune('a'+i)), map[string]any{"schedule": c.schedule}).ID)
		}
		tick(t, sc, base)
		states, err := s.ScheduleStates(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for i, c := range cases {
			if got := states[ids[i]].NextSlot; !got.Equal(c.want) {
				t.Errorf("%s: next slot %v, want %v", c.schedule, got, c.want)
			}
		}
	})
}

func TestSchedulersOnSeveralHostsFireEachSlotOnce(t *testing.T) {
	each(t, func(t *testing.T, s store.Store) {
		q := &queue{}
		hosts := make([]*scheduler.Scheduler, 4)
		for i := range hosts {
			hosts[i] = &scheduler.Scheduler{Store: s, Queue: q, Logger: quiet}
		}
		var ids []string
		for i := range 5 {
			ids = append(ids, create(t, s, "shared"+string(rune('a'+i)), map[string]any{"schedule": "@every 1m"}).ID)
		}
		tick(t, hosts[0], base)
		for minute := 1; minute <= 3; minute++ {
			var wg sync.WaitGroup
			for _, h := range hosts {
				wg.Go(func() {
					if err := h.Tick(context.Background(), base.Add(time.Duration(minute)*time.Minute)); err != nil {
						t.Error(err)
					}
				})
			}
			wg.Wait()
			if got := q.taken(); len(got) != len(ids) {
				t.Fatalf("minute %d: %d runs queued by 4 schedulers, want %d", minute, len(got), len(ids))
			}
			for _, id := range ids {
				for _, r := range runsOf(t, s, id) {
					if !r.Status.Done() {
						finish(t, s, r.ID, store.Succeeded)
					}
				}
			}
		}
		for _, id := range ids {
			if runs := runsOf(t, s, id); len(runs) != 3 {
				t.Errorf("pipeline %s has %d runs, want 3", id, len(runs))
			}
		}
	})
}

func TestDependenciesRunAfterAllUpstreamsSucceeded(t *testing.T) {
	each(t, func(t *testing.T, s store.Store) {
		ctx := context.Background()
		q := &queue{}
		sc := &scheduler.Scheduler{Store: s, Queue: q, Logger: quiet}
		a := create(t, s, "a", nil)
		b := create(t, s, "b", nil)
		c := create(t, s, "c", map[string]any{"depends_on": []string{"a", "b"}})
		d := create(t, s, "d", map[string]any{"depends_on": []string{"c"}})
		now := base

		manual := func(p *store.Pipeline, status store.RunStatus) {
			t.Helper()
			r, err := s.CreateRun(ctx, store.NewRun{PipelineID: p.ID})
			if err != nil {
				t.Fatal(err)
			}
			finish(t, s, r.ID, status)
		}
		expect := func(step string, want ...*store.Pipeline) {
			t.Helper()
			now = now.Add(time.Second)
			tick(t, sc, now)
			got := q.taken()
			var names []string
			for _, id := range got {
				r, err := s.Run(ctx, id)
				if err != nil {
					t.Fatal(err)
				}
				if r.Trigger != store.TriggerDependency {
					t.Errorf("%s: run %s triggered by %s", step, id, r.Trigger)
				}
				for _, p := range []*store.Pipeline{a, b, c, d} {
					if p.ID == r.PipelineID {
						names = append(names, p.Name)
					}
				}
			}
			var wantNames []string
			for _, p := range want {
				wantNames = append(wantNames, p.Name)
			}
			slices.Sort(names)
			if !slices.Equal(names, wantNames) {
				t.Fatalf("%s: dependency runs of %v, want %v", step, names, wantNames)
			}
		}
		finishAll := func(p *store.Pipeline, status store.RunStatus) {
			for _, r := range runsOf(t, s, p.ID) {
				if !r.Status.Done() {
					finish(t, s, r.ID, status)
				}
			}
		}

		expect("nothing ran yet")
		manual(a, store.Succeeded)
		expect("only a succeeded")
		manual(b, store.Failed)
		expect("b failed")
		manual(b, store.Succeeded)
		expect("a and b succeeded", c)
		expect("c is queued", nil...)
		finishAll(c, store.Succeeded)
		expect("c succeeded", d)
		finishAll(d, store.Succeeded)
		expect("nothing new")
		manual(a, store.Succeeded)
		expect("a again, b not since c's last run")
		manual(b, store.Succeeded)
		expect("both again", c)

		// Disabled, c is not triggered; enabled again it is.
		finishAll(c, store.Failed)
		manual(a, store.Succeeded)
		manual(b, store.Succeeded)
		if err := s.SetPipelineEnabled(ctx, c.ID, false); err != nil {
			t.Fatal(err)
		}
		expect("c disabled")
		if err := s.SetPipelineEnabled(ctx, c.ID, true); err != nil {
			t.Fatal(err)
		}
		expect("c enabled", c)
	})
}

func TestLatePipelinesAreReportedOncePerSlot(t *testing.T) {
	each(t, func(t *testing.T, s store.Store) {
		ctx := context.Background()
		q := &queue{}
		n := &notifier{}
		sc := &scheduler.Scheduler{Store: s, Queue: q, Notifier: n, Logger: quiet}
		p := create(t, s, "hourly", map[string]any{"schedule": "@hourly", "options": map[string]any{"late_after": "10m"}})
		dflt := create(t, s, "default-grace", map[string]any{"schedule": "*/30 * * * *"})
		tick(t, sc, base.Add(-time.Minute))
		tick(t, sc, base)
		if got := q.taken(); len(got) != 2 {
			t.Fatalf("%d runs at 09:00, want 2", len(got))
		}
		tick(t, sc, base.Add(9*time.Minute))
		if got := n.taken(); len(got) != 0 {
			t.Fatalf("late before the grace period ended: %v", got)
		}
		if due, err := s.LastDueSlot(ctx, p.ID, base.Add(9*time.Minute)); err == nil {
			t.Fatalf("a due slot before its grace period ended: %+v", due)
		}
		tick(t, sc, base.Add(10*time.Minute))
		tick(t, sc, base.Add(11*time.Minute))
		if got := n.taken(); len(got) != 1 || got[0] != (lateReport{"hourly", base}) {
			t.Fatalf("late reports %v, want hourly at %v once", got, base)
		}
		due, err := s.LastDueSlot(ctx, p.ID, base.Add(11*time.Minute))
		if err != nil || !due.Late || !due.Slot.Equal(base) {
			t.Fatalf("last due slot %+v, %v; want late at %v", due, err, base)
		}

		// The run succeeds: no longer late. The default grace is one
		// interval (30 minutes): the other pipeline's run succeeds in time.
		for _, id := range []string{p.ID, dflt.ID} {
			for _, r := range runsOf(t, s, id) {
				finish(t, s, r.ID, store.Succeeded)
			}
		}
		if due, err := s.LastDueSlot(ctx, p.ID, base.Add(12*time.Minute)); err != nil || due.Late {
			t.Fatalf("after success: %+v, %v", due, err)
		}
		tick(t, sc, base.Add(30*time.Minute)) // default-grace's 09:30 slot
		tick(t, sc, base.Add(31*time.Minute))
		if got := n.taken(); len(got) != 0 {
			t.Fatalf("late reports %v after the runs succeeded", got)
		}
		// Its 09:30 run is still queued at 10:00: late, reported once.
		tick(t, sc, base.Add(time.Hour))
		tick(t, sc, base.Add(time.Hour+time.Second))
		got := n.taken()
		if len(got) != 1 || got[0] != (lateReport{"default-grace", base.Add(30 * time.Minute)}) {
			t.Fatalf("late reports %v, want default-grace at 09:30 once", got)
		}

		// Without a notifier, lateness is still recorded.
		sc.Notifier = nil
		tick(t, sc, base.Add(2*time.Hour))
		if due, err := s.LastDueSlot(ctx, dflt.ID, base.Add(2*time.Hour)); err != nil || !due.Late {
			t.Fatalf("without notifier: %+v, %v", due, err)
		}
	})
}
