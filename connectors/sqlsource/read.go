package sqlsource

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tributary-data/tributary/connector"
)

// DefaultBatchSize is the page size when the request gives none.
const DefaultBatchSize = 10000

// Read reads every requested stream in turn.
func (s *Source) Read(ctx context.Context, req connector.ReadRequest, emit connector.Emitter) error {
	for _, st := range req.Streams {
		p, err := s.plan(ctx, st)
		if err != nil {
			return fmt.Errorf("stream %q: %w", st.Name, err)
		}
		pos, err := p.decodeState(req.State[st.Name])
		if err != nil {
			return fmt.Errorf("stream %q: state: %w", st.Name, err)
		}
		r := &reader{Source: s, plan: p, emit: emit, batch: req.BatchSize, limit: req.Limit}
		if r.batch <= 0 {
			r.batch = DefaultBatchSize
		}
		if err := r.run(ctx, pos); err != nil {
			return fmt.Errorf("stream %q: %w", st.Name, err)
		}
	}
	return nil
}

// plan is how one stream is read: what to select and which columns order
// it.
type plan struct {
	stream  connector.Stream
	from    string // quoted table, or the custom query as a derived table
	list    string // select list
	origin  string // table or stream name, for reject origins
	names   []string
	base    []connector.Type // types of the values as read
	out     *connector.Schema
	convert []bool // whether base differs from out and needs a cast
	cursor  int    // index of the cursor column, -1 without one
	pk      []int
	raw     []bool // key columns kept in their stored form (see RawKeys)
}

func (s *Source) plan(ctx context.Context, st connector.Stream) (*plan, error) {
	var cfg StreamConfig
	if err := connector.DecodeConfig(st.Config, &cfg); err != nil {
		return nil, err
	}
	p := &plan{stream: st, cursor: -1}
	var tablePK []string
	if cfg.Query != "" {
		if cfg.Table != "" {
			return nil, errors.New("set either table or query, not both")
		}
		p.from = "(" + strings.TrimRight(strings.TrimSpace(cfg.Query), ";") + ") AS _tributary_q"
		p.list = "*"
		p.origin = st.Name
		rows, err := s.db.QueryContext(ctx, "SELECT * FROM "+p.from+" WHERE 1=0")
		if err != nil {
			return nil, fmt.Errorf("probe query: %w", err)
		}
		cts, err := rows.ColumnTypes()
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("probe query: %w", err)
		}
		for _, ct := range cts {
			p.names = append(p.names, ct.Name())
			p.base = append(p.base, s.dialect.ColumnType(ct))
		}
	} else {
		t, err := s.findTable(ctx, st.Name, cfg)
		if err != nil {
			return nil, err
		}
		p.from = s.dialect.Quote(t.Name)
		if t.Schema != "" {
			p.from = s.dialect.Quote(t.Schema) + "." + p.from
		}
		p.origin = t.Name
		sel, _ := s.dialect.(Selector)
		quoted := make([]string, len(t.Columns))
		for i, c := range t.Columns {
			quoted[i] = s.dialect.Quote(c.Name)
			if sel != nil {
				quoted[i] = sel.Select(quoted[i], c.Type)
			}
			p.names = append(p.names, c.Name)
			p.base = append(p.base, c.Type)
		}
		p.list = strings.Join(quoted, ", ")
		tablePK = t.PrimaryKey
	}
	p.out = &connector.Schema{Fields: make([]connector.Field, len(p.names))}
	p.convert = make([]bool, len(p.names))
	for i, n := range p.names {
		typ := p.base[i]
		if o, ok := st.Schema[n]; ok && o != "" {
			typ = o
			p.convert[i] = o != p.base[i]
		}
		p.out.Fields[i] = connector.Field{Name: n, Type: typ, Nullable: true}
	}
	index := func(n string) (int, error) {
		for i, x := range p.names {
			if x == n {
				return i, nil
			}
		}
		return -1, fmt.Errorf("no column %q", n)
	}
	if st.SyncMode.Incremental() || st.CursorField != "" {
		if st.CursorField == "" {
			return nil, fmt.Errorf("sync mode %s needs a cursor_field", st.SyncMode)
		}
		i, err := index(st.CursorField)
		if err != nil {
			return nil, fmt.Errorf("cursor: %w", err)
		}
		p.cursor = i
	}
	pk := st.PrimaryKey
	if len(pk) == 0 {
		pk = tablePK
	}
	for _, n := range pk {
		i, err := index(n)
		if err != nil {
			return nil, fmt.Errorf("primary key: %w", err)
		}
		p.pk = append(p.pk, i)
	}
	if !st.SyncMode.Incremental() {
		p.cursor = -1
	}
	p.raw = make([]bool, len(p.names))
	if rk, ok := s.dialect.(RawKeys); ok {
		for i, t := range p.base {
			p.raw[i] = rk.RawKey(t)
		}
	}
	return p, nil
}

func (s *Source) findTable(ctx context.Context, stream string, cfg StreamConfig) (Table, error) {
	schemas := s.opts.Schemas
	if cfg.Schema != "" {
		schemas = []string{cfg.Schema}
	}
	tables, err := s.dialect.Tables(ctx, s.db, schemas)
	if err != nil {
		return Table{}, fmt.Errorf("list tables: %w", err)
	}
	for _, t := range tables {
		if cfg.Table != "" && t.Name == cfg.Table {
			return t, nil
		}
		if cfg.Table == "" && (t.Stream == stream || t.Name == stream) {
			return t, nil
		}
	}
	name := cfg.Table
	if name == "" {
		name = stream
	}
	return Table{}, fmt.Errorf("table %q not found", name)
}

// position is where a stream resumes. Nil fields mean "from the start".
type position struct {
	done   bool
	cursor any   // last cursor value read
	pk     []any // primary key of the last row read (with cursor, if any)
	nullPK []any // primary key of the last row read whose cursor was null
}

// stateJSON is the checkpoint as stored. Key values keep their JSON form
// and are decoded with the column's type.
type stateJSON struct {
	Done   bool              `json:"done,omitempty"`
	Cursor json.RawMessage   `json:"cursor,omitempty"`
	PK     []json.RawMessage `json:"pk,omitempty"`
	NullPK []json.RawMessage `json:"null_pk,omitempty"`
}

func (p *plan) decodeState(raw json.RawMessage) (position, error) {
	var pos position
	if len(raw) == 0 || string(raw) == "null" {
		return pos, nil
	}
	var sj stateJSON
	if err := json.Unmarshal(raw, &sj); err != nil {
		return pos, err
	}
	if sj.Done || (p.cursor < 0 && len(sj.Cursor) > 0) {
		// A finished full refresh starts over, and so does one whose
		// state an incremental read left (the sync mode changed): its key
		// position does not cover the rows before the cursor.
		return pos, nil
	}
	decode := func(col int, m json.RawMessage) (any, error) {
		var v any
		dec := json.NewDecoder(strings.NewReader(string(m)))
		dec.UseNumber()
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
		if p.raw[col] {
			if n, ok := v.(json.Number); ok {
				if i, err := n.Int64(); err == nil {
					return i, nil
				}
				return n.Float64()
			}
			return v, nil
		}
		x, err := connector.Convert(p.base[col], v)
		if err != nil {
			return nil, fmt.Errorf("column %q: %w", p.names[col], err)
		}
		return x, nil
	}
	decodeKey := func(ms []json.RawMessage) ([]any, error) {
		if len(ms) == 0 {
			return nil, nil
		}
		if len(ms) != len(p.pk) {
			return nil, fmt.Errorf("state has %d key values, the stream's primary key %d", len(ms), len(p.pk))
		}
		out := make([]any, len(ms))
		for i, m := range ms {
			v, err := decode(p.pk[i], m)
			if err != nil {
				return nil, err
			}
			out[i] = v
		}
		return out, nil
	}
	var err error
	if len(sj.Cursor) > 0 && p.cursor >= 0 {
		if pos.cursor, err = decode(p.cursor, sj.Cursor); err != nil {
			return pos, err
		}
	}
	if pos.pk, err = decodeKey(sj.PK); err != nil {
		return pos, err
	}
	if pos.nullPK, err = decodeKey(sj.NullPK); err != nil {
		return pos, err
	}
	return pos, nil
}

func encodeState(pos position) (json.RawMessage, error) {
	sj := stateJSON{Done: pos.done}
	var err error
	if pos.cursor != nil {
		if sj.Cursor, err = json.Marshal(pos.cursor); err != nil {
			return nil, err
		}
	}
	enc := func(vs []any) ([]json.RawMessage, error) {
		var out []json.RawMessage
		for _, v := range vs {
			b, err := json.Marshal(v)
			if err != nil {
				return nil, err
			}
			out = append(out, b)
		}
		return out, nil
	}
	if sj.PK, err = enc(pos.pk); err != nil {
		return nil, err
	}
	if sj.NullPK, err = enc(pos.nullPK); err != nil {
		return nil, err
	}
	return json.Marshal(sj)
}

// reader reads one stream.
type reader struct {
	*Source
	*plan
	emit  connector.Emitter
	batch int
	limit int
	read  int // rows handed over so far, for the preview limit
}

func (r *reader) remaining() int {
	if r.limit <= 0 {
		return r.batch
	}
	return min(r.batch, r.limit-r.read)
}

func (r *reader) run(ctx context.Context, pos position) error {
	start := time.Now()
	var err error
	switch {
	case r.cursor < 0 && len(r.pk) > 0:
		err = r.keyset(ctx, &pos, phaseFull)
	case r.cursor < 0:
		err = r.ordered(ctx, &pos)
	case len(r.pk) > 0:
		if err = r.keyset(ctx, &pos, phaseNulls); err == nil {
			err = r.keyset(ctx, &pos, phaseCursor)
		}
	default:
		err = r.ordered(ctx, &pos)
	}
	if err != nil {
		return err
	}
	if r.cursor < 0 && (r.limit <= 0 || r.read < r.limit) {
		// The next full refresh must start from the beginning again.
		if err := r.checkpoint(ctx, position{done: true}); err != nil {
			return err
		}
	}
	r.log.Debug("stream read", "stream", r.stream.Name, "rows", r.read, "took", time.Since(start))
	return nil
}

type phase int

const (
	phaseFull   phase = iota // ordered by primary key
	phaseNulls               // rows whose cursor is null, by primary key
	phaseCursor              // rows with a cursor, by cursor then primary key
)

// keyset reads pages ordered by a unique key, each page one batch followed
// by a checkpoint, with row-value comparison so that a page boundary in
// the middle of a run of equal cursor values loses nothing.
func (r *reader) keyset(ctx context.Context, pos *position, ph phase) error {
	keys := r.pk
	if ph == phaseCursor {
		keys = append([]int{r.cursor}, r.pk...)
	}
	order := make([]string, len(keys))
	for i, k := range keys {
		order[i] = r.col(k)
	}
	for {
		n := r.remaining()
		if n <= 0 {
			return nil
		}
		var after []any
		switch ph {
		case phaseFull:
			after = pos.pk
		case phaseNulls:
			after = pos.nullPK
		case phaseCursor:
			if pos.cursor != nil && len(pos.pk) == len(r.pk) {
				after = append([]any{pos.cursor}, pos.pk...)
			}
		}
		var conds []string
		var args []any
		switch ph {
		case phaseNulls:
			conds = append(conds, r.col(r.cursor)+" IS NULL")
		case phaseCursor:
			conds = append(conds, r.col(r.cursor)+" IS NOT NULL")
			if after == nil && pos.cursor != nil {
				// State written without a primary key ends on a whole
				// cursor value (see ordered), so "past it" is exact.
				conds = append(conds, r.col(r.cursor)+" > "+r.dialect.Placeholder(1))
				args = append(args, r.bind(pos.cursor))
			}
		}
		if after != nil {
			marks := make([]string, len(keys))
			for i := range keys {
				marks[i] = r.dialect.Placeholder(len(args) + 1)
				args = append(args, r.bind(after[i]))
			}
			conds = append(conds, rowValue(order)+" > "+rowValue(marks))
			if len(keys) > 1 {
				// Implied by the row comparison, but a plain range on the
				// leading key is what every planner turns into an index
				// range scan; MariaDB does not for row values.
				conds = append(conds, order[0]+" >= "+r.dialect.Placeholder(len(args)+1))
				args = append(args, r.bind(after[0]))
			}
		}
		q := "SELECT " + r.list + " FROM " + r.from
		if len(conds) > 0 {
			q += " WHERE " + strings.Join(conds, " AND ")
		}
		q += " ORDER BY " + strings.Join(order, ", ") + " LIMIT " + strconv.Itoa(n)
		b := r.newBatch(n)
		var last *record
		got := 0
		err := r.query(ctx, q, args, func(rec *record) error {
			got++
			last = rec
			return r.add(ctx, b, rec)
		})
		if err != nil {
			b.Release()
			return err
		}
		if got == 0 {
			b.Release()
			return nil
		}
		switch ph {
		case phaseFull:
			pos.pk = r.pick(last, r.pk)
		case phaseNulls:
			pos.nullPK = r.pick(last, r.pk)
		case phaseCursor:
			pos.cursor = r.keyOf(last, r.cursor)
			pos.pk = r.pick(last, r.pk)
		}
		if err := r.flush(ctx, b, *pos, true); err != nil {
			return err
		}
		if got < n {
			return nil
		}
	}
}

// ordered reads a stream without a primary key in one ordered query. With a
// cursor, batches end only where the cursor value changes, so each
// checkpoint ("every row up to this cursor value") is exact; without one,
// the read is not resumable and only the end is checkpointed.
func (r *reader) ordered(ctx context.Context, pos *position) error {
	q := "SELECT " + r.list + " FROM " + r.from
	var args []any
	if r.cursor >= 0 {
		var nulls int64
		cq := "SELECT COUNT(*) FROM " + r.from + " WHERE " + r.col(r.cursor) + " IS NULL"
		if err := r.db.QueryRowContext(ctx, cq).Scan(&nulls); err == nil && nulls > 0 {
			r.log.Warn("rows with a null cursor are not read incrementally without a primary key",
				"stream", r.stream.Name, "cursor", r.stream.CursorField, "rows", nulls)
		}
		q += " WHERE " + r.col(r.cursor) + " IS NOT NULL"
		if pos.cursor != nil {
			q += " AND " + r.col(r.cursor) + " > " + r.dialect.Placeholder(1)
			args = append(args, r.bind(pos.cursor))
		}
		q += " ORDER BY " + r.col(r.cursor)
	}
	if r.limit > 0 {
		q += " LIMIT " + strconv.Itoa(r.limit)
	}
	b := r.newBatch(r.batch)
	var lastCursor any
	err := r.query(ctx, q, args, func(rec *record) error {
		if b.Len() >= r.batch {
			if r.cursor < 0 {
				if err := r.flush(ctx, b, *pos, false); err != nil {
					return err
				}
				b = r.newBatch(r.batch)
			} else if !equalKey(lastCursor, r.keyOf(rec, r.cursor)) {
				pos.cursor = lastCursor
				if err := r.flush(ctx, b, *pos, true); err != nil {
					return err
				}
				b = r.newBatch(r.batch)
			}
		}
		if r.cursor >= 0 {
			lastCursor = r.keyOf(rec, r.cursor)
		}
		return r.add(ctx, b, rec)
	})
	if err != nil {
		b.Release()
		return err
	}
	if lastCursor != nil {
		pos.cursor = lastCursor
	}
	return r.flush(ctx, b, *pos, r.cursor >= 0)
}

func (r *reader) col(i int) string {
	if r.list == "*" {
		return "_tributary_q." + r.dialect.Quote(r.names[i])
	}
	return r.dialect.Quote(r.names[i])
}

func (r *reader) bind(v any) any {
	if d, ok := v.(connector.Decimal); ok {
		return d.String()
	}
	return v
}

func (r *reader) newBatch(n int) *connector.Batch {
	b := connector.NewBatch(r.stream.Name, r.out, n)
	b.File = r.origin
	return b
}

// record is one row as read: its values converted to the columns' base
// types, the driver's values (valid only until the next row), and, for key
// columns the dialect compares in stored form, that form.
type record struct {
	vals     []any
	raw      []any
	rawKeys  []any
	rejected bool // already quarantined: it only moves the position on
}

// query runs q and calls fn with each row. Rows with a column that does not
// convert are rejected first and passed on marked; a row whose key does not
// convert stops the read, as its position could not be recorded.
func (r *reader) query(ctx context.Context, q string, args []any, fn func(*record) error) error {
	rows, err := r.db.QueryContext(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("query: %w", err)
	}
	defer rows.Close()
	n := len(r.names)
	raw := make([]any, n)
	ptrs := make([]any, n)
	for i := range raw {
		ptrs[i] = &raw[i]
	}
	keys := append([]int{r.cursor}, r.pk...)
	anyRaw := false
	for _, k := range keys {
		anyRaw = anyRaw || (k >= 0 && r.raw[k])
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return fmt.Errorf("scan: %w", err)
		}
		rec := &record{vals: make([]any, n), raw: raw}
		var bad error
		for i, v := range raw {
			x, err := Convert(r.base[i], v)
			if err != nil {
				if i == r.cursor || slices.Contains(r.pk, i) {
					return fmt.Errorf("key column %q: %w", r.names[i], err)
				}
				bad = errors.Join(bad, fmt.Errorf("column %q: %w", r.names[i], err))
				continue
			}
			rec.vals[i] = x
		}
		if anyRaw {
			rec.rawKeys = make([]any, n)
			for _, k := range keys {
				if k < 0 || !r.raw[k] {
					continue
				}
				if b, ok := raw[k].([]byte); ok {
					rec.rawKeys[k] = string(b)
				} else {
					rec.rawKeys[k] = raw[k]
				}
			}
		}
		if bad != nil {
			rec.rejected = true
			if err := r.reject(ctx, rec, bad); err != nil {
				return err
			}
		}
		if err := fn(rec); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read rows: %w", err)
	}
	return nil
}

// keyOf returns the value that records the position of column k of a row.
func (r *reader) keyOf(rec *record, k int) any {
	if rec.rawKeys != nil && r.raw[k] {
		return rec.rawKeys[k]
	}
	return rec.vals[k]
}

// add appends a converted row to b.
func (r *reader) add(ctx context.Context, b *connector.Batch, rec *record) error {
	if rec.rejected {
		return nil
	}
	r.read++
	row := b.NewRow()
	for i, v := range rec.vals {
		if r.convert[i] {
			x, err := connector.Convert(r.out.Fields[i].Type, v)
			if err != nil {
				return r.reject(ctx, rec, fmt.Errorf("column %q: %w", r.names[i], err))
			}
			v = x
		}
		row[i] = v
	}
	b.Append(row)
	return nil
}

func (r *reader) reject(ctx context.Context, rec *record, reason error) error {
	fields := make(map[string]any, len(r.names))
	for i, n := range r.names {
		if rec.raw[i] == nil {
			fields[n] = nil
		} else {
			fields[n] = rawText(rec.raw[i])
		}
	}
	text, _ := json.Marshal(fields)
	return r.emit.Reject(ctx, connector.Reject{
		Stream: r.stream.Name,
		Origin: r.originOf(rec.vals),
		Raw:    string(text),
		Reason: reason.Error(),
		Step:   "read",
		At:     time.Now().UTC(),
	})
}

func (r *reader) originOf(vals []any) string {
	keys := r.pk
	if len(keys) == 0 && r.cursor >= 0 {
		keys = []int{r.cursor}
	}
	if len(keys) == 0 {
		return r.origin + ":#" + strconv.Itoa(r.read+1)
	}
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = r.names[k] + "=" + connector.FormatValue(vals[k])
	}
	return r.origin + ":" + strings.Join(parts, ",")
}

// flush emits b (unless empty) and, when the position is resumable,
// checkpoints it.
func (r *reader) flush(ctx context.Context, b *connector.Batch, pos position, resumable bool) error {
	if b.Len() > 0 {
		if err := r.emit.Emit(ctx, b); err != nil {
			return fmt.Errorf("emit: %w", err)
		}
	} else {
		b.Release()
	}
	if !resumable {
		return nil
	}
	return r.checkpoint(ctx, pos)
}

func (r *reader) checkpoint(ctx context.Context, pos position) error {
	st, err := encodeState(pos)
	if err != nil {
		return fmt.Errorf("encode state: %w", err)
	}
	if err := r.emit.Checkpoint(ctx, r.stream.Name, st); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	return nil
}

func rowValue(xs []string) string {
	if len(xs) == 1 {
		return xs[0]
	}
	return "(" + strings.Join(xs, ", ") + ")"
}

func (r *reader) pick(rec *record, idx []int) []any {
	out := make([]any, len(idx))
	for i, k := range idx {
		out[i] = r.keyOf(rec, k)
	}
	return out
}

func equalKey(a, b any) bool {
	switch x := a.(type) {
	case time.Time:
		y, ok := b.(time.Time)
		return ok && x.Equal(y)
	case connector.Decimal:
		y, ok := b.(connector.Decimal)
		return ok && x.Cmp(y) == 0
	case []byte:
		y, ok := b.([]byte)
		return ok && string(x) == string(y)
	}
	return a == b
}
