package postgres

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tributary-data/tributary/connector"
)

var idName = connector.NewSchema(
	connector.Field{Name: "id", Type: connector.TypeInt64},
	connector.Field{Name: "name", Type: connector.TypeString, Nullable: true},
)

func idRows(from, to int, name string) [][]any {
	var out [][]any
	for i := from; i <= to; i++ {
		out = append(out, []any{int64(i), name})
	}
	return out
}

func TestNumericEncoding(t *testing.T) {
	conn, schema := testSchema(t)
	ctx := context.Background()
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+pgx.Identifier{schema}.Sanitize()); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		d    connector.Decimal
		want string
	}{
		{connector.Decimal{}, "0"},
		{connector.Decimal{Scale: 2}, "0.00"},
		{connector.Decimal{Unscaled: 1}, "1"},
		{connector.Decimal{Unscaled: -1}, "-1"},
		{connector.Decimal{Unscaled: 12345, Scale: 2}, "123.45"},
		{connector.Decimal{Unscaled: -12345, Scale: 2}, "-123.45"},
		{connector.Decimal{Unscaled: 10000, Scale: 0}, "10000"},
		{connector.Decimal{Unscaled: 100000000, Scale: 0}, "100000000"},
		{connector.Decimal{Unscaled: 5, Scale: 5}, "0.00005"},
		{connector.Decimal{Unscaled: 1, Scale: 18}, "0.000000000000000001"},
		{connector.Decimal{Unscaled: 123456789012345678, Scale: 9}, "123456789.012345678"},
		{connector.Decimal{Unscaled: 9223372036854775807, Scale: 0}, "9223372036854775807"},
		{connector.Decimal{Unscaled: -9223372036854775808, Scale: 3}, "-9223372036854775.808"},
		{connector.Decimal{Unscaled: 12, Scale: -3}, "12000"},
		{connector.Decimal{Unscaled: 10000, Scale: 4}, "1.0000"},
		{connector.Decimal{Unscaled: 12000, Scale: 7}, "0.0012000"},
	}
	table := qt(schema, "n")
	if _, err := conn.Exec(ctx, "CREATE TABLE "+table+" (i int, v numeric)"); err != nil {
		t.Fatal(err)
	}
	buf := append([]byte(nil), copyHeader...)
	for i, c := range cases {
		buf = append(buf, 0, 2)
		buf, _ = appendValue(buf, kInt4, int64(i))
		buf = appendNumeric(buf, c.d)
	}
	buf = append(buf, copyTrailer...)
	if _, err := conn.PgConn().CopyFrom(ctx, strings.NewReader(string(buf)), "COPY "+table+" FROM STDIN (FORMAT binary)"); err != nil {
		t.Fatal(err)
	}
	got := query(t, conn, "SELECT v::text FROM "+table+" ORDER BY i")
	for i, c := range cases {
		if got[i][0] != c.want {
			t.Errorf("%+v: stored %s, want %s", c.d, got[i][0], c.want)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	conn, schema := testSchema(t)
	d := newTestDest(t, schema)
	all := connector.NewSchema(
		connector.Field{Name: "b", Type: connector.TypeBool, Nullable: true},
		connector.Field{Name: "i", Type: connector.TypeInt64, Nullable: true},
		connector.Field{Name: "f", Type: connector.TypeFloat64, Nullable: true},
		connector.Field{Name: "d", Type: connector.TypeDecimal, Nullable: true},
		connector.Field{Name: "s", Type: connector.TypeString, Nullable: true},
		connector.Field{Name: "y", Type: connector.TypeBytes, Nullable: true},
		connector.Field{Name: "dt", Type: connector.TypeDate, Nullable: true},
		connector.Field{Name: "ts", Type: connector.TypeTimestamp, Nullable: true},
		connector.Field{Name: "j", Type: connector.TypeJSON, Nullable: true},
	)
	ts := time.Date(2024, 2, 29, 13, 14, 15, 123456000, time.UTC)
	rows := [][]any{
		{true, int64(-42), 3.25, connector.Decimal{Unscaled: -123456, Scale: 3}, "héllo, \"world\"\n", []byte{0, 1, 255}, time.Date(1999, 12, 31, 0, 0, 0, 0, time.UTC), ts, map[string]any{"a": []any{1.0, "x"}}},
		{false, int64(9223372036854775807), -1e300, connector.Decimal{Unscaled: 5, Scale: 0}, "", []byte{}, time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC), "text json"},
		{nil, nil, nil, nil, nil, nil, nil, nil, nil},
	}
	loadAll(t, d, connector.Load{Pipeline: "p", RunID: "r1", Stream: "all types", Schema: all, SyncMode: connector.FullRefreshAppend},
		mkBatch("all types", all, rows...))
	types := query(t, conn, `SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = $1 AND table_name = 'all types' ORDER BY ordinal_position`, schema)
	wantTypes := "b|boolean\ni|bigint\nf|double precision\nd|numeric\ns|text\ny|bytea\ndt|date\nts|timestamp with time zone\nj|jsonb"
	if got := joinRows(types); got != wantTypes {
		t.Errorf("column types:\n%s\nwant\n%s", got, wantTypes)
	}
	ctx := context.Background()
	r, err := conn.Query(ctx, "SELECT b, i, f, d::text, s, y, dt, ts, j FROM "+qt(schema, "all types")+" ORDER BY i NULLS LAST")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	n := 0
	for r.Next() {
		var (
			b       *bool
			i       *int64
			f       *float64
			dec, s  *string
			y       []byte
			dt, tsv *time.Time
			j       any
		)
		if err := r.Scan(&b, &i, &f, &dec, &s, &y, &dt, &tsv, &j); err != nil {
			t.Fatal(err)
		}
		var want []any
		switch {
		case i == nil:
			if b != nil || f != nil || dec != nil || s != nil || y != nil || dt != nil || tsv != nil || j != nil {
				t.Errorf("null row read back with values")
			}
			n++
			continue
		case *i == -42:
			want = rows[0]
		default:
			want = rows[1]
		}
		n++
		if *b != want[0] || *f != want[2] || *dec != want[3].(connector.Decimal).String() || *s != want[4] ||
			string(y) != string(want[5].([]byte)) || !dt.Equal(want[6].(time.Time)) || !tsv.Equal(want[7].(time.Time)) || !reflect.DeepEqual(j, want[8]) {
			t.Errorf("row %d read back as %v %v %v %v %q %v %v %v %v", *i, *b, *i, *f, *dec, *s, y, dt, tsv, j)
		}
	}
	if n != 3 {
		t.Errorf("read %d rows, want 3", n)
	}
}

func TestSyncModes(t *testing.T) {
	cases := []struct {
		mode   connector.SyncMode
		pk     []string
		runs   [][][]any
		expect string
	}{
		{connector.FullRefreshAppend, nil, [][][]any{idRows(1, 2, "a"), idRows(2, 3, "b")}, "1|a\n2|a\n2|b\n3|b"},
		{connector.IncrementalAppend, nil, [][][]any{idRows(1, 1, "a"), idRows(1, 1, "b")}, "1|a\n1|b"},
		{connector.FullRefreshOverwrite, nil, [][][]any{idRows(1, 3, "a"), idRows(2, 3, "b")}, "2|b\n3|b"},
		{connector.IncrementalDedup, []string{"id"}, [][][]any{idRows(1, 3, "a"), idRows(2, 4, "b")}, "1|a\n2|b\n3|b\n4|b"},
	}
	for _, c := range cases {
		t.Run(string(c.mode), func(t *testing.T) {
			t.Parallel()
			conn, schema := testSchema(t)
			d := newTestDest(t, schema)
			for i, run := range c.runs {
				load := connector.Load{Pipeline: "p", RunID: "r", Stream: "s", Schema: idName, SyncMode: c.mode, PrimaryKey: c.pk}
				// Two batches per run, so the modes see several checkpoints.
				half := len(run) / 2
				loadAll(t, d, load, mkBatch("s", idName, run[:half]...), mkBatch("s", idName, run[half:]...))
				st, err := d.State(context.Background(), "p")
				if err != nil {
					t.Fatal(err)
				}
				if string(st["s"]) != `{"batch":2}` {
					t.Errorf("run %d: state %s", i, st["s"])
				}
			}
			got := joinRows(query(t, conn, "SELECT id, name FROM "+qt(schema, "s")+" ORDER BY id, name"))
			if got != c.expect {
				t.Errorf("table:\n%s\nwant\n%s", got, c.expect)
			}
			left := query(t, conn, "SELECT count(*) FROM pg_tables WHERE schemaname = $1 AND tablename LIKE '_tributary_tmp_%'", schema)
			if left[0][0] != "0" {
				t.Errorf("%s helper tables left behind", left[0][0])
			}
		})
	}
}

// TestStateWithData checks that rows written after the last commit vanish
// with a failed close, and that the state matches what stayed.
func TestStateWithData(t *testing.T) {
	for _, mode := range []connector.SyncMode{connector.IncrementalAppend, connector.IncrementalDedup, connector.FullRefreshOverwrite} {
		t.Run(string(mode), func(t *testing.T) {
			t.Parallel()
			conn, schema := testSchema(t)
			d := newTestDest(t, schema)
			ctx := context.Background()
			// An earlier complete run leaves one row and a state behind.
			load := connector.Load{Pipeline: "p", RunID: "r0", Stream: "s", Schema: idName, SyncMode: mode, PrimaryKey: []string{"id"}}
			loadAll(t, d, load, mkBatch("s", idName, []any{int64(100), "old"}))
			load.RunID = "r1"
			w, err := d.Open(ctx, load)
			if err != nil {
				t.Fatal(err)
			}
			if err := w.Write(ctx, mkBatch("s", idName, idRows(1, 5, "x")...)); err != nil {
				t.Fatal(err)
			}
			if err := w.Commit(ctx, json.RawMessage(`{"pos":5}`)); err != nil {
				t.Fatal(err)
			}
			if err := w.Write(ctx, mkBatch("s", idName, idRows(6, 9, "x")...)); err != nil {
				t.Fatal(err)
			}
			if err := w.Close(ctx, false); err != nil {
				t.Fatal(err)
			}
			st, err := d.State(ctx, "p")
			if err != nil {
				t.Fatal(err)
			}
			rows := joinRows(query(t, conn, "SELECT count(*), min(id), max(id) FROM "+qt(schema, "s")))
			want, wantState := "6|1|100", `{"pos":5}`
			if mode == connector.FullRefreshOverwrite {
				// A failed overwrite publishes nothing: the old table and state stay.
				want, wantState = "1|100|100", `{"batch":1}`
			}
			if rows != want || string(st["s"]) != wantState {
				t.Errorf("after failed close: rows %s (want %s), state %s (want %s)", rows, want, st["s"], wantState)
			}
		})
	}
}

func TestOverwriteAtomic(t *testing.T) {
	conn, schema := testSchema(t)
	d := newTestDest(t, schema)
	ctx := context.Background()
	load := connector.Load{Pipeline: "p", RunID: "r0", Stream: "s", Schema: idName, SyncMode: connector.FullRefreshOverwrite}
	loadAll(t, d, load, mkBatch("s", idName, idRows(1, 3, "old")...))
	load.RunID = "r1"
	w, err := d.Open(ctx, load)
	if err != nil {
		t.Fatal(err)
	}
	count := func() string { return query(t, conn, "SELECT count(*) FROM "+qt(schema, "s"))[0][0] }
	for i := 0; i < 5; i++ {
		if err := w.Write(ctx, mkBatch("s", idName, idRows(i*1000+1, i*1000+1000, "new")...)); err != nil {
			t.Fatal(err)
		}
		if got := count(); got != "3" {
			t.Fatalf("reader during the load saw %s rows, want the old 3", got)
		}
		if err := w.Commit(ctx, json.RawMessage(`{"n":1}`)); err != nil {
			t.Fatal(err)
		}
		if got := count(); got != "3" {
			t.Fatalf("reader after a checkpoint saw %s rows, want the old 3", got)
		}
	}
	// A reader inside a transaction that began before the swap keeps
	// working and then sees the new table.
	done := make(chan string)
	go func() {
		c2, err := pgx.Connect(ctx, testURL())
		if err != nil {
			done <- err.Error()
			return
		}
		defer c2.Close(ctx)
		var n int
		for i := 0; i < 50; i++ {
			if err := c2.QueryRow(ctx, "SELECT count(*) FROM "+qt(schema, "s")).Scan(&n); err != nil {
				done <- err.Error()
				return
			}
			if n != 3 && n != 5000 {
				done <- "partial count"
				return
			}
		}
		done <- ""
	}()
	if err := w.Close(ctx, true); err != nil {
		t.Fatal(err)
	}
	if msg := <-done; msg != "" {
		t.Errorf("concurrent reader: %s", msg)
	}
	if got := count(); got != "5000" {
		t.Errorf("after the swap: %s rows, want 5000", got)
	}
	st, _ := d.State(ctx, "p")
	if string(st["s"]) != `{"n":1}` {
		t.Errorf("state after swap: %s", st["s"])
	}
}

func TestDedupMerge(t *testing.T) {
	conn, schema := testSchema(t)
	d := newTestDest(t, schema)
	s := connector.NewSchema(
		connector.Field{Name: "id", Type: connector.TypeInt64},
		connector.Field{Name: "updated at", Type: connector.TypeTimestamp, Nullable: true},
		connector.Field{Name: "v", Type: connector.TypeString, Nullable: true},
	)
	day := func(n int) time.Time { return time.Date(2024, 1, n, 0, 0, 0, 0, time.UTC) }
	load := connector.Load{Pipeline: "p", RunID: "r", Stream: "s", Schema: s, SyncMode: connector.IncrementalDedup,
		PrimaryKey: []string{"id"}, CursorField: "updated at"}
	loadAll(t, d, load,
		mkBatch("s", s, []any{int64(1), day(5), "newest"}, []any{int64(2), day(1), "old"}, []any{int64(3), nil, "no cursor"},
			[]any{int64(5), day(1), "first"}, []any{int64(5), day(1), "last of equals"}),
		mkBatch("s", s, []any{int64(1), day(2), "late but older"}, []any{int64(2), day(3), "newer"}, []any{int64(3), day(1), "later, cursor"}, []any{int64(4), day(9), "new"}),
	)
	got := joinRows(query(t, conn, "SELECT id, v FROM "+qt(schema, "s")+" ORDER BY id"))
	want := "1|newest\n2|newer\n3|later, cursor\n4|new\n5|last of equals"
	if got != want {
		t.Errorf("merged:\n%s\nwant\n%s", got, want)
	}
	// Without a cursor the last row written wins; a null key is quarantined.
	load2 := connector.Load{Pipeline: "p", RunID: "r2", Stream: "t", Schema: idName, SyncMode: connector.IncrementalDedup, PrimaryKey: []string{"id"}}
	loadAll(t, d, load2, mkBatch("t", idName, []any{int64(1), "a"}, []any{int64(1), "b"}, []any{nil, "no key"}), mkBatch("t", idName, []any{int64(1), "c"}))
	if got := joinRows(query(t, conn, "SELECT id, name FROM "+qt(schema, "t"))); got != "1|c" {
		t.Errorf("merged without cursor: %s", got)
	}
	q := joinRows(query(t, conn, "SELECT stream, origin, step, reason FROM "+qt(schema, quarantineTable)))
	if q != `t|t.csv:3|load|primary key column "id" is null` {
		t.Errorf("quarantine: %s", q)
	}
}

func TestSchemaPolicies(t *testing.T) {
	v2 := connector.NewSchema(
		connector.Field{Name: "id", Type: connector.TypeDecimal},
		connector.Field{Name: "name", Type: connector.TypeString, Nullable: true},
		connector.Field{Name: "extra", Type: connector.TypeBool, Nullable: true},
	)
	cases := []struct {
		policy  connector.SchemaPolicy
		wantErr string
		want    string
		types   string
	}{
		{connector.SchemaEvolve, "", "1|a|<nil>\n2.5|b|true", "id:numeric name:text extra:boolean"},
		{connector.SchemaFreeze, `"id"`, "1|a", "id:bigint name:text"},
		{connector.SchemaDiscard, "", "1|a", "id:bigint name:text"},
	}
	for _, c := range cases {
		t.Run(string(c.policy), func(t *testing.T) {
			t.Parallel()
			conn, schema := testSchema(t)
			d := newTestDest(t, schema)
			ctx := context.Background()
			load := connector.Load{Pipeline: "p", RunID: "r", Stream: "s", Schema: idName, SyncMode: connector.IncrementalAppend, SchemaPolicy: c.policy}
			w, err := d.Open(ctx, load)
			if err != nil {
				t.Fatal(err)
			}
			if err := w.Write(ctx, mkBatch("s", idName, []any{int64(1), "a"})); err != nil {
				t.Fatal(err)
			}
			if err := w.Commit(ctx, json.RawMessage(`1`)); err != nil {
				t.Fatal(err)
			}
			err = w.Write(ctx, mkBatch("s", v2, []any{connector.Decimal{Unscaled: 25, Scale: 1}, "b", true}))
			if err == nil {
				err = w.Commit(ctx, json.RawMessage(`2`))
			}
			switch {
			case c.wantErr == "" && err != nil:
				t.Fatal(err)
			case c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)):
				t.Fatalf("error %v, want one naming %s", err, c.wantErr)
			}
			if err := w.Close(ctx, err == nil); err != nil && c.wantErr == "" {
				t.Fatal(err)
			}
			cols := "(SELECT string_agg(column_name || ':' || data_type, ' ' ORDER BY ordinal_position) FROM information_schema.columns WHERE table_schema = $1 AND table_name = 's')"
			if got := query(t, conn, "SELECT "+cols, schema)[0][0]; got != c.types {
				t.Errorf("columns %s, want %s", got, c.types)
			}
			sel := "SELECT id::text, name FROM "
			if c.policy == connector.SchemaEvolve {
				sel = "SELECT id::text, name, extra FROM "
			}
			got := joinRows(query(t, conn, sel+qt(schema, "s")+" ORDER BY id"))
			if c.policy == connector.SchemaDiscard {
				// The decimal 2.5 does not fit the bigint column: quarantined.
				q := query(t, conn, "SELECT reason FROM "+qt(schema, quarantineTable))
				if len(q) != 1 || !strings.Contains(q[0][0], `"id"`) {
					t.Errorf("quarantine %v, want the 2.5 row naming id", q)
				}
			}
			if got != c.want {
				t.Errorf("rows:\n%s\nwant\n%s", got, c.want)
			}
		})
	}
}

func TestHostileNames(t *testing.T) {
	conn, schema := testSchema(t)
	d := newTestDest(t, schema)
	names := []string{"with space", `it's "quoted"`, "semi;colon", "select", "order", "Ünïcödé 名前", strings.Repeat("long", 20), `x"); DROP TABLE y; --`}
	cols := connector.NewSchema(
		connector.Field{Name: "order", Type: connector.TypeInt64},
		connector.Field{Name: `col "x"; drop`, Type: connector.TypeString, Nullable: true},
		connector.Field{Name: "Größe", Type: connector.TypeString, Nullable: true},
	)
	// Append, then overwrite, then dedup on the same tables: each step
	// leaves the two keys of the stream.
	for _, mode := range []connector.SyncMode{connector.FullRefreshAppend, connector.FullRefreshOverwrite, connector.IncrementalDedup} {
		for i, name := range names {
			load := connector.Load{Pipeline: "p;'x", RunID: "r", Stream: name, Schema: cols, SyncMode: mode, PrimaryKey: []string{"order"}}
			loadAll(t, d, load, mkBatch(name, cols, []any{int64(2 * i), name, "ä"}), mkBatch(name, cols, []any{int64(2*i + 1), name, "ö"}))
			got := query(t, conn, `SELECT count(*), min("col ""x""; drop"), max("Größe") FROM `+qt(schema, truncIdent(name)))
			if got[0][0] != "2" || got[0][1] != name || got[0][2] != "ö" {
				t.Errorf("%s %q: read back %v", mode, name, got)
			}
		}
	}
	st, err := d.State(context.Background(), "p;'x")
	if err != nil {
		t.Fatal(err)
	}
	if len(st) != len(names) {
		t.Errorf("state for %d streams, want %d", len(st), len(names))
	}
}

func TestQuarantine(t *testing.T) {
	conn, schema := testSchema(t)
	d := newTestDest(t, schema)
	ctx := context.Background()
	w, err := d.Open(ctx, connector.Load{Pipeline: "pipe", RunID: "run-1", Stream: "s", Schema: idName, SyncMode: connector.IncrementalAppend})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	if err := w.Quarantine(ctx, []connector.Reject{
		{Origin: "in.csv:7", Raw: "1,\"broken", Reason: `field "name": unterminated quote`, Step: "read", At: at},
		{Origin: "in.csv:8", Raw: "bad\xffutf8", Reason: "invalid UTF-8", At: at},
	}); err != nil {
		t.Fatal(err)
	}
	if err := w.Write(ctx, mkBatch("s", idName, []any{int64(1), "ok"}, []any{int64(2), "nul\x00byte"})); err != nil {
		t.Fatal(err)
	}
	// Rejects of an uncommitted checkpoint are not visible yet.
	if n := query(t, conn, "SELECT count(*) FROM "+qt(schema, quarantineTable))[0][0]; n != "0" {
		t.Errorf("%s quarantine rows before commit", n)
	}
	if err := w.Commit(ctx, json.RawMessage(`{}`)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(ctx, true); err != nil {
		t.Fatal(err)
	}
	got := query(t, conn, "SELECT run_id, pipeline, stream, origin, raw, reason, step FROM "+qt(schema, quarantineTable)+" ORDER BY origin")
	want := [][]string{
		{"run-1", "pipe", "s", "in.csv:7", "1,\"broken", `field "name": unterminated quote`, "read"},
		{"run-1", "pipe", "s", "in.csv:8", "bad\uFFFDutf8", "invalid UTF-8", "read"},
		{"run-1", "pipe", "s", "s.csv:2", `{"id":2,"name":"nul\u0000byte"}`, `column "name": text holds a NUL byte, which PostgreSQL text cannot store`, "load"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("quarantine:\n%q\nwant\n%q", got, want)
	}
	if rows := joinRows(query(t, conn, "SELECT id, name FROM "+qt(schema, "s"))); rows != "1|ok" {
		t.Errorf("rows: %s", rows)
	}
}

func TestCheck(t *testing.T) {
	_, schema := testSchema(t)
	d := newTestDest(t, schema)
	if err := d.Check(context.Background()); err != nil {
		t.Errorf("check: %v", err)
	}
	bad, err := Open(context.Background(), DestinationConfig{URL: "postgres://nobody@127.0.0.1:1/none?sslmode=disable&connect_timeout=2"})
	if err != nil {
		t.Fatal(err)
	}
	if err := bad.Check(context.Background()); err == nil {
		t.Error("check of an unreachable server passed")
	}
}

// TestOpenWithoutSchema covers a stream whose first rows were all
// rejected: the engine opens the writer with an empty schema to store the
// rejects, and the table comes with the first batch.
func TestOpenWithoutSchema(t *testing.T) {
	for _, mode := range []connector.SyncMode{connector.IncrementalDedup, connector.FullRefreshOverwrite} {
		t.Run(string(mode), func(t *testing.T) {
			t.Parallel()
			conn, schema := testSchema(t)
			d := newTestDest(t, schema)
			ctx := context.Background()
			w, err := d.Open(ctx, connector.Load{Pipeline: "p", RunID: "r", Stream: "s", Schema: &connector.Schema{}, SyncMode: mode, PrimaryKey: []string{"id"}})
			if err != nil {
				t.Fatal(err)
			}
			if err := w.Quarantine(ctx, []connector.Reject{{Origin: "f:1", Raw: "x", Reason: "bad"}}); err != nil {
				t.Fatal(err)
			}
			if err := w.Commit(ctx, json.RawMessage(`1`)); err != nil {
				t.Fatal(err)
			}
			if err := w.Write(ctx, mkBatch("s", idName, []any{int64(7), "ok"})); err != nil {
				t.Fatal(err)
			}
			if err := w.Commit(ctx, json.RawMessage(`2`)); err != nil {
				t.Fatal(err)
			}
			if err := w.Close(ctx, true); err != nil {
				t.Fatal(err)
			}
			if got := joinRows(query(t, conn, "SELECT id, name FROM "+qt(schema, "s"))); got != "7|ok" {
				t.Errorf("rows %q", got)
			}
			if got := joinRows(query(t, conn, "SELECT origin, reason FROM "+qt(schema, quarantineTable))); got != "f:1|bad" {
				t.Errorf("quarantine %q", got)
			}
			if st, _ := d.State(ctx, "p"); string(st["s"]) != "2" {
				t.Errorf("state %s", st["s"])
			}
		})
	}
}
