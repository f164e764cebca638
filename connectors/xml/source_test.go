package xml

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

const catalog = `<?xml version="1.0"?>
<catalog xmlns:x="urn:x">
  <book id="1" lang="en">
    <title>Go</title>
    <price currency="EUR">12.50</price>
    <author><name>Ann</name><city>Oslo</city></author>
    <tag>a</tag><tag>b</tag>
  </book>
  <note>not a record</note>
  <book id="2">
    <title>XML &amp; you</title>
    <price>7</price>
    mixed text
  </book>
</catalog>
`

func TestXMLSourceFlatten(t *testing.T) {
	dir := t.TempDir()
	p := writeFile(t, dir, "c.xml", catalog)
	src := newSource(t, map[string]any{"path": p, "record_path": "catalog/book"})
	e := &sourcetest.Emitter{}
	if err := src.Read(context.Background(), connector.ReadRequest{Streams: []connector.Stream{{Name: "c"}}}, e); err != nil {
		t.Fatal(err)
	}
	d1, _ := connector.ParseDecimal("12.50")
	d2, _ := connector.ParseDecimal("7")
	want := []sourcetest.Row{
		{Origin: p + ":3", Values: map[string]any{
			"id": int64(1), "lang": "en", "title": "Go", "price_currency": "EUR", "price": d1,
			"author_name": "Ann", "author_city": "Oslo", "tag": []any{"a", "b"}, "_text": nil,
		}},
		{Origin: p + ":10", Values: map[string]any{
			"id": int64(2), "lang": nil, "title": "XML & you", "price_currency": nil, "price": d2,
			"author_name": nil, "author_city": nil, "tag": nil, "_text": "mixed text",
		}},
	}
	if got := e.Rows(); !reflect.DeepEqual(got, want) {
		t.Errorf("rows\n got %#v\nwant %#v", got, want)
	}
	if f := e.Batches[0].Schema.Fields; f[8].Name != "_text" || f[7].Type != connector.TypeJSON {
		t.Errorf("schema %+v", f)
	}
}

func TestXMLSourceRejectsAndErrors(t *testing.T) {
	dir := t.TempDir()
	p := writeFile(t, dir, "r.xml", "<rows>\n<row><n>1</n></row>\n<row><n>x</n></row>\n<row><n>3</n></row>\n</rows>")
	src := newSource(t, map[string]any{"path": p, "record_path": "rows/row", "sample_rows": 1})
	e := &sourcetest.Emitter{}
	if err := src.Read(context.Background(), connector.ReadRequest{Streams: []connector.Stream{{Name: "r"}}}, e); err != nil {
		t.Fatal(err)
	}
	if len(e.Rows()) != 2 || len(e.Rejects) != 1 {
		t.Fatalf("%d rows, %d rejects", len(e.Rows()), len(e.Rejects))
	}
	r := e.Rejects[0]
	if r.Origin != p+":3" || r.Reason != `field "n": not an integer: "x"` || r.Raw != "<row><n>x</n></row>" {
		t.Errorf("reject %+v", r)
	}

	// Invalid UTF-8 rejects its record, not the document.
	p = writeFile(t, dir, "u.xml", "<rows>\n<row><n>1</n></row>\n<row><n>\xff</n></row>\n<row><n>3</n></row>\n</rows>")
	src = newSource(t, map[string]any{"path": p, "record_path": "rows/row"})
	e = &sourcetest.Emitter{}
	if err := src.Read(context.Background(), connector.ReadRequest{Streams: []connector.Stream{{Name: "u"}}}, e); err != nil {
		t.Fatal(err)
	}
	if len(e.Rows()) != 2 || len(e.Rejects) != 1 || e.Rejects[0].Origin != p+":3" || e.Rejects[0].Reason != "invalid UTF-8" || e.Rejects[0].Raw != "<row><n>\uFFFD</n></row>" {
		t.Errorf("rows %v rejects %+v", e.Rows(), e.Rejects)
	}

	for _, tc := range []struct{ name, doc, path, want string }{
		{"not well-formed", "<rows>\n<row><n>1</n></row>\n<row><n>2</row>\n</rows>", "rows/row", "invalid XML document at line 3"},
		{"wrong root", "<items><row/></items>", "rows/row", `no element at record path "rows/row"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := writeFile(t, t.TempDir(), "bad.xml", tc.doc)
			src := newSource(t, map[string]any{"path": p, "record_path": tc.path})
			err := src.Read(context.Background(), connector.ReadRequest{Streams: []connector.Stream{{Name: "b"}}}, &sourcetest.Emitter{})
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), p) {
				t.Errorf("error %v, want one naming %s and saying %q", err, p, tc.want)
			}
		})
	}
}

func TestXMLSourceResume(t *testing.T) {
	dir := t.TempDir()
	for f := 0; f < 2; f++ {
		var b strings.Builder
		b.WriteString("<list>\n")
		for i := 1; i <= 12; i++ {
			fmt.Fprintf(&b, "  <item id=\"%d\"/>\n", f*12+i)
		}
		b.WriteString("</list>\n")
		writeFile(t, dir, fmt.Sprintf("l%d.xml", f), b.String())
	}
	// No record path: every child of the root is a record.
	src := newSource(t, map[string]any{"path": filepath.Join(dir, "l*.xml")})
	for _, batch := range []int{1, 5, 100} {
		e := sourcetest.ReadInPieces(t, src, connector.Stream{Name: "l", SyncMode: connector.IncrementalDedup}, batch, 1)
		rows := e.Rows()
		if len(rows) != 24 {
			t.Fatalf("batch %d: %d rows", batch, len(rows))
		}
		for i, r := range rows {
			if r.Values["id"] != int64(i+1) {
				t.Fatalf("batch %d: row %d is %v", batch, i, r.Values)
			}
		}
	}
}
