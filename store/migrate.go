package store

import (
	"context"
	"database/sql"
	"fmt"
)

// migration is one schema step; each dialect has its own statements for
// it, since the two disagree on identity columns and JSON types.
type migration struct {
	sqlite   []string
	postgres []string
}

// migrations are applied in order; a concept's migration lives in the
// concept's file. Never change one that has been released: add another.
var migrations = []migration{
	coreMigration,
	runTriggerMigration,
	scheduleMigration,
	quarantineMigration,
	versionMigration,
	opsMigration,
	alertMigration,
	attemptMigration,
	authMigration,
	auditMigration,
	runStreamsMigration,
	identityMigration,
}

var coreMigration = portable(
	`CREATE TABLE connections (
		id TEXT PRIMARY KEY,
		name TEXT NOT NULL UNIQUE,
		connector TEXT NOT NULL,
		config JSON NOT NULL,
		created_at TIMESTAMP NOT NULL,
		updated_at TIMESTAMP NOT NULL)`,
	`CREATE TABLE pipelines (
		id TEXT PRIMARY KEY,
		name TEXT NOT NULL UNIQUE,
		version INTEGER NOT NULL,
		enabled BOOLEAN NOT NULL,
		created_at TIMESTAMP NOT NULL,
		updated_at TIMESTAMP NOT NULL)`,
	`CREATE TABLE pipeline_versions (
		pipeline_id TEXT NOT NULL REFERENCES pipelines(id) ON DELETE CASCADE,
		version INTEGER NOT NULL,
		spec JSON NOT NULL,
		created_at TIMESTAMP NOT NULL,
		PRIMARY KEY (pipeline_id, version))`,
	`CREATE TABLE runs (
		id TEXT PRIMARY KEY,
		pipeline_id TEXT NOT NULL REFERENCES pipelines(id) ON DELETE CASCADE,
		version INTEGER NOT NULL,
		status TEXT NOT NULL,
		full_refresh BOOLEAN NOT NULL,
		error TEXT NOT NULL DEFAULT '',
		result JSON,
		attempts INTEGER NOT NULL DEFAULT 0,
		created_at TIMESTAMP NOT NULL,
		started_at TIMESTAMP,
		finished_at TIMESTAMP,
		lease_until TIMESTAMP)`,
	`CREATE INDEX runs_pipeline ON runs (pipeline_id, created_at)`,
	`CREATE INDEX runs_status ON runs (pipeline_id, status)`,
	`CREATE TABLE run_logs (
		id {id},
		run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
		at TIMESTAMP NOT NULL,
		level TEXT NOT NULL,
		message TEXT NOT NULL)`,
	`CREATE INDEX run_logs_run ON run_logs (run_id, id)`,
)

var runTriggerMigration = portable(`ALTER TABLE runs ADD COLUMN triggered_by TEXT NOT NULL DEFAULT 'manual'`)

// migrate applies the migrations not yet applied, each in its own
// transaction with its version row, so a crash leaves a whole step or none.
func (s *sqlStore) migrate(ctx context.Context) error {
	if _, err := s.exec(ctx, `CREATE TABLE IF NOT EXISTS tributary_migrations (version INTEGER PRIMARY KEY, applied_at TIMESTAMP NOT NULL)`); err != nil {
		return fmt.Errorf("create migrations table: %w", err)
	}
	for i, m := range migrations {
		version := i + 1
		if err := s.tx(ctx, func(tx *sql.Tx) error {
			if s.postgres {
				// Several processes (serve, workers) may start together.
				if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(7216349)`); err != nil {
					return err
				}
			}
			var n int
			if err := tx.QueryRowContext(ctx, s.q(`SELECT count(*) FROM tributary_migrations WHERE version = ?`), version).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				return nil
			}
			stmts := m.sqlite
			if s.postgres {
				stmts = m.postgres
			}
			for _, st := range stmts {
				if _, err := tx.ExecContext(ctx, st); err != nil {
					return err
				}
			}
			_, err := tx.ExecContext(ctx, s.q(`INSERT INTO tributary_migrations (version, applied_at) VALUES (?, ?)`), version, now())
			return err
		}); err != nil {
			return fmt.Errorf("migration %d: %w", version, err)
		}
	}
	return nil
}
