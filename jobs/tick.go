package jobs

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/riverqueue/river"
)

// DefaultTickInterval is how often the tick runs when
// [Options.TickInterval] is zero.
const DefaultTickInterval = time.Second

// TickQueue is the queue of tick jobs, apart from runs so that busy
// workers never hold a tick back.
const TickQueue = "scheduler"

// TickArgs is the periodic job that calls [Options.Tick].
type TickArgs struct{}

// Kind names the job in River's tables.
func (TickArgs) Kind() string { return "scheduler_tick" }

func tickJob(interval time.Duration) *river.PeriodicJob {
	if interval <= 0 {
		interval = DefaultTickInterval
	}
	return river.NewPeriodicJob(river.PeriodicInterval(interval), func() (river.JobArgs, *river.InsertOpts) {
		// One attempt: a failed tick is followed by the next one, not by
		// retries piling up behind it.
		return TickArgs{}, &river.InsertOpts{Queue: TickQueue, MaxAttempts: 1}
	}, &river.PeriodicJobOpts{ID: "scheduler_tick", RunOnStart: true})
}

type tickWorker struct {
	river.WorkerDefaults[TickArgs]
	tick   func(ctx context.Context) error
	logger *slog.Logger

	mu sync.Mutex
	// last is when the latest tick of this process was fetched, in the
	// database's clock like the jobs' creation times.
	last time.Time
}

// Timeout bounds one tick; the next one starts afresh.
func (w *tickWorker) Timeout(*river.Job[TickArgs]) time.Duration { return time.Minute }

func (w *tickWorker) Work(ctx context.Context, job *river.Job[TickArgs]) error {
	if w.tick == nil {
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	// Ticks enqueued while an earlier one ran are covered by the next:
	// after a slow tick the backlog drains at once instead of replaying.
	if job.AttemptedAt != nil {
		if job.CreatedAt.Before(w.last) {
			return nil
		}
		w.last = *job.AttemptedAt
	}
	if err := w.tick(ctx); err != nil {
		w.logger.Error("scheduler tick", "error", err)
	}
	return nil
}

// EnqueueMany adds a job for each run in one round trip.
func (q *Queue) EnqueueMany(ctx context.Context, runIDs []string) error {
	if len(runIDs) == 0 {
		return nil
	}
	args := make([]RunPipelineArgs, len(runIDs))
	for i, id := range runIDs {
		args[i] = RunPipelineArgs{RunID: id}
	}
	if err := q.insertMany(ctx, args); err != nil {
		return fmt.Errorf("enqueue %d runs: %w", len(runIDs), err)
	}
	return nil
}
