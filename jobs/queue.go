package jobs

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"

	"github.com/tributary-data/tributary/store"
)

// RunPipelineArgs is the job that executes one run record.
type RunPipelineArgs struct {
	RunID string `json:"run_id"`
}

// Kind names the job in River's tables.
func (RunPipelineArgs) Kind() string { return "run_pipeline" }

// RescueAfter is how long a job may be running before River hands it to
// another worker. Runs of dead workers are rescued sooner, by the lease
// sweep; River's rescue is the backstop for a job whose worker died before
// claiming its run. A rescued job whose run is held by a live attempt ends
// at once, so long runs are not executed twice.
const RescueAfter = 5 * time.Minute

// BusyRetry is how long a run waits before trying again while another run
// of its pipeline is running.
const BusyRetry = 2 * time.Second

type runWorker struct {
	river.WorkerDefaults[RunPipelineArgs]
	runner *Runner
}

// Timeout is none: a run takes as long as its data; its lease, not River's
// timeout, tells a live run from a dead one.
func (w *runWorker) Timeout(*river.Job[RunPipelineArgs]) time.Duration { return -1 }

func (w *runWorker) Work(ctx context.Context, job *river.Job[RunPipelineArgs]) error {
	err := w.runner.Execute(ctx, job.Args.RunID)
	var retry *RetryError
	switch {
	case errors.Is(err, store.ErrBusy):
		return river.JobSnooze(BusyRetry)
	case errors.As(err, &retry):
		// The run is queued with its next attempt's time; the job waits
		// for it (a snooze is not one of River's attempts).
		return river.JobSnooze(retry.Delay)
	case err != nil && ctx.Err() != nil && errors.Is(err, ctx.Err()):
		// The worker is stopping and the run is queued again: the job is
		// available at once to other workers, without spending one of
		// River's attempts, so a run stopped by many restarts does not wait
		// ever longer for River's retry backoff.
		return river.JobSnooze(0)
	}
	return err
}

// Options configure a [Queue].
type Options struct {
	// Workers is how many runs this process executes at once; 0 makes a
	// queue that only enqueues.
	Workers int
	// PollInterval is how often workers look for new jobs where the
	// database cannot notify them (SQLite); River's default when zero.
	PollInterval time.Duration
	Logger       *slog.Logger
	// Tick, when set, is called about every TickInterval in one process
	// at a time of all those sharing the store: River's elected leader
	// enqueues a tick job, which one of them works from the "scheduler"
	// queue. Every process with workers must set it: any may be elected.
	// Without workers there is no River client, so no tick.
	Tick func(ctx context.Context) error
	// TickInterval is DefaultTickInterval when zero.
	TickInterval time.Duration
}

// Queue enqueues runs and, with workers, executes them.
type Queue struct {
	insert func(ctx context.Context, args RunPipelineArgs) error
	// insertMany inserts many jobs in one round trip (the scheduler's
	// slots that fire together).
	insertMany func(ctx context.Context, args []RunPipelineArgs) error
	start      func(ctx context.Context) error
	stop       func(ctx context.Context) error
	close      func() error
}

// NewQueue sets up River on the store's database, migrating River's
// tables. On SQLite, River gets its own handle on the file limited to one
// connection, as its driver asks.
func NewQueue(ctx context.Context, s store.Store, runner *Runner, opts Options) (*Queue, error) {
	switch st := s.(type) {
	case *store.Postgres:
		return newQueue(ctx, riverpgxv5.New(st.Pool()), runner, opts, func() error { return nil })
	case *store.SQLite:
		db, err := sql.Open("sqlite", store.SQLiteDSN(st.Path()))
		if err != nil {
			return nil, fmt.Errorf("open queue database: %w", err)
		}
		db.SetMaxOpenConns(1)
		q, err := newQueue(ctx, riversqlite.New(db), runner, opts, db.Close)
		if err != nil {
			db.Close()
		}
		return q, err
	default:
		return nil, fmt.Errorf("no job queue for store %T", s)
	}
}

// Migrate creates or upgrades River's tables in the store's database.
func Migrate(ctx context.Context, s store.Store) error {
	q, err := NewQueue(ctx, s, &Runner{Store: s}, Options{})
	if err != nil {
		return err
	}
	return q.Close()
}

func newQueue[TTx any](ctx context.Context, driver riverdriver.Driver[TTx], runner *Runner, opts Options, closeDB func() error) (*Queue, error) {
	logger := opts.Logger
	if logger == nil {
		logger = slog.Default()
	}
	mig, err := rivermigrate.New(driver, &rivermigrate.Config{Logger: logger})
	if err != nil {
		return nil, fmt.Errorf("river migrator: %w", err)
	}
	if _, err := mig.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return nil, fmt.Errorf("migrate river: %w", err)
	}
	workers := river.NewWorkers()
	river.AddWorker(workers, &runWorker{runner: runner})
	tw := &tickWorker{tick: opts.Tick, logger: logger}
	river.AddWorker(workers, tw)
	// A job whose worker died is rescued after RescueAfter; the run's lease
	// keeps a rescue of a live run from executing it twice.
	cfg := &river.Config{Workers: workers, Logger: logger, JobTimeout: -1, RescueStuckJobsAfter: RescueAfter}
	if opts.Workers > 0 {
		cfg.Queues = map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: opts.Workers}}
		if opts.Tick != nil {
			cfg.PeriodicJobs = []*river.PeriodicJob{tickJob(opts.TickInterval)}
			cfg.Queues[TickQueue] = river.QueueConfig{MaxWorkers: 1}
		}
		cfg.FetchPollInterval = opts.PollInterval
		if p := cfg.FetchPollInterval; p > 0 && p < 100*time.Millisecond {
			// River's default cooldown (100ms) may not exceed the interval.
			cfg.FetchCooldown = p
		}
	}
	client, err := river.NewClient(driver, cfg)
	if err != nil {
		return nil, fmt.Errorf("river client: %w", err)
	}
	sweep := &sweeper{}
	q := &Queue{
		insert: func(ctx context.Context, args RunPipelineArgs) error {
			_, err := client.Insert(ctx, args, nil)
			return err
		},
		insertMany: func(ctx context.Context, args []RunPipelineArgs) error {
			params := make([]river.InsertManyParams, len(args))
			for i, a := range args {
				params[i] = river.InsertManyParams{Args: a}
			}
			_, err := client.InsertMany(ctx, params)
			return err
		},
		start: func(ctx context.Context) error {
			if opts.Workers == 0 {
				return nil
			}
			if err := client.Start(ctx); err != nil {
				return err
			}
			sweep.start(ctx, runner, func(ctx context.Context, runID string) error {
				_, err := client.Insert(ctx, RunPipelineArgs{RunID: runID}, nil)
				return err
			})
			return nil
		},
		stop: func(ctx context.Context) error {
			if opts.Workers == 0 {
				return nil
			}
			sweep.stop()
			// Running jobs are cancelled rather than awaited: their runs go
			// back to the queue and resume from their last checkpoint.
			return client.StopAndCancel(ctx)
		},
		close: closeDB,
	}
	return q, nil
}

// Enqueue adds a job for the run.
func (q *Queue) Enqueue(ctx context.Context, runID string) error {
	if err := q.insert(ctx, RunPipelineArgs{RunID: runID}); err != nil {
		return fmt.Errorf("enqueue run %s: %w", runID, err)
	}
	return nil
}

// Start starts the workers, if any.
func (q *Queue) Start(ctx context.Context) error { return q.start(ctx) }

// Stop cancels running jobs, whose runs are queued again to resume from
// their last checkpoint, and waits for them to return or for ctx to end.
func (q *Queue) Stop(ctx context.Context) error { return q.stop(ctx) }

// Close releases the queue's own database handle (SQLite).
func (q *Queue) Close() error { return q.close() }

// sweeper rescues, every third of the lease, the runs whose worker
// stopped renewing their lease. Every worker process sweeps; the store
// hands each lost run to one of them.
type sweeper struct {
	cancel context.CancelFunc
	done   chan struct{}
}

func (s *sweeper) start(ctx context.Context, runner *Runner, enqueue func(ctx context.Context, runID string) error) {
	ctx, s.cancel = context.WithCancel(context.WithoutCancel(ctx))
	s.done = make(chan struct{})
	go func() {
		defer close(s.done)
		t := time.NewTicker(runner.lease() / 3)
		defer t.Stop()
		for {
			runner.Rescue(ctx, enqueue)
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
}

func (s *sweeper) stop() {
	if s.cancel == nil {
		return
	}
	s.cancel()
	<-s.done
}
