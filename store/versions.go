package store

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/google/uuid"
)

// VersionStore keeps pipeline version history: authors, diffs, restores,
// and the queries pipelines need beyond their core ones.
type VersionStore interface {
	// CreatePipelineBy stores p with spec as its version 1, saved by author
	// (empty for anonymous).
	CreatePipelineBy(ctx context.Context, p *Pipeline, spec json.RawMessage, author string) error
	// SavePipelineVersion stores spec as the pipeline's next version by
	// author and renames the pipeline to name. A spec equal to the current
	// version's (as JSON values, whatever the key order or spacing) saves
	// nothing: it returns the current version and changed false.
	SavePipelineVersion(ctx context.Context, id, name string, spec json.RawMessage, author string) (version int, changed bool, err error)
	// PipelineByName finds a pipeline by its unique name.
	PipelineByName(ctx context.Context, name string) (*Pipeline, error)
	// ListPipelines lists pipelines matching q.
	ListPipelines(ctx context.Context, q PipelineQuery, page Page) ([]Pipeline, error)
	// DeletePipeline deletes a pipeline with its versions, runs and their
	// logs. It returns [ErrActiveRuns] while a run of it is queued or
	// running.
	DeletePipeline(ctx context.Context, id string) error
	// WhileIdle runs f while no run of the pipeline is running, holding
	// the pipeline's lock so that no run can be claimed meanwhile (a claim
	// waits). It returns [ErrBusy] when a run is running. f must not use
	// the store.
	WhileIdle(ctx context.Context, id string, f func(ctx context.Context) error) error
}

// ErrActiveRuns means a pipeline has queued or running runs.
var ErrActiveRuns = errors.New("queued or running: cancel them first")

// PipelineQuery filters and sorts a list of pipelines.
type PipelineQuery struct {
	// NameContains keeps pipelines whose name contains it, ignoring case.
	NameContains string
	// Enabled keeps enabled (true) or disabled (false) pipelines when set.
	Enabled *bool
	// Sort is "name" (the default) or "updated_at".
	Sort string
	// Desc sorts in descending order.
	Desc bool
}

// PipelineSorts are the sort keys [PipelineQuery] accepts.
var PipelineSorts = []string{"name", "updated_at"}

// versionMigration adds authors, and on PostgreSQL keeps specs as text:
// JSONB reorders keys, and an exported pipeline file keeps the order its
// author wrote.
var versionMigration = migration{
	sqlite: []string{`ALTER TABLE pipeline_versions ADD COLUMN author TEXT NOT NULL DEFAULT ''`},
	postgres: []string{
		`ALTER TABLE pipeline_versions ADD COLUMN author TEXT NOT NULL DEFAULT ''`,
		`ALTER TABLE pipeline_versions ALTER COLUMN spec TYPE TEXT USING spec::text`,
	},
}

func (s *sqlStore) CreatePipelineBy(ctx context.Context, p *Pipeline, spec json.RawMessage, author string) error {
	p.ID = uuid.NewString()
	p.Version = 1
	p.Enabled = true
	p.CreatedAt = now()
	p.UpdatedAt = p.CreatedAt
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO pipelines (`+pipeCols+`) VALUES (?, ?, ?, ?, ?, ?)`),
			p.ID, p.Name, p.Version, p.Enabled, p.CreatedAt, p.UpdatedAt); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, s.q(`INSERT INTO pipeline_versions (pipeline_id, version, spec, created_at, author) VALUES (?, ?, ?, ?, ?)`),
			p.ID, p.Version, string(spec), p.CreatedAt, author)
		return err
	})
	if isUnique(err) {
		return fmt.Errorf("pipeline %q: %w", p.Name, ErrConflict)
	}
	return err
}

func (s *sqlStore) SavePipelineVersion(ctx context.Context, id, name string, spec json.RawMessage, author string) (int, bool, error) {
	var version int
	changed := false
	err := s.tx(ctx, func(tx *sql.Tx) error {
		at := now()
		// Lock the pipeline's row first, so two saves cannot both compare
		// against the same current version or pick the same number.
		res, err := tx.ExecContext(ctx, s.q(`UPDATE pipelines SET updated_at = updated_at WHERE id = ?`), id)
		if err := affected(res, err, "pipeline "+id); err != nil {
			return err
		}
		var current []byte
		if err := tx.QueryRowContext(ctx, s.q(`SELECT v.version, v.spec FROM pipelines p JOIN pipeline_versions v ON v.pipeline_id = p.id AND v.version = p.version WHERE p.id = ?`), id).
			Scan(&version, &current); err != nil {
			return notFound(err, "pipeline "+id)
		}
		same, err := SameJSON(current, spec)
		if err != nil {
			return err
		}
		if same {
			return nil
		}
		changed = true
		version++
		if _, err := tx.ExecContext(ctx, s.q(`UPDATE pipelines SET version = ?, name = ?, updated_at = ? WHERE id = ?`), version, name, at, id); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, s.q(`INSERT INTO pipeline_versions (pipeline_id, version, spec, created_at, author) VALUES (?, ?, ?, ?, ?)`),
			id, version, string(spec), at, author)
		return err
	})
	if isUnique(err) {
		return 0, false, fmt.Errorf("pipeline %q: %w", name, ErrConflict)
	}
	return version, changed, err
}

// SameJSON reports whether two JSON documents hold equal values: key order,
// spacing and number spelling (1.0 and 1) do not matter.
func SameJSON(a, b []byte) (bool, error) {
	ca, err := canonicalJSON(a)
	if err != nil {
		return false, err
	}
	cb, err := canonicalJSON(b)
	if err != nil {
		return false, err
	}
	return bytes.Equal(ca, cb), nil
}

// canonicalJSON re-encodes a document with sorted keys.
func canonicalJSON(b []byte) ([]byte, error) {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, fmt.Errorf("stored spec is not JSON: %w", err)
	}
	return json.Marshal(v)
}

func (s *sqlStore) PipelineByName(ctx context.Context, name string) (*Pipeline, error) {
	p, err := scanPipe(s.db.QueryRowContext(ctx, s.q(`SELECT `+pipeCols+` FROM pipelines WHERE name = ?`), name))
	return p, notFound(err, fmt.Sprintf("pipeline %q", name))
}

func (s *sqlStore) ListPipelines(ctx context.Context, q PipelineQuery, page Page) ([]Pipeline, error) {
	page = page.norm()
	var where []string
	var args []any
	if q.NameContains != "" {
		// LIKE with an escape character, so % and _ in the filter are
		// matched as themselves.
		where = append(where, `lower(name) LIKE ? ESCAPE '\'`)
		esc := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(strings.ToLower(q.NameContains))
		args = append(args, "%"+esc+"%")
	}
	if q.Enabled != nil {
		where = append(where, `enabled = ?`)
		args = append(args, *q.Enabled)
	}
	order := "name"
	switch q.Sort {
	case "", "name":
	case "updated_at":
		order = "updated_at"
	default:
		return nil, fmt.Errorf("sort %q: must be one of %s", q.Sort, strings.Join(PipelineSorts, ", "))
	}
	dir := " ASC"
	if q.Desc {
		dir = " DESC"
	}
	query := `SELECT ` + pipeCols + ` FROM pipelines`
	if len(where) > 0 {
		query += ` WHERE ` + strings.Join(where, ` AND `)
	}
	// The id breaks ties, so pages do not overlap.
	query += ` ORDER BY ` + order + dir + `, id LIMIT ? OFFSET ?`
	args = append(args, page.Limit, page.Offset)
	rows, err := s.query(ctx, query, args...)
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

func (s *sqlStore) DeletePipeline(ctx context.Context, id string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		// The row lock keeps a run from being claimed or queued meanwhile.
		res, err := tx.ExecContext(ctx, s.q(`UPDATE pipelines SET updated_at = updated_at WHERE id = ?`), id)
		if err := affected(res, err, "pipeline "+id); err != nil {
			return err
		}
		var active int
		if err := tx.QueryRowContext(ctx, s.q(`SELECT count(*) FROM runs WHERE pipeline_id = ? AND status IN (?, ?)`), id, Queued, Running).Scan(&active); err != nil {
			return err
		}
		if active > 0 {
			return fmt.Errorf("pipeline %s: %d runs: %w", id, active, ErrActiveRuns)
		}
		// Versions, runs and run logs go with the pipeline (ON DELETE CASCADE).
		_, err = tx.ExecContext(ctx, s.q(`DELETE FROM pipelines WHERE id = ?`), id)
		return err
	})
}

func (s *sqlStore) WhileIdle(ctx context.Context, id string, f func(ctx context.Context) error) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		// The same row lock ClaimRun takes before it starts a run.
		res, err := tx.ExecContext(ctx, s.q(`UPDATE pipelines SET updated_at = updated_at WHERE id = ?`), id)
		if err := affected(res, err, "pipeline "+id); err != nil {
			return err
		}
		var running int
		if err := tx.QueryRowContext(ctx, s.q(`SELECT count(*) FROM runs WHERE pipeline_id = ? AND status = ?`), id, Running).Scan(&running); err != nil {
			return err
		}
		if running > 0 {
			return fmt.Errorf("a run of pipeline %s is running: %w", id, ErrBusy)
		}
		return f(ctx)
	})
}
