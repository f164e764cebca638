package json

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/tributary-data/tributary/connector"
	"github.com/tributary-data/tributary/connectors/filesource/sourcetest"
)

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
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

func TestJSONSourceRead(t *testing.T) {
	tests := []struct {
		name    string
		doc     string
		records string
		ids     []any
		origins []string
		rejects []string
	}{
		{
			name:    "top-level array",
			doc:     "[\n  {\"id\": 1, \"v\": \"a\"},\n  {\"id\": 2, \"v\": null}\n]\n",
			ids:     []any{int64(1), int64(2)},
			origins: []string{"d.json:2", "d.json:3"},
		},
		{
			name:    "records path",
			doc:     `{"meta": {"n": [1, {"x": 2}]}, "data": {"count": 2, "items": [{"id": 7}, {"id": 8}]}}`,
			records: "data.items",
			ids:     []any{int64(7), int64(8)},
			origins: []string{"d.json:1", "d.json:1"},
		},
		{
			name:    "bad elements are rejected, the rest read",
			doc:     "[\n{\"id\": 1},\n42,\n{\"id\": \"x\"},\n{\"id\": 3, \"v\": \"\xff\"},\n{\"id\": 4}\n]",
			ids:     []any{int64(1), int64(4)},
			origins: []string{"d.json:2", "d.json:6"},
			rejects: []string{"d.json:3: not a JSON object: number", `d.json:4: field "id": not an integer: "x"`, "d.json:5: invalid UTF-8"},
		},
		{
			name: "empty array",
			doc:  "[]",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			p := writeFile(t, dir, "d.json", tc.doc)
			src := newSource(t, map[string]any{"path": p, "records": tc.records, "sample_rows": 1})
			e := &sourcetest.Emitter{}
			stream := connector.Stream{Name: "d", Schema: map[string]connector.Type{"id": connector.TypeInt64}}
			if err := src.Read(context.Background(), connector.ReadRequest{Streams: []connector.Stream{stream}}, e); err != nil {
				t.Fatal(err)
			}
			var ids []any
			var origins, rejects []string
			for _, r := range e.Rows() {
				ids = append(ids, r.Values["id"])
				origins = append(origins, strings.TrimPrefix(r.Origin, dir+"/"))
			}
			for _, r := range e.Rejects {
				rejects = append(rejects, strings.TrimPrefix(r.Origin, dir+"/")+": "+r.Reason)
			}
			if !reflect.DeepEqual(ids, tc.ids) || !reflect.DeepEqual(origins, tc.origins) || !reflect.DeepEqual(rejects, tc.rejects) {
				t.Errorf("got ids %v origins %v rejects %q\nwant ids %v origins %v rejects %q", ids, origins, rejects, tc.ids, tc.origins, tc.rejects)
			}
		})
	}
}

func TestJSONSourceDocumentErrors(t *testing.T) {
	tests := []struct {
		name, doc, records, want string
	}{
		{"not an array", `{"a": 1}`, "", "not an array of records"},
		{"missing path", `{"data": {}}`, "data.items", `no field "items"`},
		{"path through a scalar", `{"data": 3}`, "data.items", "is not an object"},
		{"syntax error", "[\n{\"id\": 1},\n{\"id\": }\n]", "", "invalid JSON document at line 3"},
		{"truncated", `[{"id": 1}`, "", "unexpected end"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			p := writeFile(t, dir, "bad.json", tc.doc)
			src := newSource(t, map[string]any{"path": p, "records": tc.records})
			err := src.Read(context.Background(), connector.ReadRequest{Streams: []connector.Stream{{Name: "b"}}}, &sourcetest.Emitter{})
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), p) {
				t.Errorf("error %v, want one naming %s and saying %q", err, p, tc.want)
			}
		})
	}
}

func TestJSONSourceResume(t *testing.T) {
	dir := t.TempDir()
	for f := 0; f < 3; f++ {
		var b strings.Builder
		b.WriteString(`{"data": {"items": [`)
		for i := 1; i <= 10; i++ {
			if i > 1 {
				b.WriteString(",\n")
			}
			fmt.Fprintf(&b, `{"id": %d}`, f*10+i)
		}
		b.WriteString("]}}")
		writeFile(t, dir, fmt.Sprintf("p%d.json", f), b.String())
	}
	src := newSource(t, map[string]any{"path": filepath.Join(dir, "p*.json"), "records": "data.items"})
	for _, batch := range []int{1, 3, 50} {
		e := sourcetest.ReadInPieces(t, src, connector.Stream{Name: "p", SyncMode: connector.IncrementalAppend}, batch, 1)
		rows := e.Rows()
		if len(rows) != 30 {
			t.Fatalf("batch %d: %d rows", batch, len(rows))
		}
		for i, r := range rows {
			if r.Values["id"] != int64(i+1) {
				t.Fatalf("batch %d: row %d is %v", batch, i, r.Values)
			}
		}
		if rows[12].Origin != filepath.Join(dir, "p1.json")+":3" {
			t.Errorf("origin %s", rows[12].Origin)
		}
	}
}
