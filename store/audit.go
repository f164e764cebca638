package store

import (
	"context"
	"encoding/json"
	"strings"
	"time"
)

// AuditStore keeps the audit log: who changed what, when and from where.
// It is append-only; only retention removes entries.
type AuditStore interface {
	AppendAudit(ctx context.Context, e *AuditEntry) error
	// AuditEntries lists entries matching f, newest first.
	AuditEntries(ctx context.Context, f AuditFilter, page Page) ([]AuditEntry, error)
	// PruneAudit removes entries older than before and returns how many.
	PruneAudit(ctx context.Context, before time.Time) (int, error)
}

// AuditEntry is one recorded change or login. Before and After hold the
// target's state with secrets already masked by the caller.
type AuditEntry struct {
	ID int64     `json:"id"`
	At time.Time `json:"at"`
	// Actor is the user's e-mail address, "token:NAME" for an API token, or
	// empty for an anonymous request (a failed login).
	Actor   string          `json:"actor"`
	ActorID string          `json:"actor_id,omitempty"`
	IP      string          `json:"ip"`
	Action  string          `json:"action" doc:"What happened, e.g. login, login_failed, user.create, or METHOD operation-id for other writes"`
	Target  string          `json:"target" doc:"What it happened to: a path or a record"`
	Status  int             `json:"status,omitempty" doc:"HTTP status answered"`
	Before  json.RawMessage `json:"before,omitempty"`
	After   json.RawMessage `json:"after,omitempty"`
}

// AuditFilter selects audit entries; zero fields match everything.
type AuditFilter struct {
	Actor  string
	Action string
	// Target matches entries whose target starts with it.
	Target string
	Since  time.Time
	Until  time.Time
}

var auditMigration = migration{
	sqlite: []string{
		`CREATE TABLE audit_log (
				id INTEGER PRIMARY KEY AUTOINCREMENT,
				at TIMESTAMP NOT NULL,
				actor TEXT NOT NULL,
				actor_id TEXT NOT NULL DEFAULT '',
				ip TEXT NOT NULL,
				action TEXT NOT NULL,
				target TEXT NOT NULL,
				status INTEGER NOT NULL DEFAULT 0,
				before_state TEXT,
				after_state TEXT)`,
		`CREATE INDEX audit_log_at ON audit_log (at)`,
	},
	postgres: []string{
		`CREATE TABLE audit_log (
				id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
				at TIMESTAMPTZ NOT NULL,
				actor TEXT NOT NULL,
				actor_id TEXT NOT NULL DEFAULT '',
				ip TEXT NOT NULL,
				action TEXT NOT NULL,
				target TEXT NOT NULL,
				status INTEGER NOT NULL DEFAULT 0,
				before_state JSONB,
				after_state JSONB)`,
		`CREATE INDEX audit_log_at ON audit_log (at)`,
	},
}

func nullJSON(b json.RawMessage) any {
	if len(b) == 0 {
		return nil
	}
	return string(b)
}

func (s *sqlStore) AppendAudit(ctx context.Context, e *AuditEntry) error {
	if e.At.IsZero() {
		e.At = now()
	}
	e.At = e.At.UTC().Truncate(time.Microsecond)
	q := `INSERT INTO audit_log (at, actor, actor_id, ip, action, target, status, before_state, after_state) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`
	args := []any{e.At, e.Actor, e.ActorID, e.IP, e.Action, e.Target, e.Status, nullJSON(e.Before), nullJSON(e.After)}
	if s.postgres {
		return s.db.QueryRowContext(ctx, s.q(q+` RETURNING id`), args...).Scan(&e.ID)
	}
	res, err := s.exec(ctx, q, args...)
	if err != nil {
		return err
	}
	e.ID, err = res.LastInsertId()
	return err
}

func (s *sqlStore) AuditEntries(ctx context.Context, f AuditFilter, page Page) ([]AuditEntry, error) {
	page = page.norm()
	var where []string
	var args []any
	if f.Actor != "" {
		where, args = append(where, `actor = ?`), append(args, f.Actor)
	}
	if f.Action != "" {
		where, args = append(where, `action = ?`), append(args, f.Action)
	}
	if f.Target != "" {
		// Prefix match without LIKE, whose wildcards a target may hold.
		where, args = append(where, `substr(target, 1, ?) = ?`), append(args, len(f.Target), f.Target)
	}
	if !f.Since.IsZero() {
		where, args = append(where, `at >= ?`), append(args, f.Since.UTC())
	}
	if !f.Until.IsZero() {
		where, args = append(where, `at < ?`), append(args, f.Until.UTC())
	}
	q := `SELECT id, at, actor, actor_id, ip, action, target, status, before_state, after_state FROM audit_log`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, ` AND `)
	}
	q += ` ORDER BY id DESC LIMIT ? OFFSET ?`
	rows, err := s.db.QueryContext(ctx, s.q(q), append(args, page.Limit, page.Offset)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []AuditEntry{}
	for rows.Next() {
		var e AuditEntry
		var before, after []byte
		if err := rows.Scan(&e.ID, &e.At, &e.Actor, &e.ActorID, &e.IP, &e.Action, &e.Target, &e.Status, &before, &after); err != nil {
			return nil, err
		}
		e.At = e.At.UTC()
		if len(before) > 0 {
			e.Before = json.RawMessage(before)
		}
		if len(after) > 0 {
			e.After = json.RawMessage(after)
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

func (s *sqlStore) PruneAudit(ctx context.Context, before time.Time) (int, error) {
	res, err := s.exec(ctx, s.q(`DELETE FROM audit_log WHERE at < ?`), before.UTC())
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	return int(n), err
}
