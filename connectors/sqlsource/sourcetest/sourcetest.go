// Package sourcetest is the conformance suite of SQL sources built on
// sqlsource: incremental reads with ties on the cursor and resumption from
// every checkpoint, null cursors, full refresh restarts, custom queries,
// rejects and the preview limit. Each database runs it against its own
// server or file.
package sourcetest

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tributary-data/tributary/connector"
	"github.com/tributary-data/tributary/connectors/sqlsource"
)

// Options describes the database under test.
type Options struct {
	DB *sql.DB
	// Source returns a source over the same database.
	Source func(t *testing.T) connector.Source
	// Dialect quotes names and marks parameters in the suite's own SQL.
	Dialect sqlsource.Dialect
	// Types names the column types to create: "int", "timestamp", "text",
	// "decimal" (precision 38 or more) and "blob".
	Types map[string]string
}

// Run runs every case.
func Run(t *testing.T, o Options) {
	t.Run("IncrementalTies", func(t *testing.T) { testTies(t, o) })
	t.Run("IncrementalNewRows", func(t *testing.T) { testNewRows(t, o) })
	t.Run("NullCursor", func(t *testing.T) { testNullCursor(t, o) })
	t.Run("NoPrimaryKey", func(t *testing.T) { testNoPK(t, o) })
	t.Run("FullRefresh", func(t *testing.T) { testFullRefresh(t, o) })
	t.Run("Query", func(t *testing.T) { testQuery(t, o) })
	t.Run("Rejects", func(t *testing.T) { testRejects(t, o) })
	t.Run("Limit", func(t *testing.T) { testLimit(t, o) })
}

// Event is one call a source made on a [Collector].
type Event struct {
	Batch      *connector.Batch
	Stream     string
	State      json.RawMessage
	Reject     *connector.Reject
	Checkpoint bool
}

// Collector is an emitter that records everything.
type Collector struct {
	mu     sync.Mutex
	Events []Event
}

// Emit records a batch.
func (c *Collector) Emit(_ context.Context, b *connector.Batch) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.Events = append(c.Events, Event{Batch: b, Stream: b.Stream})
	return nil
}

// Checkpoint records a checkpoint.
func (c *Collector) Checkpoint(_ context.Context, stream string, st json.RawMessage) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.Events = append(c.Events, Event{Stream: stream, State: append(json.RawMessage(nil), st...), Checkpoint: true})
	return nil
}

// Reject records a reject.
func (c *Collector) Reject(_ context.Context, r connector.Reject) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.Events = append(c.Events, Event{Reject: &r, Stream: r.Stream})
	return nil
}

// Rows returns every row emitted.
func (c *Collector) Rows() [][]any {
	var out [][]any
	for _, e := range c.Events {
		if e.Batch != nil {
			out = append(out, e.Batch.Rows...)
		}
	}
	return out
}

// Rejects returns every reject.
func (c *Collector) Rejects() []connector.Reject {
	var out []connector.Reject
	for _, e := range c.Events {
		if e.Reject != nil {
			out = append(out, *e.Reject)
		}
	}
	return out
}

// LastState returns the last checkpoint.
func (c *Collector) LastState() json.RawMessage {
	for i := len(c.Events) - 1; i >= 0; i-- {
		if c.Events[i].Checkpoint {
			return c.Events[i].State
		}
	}
	return nil
}

// Read reads one stream with a fresh source.
func Read(t *testing.T, o Options, st connector.Stream, state json.RawMessage, batch, limit int) *Collector {
	t.Helper()
	src := o.Source(t)
	c := &Collector{}
	req := connector.ReadRequest{Streams: []connector.Stream{st}, BatchSize: batch, Limit: limit}
	if state != nil {
		req.State = map[string]json.RawMessage{st.Name: state}
	}
	if err := src.Read(context.Background(), req, c); err != nil {
		t.Fatalf("read %s: %v", st.Name, err)
	}
	return c
}

func exec(t *testing.T, o Options, q string, args ...any) {
	t.Helper()
	if _, err := o.DB.Exec(q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

func ids(rows [][]any, col int) []int64 {
	out := make([]int64, 0, len(rows))
	for _, r := range rows {
		out = append(out, r[col].(int64))
	}
	return out
}

func seq(from, to int64) []int64 {
	var out []int64
	for i := from; i <= to; i++ {
		out = append(out, i)
	}
	return out
}

// events table: id, ts (cursor), name. Rows 1..n; ts of row i is base +
// i/10 hours, so runs of ten rows share a cursor value, and ids are
// inserted out of order with respect to ts ties.
func createEvents(t *testing.T, o Options, table string, n int64) time.Time {
	t.Helper()
	q := o.Dialect.Quote
	exec(t, o, fmt.Sprintf("DROP TABLE IF EXISTS %s", q(table)))
	exec(t, o, fmt.Sprintf("CREATE TABLE %s (%s %s NOT NULL PRIMARY KEY, %s %s NULL, %s %s NULL)",
		q(table), q("id"), o.Types["int"], q("ts"), o.Types["timestamp"], q("name"), o.Types["text"]))
	base := time.Date(2024, 3, 1, 10, 0, 0, 0, time.UTC)
	insertEvents(t, o, table, base, 1, n)
	t.Cleanup(func() { o.DB.Exec("DROP TABLE " + q(table)) })
	return base
}

func insertEvents(t *testing.T, o Options, table string, base time.Time, from, to int64) {
	t.Helper()
	q := o.Dialect.Quote
	// Insert in reverse so physical order differs from key order.
	p := o.Dialect.Placeholder
	for i := to; i >= from; i-- {
		exec(t, o, fmt.Sprintf("INSERT INTO %s (%s, %s, %s) VALUES (%s, %s, %s)", q(table), q("id"), q("ts"), q("name"), p(1), p(2), p(3)),
			i, base.Add(time.Duration(i/10)*time.Hour), fmt.Sprintf("row %d", i))
	}
}

func testTies(t *testing.T, o Options) {
	const n = 47
	createEvents(t, o, "ties events", n)
	st := connector.Stream{Name: "ties events", SyncMode: connector.IncrementalAppend, CursorField: "ts", PrimaryKey: []string{"id"}}
	for _, batch := range []int{1, 3, 4, 10, 100} {
		t.Run(fmt.Sprint("batch", batch), func(t *testing.T) {
			c := Read(t, o, st, nil, batch, 0)
			if got := ids(c.Rows(), 0); !slices.Equal(got, seq(1, n)) {
				t.Fatalf("rows %v, want 1..%d in cursor order", got, n)
			}
			// Resume from every checkpoint: the rows before it plus the
			// rows read after it must be every row exactly once.
			seen := 0
			for _, e := range c.Events {
				if e.Batch != nil {
					seen += e.Batch.Len()
					for _, r := range e.Batch.Rows {
						if r[1] == nil || r[1].(time.Time).Location() != time.UTC {
							t.Fatalf("timestamp %v not in UTC", r[1])
						}
					}
				}
				if !e.Checkpoint {
					continue
				}
				rest := Read(t, o, st, e.State, batch, 0)
				got := append(seq(1, int64(seen)), ids(rest.Rows(), 0)...)
				if !slices.Equal(got, seq(1, n)) {
					t.Fatalf("resume after %d rows from %s: got %v", seen, e.State, ids(rest.Rows(), 0))
				}
			}
		})
	}
}

func testNewRows(t *testing.T, o Options) {
	base := createEvents(t, o, "grow", 20)
	st := connector.Stream{Name: "grow", SyncMode: connector.IncrementalDedup, CursorField: "ts", PrimaryKey: []string{"id"}}
	c := Read(t, o, st, nil, 7, 0)
	if len(c.Rows()) != 20 {
		t.Fatalf("first read %d rows", len(c.Rows()))
	}
	// Rows 21..29 share the last cursor value (hour 2) with rows 20: a tie
	// that straddles two runs.
	insertEvents(t, o, "grow", base, 21, 35)
	next := Read(t, o, st, c.LastState(), 7, 0)
	if got := ids(next.Rows(), 0); !slices.Equal(got, seq(21, 35)) {
		t.Fatalf("second read %v, want 21..35", got)
	}
	again := Read(t, o, st, next.LastState(), 7, 0)
	if len(again.Rows()) != 0 {
		t.Fatalf("third read found %d rows", len(again.Rows()))
	}
}

func testNullCursor(t *testing.T, o Options) {
	createEvents(t, o, "nulls", 10)
	q := o.Dialect.Quote
	exec(t, o, fmt.Sprintf("UPDATE %s SET %s = NULL WHERE %s IN (3, 7)", q("nulls"), q("ts"), q("id")))
	st := connector.Stream{Name: "nulls", SyncMode: connector.IncrementalAppend, CursorField: "ts", PrimaryKey: []string{"id"}}
	c := Read(t, o, st, nil, 2, 0)
	got := ids(c.Rows(), 0)
	slices.Sort(got)
	if !slices.Equal(got, seq(1, 10)) {
		t.Fatalf("rows %v, want every row once", got)
	}
	exec(t, o, fmt.Sprintf("INSERT INTO %s (%s, %s) VALUES (11, 'late')", q("nulls"), q("id"), q("name")))
	next := Read(t, o, st, c.LastState(), 2, 0)
	if got := ids(next.Rows(), 0); !slices.Equal(got, []int64{11}) {
		t.Fatalf("second read %v, want the new null-cursor row 11", got)
	}
}

func testNoPK(t *testing.T, o Options) {
	q := o.Dialect.Quote
	exec(t, o, fmt.Sprintf("CREATE TABLE %s (%s %s, %s %s)", q("log"), q("seq"), o.Types["int"], q("msg"), o.Types["text"]))
	t.Cleanup(func() { o.DB.Exec("DROP TABLE " + q("log")) })
	for i := 1; i <= 30; i++ {
		exec(t, o, fmt.Sprintf("INSERT INTO %s VALUES (%s, %s)", q("log"), o.Dialect.Placeholder(1), o.Dialect.Placeholder(2)), i/4, fmt.Sprint("m", i))
	}
	st := connector.Stream{Name: "log", SyncMode: connector.IncrementalAppend, CursorField: "seq"}
	c := Read(t, o, st, nil, 3, 0)
	if len(c.Rows()) != 30 {
		t.Fatalf("read %d rows, want 30", len(c.Rows()))
	}
	// Each batch ends where the cursor changes, so every checkpoint is exact.
	seen := 0
	for _, e := range c.Events {
		if e.Batch != nil {
			seen += e.Batch.Len()
		}
		if e.Checkpoint {
			rest := Read(t, o, st, e.State, 3, 0)
			if seen+len(rest.Rows()) != 30 {
				t.Fatalf("resume after %d rows from %s read %d more", seen, e.State, len(rest.Rows()))
			}
		}
	}
}

func testFullRefresh(t *testing.T, o Options) {
	createEvents(t, o, "full", 25)
	st := connector.Stream{Name: "full", SyncMode: connector.FullRefreshAppend}
	c := Read(t, o, st, nil, 10, 0)
	if got := ids(c.Rows(), 0); !slices.Equal(got, seq(1, 25)) {
		t.Fatalf("rows %v", got)
	}
	// A finished full refresh starts over next time.
	again := Read(t, o, st, c.LastState(), 10, 0)
	if len(again.Rows()) != 25 {
		t.Fatalf("second full refresh read %d rows from %s", len(again.Rows()), c.LastState())
	}
	// One interrupted after the first page resumes after it.
	var first json.RawMessage
	for _, e := range c.Events {
		if e.Checkpoint {
			first = e.State
			break
		}
	}
	rest := Read(t, o, st, first, 10, 0)
	if got := ids(rest.Rows(), 0); !slices.Equal(got, seq(11, 25)) {
		t.Fatalf("resumed full refresh read %v", got)
	}
	// A state an incremental read left (the sync mode changed since) does
	// not cut a full refresh short.
	inc := Read(t, o, connector.Stream{Name: "full", SyncMode: connector.IncrementalAppend, CursorField: "ts", PrimaryKey: []string{"id"}}, nil, 10, 0)
	if got := len(Read(t, o, st, inc.LastState(), 10, 0).Rows()); got != 25 {
		t.Fatalf("full refresh from an incremental state read %d rows", got)
	}
}

func testQuery(t *testing.T, o Options) {
	createEvents(t, o, "qsrc", 30)
	q := o.Dialect.Quote
	st := connector.Stream{
		Name: "evens", SyncMode: connector.IncrementalAppend, CursorField: "ts", PrimaryKey: []string{"id"},
		Config: map[string]any{"query": fmt.Sprintf("SELECT %s, %s, %s AS %s FROM %s WHERE %s %% 2 = 0;",
			q("id"), q("ts"), q("name"), q("label"), q("qsrc"), q("id"))},
	}
	c := Read(t, o, st, nil, 4, 0)
	var want []int64
	for i := int64(2); i <= 30; i += 2 {
		want = append(want, i)
	}
	if got := ids(c.Rows(), 0); !slices.Equal(got, want) {
		t.Fatalf("query rows %v", got)
	}
	b := c.Events[0].Batch
	if names := b.Schema.Names(); !slices.Equal(names, []string{"id", "ts", "label"}) {
		t.Fatalf("query columns %v", names)
	}
	if b.Schema.Fields[0].Type != connector.TypeInt64 {
		t.Fatalf("id mapped to %s", b.Schema.Fields[0].Type)
	}
	if len(Read(t, o, st, c.LastState(), 4, 0).Rows()) != 0 {
		t.Fatal("query resumed from the end read rows")
	}
}

func testRejects(t *testing.T, o Options) {
	q := o.Dialect.Quote
	exec(t, o, fmt.Sprintf("CREATE TABLE %s (%s %s NOT NULL PRIMARY KEY, %s %s, %s %s)", q("money"),
		q("id"), o.Types["int"], q("amount"), o.Types["decimal"], q("note"), o.Types["text"]))
	t.Cleanup(func() { o.DB.Exec("DROP TABLE " + q("money")) })
	exec(t, o, fmt.Sprintf("INSERT INTO %s VALUES (1, '12.50', 'ok'), (2, '12345678901234567890.5', 'too wide'), (3, '-0.001', 'ok')", q("money")))
	st := connector.Stream{Name: "money", SyncMode: connector.FullRefreshAppend}
	c := Read(t, o, st, nil, 10, 0)
	rows := c.Rows()
	if len(rows) != 2 {
		t.Fatalf("%d rows, want 2", len(rows))
	}
	if d, ok := rows[0][1].(connector.Decimal); !ok || d.Cmp(connector.Decimal{Unscaled: 125, Scale: 1}) != 0 {
		t.Fatalf("amount %#v", rows[0][1])
	}
	rej := c.Rejects()
	if len(rej) != 1 {
		t.Fatalf("rejects %+v", rej)
	}
	r := rej[0]
	if !strings.Contains(r.Origin, "id=2") || !strings.Contains(r.Reason, "amount") || !strings.Contains(r.Reason, "18") ||
		!strings.Contains(r.Raw, "12345678901234567890.5") || r.Stream != "money" {
		t.Fatalf("reject %+v", r)
	}
	// An override the values cannot take is a reject too, not an error.
	st.Schema = map[string]connector.Type{"note": connector.TypeInt64}
	c = Read(t, o, st, nil, 10, 0)
	if len(c.Rows()) != 0 || len(c.Rejects()) != 3 {
		t.Fatalf("override: %d rows, %d rejects", len(c.Rows()), len(c.Rejects()))
	}
}

func testLimit(t *testing.T, o Options) {
	createEvents(t, o, "preview", 50)
	for _, mode := range []connector.SyncMode{connector.FullRefreshOverwrite, connector.IncrementalAppend} {
		st := connector.Stream{Name: "preview", SyncMode: mode, CursorField: "ts", PrimaryKey: []string{"id"}}
		if got := len(Read(t, o, st, nil, 7, 12).Rows()); got != 12 {
			t.Fatalf("%s: limit 12 read %d rows", mode, got)
		}
	}
}
