package jobs_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/tributary-data/tributary/jobs"
	"github.com/tributary-data/tributary/store"
)

// TestOpsFigures runs real runs through the queue and checks what the
// monitoring reads: the queue's depth while a job waits, the figures and
// failure counts of finished runs, and the heartbeat of the process.
func TestOpsFigures(t *testing.T) {
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

			// An API-only queue enqueues; nothing executes the jobs yet.
			enq, err := jobs.NewQueue(ctx, s, &jobs.Runner{Store: s}, jobs.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { enq.Close() })
			var runs []*store.Run
			for _, p := range []string{good, broken} {
				run, err := s.CreateRun(ctx, store.NewRun{PipelineID: p})
				if err != nil {
					t.Fatal(err)
				}
				if err := enq.Enqueue(ctx, run.ID); err != nil {
					t.Fatal(err)
				}
				runs = append(runs, run)
			}
			qreg := prometheus.NewRegistry()
			qreg.MustRegister(&jobs.QueueCollector{Store: s})
			time.Sleep(1100 * time.Millisecond)
			if err := testutil.GatherAndCompare(qreg, strings.NewReader(`
# HELP tributary_queue_depth Jobs in the run queue not yet finished, by River state.
# TYPE tributary_queue_depth gauge
tributary_queue_depth{state="available"} 2
tributary_queue_depth{state="pending"} 0
tributary_queue_depth{state="retryable"} 0
tributary_queue_depth{state="running"} 0
tributary_queue_depth{state="scheduled"} 0
# HELP tributary_queue_up 1 when the queue's depth could be read at this scrape.
# TYPE tributary_queue_up gauge
tributary_queue_up 1
`), "tributary_queue_depth", "tributary_queue_up"); err != nil {
				t.Error(err)
			}
			// The two jobs have waited at least the second slept above.
			if age := gaugeValue(t, qreg, "tributary_queue_oldest_job_age_seconds"); age < 1 || age > 60 {
				t.Errorf("oldest job's age %v s, want about 1", age)
			}
			qs, err := s.QueueStats(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if qs.Waiting() != 2 || qs.OldestAvailable == nil || time.Since(*qs.OldestAvailable) < time.Second || time.Since(*qs.OldestAvailable) > time.Minute {
				t.Errorf("queue stats %+v, oldest %v", qs, qs.OldestAvailable)
			}

			reg := prometheus.NewRegistry()
			metrics := jobs.NewMetrics(reg)
			runner := &jobs.Runner{Store: s, DataDir: dir, Metrics: metrics, Lease: 3 * time.Second}
			runner.Observers = append(runner.Observers, &jobs.FiguresObserver{Store: s, Metrics: metrics})
			jobs.RegisterInFlight(reg, runner)
			hbCtx, stopBeat := context.WithCancel(ctx)
			beaten := make(chan struct{})
			go func() {
				defer close(beaten)
				(&jobs.Heartbeat{Store: s, Interval: 100 * time.Millisecond, Workers: 1, InFlight: runner.InFlight, Version: "test"}).Run(hbCtx)
			}()
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
			for _, r := range runs {
				waitDone(t, s, r.ID)
			}
			deadline := time.Now().Add(10 * time.Second)
			for testutil.ToFloat64(metrics.RunFailures.WithLabelValues("broken")) != 1 {
				if time.Now().After(deadline) {
					t.Fatal("no failure counted for the broken pipeline")
				}
				time.Sleep(20 * time.Millisecond)
			}
			if v := testutil.ToFloat64(metrics.RunFailures.WithLabelValues("people")); v != 0 {
				t.Errorf("failures of people = %v", v)
			}
			figs, err := s.RunFigures(ctx, time.Now().Add(-time.Minute), time.Now().Add(time.Minute), "")
			if err != nil {
				t.Fatal(err)
			}
			byPipeline := map[string]store.RunFigure{}
			for _, f := range figs {
				byPipeline[f.Pipeline] = f
			}
			if f := byPipeline["people"]; len(figs) != 2 || f.Status != store.Succeeded || f.RowsRead != 4 || f.RowsWritten != 3 || f.RowsQuarantined != 1 {
				t.Errorf("figures %+v", figs)
			}
			if f := byPipeline["broken"]; f.Status != store.Failed || f.RowsWritten != 0 {
				t.Errorf("figures of the broken run %+v", f)
			}
			if err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP tributary_runs_in_flight Runs this process executes now.
# TYPE tributary_runs_in_flight gauge
tributary_runs_in_flight 0
`), "tributary_runs_in_flight"); err != nil {
				t.Error(err)
			}

			ws, err := s.Workers(ctx, time.Now().Add(-time.Minute))
			if err != nil {
				t.Fatal(err)
			}
			host, _ := os.Hostname()
			if len(ws) != 1 || ws[0].Host != host || ws[0].PID != os.Getpid() || ws[0].Workers != 1 || ws[0].Version != "test" ||
				time.Since(ws[0].LastSeen) > 5*time.Second || ws[0].StoppedAt != nil {
				t.Fatalf("workers seen %+v", ws)
			}
			stopBeat()
			<-beaten
			ws, err = s.Workers(ctx, time.Now().Add(-time.Minute))
			if err != nil || len(ws) != 1 || ws[0].StoppedAt == nil {
				t.Fatalf("workers after stop %+v %v", ws, err)
			}
		})
	}
}
