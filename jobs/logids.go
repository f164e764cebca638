package jobs

import (
	"context"
	"log/slog"
)

// idHandler adds a run's ids to every process log line of the run that
// does not carry them yet, so JSON logs can be filtered by run and
// pipeline; ids given with With (as the engine does) are not repeated.
type idHandler struct {
	next slog.Handler
	ids  []slog.Attr
	seen map[string]bool
}

// withRunIDs wraps h so each record carries run_id and pipeline_id.
func withRunIDs(h slog.Handler, runID, pipelineID string) slog.Handler {
	return &idHandler{next: h, ids: []slog.Attr{slog.String("run_id", runID), slog.String("pipeline_id", pipelineID)}}
}

func (h *idHandler) Enabled(ctx context.Context, l slog.Level) bool { return h.next.Enabled(ctx, l) }

func (h *idHandler) Handle(ctx context.Context, r slog.Record) error {
	have := map[string]bool{}
	r.Attrs(func(a slog.Attr) bool {
		have[a.Key] = true
		return true
	})
	for _, a := range h.ids {
		if !h.seen[a.Key] && !have[a.Key] {
			r.AddAttrs(a)
		}
	}
	return h.next.Handle(ctx, r)
}

func (h *idHandler) WithAttrs(as []slog.Attr) slog.Handler {
	seen := make(map[string]bool, len(h.seen)+len(as))
	for k := range h.seen {
		seen[k] = true
	}
	for _, a := range as {
		seen[a.Key] = true
	}
	return &idHandler{next: h.next.WithAttrs(as), ids: h.ids, seen: seen}
}

// WithGroup keeps the ids at the top level: attributes added after a
// group belong to the group and cannot repeat them.
func (h *idHandler) WithGroup(name string) slog.Handler {
	return &idHandler{next: h.next.WithGroup(name), ids: h.ids, seen: h.seen}
}
