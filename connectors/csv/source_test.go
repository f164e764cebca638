package csv

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tributary-data/tributary/connector"
	"github.com/tributary-data/tributary/connectors/filesource/sourcetest"
)

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	data := []byte(content)
	if strings.HasSuffix(name, ".gz") {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		zw.Write(data)
		zw.Close()
		data = buf.Bytes()
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func newSource(t *testing.T, cfg map[string]any) connector.Source {
	t.Helper()
	raw, _ := json.Marshal(cfg)
	src, err := New(context.Background(), raw)
	if err != nil {
		t.Fatal(err)
	}
	return src
}

func read(t *testing.T, src connector.Source, s connector.Stream, state json.RawMessage, batch int) *sourcetest.Emitter {
	t.Helper()
	e := &sourcetest.Emitter{}
	req := connector.ReadRequest{Streams: []connector.Stream{s}, BatchSize: batch}
	if state != nil {
		req.State = map[string]json.RawMessage{s.Name: state}
	}
	if err := src.Read(context.Background(), req, e); err != nil {
		t.Fatal(err)
	}
	return e
}

func ts(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t.UTC()
}

func dec(s string) connector.Decimal {
	d, err := connector.ParseDecimal(s)
	if err != nil {
		panic(err)
	}
	return d
}

func TestCSVSourceRead(t *testing.T) {
	tests := []struct {
		name    string
		files   map[string]string
		cfg     map[string]any // "path" is relative to the temp dir
		stream  connector.Stream
		want    []map[string]any
		origins []string
		schema  []connector.Field
	}{
		{
			name:  "header and inferred types",
			files: map[string]string{"p.csv": "id,name,amount,at,ok,score\n1,Ann,12.50,2024-01-02T03:04:05Z,true,1e3\n2,\"Bo, \"\"B\"\"\",,2024-01-02 03:04:05.5,false,2.5\n"},
			cfg:   map[string]any{"path": "p.csv"},
			want: []map[string]any{
				{"id": int64(1), "name": "Ann", "amount": dec("12.50"), "at": ts("2024-01-02T03:04:05Z"), "ok": true, "score": 1000.0},
				{"id": int64(2), "name": `Bo, "B"`, "amount": nil, "at": ts("2024-01-02T03:04:05.5Z"), "ok": false, "score": 2.5},
			},
			origins: []string{"p.csv:2", "p.csv:3"},
			schema: []connector.Field{
				{Name: "id", Type: connector.TypeInt64, Nullable: true}, {Name: "name", Type: connector.TypeString, Nullable: true},
				{Name: "amount", Type: connector.TypeDecimal, Nullable: true}, {Name: "at", Type: connector.TypeTimestamp, Nullable: true},
				{Name: "ok", Type: connector.TypeBool, Nullable: true}, {Name: "score", Type: connector.TypeFloat64, Nullable: true},
			},
		},
		{
			name:  "quoted empty is an empty string, unquoted empty is null",
			files: map[string]string{"e.csv": "a,b\n\"\",\nx,y\n"},
			cfg:   map[string]any{"path": "e.csv"},
			want:  []map[string]any{{"a": "", "b": nil}, {"a": "x", "b": "y"}},
		},
		{
			name:   "delimiter, quote and overrides",
			files:  map[string]string{"s.csv": "id;note;amount\n7;'a;b';3\n8;'it''s';4.25\n"},
			cfg:    map[string]any{"path": "s.csv", "delimiter": ";", "quote": "'"},
			stream: connector.Stream{Schema: map[string]connector.Type{"id": connector.TypeString, "amount": connector.TypeDecimal}},
			want:   []map[string]any{{"id": "7", "note": "a;b", "amount": dec("3")}, {"id": "8", "note": "it's", "amount": dec("4.25")}},
		},
		{
			name:  "no header with columns",
			files: map[string]string{"n.csv": "1,x\n2,y\n"},
			cfg:   map[string]any{"path": "n.csv", "header": false, "columns": []string{"id", "v"}},
			want:  []map[string]any{{"id": int64(1), "v": "x"}, {"id": int64(2), "v": "y"}},
		},
		{
			name:    "no header without columns",
			files:   map[string]string{"n.csv": "1,x\n2,y\n"},
			cfg:     map[string]any{"path": "n.csv", "header": false},
			want:    []map[string]any{{"column_1": int64(1), "column_2": "x"}, {"column_1": int64(2), "column_2": "y"}},
			origins: []string{"n.csv:1", "n.csv:2"},
		},
		{
			name:  "BOM, CRLF and null values",
			files: map[string]string{"b.csv": "\xEF\xBB\xBFid,v\r\n1,NULL\r\n2,z\r\n"},
			cfg:   map[string]any{"path": "b.csv", "null_values": []string{"NULL", ""}},
			want:  []map[string]any{{"id": int64(1), "v": nil}, {"id": int64(2), "v": "z"}},
		},
		{
			name:    "gzip",
			files:   map[string]string{"g.csv.gz": "id,v\n1,a\n2,b\n"},
			cfg:     map[string]any{"path": "g.csv.gz"},
			want:    []map[string]any{{"id": int64(1), "v": "a"}, {"id": int64(2), "v": "b"}},
			origins: []string{"g.csv.gz:2", "g.csv.gz:3"},
		},
		{
			name:    "glob over several files in sorted order",
			files:   map[string]string{"p2.csv": "id\n3\n", "p1.csv": "id\n1\n2\n", "p10.csv.gz": "id\n4\n", "other.csv": "id\n9\n"},
			cfg:     map[string]any{"path": "p*.csv*"},
			want:    []map[string]any{{"id": int64(1)}, {"id": int64(2)}, {"id": int64(4)}, {"id": int64(3)}},
			origins: []string{"p1.csv:2", "p1.csv:3", "p10.csv.gz:2", "p2.csv:2"},
		},
		{
			name:    "multi-line quoted field and blank lines",
			files:   map[string]string{"m.csv": "id,txt\n1,\"a\nb\"\n\n2,c\n"},
			cfg:     map[string]any{"path": "m.csv"},
			want:    []map[string]any{{"id": int64(1), "txt": "a\nb"}, {"id": int64(2), "txt": "c"}},
			origins: []string{"m.csv:2", "m.csv:5"},
		},
		{
			name:    "empty files and files with their own header",
			files:   map[string]string{"h0.csv": "", "h1.csv": "id,v\n1,x\n", "h2.csv": "v,id,extra\ny,2,2024-01-01\n", "h3.csv": "id,v\n"},
			cfg:     map[string]any{"path": "h*.csv"},
			want:    []map[string]any{{"id": int64(1), "v": "x"}, {"v": "y", "id": int64(2), "extra": ts("2024-01-01T00:00:00Z")}},
			origins: []string{"h1.csv:2", "h2.csv:2"},
		},
		{
			name:   "stream settings override the connector's",
			files:  map[string]string{"a.tsv": "id\tv\n1\tx\n", "b.csv": "id,v\n5,q\n"},
			cfg:    map[string]any{"path": "b.csv"},
			stream: connector.Stream{Config: map[string]any{"path": "a.tsv", "delimiter": "\t"}},
			want:   []map[string]any{{"id": int64(1), "v": "x"}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for n, c := range tc.files {
				writeFile(t, dir, n, c)
			}
			cfg := map[string]any{}
			for k, v := range tc.cfg {
				cfg[k] = v
			}
			cfg["path"] = filepath.Join(dir, tc.cfg["path"].(string))
			if p, ok := tc.stream.Config["path"].(string); ok {
				tc.stream.Config["path"] = filepath.Join(dir, p)
			}
			tc.stream.Name = "s"
			e := read(t, newSource(t, cfg), tc.stream, nil, 0)
			if len(e.Rejects) != 0 {
				t.Fatalf("rejects: %+v", e.Rejects)
			}
			rows := e.Rows()
			var got []map[string]any
			var origins []string
			for _, r := range rows {
				got = append(got, r.Values)
				origins = append(origins, strings.TrimPrefix(r.Origin, dir+string(filepath.Separator)))
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("rows\n got %#v\nwant %#v", got, tc.want)
			}
			if tc.origins != nil && !reflect.DeepEqual(origins, tc.origins) {
				t.Errorf("origins %v, want %v", origins, tc.origins)
			}
			if tc.schema != nil && !reflect.DeepEqual(e.Batches[0].Schema.Fields, tc.schema) {
				t.Errorf("schema %+v, want %+v", e.Batches[0].Schema.Fields, tc.schema)
			}
			if len(e.Checkpoints) == 0 {
				t.Error("no checkpoint")
			}
		})
	}
}

func TestCSVSourceRejects(t *testing.T) {
	dir := t.TempDir()
	content := "id,amount,at,ok,name\n" +
		"1,1.5,2024-01-01,true,a\n" + // line 2
		"2,12,x,2024-01-01,true,b\n" + // 3: too many fields
		"3,\"12,x\",2024-01-01,true,c\n" + // 4: bad decimal
		"4,2,2024-13-01,true,d\n" + // 5: bad timestamp
		"5,2,2024-01-01,maybe,e\n" + // 6: bad bool
		"6,2,2024-01-01,true,\"broken\"quote\n" + // 7: broken quoting
		"7,2,2024-01-01,true,\xff\xfe\n" + // 8: invalid UTF-8
		"x8,2,2024-01-01,true,h\n" + // 9: bad int
		"9,2,2024-01-01,true,i\n" + // 10
		"10,2,2024-01-01,true,\"unterminated\n" + // 11
		"11,2,2024-01-01,true,k\n" // 12
	p := writeFile(t, dir, "r.csv", content)
	src := newSource(t, map[string]any{"path": p, "sample_rows": 1})
	e := read(t, src, connector.Stream{Name: "r"}, nil, 0)
	type rej struct{ origin, reason string }
	want := []rej{
		{p + ":3", "expected 5 fields, got 6"},
		{p + ":4", `field "amount": not a decimal: "12,x"`},
		{p + ":5", `field "at": not a timestamp: "2024-13-01"`},
		{p + ":6", `field "ok": not a boolean: "maybe"`},
		{p + ":7", `broken quoting: 'q' after the closing quote of field 5`},
		{p + ":8", `field "name": invalid UTF-8`},
		{p + ":9", `field "id": not an integer: "x8"`},
		{p + ":11", "unterminated quoted field"},
	}
	var got []rej
	for _, r := range e.Rejects {
		got = append(got, rej{r.Origin, r.Reason})
		if r.Raw == "" || r.Stream != "r" || r.Step != "read" {
			t.Errorf("reject %+v lacks raw, stream or step", r)
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("rejects\n got %q\nwant %q", got, want)
	}
	if e.Rejects[1].Raw != `3,"12,x",2024-01-01,true,c` {
		t.Errorf("raw %q", e.Rejects[1].Raw)
	}
	rows := e.Rows()
	var ids []any
	for _, r := range rows {
		ids = append(ids, r.Values["id"])
	}
	if want := []any{int64(1), int64(9), int64(11)}; !reflect.DeepEqual(ids, want) {
		t.Errorf("ids %v, want %v", ids, want)
	}
	if n := len(rows) + len(e.Rejects); n != 11 {
		t.Errorf("rows + rejects = %d, want the 11 records", n)
	}
}

// TestCSVSourceResume reads in pieces, as a run killed after every commit
// and resumed from the last checkpoint would, and expects every row once.
func TestCSVSourceResume(t *testing.T) {
	dir := t.TempDir()
	var a, b strings.Builder
	a.WriteString("id,v\n")
	b.WriteString("id,v\n")
	for i := 1; i <= 25; i++ {
		fmt.Fprintf(&a, "%d,\"a\n%d\"\n", i, i)
		if i%7 == 0 {
			a.WriteString("bad\n")
		}
		if i == 13 {
			a.WriteString("99,\"a quote that never closes\n")
		}
	}
	for i := 26; i <= 40; i++ {
		fmt.Fprintf(&b, "%d,b\n", i)
	}
	writeFile(t, dir, "x1.csv", a.String())
	writeFile(t, dir, "x2.csv.gz", b.String())
	src := newSource(t, map[string]any{"path": filepath.Join(dir, "x*")})
	for _, tc := range []struct{ batch, every int }{{1, 1}, {3, 1}, {4, 2}, {100, 1}} {
		t.Run(fmt.Sprintf("batch %d every %d", tc.batch, tc.every), func(t *testing.T) {
			e := sourcetest.ReadInPieces(t, src, connector.Stream{Name: "x", SyncMode: connector.IncrementalAppend}, tc.batch, tc.every)
			var ids []int64
			for _, r := range e.Rows() {
				ids = append(ids, r.Values["id"].(int64))
			}
			for i, id := range ids {
				if id != int64(i+1) {
					t.Fatalf("ids %v: not each of 1..40 once", ids)
				}
			}
			if len(ids) != 40 || len(e.Rejects) != 4 {
				t.Errorf("%d rows and %d rejects, want 40 and 4", len(ids), len(e.Rejects))
			}
			for _, r := range e.Rejects {
				if r.Raw == "99,\"a quote that never closes" && !strings.HasSuffix(r.Origin, "x1.csv:29") {
					t.Errorf("reject %+v: wrong origin", r)
				}
			}
		})
	}
}

func TestCSVSourceIncremental(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "d1.csv", "id,at\n1,2024-01-01\n2,2024-01-02\n")
	src := newSource(t, map[string]any{"path": filepath.Join(dir, "d*.csv")})
	stream := connector.Stream{Name: "d", SyncMode: connector.IncrementalAppend, CursorField: "at"}
	ids := func(e *sourcetest.Emitter) []int64 {
		var out []int64
		for _, r := range e.Rows() {
			out = append(out, r.Values["id"].(int64))
		}
		return out
	}
	first := read(t, src, stream, nil, 0)
	if got := ids(first); !reflect.DeepEqual(got, []int64{1, 2}) {
		t.Fatalf("first run %v", got)
	}
	// A new file: only it is read.
	writeFile(t, dir, "d2.csv", "id,at\n3,2024-01-03\n")
	second := read(t, src, stream, first.Last(), 0)
	if got := ids(second); !reflect.DeepEqual(got, []int64{3}) {
		t.Fatalf("second run %v, want only the new file", got)
	}
	// Nothing new: nothing read.
	third := read(t, src, stream, second.Last(), 0)
	if got := ids(third); len(got) != 0 {
		t.Fatalf("third run %v, want nothing", got)
	}
	// A changed file is read again; rows at or below the cursor of the
	// previous runs are skipped in incremental_append.
	p := writeFile(t, dir, "d1.csv", "id,at\n1,2024-01-01\n2,2024-01-02\n4,2024-01-04\n5,\n")
	os.Chtimes(p, time.Now().Add(time.Hour), time.Now().Add(time.Hour))
	fourth := read(t, src, stream, third.Last(), 0)
	if got := ids(fourth); !reflect.DeepEqual(got, []int64{4, 5}) {
		t.Fatalf("fourth run %v, want the rows past the cursor and the null one", got)
	}
	var st struct {
		Files  []map[string]any
		Cursor struct{ Type, Value string }
	}
	if err := json.Unmarshal(fourth.Last(), &st); err != nil {
		t.Fatal(err)
	}
	if len(st.Files) != 2 || st.Cursor.Value != "2024-01-04T00:00:00Z" {
		t.Errorf("state %s", fourth.Last())
	}
}

func TestCSVSourceLimitAndDiscover(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "people_2024.csv", "id,name,at,n\n1,a,2024-01-01,5\n2,b,2024-01-02,6\n3,c,2024-01-03,7\n")
	src := newSource(t, map[string]any{"path": filepath.Join(dir, "people_*.csv")})
	e := &sourcetest.Emitter{}
	err := src.Read(context.Background(), connector.ReadRequest{Streams: []connector.Stream{{Name: "people"}}, Limit: 2}, e)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(e.Rows()); n != 2 {
		t.Errorf("limit 2 read %d rows", n)
	}
	cat, err := src.Discover(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(cat.Streams) != 1 {
		t.Fatalf("catalog %+v", cat)
	}
	s := cat.Streams[0]
	if s.Name != "people" || !reflect.DeepEqual(s.PrimaryKey, []string{"id"}) || !reflect.DeepEqual(s.CursorCandidates, []string{"id", "at", "n"}) {
		t.Errorf("stream %+v", s)
	}
	if err := src.Check(context.Background()); err != nil {
		t.Error(err)
	}
	named := newSource(t, map[string]any{"streams": []map[string]any{{"name": "a", "path": filepath.Join(dir, "*.csv")}, {"name": "b", "path": filepath.Join(dir, "none*.csv")}}})
	if err := named.Check(context.Background()); err == nil {
		t.Error("check passed with a pattern matching nothing")
	}
}

func TestCSVSourceConfigErrors(t *testing.T) {
	for _, cfg := range []string{`{"path":"x","delimter":";"}`, `{"path":"x","delimiter":";;"}`, `{"path":"x","quote":","}`} {
		if _, err := New(context.Background(), json.RawMessage(cfg)); err == nil {
			t.Errorf("config %s accepted", cfg)
		}
	}
}

func TestParseTimestampFast(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"2024-02-29", "2024-02-29T00:00:00Z"},
		{"2024-01-02T03:04:05Z", "2024-01-02T03:04:05Z"},
		{"2024-01-02 03:04:05", "2024-01-02T03:04:05Z"},
		{"2024-01-02T03:04:05.123456789+02:00", "2024-01-02T01:04:05.123456789Z"},
		{"2024-01-02T03:04:05-0530", "2024-01-02T08:34:05Z"},
		{"2024-01-02T03:04:05.1+01", "2024-01-02T02:04:05.1Z"},
	} {
		got, ok := parseTimestamp([]byte(tc.in))
		if !ok || !got.Equal(ts(tc.want)) || got.Location() != time.UTC {
			t.Errorf("%s: got %v %v, want %s", tc.in, got, ok, tc.want)
		}
		if general, err := connector.ParseTimestamp(tc.in); err == nil && !general.Equal(got) {
			t.Errorf("%s: fast %v, general %v", tc.in, got, general)
		}
	}
	for _, s := range []string{"2023-02-29", "2024-01-02T25:00:00", "2024-01-02T03:04:05.", "2024-01-02T03:04:05X"} {
		if _, ok := parseTimestamp([]byte(s)); ok {
			t.Errorf("%s accepted", s)
		}
	}
}

func TestFastNumbers(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 20000; i++ {
		s := strconv.FormatFloat(rng.NormFloat64()*math.Pow10(rng.IntN(12)), 'f', rng.IntN(8), 64)
		got, err := parseFloat([]byte(s))
		want, _ := strconv.ParseFloat(s, 64)
		if err != nil || got != want {
			t.Fatalf("parseFloat(%q) = %v %v, want %v", s, got, err, want)
		}
	}
	for _, s := range []string{"", "-", ".", "1.2.3", "1e5", "abc", "12345678901234567"} {
		got, err := parseFloat([]byte(s))
		want, werr := strconv.ParseFloat(s, 64)
		if (err != nil) != (werr != nil) || (err == nil && got != want) {
			t.Errorf("parseFloat(%q) = %v %v, want %v %v", s, got, err, want, werr)
		}
	}
	for d := time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC); d.Year() < 3000; d = d.AddDate(0, 0, 13) {
		y, m, dd := d.Date()
		if got := daysFromCivil(y, int(m), dd) * 86400; got != d.Unix() {
			t.Fatalf("%v: %d, want %d", d, got, d.Unix())
		}
	}
}
