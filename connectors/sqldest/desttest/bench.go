package desttest

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/tributary-data/tributary/connector"
)

// Benchmark appends b.N rows of a typical six-column shape in batches of
// 10,000, committing after each, and reports rows per second.
func Benchmark(b *testing.B, d connector.Destination) {
	s := connector.NewSchema(
		connector.Field{Name: "id", Type: connector.TypeInt64},
		connector.Field{Name: "name", Type: connector.TypeString, Nullable: true},
		connector.Field{Name: "amount", Type: connector.TypeDecimal, Nullable: true},
		connector.Field{Name: "score", Type: connector.TypeFloat64, Nullable: true},
		connector.Field{Name: "active", Type: connector.TypeBool, Nullable: true},
		connector.Field{Name: "at", Type: connector.TypeTimestamp, Nullable: true},
	)
	w, err := d.Open(ctx, connector.Load{Pipeline: "bench", RunID: "b", Stream: fmt.Sprintf("bench_%d", time.Now().UnixNano()), Schema: s, SyncMode: connector.FullRefreshAppend})
	if err != nil {
		b.Fatal(err)
	}
	at := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	b.ResetTimer()
	for done := 0; done < b.N; {
		n := min(10000, b.N-done)
		bt := connector.NewBatch("bench", s, n)
		for i := range n {
			row := bt.NewRow()
			id := int64(done + i)
			row[0], row[1], row[2], row[3], row[4], row[5] = id, fmt.Sprintf("customer %d", id), connector.Decimal{Unscaled: id * 7, Scale: 2}, float64(id)/3, id%2 == 0, at.Add(time.Duration(id)*time.Second)
			bt.Append(row)
		}
		if err := w.Write(ctx, bt); err != nil {
			b.Fatal(err)
		}
		if err := w.Commit(ctx, json.RawMessage(fmt.Sprintf(`{"n":%d}`, done+n))); err != nil {
			b.Fatal(err)
		}
		done += n
	}
	if err := w.Close(ctx, true); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}
