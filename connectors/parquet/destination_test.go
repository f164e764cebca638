package parquet

import (
	"context"
	"encoding/json"
	"os"
	"slices"
	"testing"
	"time"

	pq "github.com/parquet-go/parquet-go"

	"github.com/tributary-data/tributary/connector"
	"github.com/tributary-data/tributary/connectors/filesink"
	"github.com/tributary-data/tributary/connectors/filesink/sinktest"
)

func TestDestinationConformance(t *testing.T) {
	for _, codec := range []string{"snappy", "zstd"} {
		t.Run(codec, func(t *testing.T) {
			f, err := SinkFormat(codec)
			if err != nil {
				t.Fatal(err)
			}
			sinktest.Run(t, sinktest.Options{Format: f, TimePrecision: time.Microsecond})
		})
	}
}

// TestDestinationFileSchema checks the parquet types other tools see.
func TestDestinationFileSchema(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	dst, err := connector.NewDestination(ctx, "parquet", json.RawMessage(`{"path":"`+dir+`","compression":"zstd"}`))
	if err != nil {
		t.Fatal(err)
	}
	w, err := dst.Open(ctx, connector.Load{Pipeline: "p", RunID: "r", Stream: "types", Schema: sinktest.AllTypes, SyncMode: connector.FullRefreshAppend})
	if err != nil {
		t.Fatal(err)
	}
	b := connector.NewBatch("types", sinktest.AllTypes, 4)
	for _, r := range sinktest.AllTypesRows() {
		b.Append(r)
	}
	if err := w.Write(ctx, b); err != nil {
		t.Fatal(err)
	}
	if err := w.Commit(ctx, json.RawMessage(`{}`)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(ctx, true); err != nil {
		t.Fatal(err)
	}
	parts, _ := filesink.Parts(dir, "types")
	if len(parts) != 1 {
		t.Fatalf("parts = %v", parts)
	}
	f, err := os.Open(parts[0])
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	pf, err := pq.OpenFile(f, st.Size())
	if err != nil {
		t.Fatal(err)
	}
	if pf.NumRows() != 4 {
		t.Errorf("rows = %d, want 4", pf.NumRows())
	}
	types := map[string]string{}
	for _, fld := range pf.Schema().Fields() {
		if !fld.Optional() {
			t.Errorf("column %s is not optional", fld.Name())
		}
		types[fld.Name()] = fld.Type().String()
		if lt := fld.Type().LogicalType(); lt != nil {
			types[fld.Name()] = lt.String()
		}
	}
	want := map[string]string{
		"bool": "BOOLEAN", "int64": "INT(64,true)", "float64": "DOUBLE", "decimal": "DECIMAL(18,4)",
		"string": "STRING", "bytes": "BYTE_ARRAY", "date": "DATE", "timestamp": "TIMESTAMP(isAdjustedToUTC=true,unit=MICROS)", "json": "JSON",
	}
	for k, v := range want {
		if types[k] != v {
			t.Errorf("column %s: type %s, want %s", k, types[k], v)
		}
	}
	meta, ok := pf.Lookup(SchemaKey)
	var s connector.Schema
	if !ok || json.Unmarshal([]byte(meta), &s) != nil || !s.Equal(sinktest.AllTypes) {
		t.Errorf("%s metadata = %q", SchemaKey, meta)
	}
}

// TestDestinationDecimalScales checks a growing scale starts a new part
// rather than rounding.
func TestDestinationDecimalScales(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	f, _ := SinkFormat("")
	d, _ := filesink.New(dir, f)
	schema := connector.NewSchema(connector.Field{Name: "amount", Type: connector.TypeDecimal, Nullable: true})
	w, err := d.Open(ctx, connector.Load{Stream: "s", Schema: schema, SyncMode: connector.FullRefreshAppend})
	if err != nil {
		t.Fatal(err)
	}
	batches := [][]connector.Decimal{
		{{Unscaled: 150, Scale: 2}, {Unscaled: 7, Scale: 0}},
		{{Unscaled: 25, Scale: 1}, {Unscaled: 12500, Scale: 4}}, // fits scale 2 exactly
		{{Unscaled: 12345, Scale: 4}},                           // needs scale 4
		{{Unscaled: 999999999999999999, Scale: 0}},              // too wide at scale 4
	}
	var want []connector.Decimal
	for _, vals := range batches {
		b := connector.NewBatch("s", schema, len(vals))
		for _, v := range vals {
			b.Append([]any{v})
			want = append(want, v)
		}
		if err := w.Write(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Commit(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(ctx, true); err != nil {
		t.Fatal(err)
	}
	var got []connector.Decimal
	err = ReadCommitted(ctx, dir, "s", func(_ *connector.Schema, row []any) error {
		got = append(got, row[0].(connector.Decimal))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.EqualFunc(got, want, func(a, b connector.Decimal) bool { return a.Cmp(b) == 0 }) {
		t.Errorf("decimals = %v, want %v", got, want)
	}
	if parts, _ := filesink.Parts(dir, "s"); len(parts) != 3 {
		t.Errorf("parts = %d, want 3 (scale 2, scale 4, scale 0)", len(parts))
	}
}

func TestDestinationConfig(t *testing.T) {
	tests := []struct {
		config  string
		wantErr bool
	}{
		{`{"path":"out"}`, false},
		{`{"path":"out","compression":"zstd"}`, false},
		{`{"path":"out","compression":"none"}`, false},
		{`{"path":"out","compression":"rar"}`, true},
		{`{}`, true},
	}
	for _, tc := range tests {
		_, err := NewDestination(context.Background(), json.RawMessage(tc.config))
		if (err != nil) != tc.wantErr {
			t.Errorf("%s: err = %v, want error %v", tc.config, err, tc.wantErr)
		}
	}
}

func BenchmarkDestinationWrite(b *testing.B) {
	f, err := SinkFormat("")
	if err != nil {
		b.Fatal(err)
	}
	sinktest.BenchmarkWrite(b, f)
}
