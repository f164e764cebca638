package postgres

import (
	"context"
	"encoding/json"
	"os"
	"strconv"
	"testing"

	"github.com/tributary-data/tributary/bench/people"
	"github.com/tributary-data/tributary/connector"
)

// BenchmarkLoadPeople writes the benchmark's people rows through the Writer
// API (full_refresh_overwrite, batches of 10,000, rows built in another
// goroutine as a source would), the number bench/csv_to_postgres.sh sets
// against psql \copy. TRIBUTARY_BENCH_ROWS sets the row count (default
// 100,000); TRIBUTARY_BENCH_SCHEMA keeps the table in a named schema.
func BenchmarkLoadPeople(b *testing.B) {
	rows := int64(100_000)
	if s := os.Getenv("TRIBUTARY_BENCH_ROWS"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			b.Fatal(err)
		}
		rows = n
	}
	var schema string
	if s := os.Getenv("TRIBUTARY_BENCH_SCHEMA"); s != "" {
		schema = s
	} else {
		_, schema = testSchema(b)
	}
	d := newTestDest(b, schema)
	ctx := context.Background()
	const batchSize = 10_000
	b.ResetTimer()
	for range b.N {
		w, err := d.Open(ctx, connector.Load{Pipeline: "bench", RunID: "r", Stream: "people", Schema: people.Schema, SyncMode: connector.FullRefreshOverwrite})
		if err != nil {
			b.Fatal(err)
		}
		batches := make(chan *connector.Batch, 2)
		go func() {
			defer close(batches)
			for start := int64(1); start <= rows; start += batchSize {
				bt := connector.NewBatch("people", people.Schema, batchSize)
				for i := start; i < start+batchSize && i <= rows; i++ {
					row := bt.NewRow()
					people.Values(row, i)
					bt.Append(row)
				}
				batches <- bt
			}
		}()
		n := 0
		for bt := range batches {
			if err := w.Write(ctx, bt); err != nil {
				b.Fatal(err)
			}
			bt.Release()
			if n++; n%10 == 0 {
				if err := w.Commit(ctx, json.RawMessage(strconv.Itoa(n))); err != nil {
					b.Fatal(err)
				}
			}
		}
		if err := w.Commit(ctx, json.RawMessage(`"end"`)); err != nil {
			b.Fatal(err)
		}
		if err := w.Close(ctx, true); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(rows*int64(b.N))/b.Elapsed().Seconds(), "rows/s")
}
