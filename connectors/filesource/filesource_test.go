package filesource

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/tributary-data/tributary/connector"
)

func TestExpand(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"b2.csv", "a.csv", "b10.csv", "c.txt"} {
		os.WriteFile(filepath.Join(dir, n), []byte("x"), 0o644)
	}
	os.Mkdir(filepath.Join(dir, "d.csv"), 0o755)
	tests := []struct {
		pattern string
		want    []string
		err     bool
	}{
		{"*.csv", []string{"a.csv", "b10.csv", "b2.csv"}, false},
		{"b*", []string{"b10.csv", "b2.csv"}, false},
		{"none*.csv", nil, false},
		{"missing.csv", nil, true},
		{"[", nil, true},
	}
	for _, tc := range tests {
		files, err := Expand(filepath.Join(dir, tc.pattern))
		if (err != nil) != tc.err {
			t.Errorf("%s: error %v", tc.pattern, err)
			continue
		}
		var got []string
		for _, f := range files {
			got = append(got, filepath.Base(f.Path))
			if f.Size != 1 || f.ModTime == 0 {
				t.Errorf("%s: %+v", tc.pattern, f)
			}
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: %v, want %v", tc.pattern, got, tc.want)
		}
	}
	if _, err := Expand(""); err == nil {
		t.Error("empty pattern accepted")
	}
}

func TestOpen(t *testing.T) {
	dir := t.TempDir()
	content := "\xEF\xBB\xBFhello\nworld\n"
	plain := filepath.Join(dir, "f.txt")
	os.WriteFile(plain, []byte(content), 0o644)
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write([]byte(content))
	zw.Close()
	gz := filepath.Join(dir, "f.txt.GZ")
	os.WriteFile(gz, buf.Bytes(), 0o644)
	for _, p := range []string{plain, gz} {
		for _, tc := range []struct {
			offset     int64
			want       string
			wantOffset int64
		}{{0, "hello\nworld\n", 3}, {9, "world\n", 9}} {
			r, err := Open(File{Path: p}, tc.offset)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(r)
			r.Close()
			if string(b) != tc.want || r.Offset != tc.wantOffset {
				t.Errorf("%s at %d: %q offset %d, want %q offset %d", p, tc.offset, b, r.Offset, tc.want, tc.wantOffset)
			}
		}
	}
	if _, err := Open(File{Path: filepath.Join(dir, "nope")}, 0); err == nil {
		t.Error("opened a missing file")
	}
	os.WriteFile(filepath.Join(dir, "bad.gz"), []byte("not gzip"), 0o644)
	if _, err := Open(File{Path: filepath.Join(dir, "bad.gz")}, 0); err == nil {
		t.Error("opened a broken gzip file")
	}
}

func TestStreamName(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"./data/people*.csv", "people"},
		{"/x/orders_2024-01.csv.gz", "orders"},
		{"*.jsonl", "csv"},
		{"events.json", "events"},
	} {
		if got := StreamName(tc.in, "csv"); got != tc.want {
			t.Errorf("StreamName(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestCompare(t *testing.T) {
	now := time.Now()
	for _, tc := range []struct {
		a, b any
		want int
		ok   bool
	}{
		{int64(1), int64(2), -1, true},
		{2.5, 2.5, 0, true},
		{connector.Decimal{Unscaled: 150, Scale: 2}, connector.Decimal{Unscaled: 15, Scale: 1}, 0, true},
		{"b", "a", 1, true},
		{now.Add(time.Second), now, 1, true},
		{false, true, -1, true},
		{int64(1), "1", 0, false},
	} {
		got, ok := Compare(tc.a, tc.b)
		if got != tc.want || ok != tc.ok {
			t.Errorf("Compare(%v, %v) = %d %v, want %d %v", tc.a, tc.b, got, ok, tc.want, tc.ok)
		}
	}
}

func TestObjects(t *testing.T) {
	rec := func(kv ...any) []KV {
		var out []KV
		for i := 0; i < len(kv); i += 2 {
			out = append(out, KV{Key: kv[i].(string), Value: kv[i+1]})
		}
		return out
	}
	sample := [][]KV{
		rec("id", jsonNumber("1"), "at", "2024-01-02T03:04:05Z", "x", nil),
		rec("id", jsonNumber("2"), "at", "later", "n", jsonNumber("1.5")),
	}
	s := InferObjects(sample, map[string]connector.Type{"n": connector.TypeDecimal}, false)
	want := []connector.Field{
		{Name: "id", Type: connector.TypeInt64, Nullable: true}, {Name: "at", Type: connector.TypeString, Nullable: true},
		{Name: "x", Type: connector.TypeString, Nullable: true}, {Name: "n", Type: connector.TypeDecimal, Nullable: true},
	}
	if !reflect.DeepEqual(s.Fields, want) {
		t.Fatalf("inferred %+v", s.Fields)
	}
	o := NewObjects(s, map[string]connector.Type{"n": connector.TypeDecimal}, false)
	alloc := func(s *connector.Schema) []any { return make([]any, len(s.Fields)) }
	row, reason := o.Row(rec("id", jsonNumber("3"), "n", "2.50", "new", true), alloc)
	if reason != "" || len(row) != 5 || row[4] != true || row[3] != (connector.Decimal{Unscaled: 250, Scale: 2}) {
		t.Errorf("row %v %q", row, reason)
	}
	if _, reason := o.Row(rec("n", "abc"), alloc); reason != `field "n": not a decimal: "abc"` {
		t.Errorf("reason %q", reason)
	}
	row, reason = o.Row(rec("id", jsonNumber("3.5")), alloc)
	if reason != "" || row[0] != 3.5 || o.Schema().Fields[0].Type != connector.TypeFloat64 {
		t.Errorf("widening: %v %q %+v", row, reason, o.Schema().Fields[0])
	}
	if s.Fields[0].Type != connector.TypeInt64 {
		t.Error("the starting schema was modified")
	}
}

func jsonNumber(s string) any { return json.Number(s) }
