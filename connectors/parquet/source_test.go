package parquet

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	pq "github.com/parquet-go/parquet-go"

	"github.com/tributary-data/tributary/connector"
	"github.com/tributary-data/tributary/connectors/filesource/sourcetest"
)

type address struct {
	City string `parquet:"city"`
}

type testRecord struct {
	ID     int64     `parquet:"id"`
	Name   *string   `parquet:"name,optional"`
	Amount int64     `parquet:"amount,decimal(2:18)"`
	At     time.Time `parquet:"at,timestamp(microsecond)"`
	Day    int32     `parquet:"day,date"`
	OK     bool      `parquet:"ok"`
	Score  float64   `parquet:"score"`
	Small  int32     `parquet:"small"`
	Meta   string    `parquet:"meta,json"`
	Raw    []byte    `parquet:"raw"`
	Tags   []string  `parquet:"tags,list"`
	Addr   address   `parquet:"addr"`
}

func writeParquet(t *testing.T, path string, recs []testRecord) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := pq.NewGenericWriter[testRecord](f, pq.MaxRowsPerRowGroup(7))
	if _, err := w.Write(recs); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	f.Close()
}

func records(from, to int) []testRecord {
	var out []testRecord
	base := time.Date(2024, 1, 2, 3, 4, 5, 123456000, time.UTC)
	for i := from; i <= to; i++ {
		r := testRecord{
			ID: int64(i), Amount: int64(i*100 + 5), At: base.Add(time.Duration(i) * time.Hour),
			Day: int32(19000 + i), OK: i%2 == 0, Score: float64(i) / 4, Small: int32(-i),
			Meta: `{"k":1}`, Raw: []byte{byte(i)}, Tags: []string{"a"}, Addr: address{City: "Oslo"},
		}
		if i%3 != 0 {
			n := "n"
			r.Name = &n
		}
		out = append(out, r)
	}
	return out
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

func TestParquetSourceTypes(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "t.parquet")
	writeParquet(t, p, records(1, 3))
	src := newSource(t, map[string]any{"path": p})
	cat, err := src.Discover(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, f := range cat.Streams[0].Schema.Fields {
		types = append(types, f.Name+":"+string(f.Type))
	}
	want := []string{"id:int64", "name:string", "amount:decimal", "at:timestamp", "day:date", "ok:bool", "score:float64",
		"small:int64", "meta:json", "raw:bytes", "tags:json", "addr:json"}
	if !reflect.DeepEqual(types, want) {
		t.Errorf("schema\n got %v\nwant %v", types, want)
	}
	e := &sourcetest.Emitter{}
	stream := connector.Stream{Name: "t", Schema: map[string]connector.Type{"small": connector.TypeString}}
	if err := src.Read(context.Background(), connector.ReadRequest{Streams: []connector.Stream{stream}}, e); err != nil {
		t.Fatal(err)
	}
	rows := e.Rows()
	if len(rows) != 3 {
		t.Fatalf("%d rows", len(rows))
	}
	got := rows[2]
	wantRow := map[string]any{
		"id": int64(3), "name": nil, "amount": connector.Decimal{Unscaled: 305, Scale: 2},
		"at":  time.Date(2024, 1, 2, 6, 4, 5, 123456000, time.UTC),
		"day": time.Date(1970, 1, 1+19003, 0, 0, 0, 0, time.UTC), "ok": false, "score": 0.75, "small": "-3",
		"meta": map[string]any{"k": 1.0}, "raw": []byte{3}, "tags": []any{"a"}, "addr": map[string]any{"city": "Oslo"},
	}
	if !reflect.DeepEqual(got.Values, wantRow) || got.Origin != p+":3" {
		t.Errorf("row %s\n got %#v\nwant %#v", got.Origin, got.Values, wantRow)
	}
}

func TestParquetSourceResume(t *testing.T) {
	dir := t.TempDir()
	writeParquet(t, filepath.Join(dir, "r1.parquet"), records(1, 20))
	writeParquet(t, filepath.Join(dir, "r2.parquet"), records(21, 30))
	src := newSource(t, map[string]any{"path": filepath.Join(dir, "r*.parquet")})
	for _, batch := range []int{1, 3, 8, 100} {
		e := sourcetest.ReadInPieces(t, src, connector.Stream{Name: "r", SyncMode: connector.IncrementalAppend}, batch, 1)
		rows := e.Rows()
		if len(rows) != 30 {
			t.Fatalf("batch %d: %d rows", batch, len(rows))
		}
		for i, r := range rows {
			if r.Values["id"] != int64(i+1) {
				t.Fatalf("batch %d: row %d is %v", batch, i, r.Values["id"])
			}
		}
	}
}

func TestParquetSourceNotParquet(t *testing.T) {
	p := filepath.Join(t.TempDir(), "x.parquet")
	os.WriteFile(p, []byte("id,name\n1,a\n"), 0o644)
	src := newSource(t, map[string]any{"path": p})
	err := src.Read(context.Background(), connector.ReadRequest{Streams: []connector.Stream{{Name: "x"}}}, &sourcetest.Emitter{})
	if err == nil {
		t.Fatal("read a CSV file as parquet")
	}
}
