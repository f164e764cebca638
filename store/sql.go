package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgconn"
)

// sqlStore holds the queries both stores share. They are written with ?
// placeholders and rewritten to $n for PostgreSQL.
type sqlStore struct {
	db       *sql.DB
	postgres bool
	// sealer encrypts secret config fields at rest; nil keeps them plain.
	sealer Sealer
	// stmts holds the embedded store's prepared list queries by text:
	// parsing a query cost SQLite about as much as running it.
	stmts sync.Map
	// writes, on the embedded store, lets one write at a time reach
	// SQLite's single writer. Others wait their turn here rather than in
	// SQLite's busy handler, which sleeps ever longer between tries: under
	// hundreds of runs at once, writers would spend seconds asleep while
	// the lock sat free.
	writes *sync.Mutex
}

// exec runs a statement that writes.
func (s *sqlStore) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if s.writes != nil {
		s.writes.Lock()
		defer s.writes.Unlock()
	}
	return s.db.ExecContext(ctx, query, args...)
}

func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

// q rewrites ? placeholders for the dialect. No query here holds a literal
// question mark.
func (s *sqlStore) q(query string) string {
	if !s.postgres {
		return query
	}
	var b strings.Builder
	n := 0
	for _, r := range query {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// query runs a read that is issued often. On SQLite its statement is
// prepared once; pgx already keeps prepared statements per connection.
// The query texts must come from a small set (no literal values).
func (s *sqlStore) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if s.postgres {
		return s.db.QueryContext(ctx, s.q(query), args...)
	}
	st, ok := s.stmts.Load(query)
	if !ok {
		p, err := s.db.PrepareContext(ctx, query)
		if err != nil {
			return nil, err
		}
		var loaded bool
		if st, loaded = s.stmts.LoadOrStore(query, p); loaded {
			p.Close()
		}
	}
	return st.(*sql.Stmt).QueryContext(ctx, args...)
}

func (s *sqlStore) tx(ctx context.Context, f func(*sql.Tx) error) error {
	if s.writes != nil {
		s.writes.Lock()
		defer s.writes.Unlock()
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := f(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

func isUnique(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code == "23505"
	}
	return err != nil && strings.Contains(err.Error(), "UNIQUE constraint failed")
}

func (s *sqlStore) Ping(ctx context.Context) error { return s.db.PingContext(ctx) }

func (s *sqlStore) Close() error {
	s.stmts.Range(func(k, v any) bool {
		v.(*sql.Stmt).Close()
		s.stmts.Delete(k)
		return true
	})
	return s.db.Close()
}

// DB is the database handle.
func (s *sqlStore) DB() *sql.DB { return s.db }

func notFound(err error, what string) error {
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%s: %w", what, ErrNotFound)
	}
	return err
}

func affected(res sql.Result, err error, what string) error {
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("%s: %w", what, ErrNotFound)
	}
	return nil
}

// Connections.

const connCols = `id, name, connector, config, created_at, updated_at`

func scanConn(r interface{ Scan(...any) error }) (*Connection, error) {
	var c Connection
	var cfg []byte
	if err := r.Scan(&c.ID, &c.Name, &c.Connector, &cfg, &c.CreatedAt, &c.UpdatedAt); err != nil {
		return nil, err
	}
	if err := json.Unmarshal(cfg, &c.Config); err != nil {
		return nil, fmt.Errorf("connection %s config: %w", c.Name, err)
	}
	c.CreatedAt, c.UpdatedAt = c.CreatedAt.UTC(), c.UpdatedAt.UTC()
	return &c, nil
}

func (s *sqlStore) CreateConnection(ctx context.Context, c *Connection) error {
	cfg, err := s.sealConfig("connection", c.Connector, c.Config)
	if err != nil {
		return fmt.Errorf("connection config: %w", err)
	}
	c.ID = uuid.NewString()
	c.CreatedAt = now()
	c.UpdatedAt = c.CreatedAt
	_, err = s.exec(ctx, s.q(`INSERT INTO connections (`+connCols+`) VALUES (?, ?, ?, ?, ?, ?)`),
		c.ID, c.Name, c.Connector, string(cfg), c.CreatedAt, c.UpdatedAt)
	if isUnique(err) {
		return fmt.Errorf("connection %q: %w", c.Name, ErrConflict)
	}
	return err
}

func (s *sqlStore) UpdateConnection(ctx context.Context, c *Connection) error {
	cfg, err := s.sealConfig("connection", c.Connector, c.Config)
	if err != nil {
		return fmt.Errorf("connection config: %w", err)
	}
	c.UpdatedAt = now()
	res, err := s.exec(ctx, s.q(`UPDATE connections SET name = ?, connector = ?, config = ?, updated_at = ? WHERE id = ?`),
		c.Name, c.Connector, string(cfg), c.UpdatedAt, c.ID)
	if isUnique(err) {
		return fmt.Errorf("connection %q: %w", c.Name, ErrConflict)
	}
	return affected(res, err, "connection "+c.ID)
}

func (s *sqlStore) Connection(ctx context.Context, id string) (*Connection, error) {
	c, err := scanConn(s.db.QueryRowContext(ctx, s.q(`SELECT `+connCols+` FROM connections WHERE id = ?`), id))
	if err == nil {
		err = s.openConfig("connection "+c.Name, c.Config)
	}
	return c, notFound(err, "connection "+id)
}

func (s *sqlStore) ConnectionByName(ctx context.Context, name string) (*Connection, error) {
	c, err := scanConn(s.db.QueryRowContext(ctx, s.q(`SELECT `+connCols+` FROM connections WHERE name = ?`), name))
	if err == nil {
		err = s.openConfig("connection "+c.Name, c.Config)
	}
	return c, notFound(err, fmt.Sprintf("connection %q", name))
}

func (s *sqlStore) Connections(ctx context.Context, page Page) ([]Connection, error) {
	page = page.norm()
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT `+connCols+` FROM connections ORDER BY name LIMIT ? OFFSET ?`), page.Limit, page.Offset)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Connection{}
	for rows.Next() {
		c, err := scanConn(rows)
		if err == nil {
			err = s.openConfig("connection "+c.Name, c.Config)
		}
		if err != nil {
			return nil, err
		}
		out = append(out, *c)
	}
	return out, rows.Err()
}

func (s *sqlStore) DeleteConnection(ctx context.Context, id string) error {
	res, err := s.exec(ctx, s.q(`DELETE FROM connections WHERE id = ?`), id)
	return affected(res, err, "connection "+id)
}

// Pipelines.

const pipeCols = `id, name, version, enabled, created_at, updated_at`

func scanPipe(r interface{ Scan(...any) error }) (*Pipeline, error) {
	var p Pipeline
	if err := r.Scan(&p.ID, &p.Name, &p.Version, &p.Enabled, &p.CreatedAt, &p.UpdatedAt); err != nil {
		return nil, err
	}
	p.CreatedAt, p.UpdatedAt = p.CreatedAt.UTC(), p.UpdatedAt.UTC()
	return &p, nil
}

func (s *sqlStore) CreatePipeline(ctx context.Context, p *Pipeline, spec json.RawMessage) error {
	return s.CreatePipelineBy(ctx, p, spec, "")
}

func (s *sqlStore) AddPipelineVersion(ctx context.Context, id, name string, spec json.RawMessage) (int, error) {
	var version int
	err := s.tx(ctx, func(tx *sql.Tx) error {
		at := now()
		// The update takes the pipeline's row lock first, so two saves
		// cannot pick the same version number.
		res, err := tx.ExecContext(ctx, s.q(`UPDATE pipelines SET version = version + 1, name = ?, updated_at = ? WHERE id = ?`), name, at, id)
		if err := affected(res, err, "pipeline "+id); err != nil {
			return err
		}
		if err := tx.QueryRowContext(ctx, s.q(`SELECT version FROM pipelines WHERE id = ?`), id).Scan(&version); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, s.q(`INSERT INTO pipeline_versions (pipeline_id, version, spec, created_at) VALUES (?, ?, ?, ?)`),
			id, version, string(spec), at)
		return err
	})
	if isUnique(err) {
		return 0, fmt.Errorf("pipeline %q: %w", name, ErrConflict)
	}
	return version, err
}

func (s *sqlStore) Pipeline(ctx context.Context, id string) (*Pipeline, error) {
	p, err := scanPipe(s.db.QueryRowContext(ctx, s.q(`SELECT `+pipeCols+` FROM pipelines WHERE id = ?`), id))
	return p, notFound(err, "pipeline "+id)
}

func (s *sqlStore) Pipelines(ctx context.Context, page Page) ([]Pipeline, error) {
	page = page.norm()
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT `+pipeCols+` FROM pipelines ORDER BY name LIMIT ? OFFSET ?`), page.Limit, page.Offset)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Pipeline{}
	for rows.Next() {
		p, err := scanPipe(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *p)
	}
	return out, rows.Err()
}

func scanVersion(r interface{ Scan(...any) error }) (*PipelineVersion, error) {
	var v PipelineVersion
	var spec []byte
	if err := r.Scan(&v.PipelineID, &v.Version, &spec, &v.CreatedAt, &v.Author); err != nil {
		return nil, err
	}
	v.Spec = json.RawMessage(spec)
	v.CreatedAt = v.CreatedAt.UTC()
	return &v, nil
}

func (s *sqlStore) PipelineVersion(ctx context.Context, id string, version int) (*PipelineVersion, error) {
	v, err := scanVersion(s.db.QueryRowContext(ctx, s.q(`SELECT pipeline_id, version, spec, created_at, author FROM pipeline_versions WHERE pipeline_id = ? AND version = ?`), id, version))
	return v, notFound(err, fmt.Sprintf("pipeline %s version %d", id, version))
}

func (s *sqlStore) PipelineVersions(ctx context.Context, id string, page Page) ([]PipelineVersion, error) {
	if _, err := s.Pipeline(ctx, id); err != nil {
		return nil, err
	}
	page = page.norm()
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT pipeline_id, version, spec, created_at, author FROM pipeline_versions WHERE pipeline_id = ? ORDER BY version DESC LIMIT ? OFFSET ?`), id, page.Limit, page.Offset)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []PipelineVersion{}
	for rows.Next() {
		v, err := scanVersion(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *v)
	}
	return out, rows.Err()
}

func (s *sqlStore) SetPipelineEnabled(ctx context.Context, id string, enabled bool) error {
	res, err := s.exec(ctx, s.q(`UPDATE pipelines SET enabled = ?, updated_at = ? WHERE id = ?`), enabled, now(), id)
	return affected(res, err, "pipeline "+id)
}

// Runs.

const runCols = `id, pipeline_id, version, status, full_refresh, triggered_by, error, result, attempts, created_at, started_at, finished_at, lease_until`

func scanRun(r interface{ Scan(...any) error }) (*Run, error) {
	var run Run
	var result []byte
	var started, finished, lease sql.NullTime
	if err := r.Scan(&run.ID, &run.PipelineID, &run.Version, &run.Status, &run.FullRefresh, &run.Trigger, &run.Error, &result,
		&run.Attempts, &run.CreatedAt, &started, &finished, &lease); err != nil {
		return nil, err
	}
	if len(result) > 0 {
		run.Result = json.RawMessage(result)
	}
	run.CreatedAt = run.CreatedAt.UTC()
	run.StartedAt, run.FinishedAt, run.LeaseUntil = timePtr(started), timePtr(finished), timePtr(lease)
	return &run, nil
}

func timePtr(t sql.NullTime) *time.Time {
	if !t.Valid {
		return nil
	}
	u := t.Time.UTC()
	return &u
}

func (s *sqlStore) CreateRun(ctx context.Context, req NewRun) (*Run, error) {
	pipelineID := req.PipelineID
	if req.Trigger == "" {
		req.Trigger = TriggerManual
	}
	var run *Run
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var version int
		if err := tx.QueryRowContext(ctx, s.q(`SELECT version FROM pipelines WHERE id = ?`), pipelineID).Scan(&version); err != nil {
			return notFound(err, "pipeline "+pipelineID)
		}
		run = &Run{ID: uuid.NewString(), PipelineID: pipelineID, Version: version, Status: Queued, FullRefresh: req.FullRefresh, Trigger: req.Trigger, CreatedAt: now()}
		_, err := tx.ExecContext(ctx, s.q(`INSERT INTO runs (id, pipeline_id, version, status, full_refresh, triggered_by, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)`),
			run.ID, run.PipelineID, run.Version, run.Status, run.FullRefresh, run.Trigger, run.CreatedAt)
		return err
	})
	return run, err
}

func (s *sqlStore) Run(ctx context.Context, id string) (*Run, error) {
	r, err := scanRun(s.db.QueryRowContext(ctx, s.q(`SELECT `+runCols+` FROM runs WHERE id = ?`), id))
	return r, notFound(err, "run "+id)
}

func (s *sqlStore) Runs(ctx context.Context, f RunFilter, page Page) ([]Run, error) {
	page = page.norm()
	where, args, order, err := s.runQuery(f)
	if err != nil {
		return nil, err
	}
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT `+runCols+` FROM runs`+where+` ORDER BY `+order+` LIMIT ? OFFSET ?`), append(args, page.Limit, page.Offset)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Run{}
	for rows.Next() {
		r, err := scanRun(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *r)
	}
	return out, rows.Err()
}

func (s *sqlStore) ClaimRun(ctx context.Context, id string, leaseUntil time.Time) (*Run, error) {
	run, _, err := s.ClaimAttempt(ctx, id, "", leaseUntil)
	return run, err
}

func (s *sqlStore) RenewRun(ctx context.Context, id string, leaseUntil time.Time, progress json.RawMessage) error {
	var p any
	if progress != nil {
		p = string(progress)
	}
	res, err := s.exec(ctx, s.q(`UPDATE runs SET lease_until = ?, result = COALESCE(?, result) WHERE id = ? AND status = ?`),
		leaseUntil.UTC(), p, id, Running)
	return affected(res, err, "running run "+id)
}

func (s *sqlStore) FinishRun(ctx context.Context, id string, status RunStatus, errMsg string, result json.RawMessage) error {
	var r any
	if result != nil {
		r = string(result)
	}
	res, err := s.exec(ctx, s.q(`UPDATE runs SET status = ?, error = ?, result = COALESCE(?, result), finished_at = ?, lease_until = NULL WHERE id = ?`),
		status, errMsg, r, now(), id)
	return affected(res, err, "run "+id)
}

func (s *sqlStore) CancelRun(ctx context.Context, id string) error {
	res, err := s.exec(ctx, s.q(`UPDATE runs SET status = ?, finished_at = ?, lease_until = NULL WHERE id = ? AND status IN (?, ?)`),
		Cancelled, now(), id, Queued, Running)
	if err := affected(res, err, "run "+id); err == nil || !errors.Is(err, ErrNotFound) {
		return err
	}
	if _, err := s.Run(ctx, id); err != nil {
		return err
	}
	return fmt.Errorf("run %s: %w", id, ErrRunDone)
}

func (s *sqlStore) RequeueRun(ctx context.Context, id string) error {
	res, err := s.exec(ctx, s.q(`UPDATE runs SET status = ?, lease_until = NULL WHERE id = ? AND status = ?`), Queued, id, Running)
	return affected(res, err, "running run "+id)
}

// Run logs.

func (s *sqlStore) AddRunLog(ctx context.Context, runID, level, msg string) error {
	_, err := s.exec(ctx, s.q(`INSERT INTO run_logs (run_id, at, level, message) VALUES (?, ?, ?, ?)`), runID, now(), level, msg)
	return err
}

func (s *sqlStore) RunLogs(ctx context.Context, runID string, page Page) ([]RunLog, error) {
	page = page.norm()
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT id, run_id, at, level, message FROM run_logs WHERE run_id = ? ORDER BY id LIMIT ? OFFSET ?`), runID, page.Limit, page.Offset)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []RunLog{}
	for rows.Next() {
		var l RunLog
		if err := rows.Scan(&l.ID, &l.RunID, &l.At, &l.Level, &l.Message); err != nil {
			return nil, err
		}
		l.At = l.At.UTC()
		out = append(out, l)
	}
	return out, rows.Err()
}

func orEmpty(m map[string]any) map[string]any {
	if m == nil {
		return map[string]any{}
	}
	return m
}

var (
	_ Store = (*SQLite)(nil)
	_ Store = (*Postgres)(nil)
)
