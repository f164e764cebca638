package jobs

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"

	"github.com/tributary-data/tributary/connector"
	"github.com/tributary-data/tributary/engine"
	"github.com/tributary-data/tributary/pipeline"
	"github.com/tributary-data/tributary/quality"
	"github.com/tributary-data/tributary/store"
)

// AnomalyHistory is how many earlier succeeded runs of a pipeline a run's
// anomalies are judged against.
const AnomalyHistory = 30

// keepQuarantined is the engine's quarantine hook: it keeps a run's
// quarantined rows in the store, as many as the store keeps per run.
func (r *Runner) keepQuarantined(runID string) func(context.Context, []connector.Reject) error {
	return func(ctx context.Context, rejects []connector.Reject) error {
		rows := make([]store.QuarantinedRow, len(rejects))
		for i, rj := range rejects {
			rows[i] = store.QuarantinedRow{Stream: rj.Stream, Origin: rj.Origin, Raw: rj.Raw, Reason: rj.Reason, Step: rj.Step, At: rj.At}
		}
		return r.Store.AddQuarantined(context.WithoutCancel(ctx), runID, rows)
	}
}

// replaySource returns, for a replay run, the source of the replayed run's
// kept quarantined rows; nil for other runs.
func (r *Runner) replaySource(ctx context.Context, run *store.Run, spec *pipeline.Spec, log *slog.Logger) (connector.Source, error) {
	if run.Trigger != store.TriggerReplay {
		return nil, nil
	}
	of, err := r.Store.ReplayOf(ctx, run.ID)
	if err != nil {
		return nil, fmt.Errorf("replay: %w", err)
	}
	if of == "" {
		return nil, fmt.Errorf("replay: the run replays no run")
	}
	var records []engine.ReplayRecord
	for page := (store.Page{Limit: store.MaxLimit}); ; page.Offset += page.Limit {
		rows, err := r.Store.QuarantinedRows(ctx, of, "", page)
		if err != nil {
			return nil, fmt.Errorf("replay: load quarantined rows of run %s: %w", of, err)
		}
		for _, q := range rows {
			records = append(records, engine.ReplayRecord{Stream: q.Stream, Origin: q.Origin, Raw: q.Raw, Step: q.Step})
		}
		if len(rows) < page.Limit {
			break
		}
	}
	counts, err := r.Store.QuarantineCounts(ctx, of)
	if err != nil {
		return nil, fmt.Errorf("replay: %w", err)
	}
	for _, c := range counts {
		if c.Kept < c.Total {
			log.Warn("replay: the store kept only part of the replayed run's quarantined rows; the rest are in the destination's quarantine",
				"stream", c.Stream, "replayed", c.Kept, "quarantined", c.Total)
		}
	}
	log.Info("replaying quarantined rows", "of_run", of, "rows", len(records))
	return engine.NewReplaySource(spec, records, log), nil
}

// detectAnomalies judges a finished run against the pipeline's recent
// succeeded runs (replays aside: their volumes are the replayed rows).
// Without history there is nothing to judge; a store that cannot answer
// costs the run its anomalies, not its outcome.
func (r *Runner) detectAnomalies(ctx context.Context, run *store.Run, res *engine.Result, log *slog.Logger) {
	if res.Status != engine.Succeeded || run.Trigger == store.TriggerReplay {
		return
	}
	past, err := r.Store.Runs(context.WithoutCancel(ctx), store.RunFilter{PipelineID: run.PipelineID, Statuses: []store.RunStatus{store.Succeeded}}, store.Page{Limit: AnomalyHistory * 2})
	if err != nil {
		log.Warn("anomalies not judged: load earlier runs", "error", err)
		return
	}
	var history []engine.Result
	for _, p := range past {
		if p.ID == run.ID || p.Trigger == store.TriggerReplay || len(p.Result) == 0 || len(history) == AnomalyHistory {
			continue
		}
		var h engine.Result
		if err := json.Unmarshal(p.Result, &h); err != nil {
			log.Warn("anomalies: an earlier run's result is unreadable", "earlier_run", p.ID, "error", err)
			continue
		}
		history = append(history, h)
	}
	engine.DetectAnomalies(res, history, quality.AnomalyOptions{})
	for _, a := range res.Anomalies {
		log.Warn("anomaly: " + a.Message)
	}
	for _, s := range res.Streams {
		for _, a := range s.Anomalies {
			log.Warn("anomaly: stream "+s.Name+": "+a.Message, "stream", s.Name)
		}
	}
}
