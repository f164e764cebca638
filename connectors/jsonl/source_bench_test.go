package jsonl

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

func BenchmarkJSONLRead(b *testing.B) {
	const rows = 50000
	path := filepath.Join(b.TempDir(), "bench.jsonl")
	f, _ := os.Create(path)
	w := bufio.NewWriter(f)
	for i := 1; i <= rows; i++ {
		fmt.Fprintf(w, `{"id":%d,"name":"Person %d","email":"p%d@example.com","amount":%d.%02d,"created_at":"2024-01-02T03:04:05Z","active":%t,"tags":["a","b"]}`+"\n", i, i, i, i, i%100, i%2 == 0)
	}
	w.Flush()
	f.Close()
	cfg, _ := json.Marshal(map[string]any{"path": path})
	src, err := New(context.Background(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		e := &countEmitter{}
		if err := src.Read(context.Background(), connector.ReadRequest{Streams: []connector.Stream{{Name: "bench"}}}, e); err != nil {
			b.Fatal(err)
		}
		if e.rows != rows {
			b.Fatalf("read %d rows, want %d", e.rows, rows)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*rows), "ns/row")
}
