package sqldest

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"

	"github.com/tributary-data/tributary/connector"
)

// The bookkeeping tables, in the destination's schema.
const (
	StateTable      = "_tributary_state"
	QuarantineTable = "_tributary_quarantine"
)

// Destination loads streams into one database. It implements
// [connector.Destination] and [connector.StateStore].
type Destination struct {
	db  *sql.DB
	d   Dialect
	log *slog.Logger

	once    sync.Mutex
	created bool
	hard    bool // deletes from change data capture remove rows
}

var (
	_ connector.Destination = (*Destination)(nil)
	_ connector.StateStore  = (*Destination)(nil)
)

// New returns a destination writing to db through d. It owns db and closes
// it in [Destination.Close].
func New(db *sql.DB, d Dialect, log *slog.Logger) *Destination {
	if log == nil {
		log = slog.Default()
	}
	return &Destination{db: db, d: d, log: log}
}

// DB returns the database written to.
func (x *Destination) DB() *sql.DB { return x.db }

// Check pings the database.
func (x *Destination) Check(ctx context.Context) error {
	if err := x.db.PingContext(ctx); err != nil {
		return fmt.Errorf("ping: %w", err)
	}
	return nil
}

// Close closes the database.
func (x *Destination) Close() error { return x.db.Close() }

// bookkeeping creates the state and quarantine tables if missing.
func (x *Destination) bookkeeping(ctx context.Context) error {
	x.once.Lock()
	defer x.once.Unlock()
	if x.created {
		return nil
	}
	key := x.d.ColumnType(connector.TypeString, true)
	text := x.d.ColumnType(connector.TypeString, false)
	ts := x.d.ColumnType(connector.TypeTimestamp, false)
	q := x.d.Quote
	stmts := []string{
		fmt.Sprintf("CREATE TABLE IF NOT EXISTS %s (%s %s NOT NULL, %s %s NOT NULL, %s %s NOT NULL, %s %s NOT NULL, PRIMARY KEY (%s, %s))",
			x.d.Table(StateTable), q("pipeline"), key, q("stream"), key, q("state"), text, q("updated_at"), ts, q("pipeline"), q("stream")),
		fmt.Sprintf("CREATE TABLE IF NOT EXISTS %s (%s %s, %s %s, %s %s, %s %s, %s %s, %s %s, %s %s, %s %s)",
			x.d.Table(QuarantineTable), q("run_id"), key, q("pipeline"), key, q("stream"), key, q("origin"), text,
			q("raw"), text, q("reason"), text, q("step"), key, q("at"), ts),
	}
	for _, s := range stmts {
		if _, err := x.db.ExecContext(ctx, s); err != nil {
			return fmt.Errorf("create bookkeeping table: %w", err)
		}
	}
	x.created = true
	return nil
}

// State returns the committed state of every stream of pipeline.
func (x *Destination) State(ctx context.Context, pipeline string) (map[string]json.RawMessage, error) {
	cols, err := x.d.Columns(ctx, x.db, StateTable)
	if err != nil {
		return nil, fmt.Errorf("state table: %w", err)
	}
	out := map[string]json.RawMessage{}
	if cols == nil {
		return out, nil
	}
	q := x.d.Quote
	rows, err := x.db.QueryContext(ctx, fmt.Sprintf("SELECT %s, %s FROM %s WHERE %s = %s",
		q("stream"), q("state"), x.d.Table(StateTable), q("pipeline"), x.d.Placeholder(1)), pipeline)
	if err != nil {
		return nil, fmt.Errorf("read state: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var stream, state string
		if err := rows.Scan(&stream, &state); err != nil {
			return nil, fmt.Errorf("read state: %w", err)
		}
		out[stream] = json.RawMessage(state)
	}
	return out, rows.Err()
}

// ResetState forgets the state of streams of pipeline (all without any).
func (x *Destination) ResetState(ctx context.Context, pipeline string, streams ...string) error {
	cols, err := x.d.Columns(ctx, x.db, StateTable)
	if err != nil || cols == nil {
		return err
	}
	q := x.d.Quote
	stmt := fmt.Sprintf("DELETE FROM %s WHERE %s = %s", x.d.Table(StateTable), q("pipeline"), x.d.Placeholder(1))
	args := []any{pipeline}
	if len(streams) > 0 {
		marks := make([]string, len(streams))
		for i, s := range streams {
			marks[i] = x.d.Placeholder(i + 2)
			args = append(args, s)
		}
		stmt += fmt.Sprintf(" AND %s IN (%s)", q("stream"), strings.Join(marks, ", "))
	}
	if _, err := x.db.ExecContext(ctx, stmt, args...); err != nil {
		return fmt.Errorf("reset state: %w", err)
	}
	return nil
}

// workTable names a table the loader works in for a stream. Hashing keeps
// the name short (MySQL allows 64 characters) and free of hostile
// characters whatever the stream is called.
func workTable(kind string, load connector.Load) string {
	h := sha256.Sum256([]byte(load.Pipeline + "\x00" + load.Stream))
	return "_tributary_" + kind + "_" + hex.EncodeToString(h[:8])
}
