package csv

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/tributary-data/tributary/connector"
)

// writeBenchFile writes the benchmark's shape: id, name, email, amount
// decimal(2), created_at timestamp, country, active bool, score float.
func writeBenchFile(tb testing.TB, path string, rows int) {
	tb.Helper()
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	fmt.Fprintln(w, "id,name,email,amount,created_at,country,active,score")
	countries := []string{"DE", "FR", "US", "JP", "BR"}
	for i := 1; i <= rows; i++ {
		fmt.Fprintf(w, "%d,Person %d,person%d@example.com,%d.%02d,2024-%02d-%02d %02d:%02d:%02d,%s,%t,%d.%03d\n",
			i, i, i, i%10000, i%100, i%12+1, i%28+1, i%24, i%60, i%60, countries[i%5], i%2 == 0, i%100, i%1000)
	}
	if err := w.Flush(); err != nil {
		tb.Fatal(err)
	}
	f.Close()
}

type countEmitter struct{ rows int }

func (c *countEmitter) Emit(_ context.Context, b *connector.Batch) error {
	c.rows += b.Len()
	b.Release()
	return nil
}
func (c *countEmitter) Checkpoint(context.Context, string, json.RawMessage) error { return nil }
func (c *countEmitter) Reject(_ context.Context, r connector.Reject) error {
	return fmt.Errorf("unexpected reject: %s", r.Reason)
}

func BenchmarkCSVRead(b *testing.B) {
	const rows = 200000
	path := filepath.Join(b.TempDir(), "bench.csv")
	writeBenchFile(b, path, rows)
	cfg, _ := json.Marshal(map[string]any{"path": path})
	src, err := New(context.Background(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	stream := connector.Stream{Name: "bench", Schema: map[string]connector.Type{"score": connector.TypeFloat64}}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		e := &countEmitter{}
		if err := src.Read(context.Background(), connector.ReadRequest{Streams: []connector.Stream{stream}}, e); err != nil {
			b.Fatal(err)
		}
		if e.rows != rows {
			b.Fatalf("read %d rows, want %d", e.rows, rows)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*rows), "ns/row")
}
