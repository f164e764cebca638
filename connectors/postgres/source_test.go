package postgres

import (
	"context"
	"encoding/json"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/tributary-data/tributary/connector"
	"github.com/tributary-data/tributary/connectors/sqlsource/sourcetest"
)

// sourceURL is the test server's URL with search_path set to schema, so
// unqualified names in custom queries find the test's tables.
func sourceURL(t testing.TB, schema string) string {
	u, err := url.Parse(testURL())
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

func openSource(t *testing.T, schema string) connector.Source {
	t.Helper()
	raw, _ := json.Marshal(SourceConfig{URL: sourceURL(t, schema), Schemas: []string{schema}})
	src, err := NewSource(context.Background(), raw)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close() })
	return src
}

func TestSourceConformance(t *testing.T) {
	conn, schema := testSchema(t)
	if _, err := conn.Exec(context.Background(), "CREATE SCHEMA "+pgx.Identifier{schema}.Sanitize()); err != nil {
		t.Fatal(err)
	}
	cc, err := pgx.ParseConfig(sourceURL(t, schema))
	if err != nil {
		t.Fatal(err)
	}
	db := stdlib.OpenDB(*cc)
	defer db.Close()
	sourcetest.Run(t, sourcetest.Options{
		DB:      db,
		Source:  func(t *testing.T) connector.Source { return openSource(t, schema) },
		Dialect: Dialect{schemas: []string{schema}},
		Types:   map[string]string{"int": "bigint", "timestamp": "timestamptz", "text": "text", "decimal": "numeric", "blob": "bytea"},
	})
}

func TestSourceTypesAndDiscover(t *testing.T) {
	conn, schema := testSchema(t)
	ctx := context.Background()
	table := qt(schema, `odd "name"; select`)
	for _, q := range []string{
		"CREATE SCHEMA " + pgx.Identifier{schema}.Sanitize(),
		"CREATE TABLE " + table + ` ("k1" text NOT NULL, "order" int4 NOT NULL, b boolean, s2 smallint, i8 bigint, f4 real, f8 double precision,
			n numeric(12,3), v varchar(20), "größe" char(3), y bytea, d date, ts timestamp, tz timestamptz, j json, jb jsonb, u uuid,
			iv interval, arr int[], modified_at timestamptz, PRIMARY KEY ("order", "k1"))`,
		"INSERT INTO " + table + ` VALUES ('a', 1, true, -7, 9007199254740993, 1.5, -2.25, 123456789.125, 'vé', 'xy', '\x00ff', '2024-02-29',
			'2024-02-29 10:11:12.345678', '2024-02-29 10:11:12+02', '{"a": [1, "x"]}', '{"b": null}', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
			'1 day', '{1,2}', '2024-01-01T00:00:00Z')`,
		"INSERT INTO " + table + ` ("k1", "order") VALUES ('b', 2)`,
		"CREATE TABLE " + qt(schema, "_tributary_state") + " (x int)",
	} {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	src := openSource(t, schema)
	cat, err := src.Discover(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(cat.Streams) != 1 {
		t.Fatalf("streams %+v", cat.Streams)
	}
	info := cat.Streams[0]
	var types []string
	for _, f := range info.Schema.Fields {
		types = append(types, f.Name+":"+string(f.Type))
	}
	want := "k1:string order:int64 b:bool s2:int64 i8:int64 f4:float64 f8:float64 n:decimal v:string größe:string y:bytes d:date ts:timestamp tz:timestamp j:json jb:json u:string iv:string arr:string modified_at:timestamp"
	if got := strings.Join(types, " "); got != want {
		t.Errorf("schema\n%s\nwant\n%s", got, want)
	}
	if info.Name != `odd "name"; select` || !slices.Equal(info.PrimaryKey, []string{"order", "k1"}) {
		t.Errorf("stream %q with key %v", info.Name, info.PrimaryKey)
	}
	if len(info.CursorCandidates) == 0 || info.CursorCandidates[0] != "modified_at" {
		t.Errorf("cursor candidates %v, want modified_at first", info.CursorCandidates)
	}
	c := &sourcetest.Collector{}
	err = src.Read(ctx, connector.ReadRequest{Streams: []connector.Stream{{Name: info.Name, SyncMode: connector.FullRefreshOverwrite}}}, c)
	if err != nil {
		t.Fatal(err)
	}
	rows := c.Rows()
	if len(rows) != 2 {
		t.Fatalf("%d rows", len(rows))
	}
	wantRow := []any{"a", int64(1), true, int64(-7), int64(9007199254740993), 1.5, -2.25, connector.Decimal{Unscaled: 123456789125, Scale: 3},
		"vé", "xy ", []byte{0, 0xff}, time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC), time.Date(2024, 2, 29, 10, 11, 12, 345678000, time.UTC),
		time.Date(2024, 2, 29, 8, 11, 12, 0, time.UTC), map[string]any{"a": []any{1.0, "x"}}, map[string]any{"b": nil},
		"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "1 day", "{1,2}", time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)}
	for i, w := range wantRow {
		got := rows[0][i]
		if tm, ok := got.(time.Time); ok {
			if tm.Location() != time.UTC || !tm.Equal(w.(time.Time)) {
				t.Errorf("%s = %v, want %v in UTC", info.Schema.Fields[i].Name, got, w)
			}
			continue
		}
		if !reflect.DeepEqual(got, w) {
			t.Errorf("%s = %#v, want %#v", info.Schema.Fields[i].Name, got, w)
		}
	}
	for i, v := range rows[1][2:] {
		if v != nil {
			t.Errorf("null column %s read as %#v", info.Schema.Fields[i+2].Name, v)
		}
	}
}

// TestRoundTripThroughBoth loads rows with the destination and reads them
// back with the source: what one writes, the other reads unchanged.
func TestRoundTripThroughBoth(t *testing.T) {
	_, schema := testSchema(t)
	d := newTestDest(t, schema)
	s := connector.NewSchema(
		connector.Field{Name: "id", Type: connector.TypeInt64},
		connector.Field{Name: "amount", Type: connector.TypeDecimal, Nullable: true},
		connector.Field{Name: "at", Type: connector.TypeTimestamp, Nullable: true},
		connector.Field{Name: "doc", Type: connector.TypeJSON, Nullable: true},
	)
	in := [][]any{
		{int64(1), connector.Decimal{Unscaled: -1050, Scale: 2}, time.Date(2024, 1, 2, 3, 4, 5, 6000, time.UTC), map[string]any{"k": "v"}},
		{int64(2), nil, nil, nil},
	}
	loadAll(t, d, connector.Load{Pipeline: "p", RunID: "r", Stream: "rt", Schema: s, SyncMode: connector.IncrementalDedup, PrimaryKey: []string{"id"}},
		mkBatch("rt", s, in...))
	c := &sourcetest.Collector{}
	err := openSource(t, schema).Read(context.Background(), connector.ReadRequest{Streams: []connector.Stream{{Name: "rt", SyncMode: connector.FullRefreshAppend}}}, c)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Rows(); !reflect.DeepEqual(got, in) {
		t.Errorf("read back %v, want %v", got, in)
	}
}
