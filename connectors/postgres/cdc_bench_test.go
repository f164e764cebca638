package postgres_test

import (
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/tributary-data/tributary/internal/pgcluster"
)

// BenchmarkCDCUpdates applies updates through change data capture: a table
// of TRIBUTARY_BENCH_ROWS rows (default 100,000) in a private cluster is
// snapshotted into the shared PostgreSQL, then each iteration updates every
// row (in transactions of 10,000) and times one run that applies them.
// rows/s counts updates applied; lag_ms is from the last update's commit to
// the end of the run that made it visible at the destination.
func BenchmarkCDCUpdates(b *testing.B) {
	rows := 100_000
	if s := os.Getenv("TRIBUTARY_BENCH_ROWS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			b.Fatal(err)
		}
		rows = n
	}
	c := pgcluster.Start(b, pgcluster.LogicalReplication(),
		pgcluster.WithSetting("max_wal_size", "2GB"), pgcluster.WithSetting("shared_buffers", "256MB"))
	e := newCDCEnv(b, c, "bench", "soft")
	e.exec(e.src, itemsDDL, fmt.Sprintf(`INSERT INTO items
		SELECT i, 'item ' || i, i / 100.0, jsonb_build_object('i', i), '\x0102', now(), i %% 2 = 0 FROM generate_series(1, %d) i`, rows))
	e.mustRun("", int64(rows))
	const perTx = 10_000
	var applied int
	var runTime, lag time.Duration
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		for lo := 1; lo <= rows; lo += perTx {
			e.exec(e.src, fmt.Sprintf("UPDATE items SET price = price + 1, seen = now() WHERE id BETWEEN %d AND %d", lo, lo+perTx-1))
		}
		committed := time.Now()
		b.StartTimer()
		start := time.Now()
		e.mustRun("", int64(rows))
		runTime += time.Since(start)
		lag += time.Since(committed)
		applied += rows
	}
	b.StopTimer()
	e.matches("after the updates")
	b.ReportMetric(float64(applied)/runTime.Seconds(), "rows/s")
	b.ReportMetric(float64(lag.Milliseconds())/float64(b.N), "lag_ms")
}
