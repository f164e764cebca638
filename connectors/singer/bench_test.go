package singer_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/tributary-data/tributary/connector"
	"github.com/tributary-data/tributary/connectors/singer"
)

type countEmitter struct{ rows int }

func (c *countEmitter) Emit(_ context.Context, b *connector.Batch) error {
	c.rows += b.Len()
	b.Release()
	return nil
}
func (c *countEmitter) Checkpoint(context.Context, string, json.RawMessage) error { return nil }
func (c *countEmitter) Reject(context.Context, connector.Reject) error            { return nil }

// BenchmarkTapRead reads 100k records of five fields from a tap sending
// STATE every 1,000 records: the cost of parsing, validating and typing
// Singer messages, tap included.
func BenchmarkTapRead(b *testing.B) {
	const n = 100_000
	raw, _ := json.Marshal(map[string]any{"command": tapBin, "config": map[string]any{"count": n, "state_every": 1000}})
	src, err := singer.NewSource(context.Background(), raw)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		c := &countEmitter{}
		err := src.Read(context.Background(), connector.ReadRequest{
			Streams: []connector.Stream{{Name: "users", SyncMode: connector.FullRefreshAppend}}, BatchSize: 10_000}, c)
		if err != nil {
			b.Fatal(err)
		}
		if c.rows != n {
			b.Fatalf("%d rows", c.rows)
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "rows/s")
}
