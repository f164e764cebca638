package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"time"

	"github.com/tributary-data/tributary/bench/internal/benchstore"
	_ "github.com/tributary-data/tributary/connectors/all"
	"github.com/tributary-data/tributary/jobs"
	"github.com/tributary-data/tributary/scheduler"
	"github.com/tributary-data/tributary/store"
)

func main() {
	var (
		kind      = flag.String("store", "sqlite", "store to measure: sqlite or postgres")
		pgURL     = flag.String("pg", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable", "PostgreSQL server for -store postgres (a schema of its own is created and dropped)")
		pipelines = flag.Int("pipelines", 1000, "pipelines scheduled every minute")
		slots     = flag.Int("slots", 3, "minutes (slots) measured")
		workers   = flag.Int("workers", 100, "runs executed at once")
		pool      = flag.Int("pool", 0, "PostgreSQL connections of the store (pool_max_conns); pgxpool's default (4 on 2 cores) when 0")
		profile   = flag.String("cpuprofile", "", "write a CPU profile of the measured minutes to this file")
		goal      = flag.Duration("goal", 5*time.Second, "every run must start within this of its slot; the exit status is 1 when one does not")
	)
	flag.Parse()
	if *profile != "" {
		f, err := os.Create(*profile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "error:", err)
			os.Exit(1)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(os.Stderr, "error:", err)
			os.Exit(1)
		}
		defer pprof.StopCPUProfile()
	}
	if err := run(*kind, *pgURL, *pool, *pipelines, *slots, *workers, *goal); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		pprof.StopCPUProfile()
		os.Exit(1)
	}
}

func run(kind, pgURL string, pool, pipelines, slots, workers int, goal time.Duration) error {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "tributary-bench-scheduler")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	st, cleanup, err := openStore(ctx, kind, pgURL, pool, dir)
	if err != nil {
		return err
	}
	defer cleanup()

	csv := filepath.Join(dir, "one.csv")
	if err := os.WriteFile(csv, []byte("id,name\n1,Ann\n"), 0o644); err != nil {
		return err
	}
	ids := make(map[string]bool, pipelines)
	for i := range pipelines {
		name := fmt.Sprintf("minutely-%04d", i)
		spec, _ := json.Marshal(map[string]any{
			"version": 1, "name": name, "schedule": "* * * * *",
			"source": map[string]any{"connector": "csv", "config": map[string]any{"path": csv},
				"streams": []any{map[string]any{"name": "people", "sync_mode": "full_refresh_overwrite"}}},
			"destination": map[string]any{"connector": "jsonl", "config": map[string]any{"path": filepath.Join(dir, "out", name)}},
			"options":     map[string]any{"profile": false},
		})
		p := &store.Pipeline{Name: name}
		if err := st.CreatePipeline(ctx, p, spec); err != nil {
			return err
		}
		ids[p.ID] = true
	}

	// Wired as `tributary serve` wires them.
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	sched := &scheduler.Scheduler{Store: st, Logger: logger}
	runner := &jobs.Runner{Store: st, DataDir: dir, Logger: logger}
	opts := jobs.Options{Workers: workers, Logger: logger, Tick: func(ctx context.Context) error { return sched.Tick(ctx, time.Now()) }}
	if kind == "sqlite" {
		opts.PollInterval = 250 * time.Millisecond // as serve on the embedded store
	}
	q, err := jobs.NewQueue(ctx, st, runner, opts)
	if err != nil {
		return err
	}
	defer q.Close()
	sched.Queue = q
	started := time.Now()
	if err := q.Start(ctx); err != nil {
		return err
	}
	// The first tick sees the pipelines; their first slot is the next
	// minute. Measure the slots after that one minute of warm-up... and
	// the first one too: it is a slot like the others.
	first := started.Truncate(time.Minute).Add(time.Minute)
	last := first.Add(time.Duration(slots-1) * time.Minute)
	fmt.Fprintf(os.Stderr, "%d pipelines on %s, %d workers: measuring the slots %s to %s\n", pipelines, kind, workers, first.Format("15:04:05"), last.Format("15:04:05"))
	// Wait for the last slot's runs to finish (or a minute past it).
	deadline := last.Add(time.Minute)
	for time.Now().Before(deadline) {
		time.Sleep(2 * time.Second)
		if time.Now().After(last.Add(5*time.Second)) && allDone(ctx, st, ids, last) {
			break
		}
	}
	stop, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := q.Stop(stop); err != nil {
		return err
	}
	return report(ctx, st, ids, first, last, goal)
}

// allDone tells whether every pipeline has a finished run for the slot.
func allDone(ctx context.Context, st store.Store, ids map[string]bool, slot time.Time) bool {
	for id := range ids {
		sl, err := st.Slots(ctx, id, store.Page{Limit: 1})
		if err != nil || len(sl) == 0 || sl[0].Slot.Before(slot) {
			return false
		}
		if sl[0].RunID == "" {
			continue
		}
		r, err := st.Run(ctx, sl[0].RunID)
		if err != nil || !r.Status.Done() {
			return false
		}
	}
	return true
}

func report(ctx context.Context, st store.Store, ids map[string]bool, first, last time.Time, goal time.Duration) error {
	var delays, queued []time.Duration
	missing, skipped, failed, late := 0, 0, 0, 0
	for id := range ids {
		sls, err := st.Slots(ctx, id, store.Page{Limit: 100})
		if err != nil {
			return err
		}
		fired := map[int64]bool{}
		for _, sl := range sls {
			if sl.Slot.Before(first) || sl.Slot.After(last) {
				continue
			}
			fired[sl.Slot.Unix()] = true
			if sl.RunID == "" {
				skipped++
				continue
			}
			r, err := st.Run(ctx, sl.RunID)
			if err != nil {
				return err
			}
			if r.StartedAt == nil {
				missing++
				continue
			}
			if r.Status != store.Succeeded {
				failed++
			}
			d := r.StartedAt.Sub(sl.Slot)
			if d > goal {
				late++
			}
			delays = append(delays, d)
			queued = append(queued, r.CreatedAt.Sub(sl.Slot))
		}
		for at := first; !at.After(last); at = at.Add(time.Minute) {
			if !fired[at.Unix()] {
				missing++
			}
		}
	}
	slices.Sort(delays)
	slices.Sort(queued)
	pct := func(ds []time.Duration, p float64) time.Duration {
		if len(ds) == 0 {
			return 0
		}
		return ds[min(len(ds)-1, int(p*float64(len(ds))))].Round(time.Millisecond)
	}
	want := len(ids) * int(last.Sub(first)/time.Minute+1)
	fmt.Printf("runs started: %d of %d slots (skipped %d, never started %d, not succeeded %d)\n", len(delays), want, skipped, missing, failed)
	fmt.Printf("queued after slot (scheduler): p50 %v  p95 %v  p99 %v  max %v\n", pct(queued, 0.50), pct(queued, 0.95), pct(queued, 0.99), pct(queued, 1))
	fmt.Printf("started after slot:            p50 %v  p95 %v  p99 %v  max %v\n", pct(delays, 0.50), pct(delays, 0.95), pct(delays, 0.99), pct(delays, 1))
	within := 0.0
	if want > 0 {
		within = float64(len(delays)-late) / float64(want)
	}
	fmt.Printf("started within %v: %.4f (%d of %d)\n", goal, within, len(delays)-late, want)
	if late > 0 || skipped > 0 || missing > 0 {
		return errors.New("not every run started within the goal")
	}
	return nil
}

func openStore(ctx context.Context, kind, pgURL string, pool int, dir string) (store.Store, func(), error) {
	params := ""
	if pool > 0 {
		params = fmt.Sprintf("pool_max_conns=%d", pool)
	}
	return benchstore.Open(ctx, kind, filepath.Join(dir, "data"), pgURL, "bench_sched_", params)
}
