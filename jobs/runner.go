package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"path/filepath"
	"time"

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
	// it); DefaultLease when zero.
	Lease time.Duration
	// Observers hear of every run that ended, after its outcome is stored.
	Observers []RunObserver
}

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

// errCancelled ends the execution of a run someone cancelled.
var errCancelled = errors.New("run cancelled")

// Execute claims the run, executes its pipeline version and records the
// outcome. It returns [store.ErrBusy] while another run of the pipeline
// holds a live lease, and the context's error when the context ended
// before the run did (the run is queued again, to resume from its last
// checkpoint). A run that fails is recorded as failed and is not an error.
func (r *Runner) Execute(ctx context.Context, runID string) error {
	lease := r.Lease
	if lease <= 0 {
		lease = DefaultLease
	}
	log := r.logger()
	run, err := r.Store.ClaimRun(ctx, runID, time.Now().Add(lease))
	switch {
	case errors.Is(err, store.ErrRunDone), errors.Is(err, store.ErrNotFound):
		log.Info("run needs no work", "run_id", runID, "reason", err)
		return nil
	case err != nil:
		return err
	}
	rlog := slog.New(slog.NewMultiHandler(log.Handler(), &runLogHandler{store: r.Store, runID: runID, level: slog.LevelInfo}))
	rlog.Info("run claimed", "attempt", run.Attempts)

	pl, err := r.Store.Pipeline(ctx, run.PipelineID)
	if err != nil {
		return r.fail(ctx, run, "", fmt.Errorf("load pipeline: %w", err))
	}
	spec, err := r.loadSpec(ctx, run)
	if err != nil {
		return r.fail(ctx, run, pl.Name, err)
	}
	er, err := engine.New(spec, engine.Options{
		RunID:       run.ID,
		StatePath:   filepath.Join(r.DataDir, "state", run.PipelineID+".json"),
		FullRefresh: run.FullRefresh,
		Logger:      rlog,
	})
	if err != nil {
		return r.fail(ctx, run, pl.Name, err)
	}

	runCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	renewed := make(chan struct{})
	go func() {
		defer close(renewed)
		r.renew(runCtx, run.ID, lease, er, cancel, log)
	}()
	res, runErr := er.Execute(runCtx)
	cancel(nil)
	<-renewed

	if ctx.Err() != nil {
		// The worker is stopping, not the run failing: queue it again so
		// the job's retry resumes it from its last checkpoint.
		rlog.Warn("worker stopped during the run; queued again", "error", runErr)
		if err := r.Store.RequeueRun(context.WithoutCancel(ctx), run.ID); err != nil {
			log.Error("requeue run", "run_id", run.ID, "error", err)
		}
		return ctx.Err()
	}
	status := store.RunStatus(res.Status)
	if errors.Is(context.Cause(runCtx), errCancelled) {
		status = store.Cancelled
	}
	body, err := json.Marshal(res)
	if err != nil {
		return fmt.Errorf("encode result: %w", err)
	}
	if err := r.Store.FinishRun(context.WithoutCancel(ctx), run.ID, status, res.Error, body); err != nil {
		return fmt.Errorf("record run result: %w", err)
	}
	r.observe(pl.Name, status, res)
	rlog.Info("run finished", "status", status, "error", res.Error)
	r.notify(ctx, run.ID)
	return nil
}

// renew extends the lease and records progress until ctx ends. A renewal
// that finds the run no longer running (cancelled through the API)
// cancels the execution.
func (r *Runner) renew(ctx context.Context, runID string, lease time.Duration, er *engine.Run, cancel context.CancelCauseFunc, log *slog.Logger) {
	t := time.NewTicker(lease / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		progress, _ := json.Marshal(map[string]any{"streams": er.Progress()})
		err := r.Store.RenewRun(ctx, runID, time.Now().Add(lease), progress)
		switch {
		case errors.Is(err, store.ErrNotFound):
			cancel(errCancelled)
			return
		case err != nil && ctx.Err() == nil:
			log.Warn("renew run lease", "run_id", runID, "error", err)
		}
	}
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
// keys given in the spec override the connection's.
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

func (r *Runner) fail(ctx context.Context, run *store.Run, name string, cause error) error {
	ctx = context.WithoutCancel(ctx)
	if err := r.Store.FinishRun(ctx, run.ID, store.Failed, cause.Error(), nil); err != nil {
		return fmt.Errorf("record failed run: %w (run failed: %w)", err, cause)
	}
	_ = r.Store.AddRunLog(ctx, run.ID, "ERROR", cause.Error())
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
	}
	m.Runs.WithLabelValues(name, string(status)).Inc()
	m.RunSeconds.WithLabelValues(name).Observe(res.Duration.Seconds())
}
