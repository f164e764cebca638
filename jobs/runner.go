package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tributary-data/tributary/connector"
	"github.com/tributary-data/tributary/engine"
	"github.com/tributary-data/tributary/pipeline"
	"github.com/tributary-data/tributary/store"
)

// DefaultLease is how long a claimed run stays owned without renewal.
const DefaultLease = 30 * time.Second

// Runner executes one run record end to end.
type Runner struct {
	Store store.Store
	// DataDir holds local state files (state/PIPELINE_ID.json) for
	// destinations that cannot keep state with their data.
	DataDir string
	// Metrics, when set, count rows and runs.
	Metrics *Metrics
	Logger  *slog.Logger
	// Lease is how long a claim lasts between renewals (every third of
	// it); DefaultLease when zero. A run whose worker did not renew its
	// lease for this long is rescued: queued again to resume elsewhere.
	Lease time.Duration
	// CancelPoll is how often a running run's status is checked, so a
	// cancel stops it promptly; DefaultCancelPoll when zero.
	CancelPoll time.Duration
	// Worker names this process in attempts and logs; host:pid when empty.
	Worker string
	// Observers hear of every run that ended, after its outcome is stored.
	Observers []RunObserver

	inFlight atomic.Int64
}

// InFlight is how many runs Execute is executing now.
func (r *Runner) InFlight() int { return int(r.inFlight.Load()) }

// RunObserver hears of runs that ended (alerts, for one).
type RunObserver interface {
	// RunFinished gets the run as stored, with its final status and result.
	RunFinished(ctx context.Context, run *store.Run)
}

// notify hands the stored run to every observer.
func (r *Runner) notify(ctx context.Context, runID string) {
	if len(r.Observers) == 0 {
		return
	}
	ctx = context.WithoutCancel(ctx)
	run, err := r.Store.Run(ctx, runID)
	if err != nil {
		r.logger().Warn("load finished run for observers", "run_id", runID, "error", err)
		return
	}
	for _, o := range r.Observers {
		o.RunFinished(ctx, run)
	}
}

func (r *Runner) logger() *slog.Logger {
	if r.Logger == nil {
		return slog.Default()
	}
	return r.Logger
}

// Errors that end the execution of a run from outside the engine.
var (
	errCancelled = errors.New("run cancelled")
	errLeaseLost = errors.New("lease lost to another worker")
)

// timeoutError ends an attempt that ran longer than options.timeout.
type timeoutError struct{ after string }

func (e timeoutError) Error() string { return "timed out after " + e.after }

// RetryError asks for the run's next attempt after Delay: an attempt
// failed and the pipeline's options.retries allow another.
type RetryError struct {
	Delay time.Duration
	Cause string
}

func (e *RetryError) Error() string {
	return fmt.Sprintf("attempt failed (%s); next attempt in %s", e.Cause, e.Delay)
}

// Execute claims the run, executes its pipeline version and records the
// outcome. It returns [store.ErrBusy] while another run of the pipeline
// holds a live lease, a [*RetryError] when a failed attempt is to be
// retried, and the context's error when the context ended before the run
// did (the run is queued again, to resume from its last checkpoint). A run
// that fails for good is recorded as failed and is not an error.
func (r *Runner) Execute(ctx context.Context, runID string) error {
	r.inFlight.Add(1)
	defer r.inFlight.Add(-1)
	lease := r.lease()
	log := r.logger()
	worker := r.worker()
	run, prev, err := r.Store.ClaimAttempt(ctx, runID, worker, time.Now().Add(lease))
	switch {
	case errors.Is(err, store.ErrRunDone), errors.Is(err, store.ErrNotFound):
		log.Info("run needs no work", "run_id", runID, "reason", err)
		return nil
	case errors.Is(err, store.ErrLeaseHeld):
		// A duplicate job (River rescued a long job by elapsed time): the
		// live holder finishes the run, and if it dies the lease sweep
		// queues the run again.
		log.Info("run held by a live worker; job ends", "run_id", runID)
		return nil
	case err != nil:
		return err
	}
	attempt := run.Attempts
	rlog := slog.New(slog.NewMultiHandler(withRunIDs(log.Handler(), runID, run.PipelineID), &runLogHandler{store: r.Store, runID: runID, level: slog.LevelInfo}))
	switch {
	case prev == nil:
		rlog.Info(fmt.Sprintf("attempt %d started by %s", attempt, worker))
	case prev.Outcome == store.AttemptLost:
		rlog.Warn(fmt.Sprintf("worker %s lost; resumed from checkpoint by %s (attempt %d)", orUnknown(prev.Worker), worker, attempt))
	case prev.Outcome == store.AttemptStopped:
		rlog.Info(fmt.Sprintf("worker %s stopped; resumed from checkpoint by %s (attempt %d)", orUnknown(prev.Worker), worker, attempt))
	default:
		rlog.Info(fmt.Sprintf("attempt %d started by %s after attempt %d %s", attempt, worker, prev.Attempt, prev.Outcome))
	}

	pl, err := r.Store.Pipeline(ctx, run.PipelineID)
	if err != nil {
		return r.fail(ctx, run, "", fmt.Errorf("load pipeline: %w", err))
	}
	spec, err := r.loadSpec(ctx, run)
	if err != nil {
		return r.fail(ctx, run, pl.Name, err)
	}
	replay, err := r.replaySource(ctx, run, spec, rlog)
	if err != nil {
		return r.fail(ctx, run, pl.Name, err)
	}
	er, err := engine.New(spec, engine.Options{
		RunID:       run.ID,
		StatePath:   filepath.Join(r.DataDir, "state", run.PipelineID+".json"),
		FullRefresh: run.FullRefresh,
		Logger:      rlog,
		Quarantine:  r.keepQuarantined(run.ID),
		Replay:      replay,
	})
	if err != nil {
		return r.fail(ctx, run, pl.Name, err)
	}
	opts := runOptionsOf(spec)

	runCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	if opts.timeout > 0 {
		t := time.AfterFunc(opts.timeout, func() { cancel(timeoutError{spec.Options.Timeout}) })
		defer t.Stop()
	}
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		r.watch(runCtx, run.ID, attempt, lease, er, cancel, log)
	}()
	res, runErr := er.Execute(runCtx)
	cause := context.Cause(runCtx)
	cancel(nil)
	<-watched

	r.detectAnomalies(ctx, run, res, rlog)
	body, err := json.Marshal(res)
	if err != nil {
		return fmt.Errorf("encode result: %w", err)
	}
	end := func(e store.AttemptEnd) error {
		err := r.Store.EndAttempt(context.WithoutCancel(ctx), run.ID, attempt, e)
		if errors.Is(err, store.ErrLeaseLost) {
			rlog.Warn("lease lost to another worker; this attempt's outcome is not recorded", "attempt", attempt)
			return nil
		}
		return err
	}
	switch {
	case ctx.Err() != nil && runErr != nil:
		// The worker is stopping, not the run failing: queue it again so
		// the job's retry resumes it from its last checkpoint.
		rlog.Warn(fmt.Sprintf("worker %s stopping during attempt %d; run queued again", worker, attempt), "error", runErr)
		if err := end(store.AttemptEnd{Outcome: store.AttemptStopped, Status: store.Queued, Result: body}); err != nil {
			log.Error("requeue run", "run_id", run.ID, "error", err)
		}
		return ctx.Err()
	case errors.Is(cause, errLeaseLost):
		rlog.Warn(fmt.Sprintf("worker %s lost the run's lease; attempt %d stopped", worker, attempt))
		return nil
	}
	status := store.RunStatus(res.Status)
	var te timeoutError
	switch {
	case errors.Is(cause, errCancelled):
		status = store.Cancelled
	case errors.As(cause, &te):
		status, res.Status, res.Error = store.Failed, engine.Failed, te.Error()
		if body, err = json.Marshal(res); err != nil {
			return fmt.Errorf("encode result: %w", err)
		}
	}
	if status == store.Failed && opts.retries > 0 {
		failures, err := r.failures(ctx, run.ID)
		if err != nil {
			log.Warn("count failed attempts", "run_id", run.ID, "error", err)
		} else if failures < opts.retries {
			delay := Backoff(opts.backoff, failures+1)
			at := time.Now().Add(delay)
			// Logged first, so whoever sees the attempt ended finds its log
			// complete.
			rlog.Warn(fmt.Sprintf("attempt %d failed: %s; retry %d of %d at %s (in %s)", attempt, res.Error, failures+1, opts.retries,
				at.UTC().Format(time.RFC3339), delay.Round(time.Millisecond)))
			if err := end(store.AttemptEnd{Outcome: store.AttemptFailed, Status: store.Queued, Error: res.Error, Result: body, RetryAt: &at}); err != nil {
				return fmt.Errorf("record failed attempt: %w", err)
			}
			return &RetryError{Delay: delay, Cause: res.Error}
		}
	}
	outcome := store.Outcome(status)
	rlog.Info("run finished", "status", status, "error", res.Error, "attempt", attempt)
	if err := end(store.AttemptEnd{Outcome: outcome, Status: status, Error: res.Error, Result: body}); err != nil {
		return fmt.Errorf("record run result: %w", err)
	}
	r.observe(pl.Name, status, res)
	r.notify(ctx, run.ID)
	return nil
}

// failures counts the run's failed attempts before this one.
func (r *Runner) failures(ctx context.Context, runID string) (int, error) {
	as, err := r.Store.Attempts(ctx, runID)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, a := range as {
		if a.Outcome == store.AttemptFailed {
			n++
		}
	}
	return n, nil
}

// watch asks the store every CancelPoll whether the run was cancelled or
// taken over, and renews the lease with the progress every third of it.
// A worker that could not renew its lease in time stops the attempt: by
// then another worker may have taken the run over.
func (r *Runner) watch(ctx context.Context, runID string, attempt int, lease time.Duration, er *engine.Run, cancel context.CancelCauseFunc, log *slog.Logger) {
	poll := r.CancelPoll
	if poll <= 0 {
		poll = DefaultCancelPoll
	}
	renewEvery := lease / 3
	poll = min(poll, renewEvery)
	t := time.NewTicker(poll)
	defer t.Stop()
	renewed := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if time.Since(renewed) >= renewEvery {
			streams := er.Progress()
			r.Metrics.observeLag(er.Pipeline(), streams)
			progress, _ := json.Marshal(map[string]any{"streams": streams})
			at := time.Now()
			status, err := r.Store.RenewAttempt(ctx, runID, attempt, at.Add(lease), progress)
			switch {
			case errors.Is(err, store.ErrLeaseLost), errors.Is(err, store.ErrNotFound):
				cancel(errLeaseLost)
				return
			case err == nil && status == store.Cancelled:
				cancel(errCancelled)
				return
			case err == nil:
				renewed = at
				continue
			case ctx.Err() == nil:
				log.Warn("renew run lease", "run_id", runID, "error", err)
			}
			if time.Since(renewed) >= lease {
				cancel(errLeaseLost)
				return
			}
			continue
		}
		status, n, err := r.Store.RunState(ctx, runID)
		switch {
		case err != nil:
			// The renewal reports a store that stays unreachable.
		case status == store.Cancelled && n == attempt:
			cancel(errCancelled)
			return
		case status != store.Running || n != attempt:
			cancel(errLeaseLost)
			return
		}
	}
}

// Rescue queues again the runs whose worker stopped renewing their lease
// and enqueues a job for each, which resumes the run from its last
// checkpoint.
func (r *Runner) Rescue(ctx context.Context, enqueue func(ctx context.Context, runID string) error) {
	lost, err := r.Store.RescueRuns(ctx, time.Now())
	if err != nil && ctx.Err() == nil {
		r.logger().Warn("rescue runs", "error", err)
	}
	for _, a := range lost {
		msg := fmt.Sprintf("worker %s lost: no lease renewal for %s during attempt %d; run queued again by %s to resume from its last checkpoint",
			orUnknown(a.Worker), r.lease(), a.Attempt, r.worker())
		r.logger().Warn(msg, "run_id", a.RunID)
		_ = r.Store.AddRunLog(context.WithoutCancel(ctx), a.RunID, slog.LevelWarn.String(), msg)
		if err := enqueue(ctx, a.RunID); err != nil {
			// River's rescue of the dead worker's job still finds the run.
			r.logger().Error("enqueue rescued run", "run_id", a.RunID, "error", err)
		}
	}
}

func orUnknown(worker string) string {
	if worker == "" {
		return "(unknown)"
	}
	return worker
}

func (r *Runner) lease() time.Duration {
	if r.Lease <= 0 {
		return DefaultLease
	}
	return r.Lease
}

func (r *Runner) worker() string {
	if r.Worker != "" {
		return r.Worker
	}
	host, err := os.Hostname()
	if err != nil {
		host = "localhost"
	}
	return fmt.Sprintf("%s:%d", host, os.Getpid())
}

// loadSpec parses the run's pipeline version and replaces stored
// connection references with the connections' connector and config.
func (r *Runner) loadSpec(ctx context.Context, run *store.Run) (*pipeline.Spec, error) {
	v, err := r.Store.PipelineVersion(ctx, run.PipelineID, run.Version)
	if err != nil {
		return nil, fmt.Errorf("load pipeline version: %w", err)
	}
	spec, err := pipeline.Parse(v.Spec, nil)
	if err != nil {
		return nil, err
	}
	if err := ResolveConnections(ctx, r.Store, spec); err != nil {
		return nil, err
	}
	return spec, nil
}

// ResolveConnections replaces `connection: NAME` of the spec's source and
// destination with the stored connection's connector and config; config
// keys given in the spec override the connection's. One connection serves
// both roles, so a key of the connection that only the other role of its
// connector takes (a Postgres destination's `schema` when the connection
// is read as a source) is left out; keys neither role knows stay, and
// validation names them.
func ResolveConnections(ctx context.Context, s store.Store, spec *pipeline.Spec) error {
	var errs pipeline.Errors
	resolve := func(path string, conn *string, name *string, cfg *map[string]any) {
		if *conn == "" {
			return
		}
		c, err := s.ConnectionByName(ctx, *conn)
		if errors.Is(err, store.ErrNotFound) {
			errs = append(errs, pipeline.FieldError{Path: path + ".connection", Msg: fmt.Sprintf("no stored connection named %q", *conn)})
			return
		} else if err != nil {
			errs = append(errs, pipeline.FieldError{Path: path + ".connection", Msg: err.Error()})
			return
		}
		merged := maps.Clone(c.Config)
		if merged == nil {
			merged = map[string]any{}
		}
		info, _ := connector.Lookup(c.Connector)
		for key := range info.OtherRoleKeys(path == "source") {
			delete(merged, key)
		}
		maps.Copy(merged, *cfg)
		*name, *cfg, *conn = c.Connector, merged, ""
	}
	resolve("source", &spec.Source.Connection, &spec.Source.Connector, &spec.Source.Config)
	resolve("destination", &spec.Destination.Connection, &spec.Destination.Connector, &spec.Destination.Config)
	if len(errs) > 0 {
		return errs
	}
	return nil
}

// fail records a run that could not start (its pipeline, spec or
// connections did not resolve): retrying would not help.
func (r *Runner) fail(ctx context.Context, run *store.Run, name string, cause error) error {
	if ctx.Err() != nil {
		// The worker stopped while the run was starting: that is no fault
		// of the run's, which is queued again.
		err := r.Store.EndAttempt(context.WithoutCancel(ctx), run.ID, run.Attempts, store.AttemptEnd{Outcome: store.AttemptStopped, Status: store.Queued})
		if err != nil && !errors.Is(err, store.ErrLeaseLost) {
			r.logger().Error("requeue run", "run_id", run.ID, "error", err)
		}
		return ctx.Err()
	}
	ctx = context.WithoutCancel(ctx)
	_ = r.Store.AddRunLog(ctx, run.ID, "ERROR", cause.Error())
	err := r.Store.EndAttempt(ctx, run.ID, run.Attempts, store.AttemptEnd{Outcome: store.AttemptFailed, Status: store.Failed, Error: cause.Error()})
	if errors.Is(err, store.ErrLeaseLost) {
		return nil
	} else if err != nil {
		return fmt.Errorf("record failed run: %w (run failed: %w)", err, cause)
	}
	if r.Metrics != nil && name != "" {
		r.Metrics.Runs.WithLabelValues(name, string(store.Failed)).Inc()
	}
	r.notify(ctx, run.ID)
	return nil
}

func (r *Runner) observe(name string, status store.RunStatus, res *engine.Result) {
	m := r.Metrics
	if m == nil {
		return
	}
	for _, s := range res.Streams {
		m.RowsRead.WithLabelValues(name).Add(float64(s.Read))
		m.RowsWritten.WithLabelValues(name).Add(float64(s.Written))
		m.RowsQuarantined.WithLabelValues(name).Add(float64(s.Quarantined))
		m.BytesWritten.WithLabelValues(name).Add(float64(s.Bytes))
	}
	m.Runs.WithLabelValues(name, string(status)).Inc()
	m.RunSeconds.WithLabelValues(name).Observe(res.Duration.Seconds())
	// A finished run has no lag to report.
	m.Lag.DeletePartialMatch(prometheus.Labels{"pipeline": name})
}
