package scheduler_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	_ "github.com/tributary-data/tributary/connectors/all"
	"github.com/tributary-data/tributary/jobs"
	"github.com/tributary-data/tributary/scheduler"
	"github.com/tributary-data/tributary/store"
	"github.com/tributary-data/tributary/store/storetest"
)

// TestLeaderTicksAcrossTwoRiverClients starts two River clients on one
// PostgreSQL store, as two `tributary serve` processes would be: ticks
// come from the elected leader only (about one per interval, not one per
// client), and each slot of an @every 1s pipeline fires once, its run
// executed by either client.
func TestLeaderTicksAcrossTwoRiverClients(t *testing.T) {
	ctx := context.Background()
	url := storetest.PostgresSchema(t)
	dir := t.TempDir()
	csv := filepath.Join(dir, "people.csv")
	if err := os.WriteFile(csv, []byte("id,name\n1,Ann\n2,Bob\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	const interval = 200 * time.Millisecond
	// Warnings and errors (a failed tick, a skipped slot) show with the
	// test's output.
	warn := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	var ticks [2]atomic.Int64
	var stores [2]store.Store
	for i := range 2 {
		s, err := store.Open(ctx, store.Options{DatabaseURL: url})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		stores[i] = s
	}
	spec, _ := json.Marshal(map[string]any{
		"version": 1, "name": "every-second", "schedule": "@every 1s",
		"source": map[string]any{"connector": "csv", "config": map[string]any{"path": csv},
			"streams": []any{map[string]any{"name": "people", "sync_mode": "full_refresh_overwrite"}}},
		"destination": map[string]any{"connector": "jsonl", "config": map[string]any{"path": filepath.Join(dir, "out")}},
	})
	p := &store.Pipeline{Name: "every-second"}
	if err := stores[0].CreatePipeline(ctx, p, spec); err != nil {
		t.Fatal(err)
	}

	var queues []*jobs.Queue
	for i, s := range stores {
		sc := &scheduler.Scheduler{Store: s, Logger: warn}
		runner := &jobs.Runner{Store: s, DataDir: filepath.Join(dir, "host", string(rune('a'+i))), Logger: quiet}
		q, err := jobs.NewQueue(ctx, s, runner, jobs.Options{Workers: 2, Logger: warn, TickInterval: interval,
			Tick: func(ctx context.Context) error {
				ticks[i].Add(1)
				return sc.Tick(ctx, time.Now())
			}})
		if err != nil {
			t.Fatal(err)
		}
		sc.Queue = q
		if err := q.Start(ctx); err != nil {
			t.Fatal(err)
		}
		queues = append(queues, q)
		t.Cleanup(func() { q.Close() })
	}
	// Leadership may take a while on a busy machine: measure from the
	// first tick on.
	total := func() int64 { return ticks[0].Load() + ticks[1].Load() }
	for wait := time.Now().Add(30 * time.Second); total() == 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(wait) {
			t.Fatal("no tick within 30s of starting two clients")
		}
	}
	const watch = 5 * time.Second
	from := total()
	time.Sleep(watch)
	got := total() - from
	want := int64(watch / interval)
	// Two clients each enqueuing would give about twice as many; a busy
	// machine works fewer.
	if got < want/5 || got > want*3/2 {
		t.Errorf("%d ticks (%d + %d in all) in %v at one per %v: want about %d, from the leader alone", got, ticks[0].Load(), ticks[1].Load(), watch, interval, want)
	}
	for _, q := range queues {
		stop, cancel := context.WithTimeout(ctx, 10*time.Second)
		if err := q.Stop(stop); err != nil {
			t.Error(err)
		}
		cancel()
	}
	slots, err := stores[0].Slots(ctx, p.ID, store.Page{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	if len(slots) < 2 {
		t.Fatalf("%d slots fired in %v of @every 1s", len(slots), watch)
	}
	runs, err := stores[0].Runs(ctx, store.RunFilter{PipelineID: p.ID}, store.Page{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	bySlot := map[string]string{}
	for _, sl := range slots {
		if sl.Slot.Nanosecond() != 0 {
			t.Errorf("slot %v is not on a whole second", sl.Slot)
		}
		if sl.RunID != "" {
			bySlot[sl.RunID] = sl.Slot.String()
		}
	}
	succeeded := 0
	for _, r := range runs {
		if r.Trigger != store.TriggerSchedule {
			t.Errorf("run %s triggered by %s", r.ID, r.Trigger)
		}
		if _, ok := bySlot[r.ID]; !ok {
			t.Errorf("run %s belongs to no slot", r.ID)
		}
		if r.Status == store.Succeeded {
			succeeded++
		}
	}
	if len(runs) != len(bySlot) || succeeded == 0 {
		t.Errorf("%d runs (%d succeeded) for %d slots with a run: %+v", len(runs), succeeded, len(bySlot), runs)
	}
}
