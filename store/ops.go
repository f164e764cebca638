package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
)

// OpsStore keeps figures for the dashboard, monitoring and analytics; workers seen; settings and retention.
type OpsStore interface {
	// RecordRunStats stores the totals of a finished run, taken from its
	// stored result, for the figures below. Calling it again replaces them.
	RecordRunStats(ctx context.Context, runID string) error
	// Dashboard sums up the store: totals, runs and rows since a time,
	// failing pipelines and recent activity.
	Dashboard(ctx context.Context, since time.Time) (*Dashboard, error)
	// RunFigures lists the totals of runs finished in [from, to), oldest
	// first; of one pipeline when pipelineID is set.
	RunFigures(ctx context.Context, from, to time.Time, pipelineID string) ([]RunFigure, error)
	// QueueStats reads the job queue's depth from River's table.
	QueueStats(ctx context.Context) (*QueueStats, error)

	// Heartbeat records that a process executing runs is alive.
	Heartbeat(ctx context.Context, w *WorkerBeat) error
	// Workers lists the processes seen since a time, most recent first.
	Workers(ctx context.Context, since time.Time) ([]WorkerBeat, error)

	// Retention is the stored retention settings, or the defaults.
	Retention(ctx context.Context) (RetentionSettings, error)
	SetRetention(ctx context.Context, r RetentionSettings) error
	// Purge deletes what the settings say is too old at the time given:
	// finished runs (with their logs and figures), log lines, quarantined
	// rows, and workers not seen for a week. Purging twice is harmless.
	Purge(ctx context.Context, r RetentionSettings, at time.Time) (*PurgeResult, error)
}

// RunFigure is the totals of one finished run.
type RunFigure struct {
	RunID           string        `json:"run_id"`
	PipelineID      string        `json:"pipeline_id"`
	Pipeline        string        `json:"pipeline"`
	Status          RunStatus     `json:"status"`
	FinishedAt      time.Time     `json:"finished_at"`
	Duration        time.Duration `json:"-"`
	RowsRead        int64         `json:"rows_read"`
	RowsWritten     int64         `json:"rows_written"`
	RowsQuarantined int64         `json:"rows_quarantined"`
}

// Dashboard is the summary of the store.
type Dashboard struct {
	Since            time.Time
	Pipelines        int64
	EnabledPipelines int64
	Connections      int64
	// RunsByStatus counts runs created since Since, and every run still
	// queued or running.
	RunsByStatus    map[RunStatus]int64
	RowsRead        int64
	RowsWritten     int64
	RowsQuarantined int64
	// Succeeded and Failed count runs finished since Since.
	Succeeded int64
	Failed    int64
	Failing   []FailingPipeline
	Recent    []Activity
}

// FailingPipeline is a pipeline whose latest finished run failed.
type FailingPipeline struct {
	PipelineID string    `json:"pipeline_id"`
	Pipeline   string    `json:"pipeline"`
	RunID      string    `json:"run_id"`
	FailedAt   time.Time `json:"failed_at"`
	Error      string    `json:"error"`
}

// Activity is a recent run.
type Activity struct {
	RunID       string     `json:"run_id"`
	PipelineID  string     `json:"pipeline_id"`
	Pipeline    string     `json:"pipeline"`
	Status      RunStatus  `json:"status"`
	Trigger     Trigger    `json:"trigger"`
	CreatedAt   time.Time  `json:"created_at"`
	FinishedAt  *time.Time `json:"finished_at,omitempty"`
	RowsWritten int64      `json:"rows_written"`
}

// QueueStats is the depth of the job queue.
type QueueStats struct {
	// ByState counts jobs not yet finished by River state: available,
	// scheduled, retryable, running, pending.
	ByState map[string]int64
	// OldestAvailable is when the oldest job waiting for a worker was
	// created; nil when none waits.
	OldestAvailable *time.Time
}

// Waiting is how many jobs wait for a worker (available, scheduled or
// retryable).
func (q *QueueStats) Waiting() int64 {
	return q.ByState["available"] + q.ByState["scheduled"] + q.ByState["retryable"]
}

// WorkerBeat is a process that executes runs, as last seen.
type WorkerBeat struct {
	ID           string     `json:"id"`
	Host         string     `json:"host"`
	PID          int        `json:"pid"`
	Version      string     `json:"version"`
	StartedAt    time.Time  `json:"started_at"`
	LastSeen     time.Time  `json:"last_seen"`
	Workers      int        `json:"workers"`
	RunsInFlight int        `json:"runs_in_flight"`
	StoppedAt    *time.Time `json:"stopped_at,omitempty"`
}

// RetentionSettings say after how many days things are purged; 0 keeps
// them forever.
type RetentionSettings struct {
	RunsDays       int `json:"runs_days"`
	LogsDays       int `json:"logs_days"`
	QuarantineDays int `json:"quarantine_days"`
	AuditDays      int `json:"audit_days"`
}

// DefaultRetention applies until settings are saved.
var DefaultRetention = RetentionSettings{RunsDays: 90, LogsDays: 30, QuarantineDays: 30, AuditDays: 365}

// MaxRetentionDays bounds each retention setting.
const MaxRetentionDays = 36500

// Validate reports settings out of range, with the field at fault.
func (r RetentionSettings) Validate() error {
	for _, f := range []struct {
		name string
		v    int
	}{{"runs_days", r.RunsDays}, {"logs_days", r.LogsDays}, {"quarantine_days", r.QuarantineDays}, {"audit_days", r.AuditDays}} {
		if f.v < 0 || f.v > MaxRetentionDays {
			return &FieldError{Field: f.name, Msg: fmt.Sprintf("must be between 0 (keep forever) and %d days, not %d", MaxRetentionDays, f.v)}
		}
	}
	return nil
}

// FieldError is a setting out of range.
type FieldError struct {
	Field string
	Msg   string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Msg }

// PurgeResult counts what a purge deleted.
type PurgeResult struct {
	Runs       int64 `json:"runs"`
	Logs       int64 `json:"logs"`
	Quarantine int64 `json:"quarantine"`
	Workers    int64 `json:"workers"`
	Audit      int64 `json:"audit"`
}

// workerKeep is how long a worker not seen stays listed.
const workerKeep = 7 * 24 * time.Hour

var opsMigration = portable(
	`CREATE TABLE run_stats (
		run_id TEXT PRIMARY KEY REFERENCES runs(id) ON DELETE CASCADE,
		pipeline_id TEXT NOT NULL,
		status TEXT NOT NULL,
		finished_at TIMESTAMP NOT NULL,
		duration_ms BIGINT NOT NULL,
		rows_read BIGINT NOT NULL,
		rows_written BIGINT NOT NULL,
		rows_quarantined BIGINT NOT NULL)`,
	// Covering the figures of a time window, in the order they are read.
	`CREATE INDEX run_stats_window ON run_stats (finished_at, run_id, pipeline_id, status, duration_ms, rows_read, rows_written, rows_quarantined)`,
	`CREATE INDEX run_stats_pipeline ON run_stats (pipeline_id, finished_at)`,
	// Finds the finished runs of a window without figures, and those to
	// purge, without reading the runs' rows.
	`CREATE INDEX runs_finished ON runs (finished_at, status, id)`,
	// The order of the runs list, newest first: pages read in index
	// order without sorting.
	`CREATE INDEX runs_newest ON runs (created_at DESC, id)`,
	`CREATE INDEX run_logs_at ON run_logs (at)`,
	`CREATE INDEX run_quarantine_at ON run_quarantine (at)`,
	`CREATE TABLE workers (
		id TEXT PRIMARY KEY,
		host TEXT NOT NULL,
		pid INTEGER NOT NULL,
		version TEXT NOT NULL,
		started_at TIMESTAMP NOT NULL,
		last_seen TIMESTAMP NOT NULL,
		workers INTEGER NOT NULL,
		runs_in_flight INTEGER NOT NULL,
		stopped_at TIMESTAMP)`,
	`CREATE TABLE settings (
		key TEXT PRIMARY KEY,
		value JSON NOT NULL,
		updated_at TIMESTAMP NOT NULL)`,
)

// runTotals sums the per-stream counts of a stored result.
func runTotals(result []byte) (read, written, quarantined int64, duration time.Duration) {
	if len(result) == 0 {
		return 0, 0, 0, 0
	}
	var res struct {
		Duration int64 `json:"duration_ns"`
		Streams  []struct {
			Read        int64 `json:"read"`
			Written     int64 `json:"written"`
			Quarantined int64 `json:"quarantined"`
		} `json:"streams"`
	}
	if json.Unmarshal(result, &res) != nil {
		return 0, 0, 0, 0
	}
	for _, s := range res.Streams {
		read += s.Read
		written += s.Written
		quarantined += s.Quarantined
	}
	return read, written, quarantined, time.Duration(res.Duration)
}

func (s *sqlStore) RecordRunStats(ctx context.Context, runID string) error {
	return s.recordRunStats(ctx, runID, true)
}

// recordRunStats stores the totals of a finished run; without replace, a
// run that has them already keeps them.
func (s *sqlStore) recordRunStats(ctx context.Context, runID string, replace bool) error {
	r, err := s.Run(ctx, runID)
	if err != nil {
		return err
	}
	if !r.Status.Done() || r.FinishedAt == nil {
		return fmt.Errorf("run %s is %s, not finished", runID, r.Status)
	}
	read, written, quarantined, d := runTotals(r.Result)
	if d == 0 && r.StartedAt != nil {
		d = r.FinishedAt.Sub(*r.StartedAt)
	}
	conflict := `DO NOTHING`
	if replace {
		conflict = `DO UPDATE SET status = excluded.status, finished_at = excluded.finished_at, duration_ms = excluded.duration_ms,
			rows_read = excluded.rows_read, rows_written = excluded.rows_written, rows_quarantined = excluded.rows_quarantined`
	}
	_, err = s.exec(ctx, s.q(`INSERT INTO run_stats (run_id, pipeline_id, status, finished_at, duration_ms, rows_read, rows_written, rows_quarantined)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (run_id) `+conflict),
		r.ID, r.PipelineID, r.Status, r.FinishedAt.UTC(), d.Milliseconds(), read, written, quarantined)
	if err != nil {
		return fmt.Errorf("record figures of run %s: %w", runID, err)
	}
	return nil
}

// syncRunStats records the figures of runs finished in [from, to) that
// have none yet: runs cancelled while queued, and runs whose process
// stopped between storing the outcome and its figures.
func (s *sqlStore) syncRunStats(ctx context.Context, from, to time.Time) error {
	// Two counts over covering indexes are cheaper than the anti-join,
	// and nearly always equal.
	var finished, figured int64
	if err := s.db.QueryRowContext(ctx, s.q(`SELECT count(*) FROM runs WHERE finished_at >= ? AND finished_at < ? AND status IN (?, ?, ?)`),
		from.UTC(), to.UTC(), Succeeded, Failed, Cancelled).Scan(&finished); err != nil {
		return fmt.Errorf("count finished runs: %w", err)
	}
	if err := s.db.QueryRowContext(ctx, s.q(`SELECT count(*) FROM run_stats WHERE finished_at >= ? AND finished_at < ?`),
		from.UTC(), to.UTC()).Scan(&figured); err != nil {
		return fmt.Errorf("count run figures: %w", err)
	}
	if finished == figured {
		return nil
	}
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT r.id FROM runs r LEFT JOIN run_stats x ON x.run_id = r.id
		WHERE r.finished_at >= ? AND r.finished_at < ? AND x.run_id IS NULL AND r.status IN (?, ?, ?)`),
		from.UTC(), to.UTC(), Succeeded, Failed, Cancelled)
	if err != nil {
		return fmt.Errorf("find runs without figures: %w", err)
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return err
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, id := range ids {
		if err := s.recordRunStats(ctx, id, false); err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
	}
	return nil
}

func (s *sqlStore) count(ctx context.Context, query string, args ...any) (int64, error) {
	var n int64
	err := s.db.QueryRowContext(ctx, s.q(query), args...).Scan(&n)
	return n, err
}

func (s *sqlStore) Dashboard(ctx context.Context, since time.Time) (*Dashboard, error) {
	since = since.UTC()
	at := now()
	if err := s.syncRunStats(ctx, since, at.Add(time.Second)); err != nil {
		return nil, err
	}
	d := &Dashboard{Since: since, RunsByStatus: map[RunStatus]int64{}}
	var err error
	if d.Pipelines, err = s.count(ctx, `SELECT count(*) FROM pipelines`); err != nil {
		return nil, fmt.Errorf("count pipelines: %w", err)
	}
	if d.EnabledPipelines, err = s.count(ctx, `SELECT count(*) FROM pipelines WHERE enabled = ?`, true); err != nil {
		return nil, fmt.Errorf("count pipelines: %w", err)
	}
	if d.Connections, err = s.count(ctx, `SELECT count(*) FROM connections`); err != nil {
		return nil, fmt.Errorf("count connections: %w", err)
	}
	for _, st := range []RunStatus{Queued, Running, Succeeded, Failed, Cancelled} {
		d.RunsByStatus[st] = 0
	}
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT status, count(*) FROM runs WHERE created_at >= ? OR status IN (?, ?) GROUP BY status`), since, Queued, Running)
	if err != nil {
		return nil, fmt.Errorf("count runs: %w", err)
	}
	for rows.Next() {
		var st RunStatus
		var n int64
		if err := rows.Scan(&st, &n); err != nil {
			rows.Close()
			return nil, err
		}
		d.RunsByStatus[st] = n
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	err = s.db.QueryRowContext(ctx, s.q(`SELECT CAST(COALESCE(SUM(rows_read), 0) AS BIGINT), CAST(COALESCE(SUM(rows_written), 0) AS BIGINT),
		CAST(COALESCE(SUM(rows_quarantined), 0) AS BIGINT),
		CAST(COALESCE(SUM(CASE WHEN status = ? THEN 1 ELSE 0 END), 0) AS BIGINT), CAST(COALESCE(SUM(CASE WHEN status = ? THEN 1 ELSE 0 END), 0) AS BIGINT)
		FROM run_stats WHERE finished_at >= ?`), Succeeded, Failed, since).
		Scan(&d.RowsRead, &d.RowsWritten, &d.RowsQuarantined, &d.Succeeded, &d.Failed)
	if err != nil {
		return nil, fmt.Errorf("sum rows: %w", err)
	}
	if d.Failing, err = s.failing(ctx); err != nil {
		return nil, err
	}
	if d.Recent, err = s.recent(ctx, 20); err != nil {
		return nil, err
	}
	return d, nil
}

// failing lists pipelines whose latest succeeded or failed run failed,
// most recent failure first.
func (s *sqlStore) failing(ctx context.Context) ([]FailingPipeline, error) {
	// One index probe per pipeline for its latest finished run.
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT p.id, p.name, r.id, r.finished_at, r.error FROM pipelines p
		JOIN runs r ON r.id = (SELECT l.id FROM runs l WHERE l.pipeline_id = p.id AND l.status IN (?, ?) AND l.finished_at IS NOT NULL
			ORDER BY l.finished_at DESC, l.id LIMIT 1)
		WHERE r.status = ? ORDER BY r.finished_at DESC, p.name`), Succeeded, Failed, Failed)
	if err != nil {
		return nil, fmt.Errorf("failing pipelines: %w", err)
	}
	defer rows.Close()
	out := []FailingPipeline{}
	for rows.Next() {
		var f FailingPipeline
		if err := rows.Scan(&f.PipelineID, &f.Pipeline, &f.RunID, &f.FailedAt, &f.Error); err != nil {
			return nil, err
		}
		f.FailedAt = f.FailedAt.UTC()
		out = append(out, f)
	}
	return out, rows.Err()
}

func (s *sqlStore) recent(ctx context.Context, n int) ([]Activity, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT r.id, r.pipeline_id, p.name, r.status, r.triggered_by, r.created_at, r.finished_at, COALESCE(x.rows_written, 0)
		FROM runs r JOIN pipelines p ON p.id = r.pipeline_id LEFT JOIN run_stats x ON x.run_id = r.id
		ORDER BY r.created_at DESC, r.id LIMIT ?`), n)
	if err != nil {
		return nil, fmt.Errorf("recent runs: %w", err)
	}
	defer rows.Close()
	out := []Activity{}
	for rows.Next() {
		var a Activity
		var finished sql.NullTime
		if err := rows.Scan(&a.RunID, &a.PipelineID, &a.Pipeline, &a.Status, &a.Trigger, &a.CreatedAt, &finished, &a.RowsWritten); err != nil {
			return nil, err
		}
		a.CreatedAt, a.FinishedAt = a.CreatedAt.UTC(), timePtr(finished)
		out = append(out, a)
	}
	return out, rows.Err()
}

func (s *sqlStore) RunFigures(ctx context.Context, from, to time.Time, pipelineID string) ([]RunFigure, error) {
	from, to = from.UTC(), to.UTC()
	if err := s.syncRunStats(ctx, from, to); err != nil {
		return nil, err
	}
	names, err := s.pipelineNames(ctx)
	if err != nil {
		return nil, err
	}
	query := `SELECT x.run_id, x.pipeline_id, x.status, x.finished_at, x.duration_ms, x.rows_read, x.rows_written, x.rows_quarantined
		FROM run_stats x WHERE x.finished_at >= ? AND x.finished_at < ?`
	args := []any{from, to}
	if pipelineID != "" {
		query += ` AND x.pipeline_id = ?`
		args = append(args, pipelineID)
	}
	rows, err := s.db.QueryContext(ctx, s.q(query+` ORDER BY x.finished_at, x.run_id`), args...)
	if err != nil {
		return nil, fmt.Errorf("run figures: %w", err)
	}
	defer rows.Close()
	out := []RunFigure{}
	for rows.Next() {
		var f RunFigure
		var ms int64
		if err := rows.Scan(&f.RunID, &f.PipelineID, &f.Status, &f.FinishedAt, &ms, &f.RowsRead, &f.RowsWritten, &f.RowsQuarantined); err != nil {
			return nil, err
		}
		f.Pipeline = names[f.PipelineID]
		f.FinishedAt, f.Duration = f.FinishedAt.UTC(), time.Duration(ms)*time.Millisecond
		out = append(out, f)
	}
	return out, rows.Err()
}

// pipelineNames maps pipeline ids to names; one read of a small table
// costs less than a join per run.
func (s *sqlStore) pipelineNames(ctx context.Context) (map[string]string, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, name FROM pipelines`)
	if err != nil {
		return nil, fmt.Errorf("pipeline names: %w", err)
	}
	defer rows.Close()
	names := map[string]string{}
	for rows.Next() {
		var id, name string
		if err := rows.Scan(&id, &name); err != nil {
			return nil, err
		}
		names[id] = name
	}
	return names, rows.Err()
}

func (s *sqlStore) QueueStats(ctx context.Context) (*QueueStats, error) {
	q := &QueueStats{ByState: map[string]int64{}}
	rows, err := s.db.QueryContext(ctx, `SELECT state, count(*) FROM river_job WHERE state NOT IN ('completed', 'cancelled', 'discarded') GROUP BY state`)
	if err != nil {
		return nil, fmt.Errorf("queue depth: %w", err)
	}
	for rows.Next() {
		var st string
		var n int64
		if err := rows.Scan(&st, &n); err != nil {
			rows.Close()
			return nil, err
		}
		q.ByState[st] = n
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if q.ByState["available"] == 0 {
		return q, nil
	}
	// An aggregate loses SQLite's column type, so the time may come back
	// as text in River's format.
	var oldest any
	if err := s.db.QueryRowContext(ctx, `SELECT min(created_at) FROM river_job WHERE state = 'available'`).Scan(&oldest); err != nil {
		return nil, fmt.Errorf("oldest queued job: %w", err)
	}
	t, err := anyTime(oldest)
	if err != nil {
		return nil, fmt.Errorf("oldest queued job: %w", err)
	}
	q.OldestAvailable = t
	return q, nil
}

func anyTime(v any) (*time.Time, error) {
	switch v := v.(type) {
	case nil:
		return nil, nil
	case time.Time:
		u := v.UTC()
		return &u, nil
	case []byte:
		return anyTime(string(v))
	case string:
		for _, layout := range []string{"2006-01-02 15:04:05.999999999-07:00", "2006-01-02 15:04:05.999999999Z07:00",
			time.RFC3339Nano, "2006-01-02 15:04:05.999999999", "2006-01-02T15:04:05.999999999"} {
			if t, err := time.Parse(layout, strings.TrimSpace(v)); err == nil {
				u := t.UTC()
				return &u, nil
			}
		}
		return nil, fmt.Errorf("unknown time format %q", v)
	}
	return nil, fmt.Errorf("unexpected time value %T", v)
}

func (s *sqlStore) Heartbeat(ctx context.Context, w *WorkerBeat) error {
	var stopped any
	if w.StoppedAt != nil {
		stopped = w.StoppedAt.UTC()
	}
	_, err := s.exec(ctx, s.q(`INSERT INTO workers (id, host, pid, version, started_at, last_seen, workers, runs_in_flight, stopped_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET last_seen = excluded.last_seen, workers = excluded.workers,
		runs_in_flight = excluded.runs_in_flight, stopped_at = excluded.stopped_at`),
		w.ID, w.Host, w.PID, w.Version, w.StartedAt.UTC(), w.LastSeen.UTC(), w.Workers, w.RunsInFlight, stopped)
	if err != nil {
		return fmt.Errorf("record heartbeat: %w", err)
	}
	return nil
}

func (s *sqlStore) Workers(ctx context.Context, since time.Time) ([]WorkerBeat, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT id, host, pid, version, started_at, last_seen, workers, runs_in_flight, stopped_at
		FROM workers WHERE last_seen >= ? ORDER BY last_seen DESC, id`), since.UTC())
	if err != nil {
		return nil, fmt.Errorf("list workers: %w", err)
	}
	defer rows.Close()
	out := []WorkerBeat{}
	for rows.Next() {
		var w WorkerBeat
		var stopped sql.NullTime
		if err := rows.Scan(&w.ID, &w.Host, &w.PID, &w.Version, &w.StartedAt, &w.LastSeen, &w.Workers, &w.RunsInFlight, &stopped); err != nil {
			return nil, err
		}
		w.StartedAt, w.LastSeen, w.StoppedAt = w.StartedAt.UTC(), w.LastSeen.UTC(), timePtr(stopped)
		out = append(out, w)
	}
	return out, rows.Err()
}

const retentionKey = "retention"

func (s *sqlStore) Retention(ctx context.Context) (RetentionSettings, error) {
	var raw []byte
	err := s.db.QueryRowContext(ctx, s.q(`SELECT value FROM settings WHERE key = ?`), retentionKey).Scan(&raw)
	if errors.Is(err, sql.ErrNoRows) {
		return DefaultRetention, nil
	} else if err != nil {
		return RetentionSettings{}, fmt.Errorf("read retention settings: %w", err)
	}
	r := DefaultRetention
	if err := json.Unmarshal(raw, &r); err != nil {
		return RetentionSettings{}, fmt.Errorf("retention settings: %w", err)
	}
	return r, nil
}

func (s *sqlStore) SetRetention(ctx context.Context, r RetentionSettings) error {
	if err := r.Validate(); err != nil {
		return err
	}
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	_, err = s.exec(ctx, s.q(`INSERT INTO settings (key, value, updated_at) VALUES (?, ?, ?)
		ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`), retentionKey, string(b), now())
	if err != nil {
		return fmt.Errorf("save retention settings: %w", err)
	}
	return nil
}

func (s *sqlStore) Purge(ctx context.Context, r RetentionSettings, at time.Time) (*PurgeResult, error) {
	if err := r.Validate(); err != nil {
		return nil, err
	}
	at = at.UTC()
	days := func(n int) time.Time { return at.Add(-time.Duration(n) * 24 * time.Hour) }
	exec := func(query string, args ...any) (int64, error) {
		res, err := s.exec(ctx, s.q(query), args...)
		if err != nil {
			return 0, err
		}
		return res.RowsAffected()
	}
	out := &PurgeResult{}
	var err error
	if r.LogsDays > 0 {
		if out.Logs, err = s.deleteBatches(ctx, `run_logs`, `id`, `at < ?`, days(r.LogsDays)); err != nil {
			return nil, fmt.Errorf("purge run logs: %w", err)
		}
	}
	if r.QuarantineDays > 0 {
		if out.Quarantine, err = s.purgeQuarantine(ctx, days(r.QuarantineDays)); err != nil {
			return nil, fmt.Errorf("purge quarantined rows: %w", err)
		}
	}
	if r.RunsDays > 0 {
		// Only finished runs go; their logs and figures go with them. A run
		// still queued or running is kept however old.
		if out.Runs, err = s.deleteBatches(ctx, `runs`, `id`, `finished_at < ? AND status IN (?, ?, ?)`,
			days(r.RunsDays), Succeeded, Failed, Cancelled); err != nil {
			return nil, fmt.Errorf("purge runs: %w", err)
		}
	}
	if r.AuditDays > 0 {
		n, err := s.PruneAudit(ctx, days(r.AuditDays))
		if err != nil {
			return nil, fmt.Errorf("purge audit log: %w", err)
		}
		out.Audit = int64(n)
	}
	if out.Workers, err = exec(`DELETE FROM workers WHERE last_seen < ?`, at.Add(-workerKeep)); err != nil {
		return nil, fmt.Errorf("purge workers: %w", err)
	}
	return out, nil
}

// purgeBatch is how many rows one purge statement deletes: short write
// transactions, so runs writing to the embedded store meanwhile wait
// milliseconds for the lock, not the whole purge.
const purgeBatch = 2000

// deleteBatches deletes the rows of table matching where, purgeBatch at a
// time, and returns how many went.
func (s *sqlStore) deleteBatches(ctx context.Context, table, key, where string, args ...any) (int64, error) {
	query := s.q(`DELETE FROM ` + table + ` WHERE ` + key + ` IN (SELECT ` + key + ` FROM ` + table + ` WHERE ` + where + ` LIMIT ` + fmt.Sprint(purgeBatch) + `)`)
	var total int64
	for {
		res, err := s.exec(ctx, query, args...)
		if err != nil {
			return total, err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return total, err
		}
		total += n
		if n < purgeBatch {
			return total, nil
		}
	}
}

// purgeQuarantine deletes quarantined rows stored before a time and
// recounts the rows kept; the totals stay, so a run still says how many
// rows it quarantined. The recount runs on every purge, so counts left
// stale by a purge that stopped half-way are mended by the next.
func (s *sqlStore) purgeQuarantine(ctx context.Context, before time.Time) (int64, error) {
	n, err := s.deleteBatches(ctx, `run_quarantine`, `id`, `at < ?`, before.UTC())
	if err != nil {
		return n, err
	}
	_, err = s.exec(ctx, `UPDATE run_quarantine_counts SET kept = (SELECT count(*) FROM run_quarantine q
		WHERE q.run_id = run_quarantine_counts.run_id AND q.stream = run_quarantine_counts.stream)
		WHERE kept <> (SELECT count(*) FROM run_quarantine q
		WHERE q.run_id = run_quarantine_counts.run_id AND q.stream = run_quarantine_counts.stream)`)
	return n, err
}

// Percentile is the nearest-rank p-th percentile (0 < p <= 100) of
// sorted durations; zero for none.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(float64(len(sorted))*p/100)) - 1
	return sorted[max(0, min(rank, len(sorted)-1))]
}
