package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
)

// MaxQuarantinedPerRun bounds the quarantined rows the store keeps for one
// run (every stream together). The destination's quarantine always holds
// every row; the store's copy serves browsing, download and replay, and
// its counts say when it holds fewer than the run quarantined.
const MaxQuarantinedPerRun = 10_000

// QuarantineStore keeps quarantined rows per run for browsing, download
// and replay.
type QuarantineStore interface {
	// AddQuarantined counts rows as quarantined by the run and keeps them
	// while the run holds fewer than [MaxQuarantinedPerRun].
	AddQuarantined(ctx context.Context, runID string, rows []QuarantinedRow) error
	// QuarantinedRows lists a run's kept rows in the order they were
	// quarantined; of one stream when stream is set.
	QuarantinedRows(ctx context.Context, runID, stream string, page Page) ([]QuarantinedRow, error)
	// EachQuarantined calls f with every kept row of the run (of one
	// stream when stream is set) in order, without holding them all.
	EachQuarantined(ctx context.Context, runID, stream string, f func(*QuarantinedRow) error) error
	// QuarantineCounts returns, per stream, how many rows the run
	// quarantined and how many of them the store kept.
	QuarantineCounts(ctx context.Context, runID string) ([]QuarantineCount, error)
	// CreateReplayRun queues a run of the replayed run's pipeline, at the
	// pipeline's current version, that feeds the replayed run's kept rows
	// through it.
	CreateReplayRun(ctx context.Context, replayOf string) (*Run, error)
	// ReplayOf returns the run a replay run replays, "" for other runs.
	ReplayOf(ctx context.Context, runID string) (string, error)
}

// QuarantinedRow is a row a run refused, as its step refused it.
type QuarantinedRow struct {
	ID     int64  `json:"id"`
	RunID  string `json:"run_id"`
	Stream string `json:"stream"`
	// Origin is where the row came from: file:line, a record index or "".
	Origin string `json:"origin"`
	// Raw is the record as the refusing step saw it: the original text for
	// rows refused while reading, the row's fields as a JSON object for
	// rows refused by a transform step or by the destination.
	Raw    string    `json:"raw"`
	Reason string    `json:"reason"`
	Step   string    `json:"step"`
	At     time.Time `json:"at"`
}

// QuarantineCount is one stream's quarantine in a run.
type QuarantineCount struct {
	Stream string `json:"stream"`
	// Total counts every row quarantined; the destination's quarantine
	// holds them all.
	Total int64 `json:"total"`
	// Kept counts the rows the store holds.
	Kept int64 `json:"kept"`
}

var quarantineMigration = portable(
	`CREATE TABLE run_quarantine (
		id {id},
		run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
		stream TEXT NOT NULL,
		origin TEXT NOT NULL,
		raw TEXT NOT NULL,
		reason TEXT NOT NULL,
		step TEXT NOT NULL,
		at TIMESTAMP NOT NULL)`,
	`CREATE INDEX run_quarantine_run ON run_quarantine (run_id, stream, id)`,
	`CREATE TABLE run_quarantine_counts (
		run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
		stream TEXT NOT NULL,
		total BIGINT NOT NULL,
		kept BIGINT NOT NULL,
		PRIMARY KEY (run_id, stream))`,
	`ALTER TABLE runs ADD COLUMN replay_of TEXT REFERENCES runs(id) ON DELETE SET NULL`,
	`CREATE INDEX runs_created ON runs (created_at)`,
	`CREATE INDEX runs_status_created ON runs (status, created_at)`,
	`CREATE INDEX runs_trigger_created ON runs (triggered_by, created_at)`,
)

func (s *sqlStore) AddQuarantined(ctx context.Context, runID string, rows []QuarantinedRow) error {
	if len(rows) == 0 {
		return nil
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		// The run's row lock keeps two writers from both filling the last
		// room under the cap.
		res, err := tx.ExecContext(ctx, s.q(`UPDATE runs SET attempts = attempts WHERE id = ?`), runID)
		if err := affected(res, err, "run "+runID); err != nil {
			return err
		}
		var kept int64
		if err := tx.QueryRowContext(ctx, s.q(`SELECT COALESCE(SUM(kept), 0) FROM run_quarantine_counts WHERE run_id = ?`), runID).Scan(&kept); err != nil {
			return err
		}
		room := MaxQuarantinedPerRun - kept
		type count struct{ total, kept int64 }
		counts := map[string]*count{}
		var order []string
		var keep []QuarantinedRow
		for _, r := range rows {
			c, ok := counts[r.Stream]
			if !ok {
				c = &count{}
				counts[r.Stream] = c
				order = append(order, r.Stream)
			}
			c.total++
			if int64(len(keep)) < room {
				keep = append(keep, r)
				c.kept++
			}
		}
		// A few hundred rows a statement: one round trip each, well under
		// either database's limit on parameters.
		const perInsert = 500
		for len(keep) > 0 {
			n := min(len(keep), perInsert)
			var q strings.Builder
			q.WriteString(`INSERT INTO run_quarantine (run_id, stream, origin, raw, reason, step, at) VALUES `)
			args := make([]any, 0, n*7)
			for i, r := range keep[:n] {
				if i > 0 {
					q.WriteString(", ")
				}
				q.WriteString("(?, ?, ?, ?, ?, ?, ?)")
				at := r.At
				if at.IsZero() {
					at = now()
				}
				args = append(args, runID, text(r.Stream), text(r.Origin), text(r.Raw), text(r.Reason), text(r.Step), at.UTC())
			}
			if _, err := tx.ExecContext(ctx, s.q(q.String()), args...); err != nil {
				return fmt.Errorf("keep quarantined rows: %w", err)
			}
			keep = keep[n:]
		}
		for _, stream := range order {
			c := counts[stream]
			if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO run_quarantine_counts (run_id, stream, total, kept) VALUES (?, ?, ?, ?)
				ON CONFLICT (run_id, stream) DO UPDATE SET total = run_quarantine_counts.total + excluded.total, kept = run_quarantine_counts.kept + excluded.kept`),
				runID, stream, c.total, c.kept); err != nil {
				return fmt.Errorf("count quarantined rows: %w", err)
			}
		}
		return nil
	})
}

const quarantineCols = `id, run_id, stream, origin, raw, reason, step, at`

func scanQuarantined(r interface{ Scan(...any) error }) (*QuarantinedRow, error) {
	var q QuarantinedRow
	if err := r.Scan(&q.ID, &q.RunID, &q.Stream, &q.Origin, &q.Raw, &q.Reason, &q.Step, &q.At); err != nil {
		return nil, err
	}
	q.At = q.At.UTC()
	return &q, nil
}

func (s *sqlStore) quarantineQuery(runID, stream string) (string, []any) {
	query := `SELECT ` + quarantineCols + ` FROM run_quarantine WHERE run_id = ?`
	args := []any{runID}
	if stream != "" {
		query += ` AND stream = ?`
		args = append(args, stream)
	}
	return query + ` ORDER BY id`, args
}

func (s *sqlStore) QuarantinedRows(ctx context.Context, runID, stream string, page Page) ([]QuarantinedRow, error) {
	page = page.norm()
	query, args := s.quarantineQuery(runID, stream)
	rows, err := s.db.QueryContext(ctx, s.q(query+` LIMIT ? OFFSET ?`), append(args, page.Limit, page.Offset)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []QuarantinedRow{}
	for rows.Next() {
		q, err := scanQuarantined(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *q)
	}
	return out, rows.Err()
}

func (s *sqlStore) EachQuarantined(ctx context.Context, runID, stream string, f func(*QuarantinedRow) error) error {
	query, args := s.quarantineQuery(runID, stream)
	rows, err := s.db.QueryContext(ctx, s.q(query), args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		q, err := scanQuarantined(rows)
		if err != nil {
			return err
		}
		if err := f(q); err != nil {
			return err
		}
	}
	return rows.Err()
}

func (s *sqlStore) QuarantineCounts(ctx context.Context, runID string) ([]QuarantineCount, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT stream, total, kept FROM run_quarantine_counts WHERE run_id = ? ORDER BY stream`), runID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []QuarantineCount{}
	for rows.Next() {
		var c QuarantineCount
		if err := rows.Scan(&c.Stream, &c.Total, &c.Kept); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

func (s *sqlStore) CreateReplayRun(ctx context.Context, replayOf string) (*Run, error) {
	var run *Run
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var pipelineID string
		if err := tx.QueryRowContext(ctx, s.q(`SELECT pipeline_id FROM runs WHERE id = ?`), replayOf).Scan(&pipelineID); err != nil {
			return notFound(err, "run "+replayOf)
		}
		var version int
		if err := tx.QueryRowContext(ctx, s.q(`SELECT version FROM pipelines WHERE id = ?`), pipelineID).Scan(&version); err != nil {
			return notFound(err, "pipeline "+pipelineID)
		}
		run = &Run{ID: uuid.NewString(), PipelineID: pipelineID, Version: version, Status: Queued, Trigger: TriggerReplay, CreatedAt: now()}
		_, err := tx.ExecContext(ctx, s.q(`INSERT INTO runs (id, pipeline_id, version, status, full_refresh, triggered_by, created_at, replay_of) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`),
			run.ID, run.PipelineID, run.Version, run.Status, false, run.Trigger, run.CreatedAt, replayOf)
		return err
	})
	return run, err
}

func (s *sqlStore) ReplayOf(ctx context.Context, runID string) (string, error) {
	var of sql.NullString
	err := s.db.QueryRowContext(ctx, s.q(`SELECT replay_of FROM runs WHERE id = ?`), runID).Scan(&of)
	return of.String, notFound(err, "run "+runID)
}

// text makes s storable as text in both databases: a refused record may
// hold invalid UTF-8 or NUL bytes, which PostgreSQL refuses in text.
func text(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	return strings.ReplaceAll(s, "\x00", "\uFFFD")
}
