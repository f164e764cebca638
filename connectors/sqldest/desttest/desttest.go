// Package desttest is the conformance suite of SQL destinations built on
// sqldest: the round trip of every type under hostile names, each sync
// mode, state committed with the data, roll back, the overwrite swap, the
// dedup merge, schema policies, quarantine contents and the state store.
package desttest

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/tributary-data/tributary/connector"
	"github.com/tributary-data/tributary/connectors/sqldest"
	"github.com/tributary-data/tributary/connectors/sqlsource/sourcetest"
)

// Options describes the destination under test.
type Options struct {
	// Destination returns a destination; Source a source over the same
	// database, used to read tables back as SDK values.
	Destination func(t *testing.T) connector.Destination
	Source      func(t *testing.T) connector.Source
	// DB is the database, for reading the bookkeeping tables.
	DB *sql.DB
	// Table quotes a table name as the destination qualifies it.
	Table func(name string) string
	Quote func(name string) string
	// TimePrecision is what timestamps survive with; zero means exact.
	TimePrecision time.Duration
}

// Run runs every case.
func Run(t *testing.T, o Options) {
	t.Run("RoundTrip", func(t *testing.T) { testRoundTrip(t, o) })
	t.Run("Append", func(t *testing.T) { testAppend(t, o) })
	t.Run("RollBack", func(t *testing.T) { testRollBack(t, o) })
	t.Run("Overwrite", func(t *testing.T) { testOverwrite(t, o) })
	t.Run("OverwriteReaders", func(t *testing.T) { testOverwriteReaders(t, o) })
	t.Run("Dedup", func(t *testing.T) { testDedup(t, o) })
	t.Run("Evolve", func(t *testing.T) { testEvolve(t, o) })
	t.Run("EvolveMidCheckpoint", func(t *testing.T) { testEvolveMid(t, o) })
	t.Run("Freeze", func(t *testing.T) { testFreeze(t, o) })
	t.Run("Discard", func(t *testing.T) { testDiscard(t, o) })
	t.Run("Quarantine", func(t *testing.T) { testQuarantine(t, o) })
	t.Run("AllQuarantinedFirst", func(t *testing.T) { testAllQuarantinedFirst(t, o) })
	t.Run("ResetState", func(t *testing.T) { testResetState(t, o) })
}

var ctx = context.Background()

// Hostile names: quotes of every dialect, a semicolon, spaces, a reserved
// word and non-ASCII letters.
const (
	hostileStream = "Ordérs \"x\" `y` 'z'; drop table t"
	hostileCol    = "sélect `from` \"where\"; --"
)

var idName = connector.NewSchema(
	connector.Field{Name: "id", Type: connector.TypeInt64},
	connector.Field{Name: "name", Type: connector.TypeString, Nullable: true},
)

func batch(stream string, s *connector.Schema, rows ...[]any) *connector.Batch {
	b := connector.NewBatch(stream, s, len(rows))
	for i, r := range rows {
		row := b.NewRow()
		copy(row, r)
		b.Append(row)
		b.Origins = append(b.Origins, int64(i+1))
	}
	b.File = "in.csv"
	return b
}

func open(t *testing.T, d connector.Destination, load connector.Load) connector.Writer {
	t.Helper()
	if load.Pipeline == "" {
		load.Pipeline = "p1"
	}
	if load.RunID == "" {
		load.RunID = "run-1"
	}
	w, err := d.Open(ctx, load)
	if err != nil {
		t.Fatalf("open %s: %v", load.Stream, err)
	}
	return w
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// readTable reads a table back through the source, sorted by its first
// column.
func readTable(t *testing.T, o Options, table string) (*connector.Schema, [][]any) {
	t.Helper()
	c := sourcetest.Read(t, sourcetest.Options{Source: o.Source}, connector.Stream{Name: table, SyncMode: connector.FullRefreshAppend}, nil, 1000, 0)
	if len(c.Rejects()) > 0 {
		t.Fatalf("reading %s back: rejects %+v", table, c.Rejects())
	}
	rows := c.Rows()
	sort.SliceStable(rows, func(i, j int) bool { return less(rows[i][0], rows[j][0]) })
	var s *connector.Schema
	for _, e := range c.Events {
		if e.Batch != nil {
			s = e.Batch.Schema
		}
	}
	return s, rows
}

func less(a, b any) bool {
	switch x := a.(type) {
	case int64:
		y, _ := b.(int64)
		return x < y
	case string:
		y, _ := b.(string)
		return x < y
	}
	return false
}

func col(rows [][]any, i int) []any {
	out := make([]any, len(rows))
	for j, r := range rows {
		out[j] = r[i]
	}
	return out
}

func state(t *testing.T, d connector.Destination, pipeline string) map[string]json.RawMessage {
	t.Helper()
	ss, ok := d.(connector.StateStore)
	if !ok {
		t.Fatal("destination is not a StateStore")
	}
	st, err := ss.State(ctx, pipeline)
	must(t, err)
	return st
}

func testRoundTrip(t *testing.T, o Options) {
	s := connector.NewSchema(
		connector.Field{Name: "id", Type: connector.TypeInt64},
		connector.Field{Name: "b", Type: connector.TypeBool, Nullable: true},
		connector.Field{Name: "f", Type: connector.TypeFloat64, Nullable: true},
		connector.Field{Name: "dec", Type: connector.TypeDecimal, Nullable: true},
		connector.Field{Name: "s", Type: connector.TypeString, Nullable: true},
		connector.Field{Name: "bin", Type: connector.TypeBytes, Nullable: true},
		connector.Field{Name: "d", Type: connector.TypeDate, Nullable: true},
		connector.Field{Name: "ts", Type: connector.TypeTimestamp, Nullable: true},
		connector.Field{Name: "doc", Type: connector.TypeJSON, Nullable: true},
		connector.Field{Name: hostileCol, Type: connector.TypeString, Nullable: true},
	)
	ts := time.Date(2024, 2, 29, 23, 59, 58, 123456789, time.UTC)
	if o.TimePrecision > 0 {
		ts = ts.Truncate(o.TimePrecision)
	}
	rows := [][]any{
		{int64(1), true, 1.5, connector.Decimal{Unscaled: -12345678901234567, Scale: 4}, "héllo \"wörld\" 🌊", []byte{0, 1, 255},
			time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC), ts, map[string]any{"a": []any{1.0, "x", nil}, "b": true}, "x"},
		{int64(2), false, -math.MaxFloat64, connector.Decimal{Unscaled: 5, Scale: 0}, "", []byte{},
			time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(1999, 12, 31, 23, 59, 59, 0, time.UTC), []any{}, ""},
		{int64(3), nil, nil, nil, nil, nil, nil, nil, nil, nil},
		{int64(math.MaxInt64), true, 0.0, connector.Decimal{Unscaled: 999999999999999999, Scale: 18}, "line\nbreak\ttab\\", []byte("x"),
			time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC), time.Date(2038, 1, 19, 3, 14, 8, 0, time.UTC), "just a string", "y"},
	}
	d := o.Destination(t)
	w := open(t, d, connector.Load{Stream: hostileStream, Schema: s, SyncMode: connector.FullRefreshAppend})
	must(t, w.Write(ctx, batch(hostileStream, s, rows...)))
	must(t, w.Commit(ctx, json.RawMessage(`{"n":1}`)))
	must(t, w.Close(ctx, true))
	got, back := readTable(t, o, hostileStream)
	if !slices.Equal(got.Names(), s.Names()) {
		t.Fatalf("columns %v", got.Names())
	}
	for i, f := range got.Fields {
		if f.Type != s.Fields[i].Type {
			t.Errorf("column %q read back as %s, written as %s", f.Name, f.Type, s.Fields[i].Type)
		}
	}
	if len(back) != len(rows) {
		t.Fatalf("%d rows back, want %d", len(back), len(rows))
	}
	for i := range rows {
		for j := range rows[i] {
			if !Equal(back[i][j], rows[i][j]) {
				t.Errorf("row %d %s: got %#v, want %#v", i, s.Fields[j].Name, back[i][j], rows[i][j])
			}
		}
	}
	if st := state(t, d, "p1")[hostileStream]; string(st) != `{"n":1}` {
		t.Errorf("state %s", st)
	}
}

// Equal compares SDK values the way a round trip must keep them.
func Equal(a, b any) bool {
	switch x := b.(type) {
	case connector.Decimal:
		y, ok := a.(connector.Decimal)
		return ok && x.Cmp(y) == 0
	case time.Time:
		y, ok := a.(time.Time)
		return ok && x.Equal(y) && y.Location() == time.UTC
	case []byte:
		y, ok := a.([]byte)
		return ok && string(x) == string(y)
	}
	return reflect.DeepEqual(a, b)
}

func testAppend(t *testing.T, o Options) {
	d := o.Destination(t)
	for run, mode := range []connector.SyncMode{connector.FullRefreshAppend, connector.IncrementalAppend} {
		w := open(t, d, connector.Load{Stream: "appended", Schema: idName, SyncMode: mode})
		must(t, w.Write(ctx, batch("appended", idName, []any{int64(1), "a"}, []any{int64(2), nil})))
		must(t, w.Commit(ctx, json.RawMessage(fmt.Sprintf(`{"run":%d}`, run))))
		must(t, w.Write(ctx, batch("appended", idName, []any{int64(3), "c"})))
		must(t, w.Commit(ctx, json.RawMessage(fmt.Sprintf(`{"run":%d,"more":true}`, run))))
		must(t, w.Close(ctx, true))
	}
	_, rows := readTable(t, o, "appended")
	if got := col(rows, 0); !reflect.DeepEqual(got, []any{int64(1), int64(1), int64(2), int64(2), int64(3), int64(3)}) {
		t.Fatalf("ids %v", got)
	}
	if st := state(t, d, "p1")["appended"]; string(st) != `{"run":1,"more":true}` {
		t.Fatalf("state %s", st)
	}
}

func testRollBack(t *testing.T, o Options) {
	d := o.Destination(t)
	w := open(t, d, connector.Load{Stream: "rolled", Schema: idName, SyncMode: connector.IncrementalAppend})
	must(t, w.Write(ctx, batch("rolled", idName, []any{int64(1), "kept"})))
	must(t, w.Quarantine(ctx, []connector.Reject{{Origin: "in.csv:9", Raw: "kept reject", Reason: "bad"}}))
	must(t, w.Commit(ctx, json.RawMessage(`{"pos":1}`)))
	must(t, w.Write(ctx, batch("rolled", idName, []any{int64(2), "lost"})))
	must(t, w.Quarantine(ctx, []connector.Reject{{Origin: "in.csv:10", Raw: "lost reject", Reason: "bad"}}))
	must(t, w.Close(ctx, false))
	_, rows := readTable(t, o, "rolled")
	if got := col(rows, 0); !reflect.DeepEqual(got, []any{int64(1)}) {
		t.Fatalf("ids %v, want only the committed row", got)
	}
	if st := state(t, d, "p1")["rolled"]; string(st) != `{"pos":1}` {
		t.Fatalf("state %s", st)
	}
	raws := quarantine(t, o, "rolled")
	if len(raws) != 1 || raws[0]["raw"] != "kept reject" {
		t.Fatalf("quarantine %v", raws)
	}
}

func quarantine(t *testing.T, o Options, stream string) []map[string]string {
	t.Helper()
	q := o.Quote
	rows, err := o.DB.Query(fmt.Sprintf("SELECT %s, %s, %s, %s, %s, %s, %s FROM %s WHERE %s = '%s' ORDER BY %s",
		q("run_id"), q("pipeline"), q("origin"), q("raw"), q("reason"), q("step"), q("at"), o.Table(sqldest.QuarantineTable),
		q("stream"), strings.ReplaceAll(stream, "'", "''"), q("origin")))
	must(t, err)
	defer rows.Close()
	var out []map[string]string
	for rows.Next() {
		var run, pipe, origin, raw, reason, step sql.NullString
		var at any
		must(t, rows.Scan(&run, &pipe, &origin, &raw, &reason, &step, &at))
		if at == nil {
			t.Error("quarantine row without a time")
		}
		out = append(out, map[string]string{"run_id": run.String, "pipeline": pipe.String, "origin": origin.String,
			"raw": raw.String, "reason": reason.String, "step": step.String})
	}
	must(t, rows.Err())
	return out
}

func testOverwrite(t *testing.T, o Options) {
	d := o.Destination(t)
	w := open(t, d, connector.Load{Stream: "swapped", Schema: idName, SyncMode: connector.FullRefreshOverwrite})
	must(t, w.Write(ctx, batch("swapped", idName, []any{int64(1), "old"}, []any{int64(2), "old"})))
	must(t, w.Commit(ctx, json.RawMessage(`{"done":true}`)))
	must(t, w.Close(ctx, true))

	// A second refresh stays invisible until Close(ok), even across commits.
	w = open(t, d, connector.Load{Stream: "swapped", Schema: idName, SyncMode: connector.FullRefreshOverwrite})
	must(t, w.Write(ctx, batch("swapped", idName, []any{int64(7), "new"})))
	must(t, w.Commit(ctx, json.RawMessage(`{"pk":[7]}`)))
	if _, rows := readTable(t, o, "swapped"); len(rows) != 2 || rows[0][1] != "old" {
		t.Fatalf("mid-refresh readers see %v", rows)
	}
	if st := state(t, d, "p1")["swapped"]; string(st) != `{"done":true}` {
		t.Fatalf("mid-refresh state %s", st)
	}
	// A failed refresh leaves the old table and state alone.
	must(t, w.Close(ctx, false))
	if _, rows := readTable(t, o, "swapped"); len(rows) != 2 {
		t.Fatalf("after failed refresh: %v", rows)
	}

	s2 := connector.NewSchema(connector.Field{Name: "id", Type: connector.TypeInt64}, connector.Field{Name: "other", Type: connector.TypeFloat64, Nullable: true})
	w = open(t, d, connector.Load{Stream: "swapped", Schema: s2, SyncMode: connector.FullRefreshOverwrite})
	must(t, w.Write(ctx, batch("swapped", s2, []any{int64(8), 0.5}, []any{int64(9), nil})))
	must(t, w.Commit(ctx, json.RawMessage(`{"pk":[9]}`)))
	must(t, w.Write(ctx, batch("swapped", s2, []any{int64(10), 1.5})))
	must(t, w.Commit(ctx, json.RawMessage(`{"done":true,"n":3}`)))
	must(t, w.Close(ctx, true))
	got, rows := readTable(t, o, "swapped")
	if !slices.Equal(got.Names(), []string{"id", "other"}) || !reflect.DeepEqual(col(rows, 0), []any{int64(8), int64(9), int64(10)}) {
		t.Fatalf("after swap: %v %v", got.Names(), rows)
	}
	if st := state(t, d, "p1")["swapped"]; string(st) != `{"done":true,"n":3}` {
		t.Fatalf("state after swap %s", st)
	}
}

func testDedup(t *testing.T, o Options) {
	s := connector.NewSchema(
		connector.Field{Name: "k", Type: connector.TypeString},
		connector.Field{Name: "n", Type: connector.TypeInt64},
		connector.Field{Name: "v", Type: connector.TypeString, Nullable: true},
	)
	d := o.Destination(t)
	load := connector.Load{Stream: "merged", Schema: s, SyncMode: connector.IncrementalDedup, PrimaryKey: []string{"k", "n"}, CursorField: "v"}
	w := open(t, d, load)
	must(t, w.Write(ctx, batch("merged", s,
		[]any{"a", int64(1), "v1"}, []any{"b", int64(1), "v1"}, []any{"a", int64(1), "v2"}, []any{"a", int64(2), "v1"}, []any{"a", int64(1), "v3"})))
	must(t, w.Commit(ctx, json.RawMessage(`{"c":1}`)))
	// Across batches: a newer cursor replaces, an older one does not, a
	// null key part is quarantined.
	must(t, w.Write(ctx, batch("merged", s, []any{"b", int64(1), "v9"}, []any{"a", int64(2), "v0"}, []any{nil, int64(5), "v1"})))
	must(t, w.Commit(ctx, json.RawMessage(`{"c":2}`)))
	must(t, w.Close(ctx, true))
	_, rows := readTable(t, o, "merged")
	want := [][]any{{"a", int64(1), "v3"}, {"a", int64(2), "v1"}, {"b", int64(1), "v9"}}
	sort.SliceStable(rows, func(i, j int) bool { return fmt.Sprint(rows[i]) < fmt.Sprint(rows[j]) })
	if !reflect.DeepEqual(rows, want) {
		t.Fatalf("merged rows %v, want %v", rows, want)
	}
	q := quarantine(t, o, "merged")
	if len(q) != 1 || q[0]["step"] != "load" || !strings.Contains(q[0]["reason"], `"k"`) || q[0]["origin"] != "in.csv:3" {
		t.Fatalf("quarantine %v", q)
	}
}

func testEvolve(t *testing.T, o Options) {
	d := o.Destination(t)
	w := open(t, d, connector.Load{Stream: "evolving", Schema: idName, SyncMode: connector.IncrementalAppend, SchemaPolicy: connector.SchemaEvolve})
	must(t, w.Write(ctx, batch("evolving", idName, []any{int64(1), "a"})))
	must(t, w.Commit(ctx, json.RawMessage(`{"c":1}`)))
	// id widens to float64, a column is added, name is left out.
	s2 := connector.NewSchema(
		connector.Field{Name: "id", Type: connector.TypeFloat64},
		connector.Field{Name: "extra " + hostileCol, Type: connector.TypeTimestamp, Nullable: true},
	)
	ts := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	must(t, w.Write(ctx, batch("evolving", s2, []any{2.5, ts})))
	must(t, w.Commit(ctx, json.RawMessage(`{"c":2}`)))
	// An int64 id still loads into the now float64 column.
	must(t, w.Write(ctx, batch("evolving", idName, []any{int64(3), "c"})))
	must(t, w.Commit(ctx, json.RawMessage(`{"c":3}`)))
	must(t, w.Close(ctx, true))
	got, rows := readTable(t, o, "evolving")
	if !slices.Equal(got.Names(), []string{"id", "name", "extra " + hostileCol}) || got.Fields[0].Type != connector.TypeFloat64 {
		t.Fatalf("schema %+v", got.Fields)
	}
	want := [][]any{{1.0, "a", nil}, {2.5, nil, ts}, {3.0, "c", nil}}
	for i := range want {
		for j := range want[i] {
			if !Equal(rows[i][j], want[i][j]) {
				t.Fatalf("rows %v, want %v", rows, want)
			}
		}
	}
}

// testEvolveMid changes the schema while the checkpoint's transaction holds
// uncommitted rows: where DDL commits implicitly the writer must not let
// them through without the state, nor lose them.
func testEvolveMid(t *testing.T, o Options) {
	d := o.Destination(t)
	w := open(t, d, connector.Load{Stream: "midway", Schema: idName, SyncMode: connector.IncrementalAppend})
	must(t, w.Write(ctx, batch("midway", idName, []any{int64(1), "a"})))
	must(t, w.Quarantine(ctx, []connector.Reject{{Origin: "x:1", Raw: "r1", Reason: "bad"}}))
	s2 := connector.NewSchema(idName.Fields[0], idName.Fields[1], connector.Field{Name: "added", Type: connector.TypeBool, Nullable: true})
	must(t, w.Write(ctx, batch("midway", s2, []any{int64(2), "b", true})))
	must(t, w.Commit(ctx, json.RawMessage(`{"c":1}`)))
	must(t, w.Write(ctx, batch("midway", idName, []any{int64(3), "lost"})))
	s3 := connector.NewSchema(idName.Fields[0], connector.Field{Name: "later", Type: connector.TypeInt64, Nullable: true})
	must(t, w.Write(ctx, batch("midway", s3, []any{int64(4), int64(4)})))
	must(t, w.Close(ctx, false))
	_, rows := readTable(t, o, "midway")
	if got := col(rows, 0); !reflect.DeepEqual(got, []any{int64(1), int64(2)}) {
		t.Fatalf("ids %v, want 1 and 2 exactly once", got)
	}
	if rows[1][2] != true {
		t.Fatalf("row 2 %v", rows[1])
	}
	if q := quarantine(t, o, "midway"); len(q) != 1 {
		t.Fatalf("quarantine %v", q)
	}
	if st := state(t, d, "p1")["midway"]; string(st) != `{"c":1}` {
		t.Fatalf("state %s", st)
	}
}

func testFreeze(t *testing.T, o Options) {
	d := o.Destination(t)
	w := open(t, d, connector.Load{Stream: "frozen", Schema: idName, SyncMode: connector.FullRefreshAppend, SchemaPolicy: connector.SchemaFreeze})
	must(t, w.Write(ctx, batch("frozen", idName, []any{int64(1), "a"})))
	must(t, w.Commit(ctx, nil))
	s2 := connector.NewSchema(idName.Fields[0], connector.Field{Name: "new", Type: connector.TypeString})
	if err := w.Write(ctx, batch("frozen", s2, []any{int64(2), "x"})); !errors.Is(err, sqldest.ErrSchemaFrozen) {
		t.Fatalf("new column under freeze: %v", err)
	}
	s3 := connector.NewSchema(connector.Field{Name: "id", Type: connector.TypeString})
	if err := w.Write(ctx, batch("frozen", s3, []any{"x"})); !errors.Is(err, sqldest.ErrSchemaFrozen) {
		t.Fatalf("type change under freeze: %v", err)
	}
	must(t, w.Close(ctx, false))
	if got, rows := readTable(t, o, "frozen"); len(got.Fields) != 2 || len(rows) != 1 {
		t.Fatalf("frozen table changed: %v %v", got.Names(), rows)
	}
}

func testDiscard(t *testing.T, o Options) {
	d := o.Destination(t)
	w := open(t, d, connector.Load{Stream: "discarding", Schema: idName, SyncMode: connector.FullRefreshAppend, SchemaPolicy: connector.SchemaDiscard})
	must(t, w.Write(ctx, batch("discarding", idName, []any{int64(1), "a"})))
	s2 := connector.NewSchema(idName.Fields[0], connector.Field{Name: "new", Type: connector.TypeString}, idName.Fields[1])
	must(t, w.Write(ctx, batch("discarding", s2, []any{int64(2), "dropped", "b"})))
	// A type the column cannot take under discard: the row is quarantined.
	s3 := connector.NewSchema(connector.Field{Name: "id", Type: connector.TypeString}, idName.Fields[1])
	must(t, w.Write(ctx, batch("discarding", s3, []any{"4", "d"}, []any{"not a number", "e"})))
	must(t, w.Commit(ctx, json.RawMessage(`{}`)))
	must(t, w.Close(ctx, true))
	got, rows := readTable(t, o, "discarding")
	if !slices.Equal(got.Names(), []string{"id", "name"}) {
		t.Fatalf("schema %v", got.Names())
	}
	if want := [][]any{{int64(1), "a"}, {int64(2), "b"}, {int64(4), "d"}}; !reflect.DeepEqual(rows, want) {
		t.Fatalf("rows %v", rows)
	}
	q := quarantine(t, o, "discarding")
	if len(q) != 1 || !strings.Contains(q[0]["raw"], "not a number") || !strings.Contains(q[0]["reason"], `"id"`) {
		t.Fatalf("quarantine %v", q)
	}
}

func testQuarantine(t *testing.T, o Options) {
	d := o.Destination(t)
	w := open(t, d, connector.Load{Pipeline: "pq", RunID: "run-42", Stream: hostileStream + " q", Schema: idName, SyncMode: connector.IncrementalAppend})
	at := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	var rejects []connector.Reject
	for i := range 1200 {
		rejects = append(rejects, connector.Reject{Origin: fmt.Sprintf("f.csv:%05d", i), Raw: "a,\"b\n;'c`", Reason: "column \"x\": not an integer", Step: "read", At: at})
	}
	must(t, w.Quarantine(ctx, rejects))
	must(t, w.Commit(ctx, json.RawMessage(`{}`)))
	must(t, w.Close(ctx, true))
	q := quarantine(t, o, hostileStream+" q")
	if len(q) != 1200 {
		t.Fatalf("%d quarantined, want 1200", len(q))
	}
	want := map[string]string{"run_id": "run-42", "pipeline": "pq", "origin": "f.csv:00000", "raw": "a,\"b\n;'c`", "reason": "column \"x\": not an integer", "step": "read"}
	if !reflect.DeepEqual(q[0], want) {
		t.Fatalf("quarantine row %v, want %v", q[0], want)
	}
}

// testAllQuarantinedFirst opens streams whose first rows were all
// quarantined, so the engine knows no schema yet: the table waits for the
// first row that arrives, and an overwrite that gets none leaves the
// target empty.
func testAllQuarantinedFirst(t *testing.T, o Options) {
	d := o.Destination(t)
	bad := []connector.Reject{{Origin: "m:1", Raw: "{", Reason: "not JSON", Step: "read", At: time.Now().UTC()}}
	empty := &connector.Schema{}

	w := open(t, d, connector.Load{Pipeline: "pe", Stream: "late", Schema: empty, SyncMode: connector.IncrementalAppend})
	must(t, w.Quarantine(ctx, bad))
	must(t, w.Commit(ctx, json.RawMessage(`{"n":1}`)))
	must(t, w.Write(ctx, batch("late", idName, []any{int64(1), "a"}, []any{int64(2), "b"})))
	must(t, w.Commit(ctx, json.RawMessage(`{"n":2}`)))
	must(t, w.Close(ctx, true))
	if _, rows := readTable(t, o, "late"); len(rows) != 2 {
		t.Fatalf("late table rows %v, want 2", rows)
	}
	if q := quarantine(t, o, "late"); len(q) != 1 {
		t.Fatalf("%d quarantined, want 1", len(q))
	}

	w = open(t, d, connector.Load{Pipeline: "pe", Stream: "late", Schema: empty, SyncMode: connector.FullRefreshOverwrite})
	must(t, w.Quarantine(ctx, bad))
	must(t, w.Commit(ctx, json.RawMessage(`{"n":3}`)))
	must(t, w.Close(ctx, true))
	if _, rows := readTable(t, o, "late"); len(rows) != 0 {
		t.Fatalf("after an overwrite with no rows the table holds %v", rows)
	}
}

func testResetState(t *testing.T, o Options) {
	d := o.Destination(t)
	for _, s := range []string{"s1", "s2", "s3"} {
		w := open(t, d, connector.Load{Pipeline: "reset", Stream: s, Schema: idName, SyncMode: connector.IncrementalAppend})
		must(t, w.Commit(ctx, json.RawMessage(`{"s":"`+s+`"}`)))
		must(t, w.Close(ctx, true))
	}
	ss := d.(connector.StateStore)
	must(t, ss.ResetState(ctx, "reset", "s1"))
	if st := state(t, d, "reset"); len(st) != 2 || st["s1"] != nil || string(st["s2"]) != `{"s":"s2"}` {
		t.Fatalf("after reset of s1: %v", st)
	}
	must(t, ss.ResetState(ctx, "reset"))
	if st := state(t, d, "reset"); len(st) != 0 {
		t.Fatalf("after reset of all: %v", st)
	}
	if st := state(t, d, "unknown pipeline"); len(st) != 0 {
		t.Fatalf("unknown pipeline: %v", st)
	}
}

// testOverwriteReaders counts the target's rows without pause while
// refreshes swap it: every count must be a whole old or new table.
func testOverwriteReaders(t *testing.T, o Options) {
	d := o.Destination(t)
	refresh := func(n int) {
		w := open(t, d, connector.Load{Stream: "watched", Schema: idName, SyncMode: connector.FullRefreshOverwrite})
		rows := make([][]any, n)
		for i := range rows {
			rows[i] = []any{int64(i), "x"}
		}
		must(t, w.Write(ctx, batch("watched", idName, rows...)))
		must(t, w.Commit(ctx, json.RawMessage(`{"done":true}`)))
		must(t, w.Close(ctx, true))
	}
	refresh(100)
	stop := make(chan struct{})
	seen := make(chan map[int]int, 1)
	errs := make(chan error, 1)
	go func() {
		counts := map[int]int{}
		defer func() { seen <- counts }()
		for {
			select {
			case <-stop:
				return
			default:
			}
			var n int
			if err := o.DB.QueryRow("SELECT COUNT(*) FROM " + o.Table("watched")).Scan(&n); err != nil {
				errs <- err
				return
			}
			counts[n]++
		}
	}()
	for i := range 6 {
		refresh(200 + 100*(i%2))
	}
	close(stop)
	counts := <-seen
	select {
	case err := <-errs:
		t.Fatalf("reader failed during a swap: %v", err)
	default:
	}
	for n := range counts {
		if n != 100 && n != 200 && n != 300 {
			t.Fatalf("a reader saw %d rows: counts %v", n, counts)
		}
	}
	if len(counts) == 0 {
		t.Fatal("the reader never read")
	}
}
