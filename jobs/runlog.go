package jobs

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/tributary-data/tributary/store"
)

// runLogHandler stores a run's log records in run_logs, so the API can show
// them after the worker is gone.
type runLogHandler struct {
	store store.Store
	runID string
	level slog.Level
	attrs []slog.Attr
}

func (h *runLogHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level }

func (h *runLogHandler) Handle(ctx context.Context, rec slog.Record) error {
	var b strings.Builder
	b.WriteString(rec.Message)
	write := func(a slog.Attr) bool {
		if a.Key == "run_id" {
			return true
		}
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		return true
	}
	for _, a := range h.attrs {
		write(a)
	}
	rec.Attrs(write)
	// A log line is not worth failing a run for: the store may be briefly
	// unreachable, and the process log has the same line.
	_ = h.store.AddRunLog(context.WithoutCancel(ctx), h.runID, rec.Level.String(), b.String())
	return nil
}

func (h *runLogHandler) WithAttrs(as []slog.Attr) slog.Handler {
	c := *h
	c.attrs = append(append([]slog.Attr(nil), h.attrs...), as...)
	return &c
}

// WithGroup flattens groups; run logs are short lines for people.
func (h *runLogHandler) WithGroup(string) slog.Handler { return h }
