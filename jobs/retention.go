package jobs

import (
	"context"
	"log/slog"
	"time"

	"github.com/tributary-data/tributary/store"
)

// DefaultPurgeEvery is how often the server purges what the retention
// settings say is too old.
const DefaultPurgeEvery = 24 * time.Hour

// Purger applies the stored retention settings once on start and then
// every Every. Several servers may purge at once: a purge only deletes
// what is too old, so the second finds nothing more.
type Purger struct {
	Store store.OpsStore
	// Every is DefaultPurgeEvery when zero.
	Every  time.Duration
	Logger *slog.Logger
}

// Run purges until ctx ends.
func (p *Purger) Run(ctx context.Context) {
	every := p.Every
	if every <= 0 {
		every = DefaultPurgeEvery
	}
	log := p.Logger
	if log == nil {
		log = slog.Default()
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if err := p.Purge(ctx); err != nil && ctx.Err() == nil {
			log.Warn("purge by retention settings", "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Purge applies the stored retention settings now.
func (p *Purger) Purge(ctx context.Context) error {
	r, err := p.Store.Retention(ctx)
	if err != nil {
		return err
	}
	res, err := p.Store.Purge(ctx, r, time.Now())
	if err != nil {
		return err
	}
	log := p.Logger
	if log == nil {
		log = slog.Default()
	}
	log.Info("purged by retention settings", "runs", res.Runs, "log_lines", res.Logs, "quarantined_rows", res.Quarantine, "workers", res.Workers, "audit_entries", res.Audit,
		"runs_days", r.RunsDays, "logs_days", r.LogsDays, "quarantine_days", r.QuarantineDays, "audit_days", r.AuditDays)
	return nil
}
