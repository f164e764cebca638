package sqldest

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tributary-data/tributary/connector"
)

// maxStatementBytes caps the data of one INSERT well under the default
// max_allowed_packet of MySQL and MariaDB.
const maxStatementBytes = 4 << 20

// writer loads one stream. Every checkpoint is one transaction on one
// pinned connection: rows, rejects and the state row commit together.
type writer struct {
	x     *Destination
	d     Dialect
	load  connector.Load
	conn  *sql.Conn
	tx    *sql.Tx
	stmts map[string]*sql.Stmt // prepared in tx, by shape

	table  string // the table rows go to: the target, or the fresh one of an overwrite
	cols   []Column
	pk     []string
	exists bool // overwrite: whether the target existed at Open
	// deferred says the table waits for the first row's schema: the stream
	// opened with no fields because every row so far was quarantined.
	deferred bool

	last *mapping
	// pending holds what the open transaction wrote, to write it again
	// after a schema change where DDL cannot run inside it.
	pending []func(context.Context) error
	state   json.RawMessage // overwrite: last committed state, stored at the swap
	closed  bool
}

// Open starts loading one stream.
func (x *Destination) Open(ctx context.Context, load connector.Load) (connector.Writer, error) {
	if load.Schema == nil {
		return nil, errors.New("load without a schema")
	}
	if load.SyncMode == connector.IncrementalDedup && len(load.PrimaryKey) == 0 {
		return nil, fmt.Errorf("stream %q: incremental_dedup needs a primary key", load.Stream)
	}
	if load.SchemaPolicy == "" {
		load.SchemaPolicy = connector.SchemaEvolve
	}
	if err := x.bookkeeping(ctx); err != nil {
		return nil, err
	}
	conn, err := x.db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	w := &writer{x: x, d: x.d, load: load, conn: conn, table: load.Stream}
	if load.SyncMode == connector.IncrementalDedup {
		w.pk = load.PrimaryKey
	}
	if err := w.prepare(ctx); err != nil {
		conn.Close()
		return nil, fmt.Errorf("stream %q: %w", load.Stream, err)
	}
	return w, nil
}

func (w *writer) prepare(ctx context.Context) error {
	existing, err := w.d.Columns(ctx, w.conn, w.load.Stream)
	if err != nil {
		return fmt.Errorf("inspect table: %w", err)
	}
	if w.load.SyncMode == connector.FullRefreshOverwrite {
		w.exists = existing != nil
		w.table = workTable("new", w.load)
		if _, err := w.conn.ExecContext(ctx, "DROP TABLE IF EXISTS "+w.d.Table(w.table)); err != nil {
			return fmt.Errorf("drop leftover table: %w", err)
		}
		return w.createOrDefer(ctx)
	}
	if existing == nil {
		return w.createOrDefer(ctx)
	}
	w.cols = existing
	return nil
}

func (w *writer) createOrDefer(ctx context.Context) error {
	if len(w.load.Schema.Fields) == 0 {
		w.deferred = true
		return nil
	}
	return w.create(ctx, w.load.Schema)
}

func (w *writer) create(ctx context.Context, s *connector.Schema) error {
	stmt, err := w.createStmt(s)
	if err != nil {
		return err
	}
	if _, err := w.conn.ExecContext(ctx, stmt); err != nil {
		return fmt.Errorf("create table: %w", err)
	}
	return nil
}

func (w *writer) createStmt(s *connector.Schema) (string, error) {
	defs := make([]string, 0, len(s.Fields)+1)
	w.cols = w.cols[:0]
	for _, f := range s.Fields {
		key := contains(w.pk, f.Name)
		def := w.d.Quote(f.Name) + " " + w.d.ColumnType(f.Type, key)
		if key {
			def += " NOT NULL"
		}
		defs = append(defs, def)
		w.cols = append(w.cols, Column{Name: f.Name, Type: f.Type})
	}
	for _, k := range w.pk {
		if s.Index(k) < 0 {
			return "", fmt.Errorf("primary key column %q not in the schema", k)
		}
	}
	if len(w.pk) > 0 {
		defs = append(defs, "PRIMARY KEY ("+w.quoteAll(w.pk)+")")
	}
	return "CREATE TABLE " + w.d.Table(w.table) + " (" + strings.Join(defs, ", ") + ")", nil
}

func (w *writer) quoteAll(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = w.d.Quote(n)
	}
	return strings.Join(q, ", ")
}

func (w *writer) begin(ctx context.Context) error {
	if w.tx != nil {
		return nil
	}
	tx, err := w.conn.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	w.tx = tx
	w.stmts = map[string]*sql.Stmt{}
	return nil
}

func (w *writer) endTx() {
	for _, s := range w.stmts {
		s.Close()
	}
	w.stmts = nil
	w.tx = nil
	w.pending = w.pending[:0]
}

// Write loads a batch.
func (w *writer) Write(ctx context.Context, b *connector.Batch) error {
	if w.closed {
		return errors.New("write after close")
	}
	if b.Len() == 0 {
		return nil
	}
	// The engine may recycle the batch's row array once Write returns; the
	// rows themselves stay, so keeping their headers is enough to replay.
	rows := append([][]any(nil), b.Rows...)
	cp := &connector.Batch{Stream: b.Stream, Schema: b.Schema, Rows: rows, File: b.File, Origins: append([]int64(nil), b.Origins...)}
	return w.write(ctx, cp)
}

func (w *writer) write(ctx context.Context, b *connector.Batch) error {
	if w.deferred {
		stmt, err := w.createStmt(b.Schema)
		if err == nil {
			err = w.ddl(ctx, []string{stmt})
		}
		if err != nil {
			return fmt.Errorf("stream %q: create table: %w", w.load.Stream, err)
		}
		w.deferred = false
	}
	m, err := w.mapping(ctx, b.Schema)
	if err != nil {
		return fmt.Errorf("stream %q: %w", w.load.Stream, err)
	}
	if err := w.begin(ctx); err != nil {
		return err
	}
	if !w.d.TransactionalDDL() {
		w.pending = append(w.pending, func(ctx context.Context) error { return w.write(ctx, b) })
	}
	if err := w.insert(ctx, m, b); err != nil {
		return fmt.Errorf("stream %q: %w", w.load.Stream, err)
	}
	return nil
}

// Quarantine stores rejects in the quarantine table, in the checkpoint's
// transaction.
func (w *writer) Quarantine(ctx context.Context, rejects []connector.Reject) error {
	if len(rejects) == 0 {
		return nil
	}
	if err := w.begin(ctx); err != nil {
		return err
	}
	rs := append([]connector.Reject(nil), rejects...)
	if !w.d.TransactionalDDL() {
		w.pending = append(w.pending, func(ctx context.Context) error { return w.quarantine(ctx, rs) })
	}
	return w.quarantine(ctx, rs)
}

var quarantineCols = []string{"run_id", "pipeline", "stream", "origin", "raw", "reason", "step", "at"}

func (w *writer) quarantine(ctx context.Context, rejects []connector.Reject) error {
	per := max(1, min(w.d.MaxParams()/len(quarantineCols), 500))
	for len(rejects) > 0 {
		n := min(per, len(rejects))
		args := make([]any, 0, n*len(quarantineCols))
		for _, r := range rejects[:n] {
			run, stream, step, at := r.RunID, r.Stream, r.Step, r.At
			if run == "" {
				run = w.load.RunID
			}
			if stream == "" {
				stream = w.load.Stream
			}
			if step == "" {
				step = "load"
			}
			if at.IsZero() {
				at = time.Now()
			}
			ts, _ := w.d.Value(connector.TypeTimestamp, at.UTC())
			args = append(args, run, w.load.Pipeline, stream, r.Origin, r.Raw, r.Reason, step, ts)
		}
		stmt, err := w.stmt(ctx, "q", QuarantineTable, quarantineCols, n, "")
		if err != nil {
			return err
		}
		if _, err := stmt.ExecContext(ctx, args...); err != nil {
			return fmt.Errorf("quarantine: %w", err)
		}
		rejects = rejects[n:]
	}
	return nil
}

// Commit makes what was written durable with state, in one transaction.
func (w *writer) Commit(ctx context.Context, state json.RawMessage) error {
	if err := w.begin(ctx); err != nil {
		return err
	}
	if w.load.SyncMode == connector.FullRefreshOverwrite {
		// The state belongs to the swap: a crash before it restarts the
		// whole refresh, which must not find a state saying otherwise.
		w.state = append(json.RawMessage(nil), state...)
	} else if err := w.saveState(ctx, state); err != nil {
		return err
	}
	err := w.tx.Commit()
	w.endTx()
	if err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

func (w *writer) saveState(ctx context.Context, state json.RawMessage) error {
	if state == nil {
		return nil
	}
	at, _ := w.d.Value(connector.TypeTimestamp, time.Now().UTC())
	if _, err := w.tx.ExecContext(ctx, w.d.StateUpsert(), w.load.Pipeline, w.load.Stream, string(state), at); err != nil {
		return fmt.Errorf("save state: %w", err)
	}
	return nil
}

// Close publishes an overwrite with ok, and otherwise rolls back what was
// not committed and drops an overwrite's fresh table.
func (w *writer) Close(ctx context.Context, ok bool) error {
	if w.closed {
		return nil
	}
	w.closed = true
	defer w.conn.Close()
	overwrite := w.load.SyncMode == connector.FullRefreshOverwrite
	if !ok || !overwrite {
		if w.tx != nil {
			// Rows written since the last commit carry no state: the
			// source reads them again next time.
			w.tx.Rollback()
			w.endTx()
		}
		if !ok && overwrite {
			if _, err := w.conn.ExecContext(context.WithoutCancel(ctx), "DROP TABLE IF EXISTS "+w.d.Table(w.table)); err != nil {
				return fmt.Errorf("drop fresh table: %w", err)
			}
		}
		return nil
	}
	if w.tx != nil {
		if err := w.tx.Commit(); err != nil {
			w.endTx()
			return fmt.Errorf("commit: %w", err)
		}
		w.endTx()
	}
	return w.swap(ctx)
}

// swap replaces the target with the fresh table and stores the state: in
// one transaction where DDL is transactional; elsewhere the atomic rename
// comes first, so a crash between them only repeats the refresh.
func (w *writer) swap(ctx context.Context) error {
	stmts := w.d.Swap(w.load.Stream, w.table, workTable("old", w.load), w.exists)
	if w.deferred {
		// No row reached the fresh table, so there is none: the refresh
		// leaves the target empty.
		stmts = nil
		if w.exists {
			stmts = []string{"DELETE FROM " + w.d.Table(w.load.Stream)}
		}
	}
	if w.d.TransactionalDDL() {
		if err := w.begin(ctx); err != nil {
			return err
		}
		for _, s := range stmts {
			if _, err := w.tx.ExecContext(ctx, s); err != nil {
				w.tx.Rollback()
				w.endTx()
				return fmt.Errorf("swap: %w", err)
			}
		}
	} else {
		for _, s := range stmts {
			if _, err := w.conn.ExecContext(ctx, s); err != nil {
				return fmt.Errorf("swap: %w", err)
			}
		}
		if err := w.begin(ctx); err != nil {
			return err
		}
	}
	if err := w.saveState(ctx, w.state); err != nil {
		w.tx.Rollback()
		w.endTx()
		return err
	}
	err := w.tx.Commit()
	w.endTx()
	if err != nil {
		return fmt.Errorf("commit swap: %w", err)
	}
	return nil
}

// ddl runs schema changes: inside the open transaction where the database
// allows it; elsewhere the transaction is rolled back, the change made,
// and the checkpoint's writes replayed on a new transaction.
func (w *writer) ddl(ctx context.Context, stmts []string) error {
	if w.d.TransactionalDDL() {
		if err := w.begin(ctx); err != nil {
			return err
		}
		for _, s := range stmts {
			if _, err := w.tx.ExecContext(ctx, s); err != nil {
				return fmt.Errorf("change table: %w", err)
			}
		}
		// Statements prepared for the old shape of the table are stale.
		for k, s := range w.stmts {
			s.Close()
			delete(w.stmts, k)
		}
		return nil
	}
	replay := append([]func(context.Context) error(nil), w.pending...)
	if w.tx != nil {
		w.tx.Rollback()
		w.endTx()
	}
	for _, s := range stmts {
		if _, err := w.conn.ExecContext(ctx, s); err != nil {
			return fmt.Errorf("change table: %w", err)
		}
	}
	for _, f := range replay {
		if err := f(ctx); err != nil {
			return fmt.Errorf("replay after schema change: %w", err)
		}
	}
	return nil
}

func contains(xs []string, x string) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}
