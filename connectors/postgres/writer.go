package postgres

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tributary-data/tributary/connector"
)

// ordColumn numbers the rows of the dedup staging table so the last
// occurrence of a key in a checkpoint wins.
const ordColumn = "__tributary_ord"

// column is a column of the table being loaded, as the catalog has it.
type column struct {
	name    string
	typname string
	kind    kind
}

// plan maps the fields of one batch schema onto the COPY column list.
type plan struct {
	schema  *connector.Schema
	fields  []int  // batch field feeding each copied column
	kinds   []kind // encoding of each copied column
	names   []string
	pk      []int // batch fields of the primary key, which must not be null (dedup)
	copySQL string
}

// writer loads one stream over a connection of its own.
type writer struct {
	d     *Destination
	load  connector.Load
	conn  *pgx.Conn
	final string // the stream's table
	into  string // where COPY writes: final (append), fresh table (overwrite), staging (dedup)
	fresh string // overwrite: the table swapped in at Close
	stage string // dedup: temporary staging table

	cols    []column // columns of the target table
	plan    *plan
	copy    *copyStream
	buf     []byte
	inTx    bool
	ord     int64
	sent    map[string]bool // dedup: columns the stream has sent, updated by the merge
	rejects []connector.Reject
	state   json.RawMessage // overwrite: the state stored by the swap
	failed  bool
	pending bool // opened without a schema; open runs at the first batch
}

func (w *writer) qualified(table string) string { return w.d.ident(table) }

func (w *writer) exec(ctx context.Context, sql string, args ...any) error {
	if _, err := w.conn.Exec(ctx, sql, args...); err != nil {
		w.failed = true
		return err
	}
	return nil
}

func (w *writer) open(ctx context.Context) error {
	l := w.load
	if l.SyncMode == connector.IncrementalDedup {
		if len(l.PrimaryKey) == 0 {
			return errors.New("incremental_dedup needs a primary key")
		}
		for _, k := range l.PrimaryKey {
			if l.Schema.Index(k) < 0 {
				return fmt.Errorf("primary key column %q is not in the stream", k)
			}
		}
	}
	switch l.SyncMode {
	case connector.FullRefreshOverwrite:
		w.fresh = "_tributary_tmp_" + shortHash(l.Pipeline, l.Stream)
		w.into = w.fresh
		// A killed overwrite left its fresh table behind: start it again.
		if err := w.exec(ctx, "DROP TABLE IF EXISTS "+w.qualified(w.fresh)); err != nil {
			return fmt.Errorf("drop fresh table: %w", err)
		}
		if err := w.createTable(ctx, w.fresh, nil); err != nil {
			return err
		}
	default:
		w.into = w.final
		var pk []string
		if l.SyncMode == connector.IncrementalDedup {
			pk = l.PrimaryKey
		}
		if err := w.createTable(ctx, w.final, pk); err != nil {
			return err
		}
	}
	if err := w.loadColumns(ctx, w.into); err != nil {
		return err
	}
	if l.SyncMode == connector.IncrementalDedup {
		if err := w.ensureUnique(ctx); err != nil {
			return err
		}
		w.stage = "_tributary_stage_" + shortHash(l.Pipeline, l.Stream)
		w.sent = map[string]bool{}
		if err := w.exec(ctx, "DROP TABLE IF EXISTS pg_temp."+pgx.Identifier{w.stage}.Sanitize()); err != nil {
			return fmt.Errorf("drop staging table: %w", err)
		}
		q := fmt.Sprintf("CREATE TEMP TABLE %s (LIKE %s, %s bigint) ON COMMIT DELETE ROWS",
			pgx.Identifier{w.stage}.Sanitize(), w.qualified(w.final), pgx.Identifier{ordColumn}.Sanitize())
		if err := w.exec(ctx, q); err != nil {
			return fmt.Errorf("create staging table: %w", err)
		}
	}
	return nil
}

// copyTarget is the quoted name COPY writes to.
func (w *writer) copyTarget() string {
	if w.stage != "" {
		return pgx.Identifier{w.stage}.Sanitize()
	}
	return w.qualified(w.into)
}

func (w *writer) createTable(ctx context.Context, table string, pk []string) error {
	var defs []string
	for _, f := range w.load.Schema.Fields {
		defs = append(defs, pgx.Identifier{f.Name}.Sanitize()+" "+pgType(f.Type))
	}
	if len(pk) > 0 {
		defs = append(defs, "PRIMARY KEY ("+quoteList(pk)+")")
	}
	q := "CREATE TABLE IF NOT EXISTS " + w.qualified(table) + " (" + strings.Join(defs, ", ") + ")"
	if err := w.exec(ctx, q); err != nil {
		return fmt.Errorf("create table %s: %w", table, err)
	}
	return nil
}

func quoteList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = pgx.Identifier{n}.Sanitize()
	}
	return strings.Join(q, ", ")
}

func (w *writer) loadColumns(ctx context.Context, table string) error {
	rows, err := w.conn.Query(ctx, `SELECT a.attname, t.typname FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
		WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum`, w.qualified(table))
	if err != nil {
		return fmt.Errorf("columns of %s: %w", table, err)
	}
	defer rows.Close()
	w.cols = w.cols[:0]
	for rows.Next() {
		var c column
		if err := rows.Scan(&c.name, &c.typname); err != nil {
			return fmt.Errorf("columns of %s: %w", table, err)
		}
		c.kind = kindOf(c.typname)
		w.cols = append(w.cols, c)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("columns of %s: %w", table, err)
	}
	return nil
}

// ensureUnique gives an existing target the unique index ON CONFLICT needs.
func (w *writer) ensureUnique(ctx context.Context) error {
	keys := make([]string, len(w.load.PrimaryKey))
	for i, k := range w.load.PrimaryKey {
		keys[i] = truncIdent(k)
	}
	var n int
	err := w.conn.QueryRow(ctx, `SELECT count(*) FROM pg_index i WHERE i.indrelid = $1::regclass AND i.indisunique
		AND i.indpred IS NULL AND i.indexprs IS NULL AND i.indnkeyatts = cardinality($2::text[])
		AND (SELECT array_agg(a.attname::text ORDER BY a.attname::text) FROM pg_attribute a
			WHERE a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)) = (SELECT array_agg(k ORDER BY k) FROM unnest($2::text[]) k)`,
		w.qualified(w.final), keys).Scan(&n)
	if err != nil {
		return fmt.Errorf("unique index of %s: %w", w.final, err)
	}
	if n > 0 {
		return nil
	}
	name := pgx.Identifier{"_tributary_pk_" + shortHash(w.load.Stream, strings.Join(keys, "\x00"))}.Sanitize()
	if err := w.exec(ctx, "CREATE UNIQUE INDEX IF NOT EXISTS "+name+" ON "+w.qualified(w.final)+" ("+quoteList(keys)+")"); err != nil {
		return fmt.Errorf("unique index on the primary key of %s: %w", w.final, err)
	}
	return nil
}

func (w *writer) column(name string) int {
	name = truncIdent(name)
	for i, c := range w.cols {
		if c.name == name {
			return i
		}
	}
	return -1
}

func (w *writer) begin(ctx context.Context) error {
	if w.inTx {
		return nil
	}
	if err := w.exec(ctx, "BEGIN"); err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	w.inTx = true
	return nil
}

// alter changes the target (and the staging table) and re-reads its
// columns. It runs in the open transaction, so a rolled-back checkpoint
// takes its schema change with it.
func (w *writer) alter(ctx context.Context, clause string) error {
	if err := w.begin(ctx); err != nil {
		return err
	}
	tables := []string{w.qualified(w.into)}
	if w.stage != "" {
		tables = append(tables, pgx.Identifier{w.stage}.Sanitize())
	}
	for _, t := range tables {
		if err := w.exec(ctx, "ALTER TABLE "+t+" "+clause); err != nil {
			return fmt.Errorf("alter table %s: %w", w.into, err)
		}
	}
	return w.loadColumns(ctx, w.into)
}

// planFor maps a batch schema onto the table, evolving the table as the
// schema policy allows.
func (w *writer) planFor(ctx context.Context, s *connector.Schema) (*plan, error) {
	policy := w.load.SchemaPolicy
	for _, f := range s.Fields {
		i := w.column(f.Name)
		if i < 0 {
			switch policy {
			case connector.SchemaFreeze:
				return nil, fmt.Errorf("column %q is not in table %s (schema policy freeze)", f.Name, w.final)
			case connector.SchemaDiscard:
				continue
			}
			if err := w.alter(ctx, "ADD COLUMN "+pgx.Identifier{f.Name}.Sanitize()+" "+pgType(f.Type)); err != nil {
				return nil, err
			}
			continue
		}
		c := w.cols[i]
		if fits(c.kind, f.Type) {
			continue
		}
		switch policy {
		case connector.SchemaFreeze:
			return nil, fmt.Errorf("column %q is %s in table %s, the stream sends %s (schema policy freeze)", f.Name, c.typname, w.final, f.Type)
		case connector.SchemaDiscard:
			continue // values that do not convert are quarantined row by row
		}
		wide, ok := connector.Widen(logical(c.kind), f.Type)
		if !ok || c.kind == kUnknown {
			return nil, fmt.Errorf("column %q is %s in table %s and cannot widen to hold %s", f.Name, c.typname, w.final, f.Type)
		}
		if wide == logical(c.kind) && fits(c.kind, wide) {
			continue
		}
		typ := pgType(wide)
		q := fmt.Sprintf("ALTER COLUMN %s TYPE %s USING %[1]s::%s", pgx.Identifier{c.name}.Sanitize(), typ, typ)
		if err := w.alter(ctx, q); err != nil {
			return nil, err
		}
	}
	p := &plan{schema: s}
	for j, f := range s.Fields {
		i := w.column(f.Name)
		if i < 0 {
			continue
		}
		c := w.cols[i]
		if c.kind == kUnknown {
			return nil, fmt.Errorf("column %q of table %s has type %s, which the loader cannot write", f.Name, w.final, c.typname)
		}
		p.fields = append(p.fields, j)
		p.kinds = append(p.kinds, c.kind)
		p.names = append(p.names, c.name)
		if w.sent != nil {
			w.sent[c.name] = true
		}
	}
	if w.stage != "" {
		for _, k := range w.load.PrimaryKey {
			j := s.Index(k)
			if j < 0 {
				return nil, fmt.Errorf("primary key column %q is not in the batch", k)
			}
			p.pk = append(p.pk, j)
		}
	}
	cols := quoteList(p.names)
	if w.stage != "" {
		if cols != "" {
			cols += ", "
		}
		cols += pgx.Identifier{ordColumn}.Sanitize()
	}
	p.copySQL = "COPY " + w.copyTarget() + " (" + cols + ") FROM STDIN (FORMAT binary)"
	return p, nil
}

// Write encodes the batch into the open COPY.
func (w *writer) Write(ctx context.Context, b *connector.Batch) error {
	if w.failed {
		return errors.New("writer failed earlier; close it")
	}
	if b.Len() == 0 {
		return nil
	}
	if w.pending {
		if w.inTx {
			// Table creation runs outside the checkpoint's transaction.
			return errors.New("first batch after uncommitted rejects: commit them first")
		}
		w.load.Schema = b.Schema
		if err := w.open(ctx); err != nil {
			w.failed = true
			return fmt.Errorf("open %s: %w", w.load.Stream, err)
		}
		w.pending = false
	}
	if w.plan == nil || !w.plan.schema.Equal(b.Schema) {
		if err := w.endCopy(ctx); err != nil {
			return err
		}
		p, err := w.planFor(ctx, b.Schema)
		if err != nil {
			w.failed = true
			return err
		}
		w.plan = p
	}
	if len(w.plan.names) == 0 && w.stage == "" {
		return nil // every field was discarded
	}
	if w.copy == nil {
		if err := w.begin(ctx); err != nil {
			return err
		}
		w.copy = startCopy(ctx, w.conn.PgConn(), w.plan.copySQL)
		w.buf = w.copy.buffer()
	}
	p := w.plan
	ncols := len(p.fields)
	if w.stage != "" {
		ncols++
	}
	buf := w.buf
	for i, row := range b.Rows {
		start := len(buf)
		buf = binary.BigEndian.AppendUint16(buf, uint16(ncols))
		var err error
		for c, j := range p.fields {
			if buf, err = appendValue(buf, p.kinds[c], row[j]); err != nil {
				err = fmt.Errorf("column %q: %w", b.Schema.Fields[j].Name, err)
				break
			}
		}
		if err == nil && w.stage != "" {
			for _, j := range p.pk {
				if row[j] == nil {
					err = fmt.Errorf("primary key column %q is null", b.Schema.Fields[j].Name)
					break
				}
			}
			w.ord++
			buf = binary.BigEndian.AppendUint32(buf, 8)
			buf = binary.BigEndian.AppendUint64(buf, uint64(w.ord))
		}
		if err != nil {
			buf = buf[:start]
			w.reject(b, i, err)
			continue
		}
		if len(buf) >= chunk {
			if err := w.copy.send(ctx, buf); err != nil {
				return w.abort(err)
			}
			buf = w.copy.buffer()
		}
	}
	w.buf = buf
	return nil
}

// reject quarantines a row the table cannot take.
func (w *writer) reject(b *connector.Batch, i int, err error) {
	raw := map[string]any{}
	for j, f := range b.Schema.Fields {
		raw[f.Name] = b.Rows[i][j]
	}
	text, mErr := json.Marshal(raw)
	if mErr != nil {
		text = []byte(fmt.Sprint(b.Rows[i]))
	}
	w.rejects = append(w.rejects, connector.Reject{
		RunID: w.load.RunID, Stream: w.load.Stream, Origin: b.Origin(i),
		Raw: string(text), Reason: err.Error(), Step: "load", At: time.Now().UTC(),
	})
}

func (w *writer) abort(err error) error {
	w.failed = true
	if w.copy != nil {
		w.copy.cancel()
		w.copy = nil
	}
	return err
}

// endCopy finishes the open COPY, if any; the rows stay in the open
// transaction.
func (w *writer) endCopy(ctx context.Context) error {
	if w.copy == nil {
		return nil
	}
	c := w.copy
	w.copy = nil
	buf := w.buf
	w.buf = nil
	if err := c.finish(ctx, buf); err != nil {
		w.failed = true
		return err
	}
	return nil
}

// Quarantine keeps rejects until the next commit, which stores them in the
// same transaction as the rows around them.
func (w *writer) Quarantine(_ context.Context, rejects []connector.Reject) error {
	w.rejects = append(w.rejects, rejects...)
	return nil
}

// Commit makes the rows and rejects written so far durable together with
// state. For an overwrite, the rows are committed into the fresh table and
// the state waits for the swap at Close.
func (w *writer) Commit(ctx context.Context, state json.RawMessage) error {
	if w.failed {
		return errors.New("writer failed earlier; close it")
	}
	if err := w.endCopy(ctx); err != nil {
		return err
	}
	if err := w.begin(ctx); err != nil {
		return err
	}
	if w.stage != "" {
		if err := w.merge(ctx); err != nil {
			return err
		}
	}
	if w.fresh != "" {
		w.state = state
		// A checkpoint of an overwrite need not survive a crash: the next
		// run starts the fresh table over. Only the swap waits for the disk.
		if err := w.exec(ctx, "SET LOCAL synchronous_commit = off"); err != nil {
			return fmt.Errorf("commit: %w", err)
		}
	} else if err := w.saveState(ctx, state); err != nil {
		return err
	}
	if err := w.flushRejects(ctx); err != nil {
		return err
	}
	if err := w.exec(ctx, "COMMIT"); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	w.inTx = false
	return nil
}

func (w *writer) saveState(ctx context.Context, state json.RawMessage) error {
	if len(state) == 0 {
		return nil
	}
	q := "INSERT INTO " + w.qualified(stateTable) + ` (pipeline, stream, state, updated_at) VALUES ($1, $2, $3, now())
		ON CONFLICT (pipeline, stream) DO UPDATE SET state = EXCLUDED.state, updated_at = EXCLUDED.updated_at`
	if err := w.exec(ctx, q, w.load.Pipeline, w.load.Stream, string(state)); err != nil {
		return fmt.Errorf("save state: %w", err)
	}
	return nil
}

// quarantineText makes a raw record storable in a text column: invalid
// UTF-8 and NUL bytes, which text refuses, are replaced visibly.
func quarantineText(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	return strings.ReplaceAll(s, "\x00", `\0`)
}

func (w *writer) flushRejects(ctx context.Context) error {
	if len(w.rejects) == 0 {
		return nil
	}
	rows := make([][]any, len(w.rejects))
	for i, r := range w.rejects {
		run := r.RunID
		if run == "" {
			run = w.load.RunID
		}
		step := r.Step
		if step == "" {
			step = "read"
		}
		at := r.At
		if at.IsZero() {
			at = time.Now()
		}
		rows[i] = []any{run, w.load.Pipeline, w.load.Stream, quarantineText(r.Origin), quarantineText(r.Raw), quarantineText(r.Reason), step, at.UTC()}
	}
	_, err := w.conn.CopyFrom(ctx, pgx.Identifier{w.d.schema, quarantineTable},
		[]string{"run_id", "pipeline", "stream", "origin", "raw", "reason", "step", "at"}, pgx.CopyFromRows(rows))
	if err != nil {
		w.failed = true
		return fmt.Errorf("quarantine: %w", err)
	}
	w.rejects = w.rejects[:0]
	return nil
}

// merge upserts the staged rows into the target: per key the row with the
// newest cursor, and among equals the last one staged; a row never
// replaces one with a newer cursor.
func (w *writer) merge(ctx context.Context) error {
	var cols, set []string
	pk := map[string]bool{}
	for _, k := range w.load.PrimaryKey {
		pk[truncIdent(k)] = true
	}
	for _, c := range w.cols {
		if !w.sent[c.name] {
			continue
		}
		q := pgx.Identifier{c.name}.Sanitize()
		cols = append(cols, q)
		if !pk[c.name] {
			set = append(set, q+" = EXCLUDED."+q)
		}
	}
	if len(cols) == 0 {
		return nil
	}
	keys := make([]string, len(w.load.PrimaryKey))
	for i, k := range w.load.PrimaryKey {
		keys[i] = truncIdent(k)
	}
	keyList := quoteList(keys)
	order := keyList
	var cursor string
	if cf := w.load.CursorField; cf != "" && w.column(cf) >= 0 && w.sent[truncIdent(cf)] {
		cursor = pgx.Identifier{truncIdent(cf)}.Sanitize()
		order += ", " + cursor + " DESC NULLS LAST"
	}
	order += ", " + pgx.Identifier{ordColumn}.Sanitize() + " DESC"
	colList := strings.Join(cols, ", ")
	latest := fmt.Sprintf("(SELECT DISTINCT ON (%s) * FROM %s ORDER BY %s)", keyList, pgx.Identifier{w.stage}.Sanitize(), order)
	live := ""
	if del := truncIdent(connector.DeletedAtField); w.sent[del] && w.column(del) >= 0 {
		// Keys whose latest change is a delete are applied apart; the
		// rest are upserted, which also clears an earlier soft delete.
		if err := w.applyDeletes(ctx, latest, keys, pgx.Identifier{del}.Sanitize()); err != nil {
			return err
		}
		live = " WHERE s." + pgx.Identifier{del}.Sanitize() + " IS NULL"
	}
	q := fmt.Sprintf("INSERT INTO %s AS t (%s) SELECT %s FROM %s s%s ON CONFLICT (%s) ",
		w.qualified(w.final), colList, colList, latest, live, keyList)
	if len(set) == 0 {
		q += "DO NOTHING"
	} else {
		q += "DO UPDATE SET " + strings.Join(set, ", ")
		if cursor != "" {
			q += " WHERE t." + cursor + " IS NULL OR EXCLUDED." + cursor + " >= t." + cursor
		}
	}
	// The staging table empties itself at commit (ON COMMIT DELETE ROWS).
	if err := w.exec(ctx, q); err != nil {
		return fmt.Errorf("merge into %s: %w", w.final, err)
	}
	return nil
}

// applyDeletes applies the staged rows marked deleted: a hard delete removes
// the row with the key, a soft one sets its deleted column and keeps the
// rest of the row as it was (a delete carries only the key). A key the
// target never held has nothing to delete.
func (w *writer) applyDeletes(ctx context.Context, latest string, keys []string, del string) error {
	match := make([]string, len(keys))
	for i, k := range keys {
		q := pgx.Identifier{k}.Sanitize()
		match[i] = "t." + q + " = d." + q
	}
	on := strings.Join(match, " AND ") + " AND d." + del + " IS NOT NULL"
	var q string
	if w.d.hardDeletes {
		q = fmt.Sprintf("DELETE FROM %s t USING %s d WHERE %s", w.qualified(w.final), latest, on)
	} else {
		q = fmt.Sprintf("UPDATE %s t SET %s = d.%s FROM %s d WHERE %s", w.qualified(w.final), del, del, latest, on)
	}
	if err := w.exec(ctx, q); err != nil {
		return fmt.Errorf("apply deletes to %s: %w", w.final, err)
	}
	return nil
}

// Close publishes or abandons the load. With ok, an overwrite swaps the
// fresh table in and stores the last committed state in one transaction;
// anything not committed is rolled back either way.
func (w *writer) Close(ctx context.Context, ok bool) error {
	defer w.conn.Close(context.WithoutCancel(ctx)) //nolint:errcheck // the connection is done either way
	if w.copy != nil {
		if ok && w.fresh != "" && !w.failed {
			if err := w.endCopy(ctx); err != nil {
				ok = false
			}
		} else {
			w.abort(errCopyAborted) //nolint:errcheck // the abort is the point
		}
	}
	if !ok || w.failed || w.fresh == "" {
		var err error
		if w.inTx {
			err = w.exec(ctx, "ROLLBACK")
			w.inTx = false
		}
		if w.fresh != "" {
			if dErr := w.exec(ctx, "DROP TABLE IF EXISTS "+w.qualified(w.fresh)); dErr != nil && err == nil {
				err = dErr
			}
		}
		if err != nil {
			return fmt.Errorf("roll back %s: %w", w.load.Stream, err)
		}
		if ok && w.failed {
			return errors.New("writer failed earlier; nothing published")
		}
		return nil
	}
	if err := w.begin(ctx); err != nil {
		return err
	}
	steps := []string{
		"DROP TABLE IF EXISTS " + w.qualified(w.final),
		"ALTER TABLE " + w.qualified(w.fresh) + " RENAME TO " + pgx.Identifier{w.final}.Sanitize(),
	}
	for _, q := range steps {
		if err := w.exec(ctx, q); err != nil {
			w.exec(ctx, "ROLLBACK") //nolint:errcheck // reporting the swap error
			return fmt.Errorf("swap %s: %w", w.final, err)
		}
	}
	if err := w.saveState(ctx, w.state); err != nil {
		return err
	}
	if err := w.flushRejects(ctx); err != nil {
		return err
	}
	if err := w.exec(ctx, "COMMIT"); err != nil {
		return fmt.Errorf("swap %s: %w", w.final, err)
	}
	w.inTx = false
	return nil
}
