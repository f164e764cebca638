// Package sinktest is the conformance suite every file destination built on
// filesink runs: sync modes, schema policies, quarantine, crash recovery,
// the overwrite swap, the dedup merge, hostile stream names and the round
// trip of every SDK type.
package sinktest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"math"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tributary-data/tributary/connector"
	"github.com/tributary-data/tributary/connectors/filesink"
	"github.com/tributary-data/tributary/connectors/location"
)

// Options describes what a format cannot keep exactly.
type Options struct {
	Format filesink.Format
	// TimePrecision is the resolution timestamps survive with (parquet
	// keeps microseconds); zero means nanoseconds.
	TimePrecision time.Duration
	// EmptyIsNull is set when the format cannot tell an empty string or
	// byte slice from null.
	EmptyIsNull bool
	// Dir makes an empty destination directory for one test: a local
	// path (nil means t.TempDir) or an s3:// or sftp:// URL reached with
	// Locations.
	Dir       func(t *testing.T) string
	Locations location.Options

	r *location.Resolver
}

func (o Options) dir(t *testing.T) string {
	if o.Dir == nil {
		return t.TempDir()
	}
	return o.Dir(t)
}

// fsOf resolves loc, a path or URL the destination reported.
func fsOf(t *testing.T, o Options, loc string) (location.FS, string) {
	t.Helper()
	f, p, err := o.r.Resolve(context.Background(), loc)
	if err != nil {
		t.Fatal(err)
	}
	return f, p
}

// Run runs the whole suite against o.Format.
func Run(t *testing.T, o Options) {
	o.r = location.NewResolver(o.Locations)
	t.Cleanup(func() { o.r.Close() })
	t.Run("SyncModes", func(t *testing.T) { testSyncModes(t, o) })
	t.Run("SchemaPolicies", func(t *testing.T) { testSchemaPolicies(t, o) })
	t.Run("Quarantine", func(t *testing.T) { testQuarantine(t, o) })
	t.Run("Crash", func(t *testing.T) { testCrash(t, o) })
	t.Run("RollBack", func(t *testing.T) { testRollBack(t, o) })
	t.Run("OverwriteVisibility", func(t *testing.T) { testOverwriteVisibility(t, o) })
	t.Run("DedupMerge", func(t *testing.T) { testDedup(t, o) })
	t.Run("DedupCursor", func(t *testing.T) { testDedupCursor(t, o) })
	t.Run("HostileNames", func(t *testing.T) { testHostileNames(t, o) })
	t.Run("RoundTrip", func(t *testing.T) { testRoundTrip(t, o) })
	t.Run("ResetState", func(t *testing.T) { testResetState(t, o) })
}

var idName = connector.NewSchema(
	connector.Field{Name: "id", Type: connector.TypeInt64},
	connector.Field{Name: "name", Type: connector.TypeString, Nullable: true},
)

// batch builds a batch of (id, name) rows.
func batch(stream string, schema *connector.Schema, rows ...[]any) *connector.Batch {
	b := connector.NewBatch(stream, schema, len(rows))
	for _, r := range rows {
		row := b.NewRow()
		copy(row, r)
		b.Append(row)
	}
	return b
}

func idRows(from, to int, name string) [][]any {
	var out [][]any
	for i := from; i <= to; i++ {
		out = append(out, []any{int64(i), name})
	}
	return out
}

func newDest(t *testing.T, o Options, dir string) *filesink.Destination {
	t.Helper()
	d, err := filesink.NewAt(dir, o.Format, o.Locations)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// load runs one complete load of rows (one batch per element) with a
// commit after each batch, and publishes it.
func load(t *testing.T, d *filesink.Destination, l connector.Load, batches ...[][]any) {
	t.Helper()
	ctx := context.Background()
	w, err := d.Open(ctx, l)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	for i, rows := range batches {
		if err := w.Write(ctx, batch(l.Stream, l.Schema, rows...)); err != nil {
			t.Fatalf("write: %v", err)
		}
		if err := w.Commit(ctx, state(i)); err != nil {
			t.Fatalf("commit: %v", err)
		}
	}
	if err := w.Close(ctx, true); err != nil {
		t.Fatalf("close: %v", err)
	}
}

func state(i int) json.RawMessage {
	b, _ := json.Marshal(map[string]int{"offset": i})
	return b
}

// read returns the committed rows of stream, copied.
func read(t *testing.T, o Options, dir, stream string) (*connector.Schema, [][]any) {
	t.Helper()
	var schema *connector.Schema
	var rows [][]any
	err := filesink.ReadIn(context.Background(), o.r, dir, stream, o.Format, func(s *connector.Schema, row []any) error {
		schema = s
		rows = append(rows, slices.Clone(row))
		return nil
	})
	if err != nil {
		t.Fatalf("read %s: %v", stream, err)
	}
	return schema, rows
}

func ids(rows [][]any) []int64 {
	out := make([]int64, len(rows))
	for i, r := range rows {
		out[i], _ = r[0].(int64)
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

func testSyncModes(t *testing.T, o Options) {
	tests := []struct {
		mode  connector.SyncMode
		runs  [][][][]any // per run, the batches
		want  []int64
		names map[int64]string
	}{
		{mode: connector.FullRefreshAppend, runs: [][][][]any{{idRows(1, 3, "a")}, {idRows(1, 3, "b")}}, want: []int64{1, 2, 3, 1, 2, 3}},
		{mode: connector.IncrementalAppend, runs: [][][][]any{{idRows(1, 2, "a"), idRows(3, 4, "a")}, {idRows(5, 6, "b")}}, want: seq(1, 6)},
		{mode: connector.FullRefreshOverwrite, runs: [][][][]any{{idRows(1, 5, "a")}, {idRows(1, 2, "b"), idRows(3, 3, "b")}}, want: seq(1, 3), names: map[int64]string{1: "b", 3: "b"}},
		{mode: connector.IncrementalDedup, runs: [][][][]any{{idRows(1, 5, "a")}, {idRows(4, 7, "b")}}, want: seq(1, 7), names: map[int64]string{1: "a", 4: "b", 7: "b"}},
	}
	for _, tc := range tests {
		t.Run(string(tc.mode), func(t *testing.T) {
			dir := o.dir(t)
			d := newDest(t, o, dir)
			l := connector.Load{Pipeline: "p", RunID: "r1", Stream: "s", Schema: idName, SyncMode: tc.mode, PrimaryKey: []string{"id"}}
			for _, run := range tc.runs {
				load(t, d, l, run...)
			}
			_, rows := read(t, o, dir, "s")
			got := ids(rows)
			if tc.mode == connector.IncrementalDedup {
				slices.Sort(got)
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("ids = %v, want %v", got, tc.want)
			}
			for _, r := range rows {
				if want, ok := tc.names[r[0].(int64)]; ok && r[1] != want {
					t.Errorf("id %d: name = %v, want %q", r[0], r[1], want)
				}
			}
			n, err := filesink.RowsIn(context.Background(), o.r, dir, "s")
			if err != nil || n != int64(len(tc.want)) {
				t.Errorf("Rows = %d, %v; want %d", n, err, len(tc.want))
			}
			st, err := d.State(context.Background(), "p")
			if err != nil {
				t.Fatal(err)
			}
			if want := state(len(tc.runs[len(tc.runs)-1]) - 1); string(st["s"]) != string(want) {
				t.Errorf("state = %s, want %s", st["s"], want)
			}
		})
	}
}

func testSchemaPolicies(t *testing.T, o Options) {
	wide := connector.NewSchema(
		connector.Field{Name: "id", Type: connector.TypeInt64},
		connector.Field{Name: "name", Type: connector.TypeString, Nullable: true},
		connector.Field{Name: "extra col", Type: connector.TypeFloat64, Nullable: true},
	)
	retyped := connector.NewSchema(
		connector.Field{Name: "id", Type: connector.TypeFloat64},
		connector.Field{Name: "name", Type: connector.TypeString, Nullable: true},
	)
	tests := []struct {
		policy    connector.SchemaPolicy
		second    *connector.Schema
		row       []any
		wantErr   string // substring of the write error
		wantCols  []string
		wantTypes []connector.Type
		wantLast  []any
	}{
		{policy: connector.SchemaEvolve, second: wide, row: []any{int64(3), "c", 1.5},
			wantCols: []string{"id", "name", "extra col"}, wantLast: []any{int64(3), "c", 1.5}},
		{policy: connector.SchemaFreeze, second: wide, row: []any{int64(3), "c", 1.5}, wantErr: `"extra col"`},
		{policy: connector.SchemaDiscard, second: wide, row: []any{int64(3), "c", 1.5},
			wantCols: []string{"id", "name"}, wantLast: []any{int64(3), "c"}},
		{policy: connector.SchemaEvolve, second: retyped, row: []any{2.5, "c"},
			wantCols: []string{"id", "name"}, wantTypes: []connector.Type{connector.TypeFloat64, connector.TypeString}, wantLast: []any{2.5, "c"}},
		{policy: connector.SchemaFreeze, second: retyped, row: []any{2.5, "c"}, wantErr: `"id"`},
	}
	for _, tc := range tests {
		t.Run(string(tc.policy)+"/"+strings.Join(tc.second.Names(), ","), func(t *testing.T) {
			ctx := context.Background()
			dir := o.dir(t)
			d := newDest(t, o, dir)
			l := connector.Load{Pipeline: "p", RunID: "r", Stream: "s", Schema: idName, SyncMode: connector.IncrementalAppend, SchemaPolicy: tc.policy}
			w, err := d.Open(ctx, l)
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close(ctx, false)
			if err := w.Write(ctx, batch("s", idName, idRows(1, 2, "a")...)); err != nil {
				t.Fatal(err)
			}
			err = w.Write(ctx, batch("s", tc.second, tc.row))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("write error = %v, want one naming %s", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if err := w.Commit(ctx, state(0)); err != nil {
				t.Fatal(err)
			}
			if err := w.Close(ctx, true); err != nil {
				t.Fatal(err)
			}
			schema, rows := read(t, o, dir, "s")
			if got := schema.Names(); !slices.Equal(got, tc.wantCols) {
				t.Fatalf("columns = %q, want %q", got, tc.wantCols)
			}
			for i, typ := range tc.wantTypes {
				if schema.Fields[i].Type != typ {
					t.Errorf("column %q type = %s, want %s", schema.Fields[i].Name, schema.Fields[i].Type, typ)
				}
			}
			if len(rows) != 3 {
				t.Fatalf("rows = %d, want 3", len(rows))
			}
			if !reflect.DeepEqual(rows[2], tc.wantLast) {
				t.Errorf("last row = %#v, want %#v", rows[2], tc.wantLast)
			}
			if len(rows[0]) == 3 && rows[0][2] != nil {
				t.Errorf("first row's new column = %v, want nil", rows[0][2])
			}
			if tc.wantTypes != nil && rows[0][0] != 1.0 {
				t.Errorf("widened first id = %#v, want 1.0", rows[0][0])
			}
		})
	}
}

func readQuarantine(t *testing.T, o Options, path string) []filesink.QuarantineRecord {
	t.Helper()
	fsys, p := fsOf(t, o, path)
	b, err := fsys.ReadFile(context.Background(), p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var out []filesink.QuarantineRecord
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		var r filesink.QuarantineRecord
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("quarantine line %q: %v", sc.Text(), err)
		}
		out = append(out, r)
	}
	return out
}

func testQuarantine(t *testing.T, o Options) {
	ctx := context.Background()
	dir := o.dir(t)
	d := newDest(t, o, dir)
	at := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	rejects := []connector.Reject{
		{RunID: "r1", Stream: "s", Origin: "in.csv:7", Raw: "1,\"broken", Reason: `field "name": unterminated quote`, Step: "read", At: at},
		{Origin: "in.csv:9", Raw: "x\ty\n", Reason: `field "id": not an integer`, Step: "read"},
	}
	w, err := d.Open(ctx, connector.Load{Pipeline: "p", RunID: "r1", Stream: "s", Schema: idName, SyncMode: connector.IncrementalAppend})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Quarantine(ctx, rejects); err != nil {
		t.Fatal(err)
	}
	if err := w.Commit(ctx, state(0)); err != nil {
		t.Fatal(err)
	}
	// Rejects after the last commit belong to no committed state.
	if err := w.Quarantine(ctx, rejects[:1]); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(ctx, true); err != nil {
		t.Fatal(err)
	}
	got := readQuarantine(t, o, d.QuarantinePath("s"))
	if len(got) != 2 {
		t.Fatalf("quarantine has %d records, want 2: %+v", len(got), got)
	}
	tests := []struct{ field, got, want string }{
		{"run_id", got[0].RunID, "r1"},
		{"run_id default", got[1].RunID, "r1"},
		{"stream default", got[1].Stream, "s"},
		{"pipeline", got[0].Pipeline, "p"},
		{"origin", got[0].Origin, "in.csv:7"},
		{"raw", got[0].Raw, "1,\"broken"},
		{"raw with control characters", got[1].Raw, "x\ty\n"},
		{"reason", got[1].Reason, `field "id": not an integer`},
		{"step", got[0].Step, "read"},
		{"at", got[0].At.Format(time.RFC3339), "2024-05-06T07:08:09Z"},
	}
	for _, tc := range tests {
		if tc.got != tc.want {
			t.Errorf("%s = %q, want %q", tc.field, tc.got, tc.want)
		}
	}
	if got[1].At.IsZero() {
		t.Error("at of a reject without time is zero")
	}
}

func listDir(t *testing.T, o Options, dir string) []string {
	t.Helper()
	fsys, p := fsOf(t, o, dir)
	entries, err := fsys.ReadDir(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		out = append(out, e.Name)
	}
	return out
}

func testCrash(t *testing.T, o Options) {
	modes := []connector.SyncMode{connector.IncrementalAppend, connector.FullRefreshOverwrite, connector.IncrementalDedup}
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			ctx := context.Background()
			dir := o.dir(t)
			d := newDest(t, o, dir)
			l := connector.Load{Pipeline: "p", RunID: "r0", Stream: "s", Schema: idName, SyncMode: mode, PrimaryKey: []string{"id"}}
			load(t, d, l, idRows(100, 101, "old"))

			l.RunID = "r1"
			w, err := d.Open(ctx, l)
			if err != nil {
				t.Fatal(err)
			}
			steps := []struct {
				rows   [][]any
				commit json.RawMessage
			}{
				{idRows(1, 3, "a"), nil},
				{idRows(4, 5, "a"), json.RawMessage(`{"offset":5}`)},
				{idRows(6, 8, "a"), json.RawMessage(`{"offset":8}`)},
				{idRows(9, 12, "lost"), nil},
			}
			for _, s := range steps {
				if err := w.Write(ctx, batch("s", idName, s.rows...)); err != nil {
					t.Fatal(err)
				}
				if s.commit != nil {
					if err := w.Commit(ctx, s.commit); err != nil {
						t.Fatal(err)
					}
				}
			}
			if err := w.Quarantine(ctx, []connector.Reject{{Origin: "x:1", Raw: "lost", Reason: "uncommitted"}}); err != nil {
				t.Fatal(err)
			}
			// Make the crash messier: a finished part renamed into place but
			// never listed, as a kill between rename and manifest leaves.
			strayName := "part-000009-000099." + o.Format.Ext()
			sfs, sdir := fsOf(t, o, d.StreamDir("s"))
			if err := sfs.WriteFile(ctx, sfs.Join(sdir, strayName), ".tmp-", []byte("garbage")); err != nil {
				t.Fatal(err)
			}
			// The writer is abandoned here without Close: the process died.

			d2 := newDest(t, o, dir)
			w2, err := d2.Open(ctx, connector.Load{Pipeline: "p", RunID: "r2", Stream: "s", Schema: idName, SyncMode: mode, PrimaryKey: []string{"id"}})
			if err != nil {
				t.Fatal(err)
			}
			for _, name := range listDir(t, o, d.StreamDir("s")) {
				if strings.HasPrefix(name, ".") || name == strayName {
					t.Errorf("leftover %s not removed", name)
				}
			}
			if q := readQuarantine(t, o, d.QuarantinePath("s")); len(q) != 0 {
				t.Errorf("uncommitted quarantine records survived: %+v", q)
			}
			_, rows := read(t, o, dir, "s")
			got := ids(rows)
			slices.Sort(got)
			want := append(seq(1, 8), 100, 101)
			wantState := `{"offset":8}`
			if mode == connector.FullRefreshOverwrite {
				// A killed overwrite starts over: the old table stays.
				want, wantState = []int64{100, 101}, string(state(0))
			}
			if !slices.Equal(got, want) {
				t.Errorf("ids after crash = %v, want %v", got, want)
			}
			st, err := d2.State(ctx, "p")
			if err != nil {
				t.Fatal(err)
			}
			if string(st["s"]) != wantState {
				t.Errorf("state after crash = %s, want %s", st["s"], wantState)
			}
			if err := w2.Close(ctx, false); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func testRollBack(t *testing.T, o Options) {
	ctx := context.Background()
	dir := o.dir(t)
	d := newDest(t, o, dir)
	l := connector.Load{Pipeline: "p", RunID: "r", Stream: "s", Schema: idName, SyncMode: connector.IncrementalAppend}
	w, err := d.Open(ctx, l)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(ctx, batch("s", idName, idRows(1, 2, "a")...)); err != nil {
		t.Fatal(err)
	}
	if err := w.Quarantine(ctx, []connector.Reject{{Origin: "f:1", Raw: "kept", Reason: "bad"}}); err != nil {
		t.Fatal(err)
	}
	if err := w.Commit(ctx, state(1)); err != nil {
		t.Fatal(err)
	}
	if err := w.Write(ctx, batch("s", idName, idRows(3, 4, "a")...)); err != nil {
		t.Fatal(err)
	}
	if err := w.Quarantine(ctx, []connector.Reject{{Origin: "f:2", Raw: "dropped", Reason: "bad"}}); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(ctx, false); err != nil {
		t.Fatal(err)
	}
	if _, rows := read(t, o, dir, "s"); !slices.Equal(ids(rows), []int64{1, 2}) {
		t.Errorf("ids = %v, want [1 2]", ids(rows))
	}
	q := readQuarantine(t, o, d.QuarantinePath("s"))
	if len(q) != 1 || q[0].Raw != "kept" {
		t.Errorf("quarantine = %+v, want the committed record only", q)
	}
	for _, name := range listDir(t, o, d.StreamDir("s")) {
		if strings.HasPrefix(name, ".") {
			t.Errorf("temporary file %s left after roll back", name)
		}
	}
}

func testOverwriteVisibility(t *testing.T, o Options) {
	ctx := context.Background()
	dir := o.dir(t)
	d := newDest(t, o, dir)
	l := connector.Load{Pipeline: "p", RunID: "r1", Stream: "s", Schema: idName, SyncMode: connector.FullRefreshOverwrite}
	load(t, d, l, idRows(1, 3, "old"))
	oldParts, err := filesink.PartsIn(ctx, o.r, dir, "s")
	if err != nil || len(oldParts) == 0 {
		t.Fatalf("parts = %v, %v", oldParts, err)
	}

	l.RunID = "r2"
	w, err := d.Open(ctx, l)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := w.Write(ctx, batch("s", idName, idRows(10*i+10, 10*i+14, "new")...)); err != nil {
			t.Fatal(err)
		}
		if err := w.Commit(ctx, state(i)); err != nil {
			t.Fatal(err)
		}
		if _, rows := read(t, o, dir, "s"); !slices.Equal(ids(rows), seq(1, 3)) {
			t.Fatalf("after commit %d readers see %v, want the old rows", i, ids(rows))
		}
	}
	st, _ := d.State(ctx, "p")
	if string(st["s"]) != string(state(0)) {
		t.Errorf("state before publish = %s, want the old run's %s", st["s"], state(0))
	}
	if err := w.Close(ctx, true); err != nil {
		t.Fatal(err)
	}
	_, rows := read(t, o, dir, "s")
	if len(rows) != 15 || rows[0][1] != "new" {
		t.Fatalf("after publish: %d rows, first %v; want 15 new rows", len(rows), rows[0])
	}
	for _, p := range oldParts {
		pfs, pp := fsOf(t, o, p)
		if _, err := pfs.Stat(ctx, pp); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("old part %s still there (%v)", p, err)
		}
	}
	st, _ = d.State(ctx, "p")
	if string(st["s"]) != string(state(2)) {
		t.Errorf("state after publish = %s, want %s", st["s"], state(2))
	}
}

func testDedup(t *testing.T, o Options) {
	schema := connector.NewSchema(
		connector.Field{Name: "tenant", Type: connector.TypeString},
		connector.Field{Name: "id", Type: connector.TypeInt64},
		connector.Field{Name: "v", Type: connector.TypeInt64, Nullable: true},
	)
	runs := [][][][]any{
		{ // run 1: two batches; within a batch the last occurrence wins
			{{"a", int64(1), int64(1)}, {"a", int64(2), int64(1)}, {"a", int64(1), int64(2)}, {"b", int64(1), int64(1)}},
			{{"a", int64(2), int64(3)}, {"a", int64(3), nil}},
		},
		{ // run 2: changes and new keys
			{{"b", int64(1), int64(9)}, {"a", int64(3), int64(4)}, {"c", int64(7), int64(7)}, {nil, int64(1), int64(1)}, {nil, int64(1), int64(2)}},
		},
	}
	want := map[string]any{"a/1": int64(2), "a/2": int64(3), "a/3": int64(4), "b/1": int64(9), "c/7": int64(7)}
	dir := o.dir(t)
	d := newDest(t, o, dir)
	for i, run := range runs {
		load(t, d, connector.Load{Pipeline: "p", RunID: "r" + string(rune('1'+i)), Stream: "s", Schema: schema,
			SyncMode: connector.IncrementalDedup, PrimaryKey: []string{"tenant", "id"}}, run...)
	}
	_, rows := read(t, o, dir, "s")
	got := map[string]any{}
	keyless := 0
	for _, r := range rows {
		if r[0] == nil {
			keyless++ // a null key part matches nothing: both rows stay
			continue
		}
		k := r[0].(string) + "/" + connector.FormatValue(r[1])
		if _, dup := got[k]; dup {
			t.Errorf("key %s appears twice", k)
		}
		got[k] = r[2]
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("merged = %v, want %v", got, want)
	}
	if keyless != 2 {
		t.Errorf("rows with a null key part = %d, want 2", keyless)
	}
	parts, _ := filesink.PartsIn(context.Background(), o.r, dir, "s")
	if n := len(listDir(t, o, d.StreamDir("s"))); n != len(parts)+1 {
		t.Errorf("stream directory holds %d files, want %d parts and the manifest", n, len(parts))
	}
	// Without a primary key, dedup cannot work: refuse at Open.
	if _, err := d.Open(context.Background(), connector.Load{Stream: "s", Schema: schema, SyncMode: connector.IncrementalDedup}); err == nil {
		t.Error("open incremental_dedup without primary key: no error")
	}
}

func testDedupCursor(t *testing.T, o Options) {
	schema := connector.NewSchema(
		connector.Field{Name: "id", Type: connector.TypeInt64},
		connector.Field{Name: "updated at", Type: connector.TypeTimestamp, Nullable: true},
		connector.Field{Name: "v", Type: connector.TypeString, Nullable: true},
	)
	day := func(d int) time.Time { return time.Date(2024, 1, d, 0, 0, 0, 0, time.UTC) }
	batches := [][][]any{
		{{int64(1), day(5), "newest"}, {int64(2), day(1), "old"}, {int64(3), nil, "no cursor"}},
		{{int64(1), day(2), "late but older"}, {int64(2), day(3), "newer"}, {int64(3), day(1), "later, cursor"}, {int64(4), day(9), "new"}},
	}
	dir := o.dir(t)
	d := newDest(t, o, dir)
	load(t, d, connector.Load{Pipeline: "p", RunID: "r", Stream: "s", Schema: schema, SyncMode: connector.IncrementalDedup,
		PrimaryKey: []string{"id"}, CursorField: "updated at"}, batches...)
	_, rows := read(t, o, dir, "s")
	got := map[int64]any{}
	for _, r := range rows {
		got[r[0].(int64)] = r[2]
	}
	want := map[int64]any{1: "newest", 2: "newer", 3: "later, cursor", 4: "new"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("merged = %v, want %v", got, want)
	}
}

func testHostileNames(t *testing.T, o Options) {
	names := []string{"with space", `it's "quoted"`, "../../escape", `a/b\c`, "semi;colon", "select", "Ünïcödé 名前", ".hidden", "..", "100%", "s.quarantine.jsonl", "s", strings.Repeat("long", 80)}
	ctx := context.Background()
	dir := o.dir(t)
	d := newDest(t, o, dir)
	hostileCols := connector.NewSchema(
		connector.Field{Name: "id", Type: connector.TypeInt64},
		connector.Field{Name: `col "x"; drop`, Type: connector.TypeString, Nullable: true},
	)
	seen := map[string]bool{}
	for i, name := range names {
		safe := filesink.SafeName(name)
		if seen[safe] {
			t.Errorf("%q: safe name %q collides", name, safe)
		}
		seen[safe] = true
		if strings.ContainsAny(safe, `/\ "'`) || safe == "." || safe == ".." || strings.HasPrefix(safe, ".") || len(safe) > 200 {
			t.Errorf("%q: unsafe file name %q", name, safe)
		}
		load(t, d, connector.Load{Pipeline: "p", RunID: "r", Stream: name, Schema: hostileCols, SyncMode: connector.IncrementalAppend},
			[][]any{{int64(i), name}})
		rel, err := filepath.Rel(dir, d.StreamDir(name))
		if err != nil || strings.HasPrefix(rel, "..") || strings.Contains(rel, string(filepath.Separator)) {
			t.Errorf("%q: stream directory %s is not directly under %s", name, d.StreamDir(name), dir)
		}
		schema, rows := read(t, o, dir, name)
		if len(rows) != 1 || rows[0][1] != name || schema.Fields[1].Name != `col "x"; drop` {
			t.Errorf("%q: read back %v with %v", name, rows, schema)
		}
	}
	st, err := d.State(ctx, "p")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range names {
		if _, ok := st[name]; !ok {
			t.Errorf("state has no entry for %q", name)
		}
	}
	if _, err := d.Open(ctx, connector.Load{Stream: "", Schema: idName}); err == nil {
		t.Error("open with an empty stream name: no error")
	}
}

// AllTypes is a schema with one column of every SDK type.
var AllTypes = connector.NewSchema(
	connector.Field{Name: "bool", Type: connector.TypeBool, Nullable: true},
	connector.Field{Name: "int64", Type: connector.TypeInt64, Nullable: true},
	connector.Field{Name: "float64", Type: connector.TypeFloat64, Nullable: true},
	connector.Field{Name: "decimal", Type: connector.TypeDecimal, Nullable: true},
	connector.Field{Name: "string", Type: connector.TypeString, Nullable: true},
	connector.Field{Name: "bytes", Type: connector.TypeBytes, Nullable: true},
	connector.Field{Name: "date", Type: connector.TypeDate, Nullable: true},
	connector.Field{Name: "timestamp", Type: connector.TypeTimestamp, Nullable: true},
	connector.Field{Name: "json", Type: connector.TypeJSON, Nullable: true},
)

// AllTypesRows are rows of [AllTypes] with awkward values.
func AllTypesRows() [][]any {
	return [][]any{
		{true, int64(math.MaxInt64), 1.5, connector.Decimal{Unscaled: 12345, Scale: 2}, "plain",
			[]byte{0, 1, 2, 255}, time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC),
			time.Date(2024, 3, 1, 12, 30, 45, 123456789, time.UTC), map[string]any{"a": []any{1.0, "x", nil}, "b": true}},
		{false, int64(math.MinInt64), -0.000001, connector.Decimal{Unscaled: -999999999999999999, Scale: 4}, "quote \" comma , semicolon ; newline \n tab \t unicode é 名 emoji 🎉",
			[]byte{}, time.Date(1969, 12, 31, 0, 0, 0, 0, time.UTC),
			time.Date(1900, 1, 1, 0, 0, 0, 1000, time.UTC), []any{"list", 2.5}},
		{false, int64(0), 1e300, connector.Decimal{Unscaled: 7, Scale: 0}, "",
			[]byte("text"), time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC),
			time.Date(2262, 1, 1, 23, 59, 59, 999999000, time.UTC), "just a string"},
		{nil, nil, nil, nil, nil, nil, nil, nil, nil},
	}
}

func testRoundTrip(t *testing.T, o Options) {
	dir := o.dir(t)
	d := newDest(t, o, dir)
	in := AllTypesRows()
	load(t, d, connector.Load{Pipeline: "p", RunID: "r", Stream: "types", Schema: AllTypes, SyncMode: connector.FullRefreshAppend}, in)
	schema, rows := read(t, o, dir, "types")
	if !schema.Equal(AllTypes) {
		t.Errorf("schema = %+v, want %+v", schema, AllTypes)
	}
	if len(rows) != len(in) {
		t.Fatalf("read %d rows, want %d", len(rows), len(in))
	}
	for i := range in {
		for j, f := range AllTypes.Fields {
			want := in[i][j]
			if b, ok := want.([]byte); o.EmptyIsNull && (want == "" || ok && len(b) == 0) {
				want = nil
			}
			if !Same(want, rows[i][j], o.TimePrecision) {
				t.Errorf("row %d %s: got %#v, want %#v", i, f.Name, rows[i][j], want)
			}
		}
	}
}

// Same reports whether a value read back equals the value written:
// decimals numerically, times to precision, everything else deeply.
func Same(want, got any, precision time.Duration) bool {
	switch w := want.(type) {
	case connector.Decimal:
		g, ok := got.(connector.Decimal)
		return ok && w.Cmp(g) == 0
	case time.Time:
		g, ok := got.(time.Time)
		if precision > 0 {
			w = w.Truncate(precision)
		}
		return ok && w.Equal(g) && g.Location() == time.UTC
	}
	return reflect.DeepEqual(want, got)
}

func testResetState(t *testing.T, o Options) {
	ctx := context.Background()
	dir := o.dir(t)
	d := newDest(t, o, dir)
	for _, p := range []string{"p1", "p2"} {
		for _, s := range []string{"s1", "s2"} {
			load(t, d, connector.Load{Pipeline: p, RunID: "r", Stream: s, Schema: idName, SyncMode: connector.IncrementalAppend}, idRows(1, 1, p))
		}
	}
	if err := d.ResetState(ctx, "p1", "s1"); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		pipeline string
		want     []string
	}{
		{"p1", []string{"s2"}},
		{"p2", []string{"s1", "s2"}},
		{"nobody", nil},
	}
	for _, tc := range tests {
		st, err := d.State(ctx, tc.pipeline)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for k := range st {
			got = append(got, k)
		}
		slices.Sort(got)
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: state streams = %v, want %v", tc.pipeline, got, tc.want)
		}
	}
	if err := d.ResetState(ctx, "p2"); err != nil {
		t.Fatal(err)
	}
	if st, _ := d.State(ctx, "p2"); len(st) != 0 {
		t.Errorf("p2 state after full reset = %v", st)
	}
	if n, _ := filesink.RowsIn(context.Background(), o.r, dir, "s1"); n != 2 {
		t.Errorf("reset removed data: %d rows, want 2", n)
	}
}

// BenchmarkWrite measures how fast a format's writer appends batches of
// 10,000 rows of four common columns, reported in rows/s.
func BenchmarkWrite(b *testing.B, format filesink.Format) {
	schema := connector.NewSchema(
		connector.Field{Name: "id", Type: connector.TypeInt64},
		connector.Field{Name: "name", Type: connector.TypeString},
		connector.Field{Name: "amount", Type: connector.TypeDecimal},
		connector.Field{Name: "at", Type: connector.TypeTimestamp},
	)
	batch := connector.NewBatch("s", schema, 10000)
	for i := range 10000 {
		batch.Append([]any{int64(i), "customer name", connector.Decimal{Unscaled: int64(i) * 101, Scale: 2}, time.Unix(int64(i), 0).UTC()})
	}
	d, err := filesink.New(b.TempDir(), format)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	w, err := d.Open(ctx, connector.Load{Stream: "s", Schema: schema, SyncMode: connector.FullRefreshAppend})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close(ctx, false)
	b.ResetTimer()
	for range b.N {
		if err := w.Write(ctx, batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*batch.Len())/b.Elapsed().Seconds(), "rows/s")
}
