package jsonl

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
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

func read(t *testing.T, src connector.Source, s connector.Stream, state json.RawMessage) *sourcetest.Emitter {
	t.Helper()
	e := &sourcetest.Emitter{}
	req := connector.ReadRequest{Streams: []connector.Stream{s}}
	if state != nil {
		req.State = map[string]json.RawMessage{s.Name: state}
	}
	if err := src.Read(context.Background(), req, e); err != nil {
		t.Fatal(err)
	}
	return e
}

func TestJSONLSourceTypesAndSchemaGrowth(t *testing.T) {
	dir := t.TempDir()
	p := writeFile(t, dir, "e.jsonl.gz", "\xEF\xBB\xBF"+`{"id":1,"name":"a","at":"2024-01-02T03:04:05Z","tags":["x"],"ok":true}
{"id":2,"name":null,"at":"2024-01-03T00:00:00+01:00","meta":{"k":1.5}}

{"id":3,"score":2.5}
{"id":4.5,"name":"d"}
`)
	src := newSource(t, map[string]any{"path": p, "sample_rows": 2})
	e := read(t, src, connector.Stream{Name: "e"}, nil)
	if len(e.Rejects) != 0 {
		t.Fatalf("rejects %+v", e.Rejects)
	}
	at, _ := time.Parse(time.RFC3339, "2024-01-02T03:04:05Z")
	at2, _ := time.Parse(time.RFC3339, "2024-01-02T23:00:00Z")
	want := []sourcetest.Row{
		{Origin: p + ":1", Values: map[string]any{"id": int64(1), "name": "a", "at": at.UTC(), "tags": []any{"x"}, "ok": true, "meta": nil}},
		{Origin: p + ":2", Values: map[string]any{"id": int64(2), "name": nil, "at": at2.UTC(), "tags": nil, "ok": nil, "meta": map[string]any{"k": 1.5}}},
		{Origin: p + ":4", Values: map[string]any{"id": int64(3), "name": nil, "at": nil, "tags": nil, "ok": nil, "meta": nil, "score": 2.5}},
		{Origin: p + ":5", Values: map[string]any{"id": 4.5, "name": "d", "at": nil, "tags": nil, "ok": nil, "meta": nil, "score": nil}},
	}
	if got := e.Rows(); !reflect.DeepEqual(got, want) {
		t.Errorf("rows\n got %#v\nwant %#v", got, want)
	}
	// A new field and a widened type each start a batch with the new schema.
	var schemas []string
	for _, b := range e.Batches {
		var fs []string
		for _, f := range b.Schema.Fields {
			fs = append(fs, f.Name+":"+string(f.Type))
		}
		schemas = append(schemas, strings.Join(fs, ","))
	}
	wantSchemas := []string{
		"id:int64,name:string,at:timestamp,tags:json,ok:bool,meta:json",
		"id:int64,name:string,at:timestamp,tags:json,ok:bool,meta:json,score:float64",
		"id:float64,name:string,at:timestamp,tags:json,ok:bool,meta:json,score:float64",
	}
	if !reflect.DeepEqual(schemas, wantSchemas) {
		t.Errorf("schemas\n got %q\nwant %q", schemas, wantSchemas)
	}
}

func TestJSONLSourceRejects(t *testing.T) {
	dir := t.TempDir()
	p := writeFile(t, dir, "r.jsonl", `{"id":1,"amount":"1.50"}
{"id":2,"amount":
[1,2]
{"id":"x","amount":"2"}
{"id":5,"amount":"12,x"}
{"id":6,"amount":"\xff"}
`+"{\"id\":7,\"note\":\"\xff\"}\n"+`{"id":8} trailing
{"id":9,"amount":3}
`)
	src := newSource(t, map[string]any{"path": p, "sample_rows": 1})
	stream := connector.Stream{Name: "r", Schema: map[string]connector.Type{"amount": connector.TypeDecimal}}
	e := read(t, src, stream, nil)
	type rej struct{ origin, reason string }
	var got []rej
	for _, r := range e.Rejects {
		got = append(got, rej{strings.TrimPrefix(r.Origin, dir+"/"), r.Reason})
		if r.Raw == "" {
			t.Errorf("reject %+v without raw", r)
		}
	}
	want := []rej{
		{"r.jsonl:2", "invalid JSON: unexpected end of JSON input"},
		{"r.jsonl:3", "not a JSON object: array"},
		{"r.jsonl:4", `field "id": not an integer: "x"`},
		{"r.jsonl:5", `field "amount": not a decimal: "12,x"`},
		{"r.jsonl:6", "invalid JSON: invalid character 'x' in string escape code"},
		{"r.jsonl:7", "invalid UTF-8"},
		{"r.jsonl:8", "invalid JSON: data after the object"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("rejects\n got %q\nwant %q", got, want)
	}
	rows := e.Rows()
	if len(rows)+len(e.Rejects) != 9 {
		t.Errorf("%d rows + %d rejects, want 9 records", len(rows), len(e.Rejects))
	}
	if d, _ := connector.ParseDecimal("3"); !reflect.DeepEqual(rows[1].Values["amount"], d) {
		t.Errorf("amount %#v", rows[1].Values["amount"])
	}
}

func TestJSONLSourceResumeAndIncremental(t *testing.T) {
	dir := t.TempDir()
	var b strings.Builder
	for i := 1; i <= 30; i++ {
		fmt.Fprintf(&b, "{\"id\":%d,\"f%d\":%d}\n", i, i%4, i)
		if i%9 == 0 {
			b.WriteString("not json\n")
		}
	}
	writeFile(t, dir, "a1.jsonl", b.String())
	writeFile(t, dir, "a2.jsonl.gz", "{\"id\":31}\n{\"id\":32}\n")
	src := newSource(t, map[string]any{"path": filepath.Join(dir, "a*")})
	stream := connector.Stream{Name: "a", SyncMode: connector.IncrementalAppend}
	for _, batch := range []int{1, 4, 100} {
		e := sourcetest.ReadInPieces(t, src, stream, batch, 1)
		var ids []int64
		for _, r := range e.Rows() {
			ids = append(ids, r.Values["id"].(int64))
		}
		if len(ids) != 32 || len(e.Rejects) != 3 {
			t.Fatalf("batch %d: %d rows, %d rejects", batch, len(ids), len(e.Rejects))
		}
		for i, id := range ids {
			if id != int64(i+1) {
				t.Fatalf("batch %d: ids %v", batch, ids)
			}
		}
	}
	first := read(t, src, stream, nil)
	writeFile(t, dir, "a3.jsonl", "{\"id\":33}\n")
	second := read(t, src, stream, first.Last())
	if rows := second.Rows(); len(rows) != 1 || rows[0].Values["id"] != int64(33) {
		t.Errorf("second run read %+v, want only the new file", rows)
	}
}
