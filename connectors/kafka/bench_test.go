package kafka_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tributary-data/tributary/engine"
	"github.com/tributary-data/tributary/pipeline"

	_ "github.com/tributary-data/tributary/connectors/postgres"
)

func benchPostgresURL() string {
	if u := os.Getenv("TRIBUTARY_TEST_POSTGRES_URL"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
}

// BenchmarkContinuousToPostgres produces TRIBUTARY_BENCH_ROWS messages
// (default 1,000,000) to a one-partition topic of an in-process broker as
// fast as it can while a continuous run loads them into PostgreSQL with
// commit_interval 1s. rows/s is messages loaded per second from the first
// produced to the last committed; lag_p95_ms is the 95th percentile, over
// messages, of the time from a message's production to the commit that made
// it visible (read from the state committed with the rows, polled every
// 20 ms), so it includes the backlog when production outruns the load.
func BenchmarkContinuousToPostgres(b *testing.B) {
	total := 1_000_000
	if s := os.Getenv("TRIBUTARY_BENCH_ROWS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			b.Fatal(err)
		}
		total = n
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, benchPostgresURL())
	if err != nil {
		b.Skipf("postgres is not reachable: %v", err)
	}
	defer conn.Close(ctx)
	for range b.N {
		schema := fmt.Sprintf("trib_kafka_bench_%d", time.Now().UnixNano())
		b.Cleanup(func() { _, _ = conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+schema+" CASCADE") })
		c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "orders"))
		if err != nil {
			b.Fatal(err)
		}
		addrs := c.ListenAddrs()
		doc := fmt.Sprintf(`version: 1
name: kafka-bench
source:
  connector: kafka
  config: {brokers: [%q], continuous: true}
  streams:
    - {name: orders, sync_mode: incremental_append}
destination:
  connector: postgres
  config: {url: %q, schema: %s}
options: {commit_interval: 1s, profile: false}
`, addrs[0], benchPostgresURL(), schema)
		spec, err := pipeline.Parse([]byte(doc), nil)
		if err != nil {
			b.Fatal(err)
		}
		r, err := engine.New(spec, engine.Options{})
		if err != nil {
			b.Fatal(err)
		}
		runCtx, cancel := context.WithCancel(ctx)
		var wg sync.WaitGroup
		wg.Add(1)
		var res *engine.Result
		go func() {
			defer wg.Done()
			res, _ = r.Execute(runCtx)
		}()

		cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...), kgo.ProducerLinger(5*time.Millisecond))
		if err != nil {
			b.Fatal(err)
		}
		produced := make([]time.Time, total)
		start := time.Now()
		go func() {
			for i := range total {
				produced[i] = time.Now()
				v := fmt.Appendf(nil, `{"id":%d,"customer":"c%d","amount":%d.25,"at":"2026-01-02T03:04:05Z"}`, i, i%1000, i%10000)
				cl.Produce(ctx, &kgo.Record{Topic: "orders", Value: v}, func(_ *kgo.Record, err error) {
					if err != nil {
						b.Error(err)
					}
				})
			}
			_ = cl.Flush(ctx)
		}()
		// visible[i] is when offset i was first seen committed.
		var lags []time.Duration
		var committed int64
		deadline := time.Now().Add(30 * time.Minute)
		for committed < int64(total) {
			if time.Now().After(deadline) {
				b.Fatalf("only %d of %d committed", committed, total)
			}
			time.Sleep(20 * time.Millisecond)
			var raw string
			err := conn.QueryRow(ctx, fmt.Sprintf(`SELECT state FROM %s._tributary_state WHERE pipeline = 'kafka-bench'`, schema)).Scan(&raw)
			if err != nil {
				continue
			}
			var env struct {
				State struct {
					Offsets map[string]map[string]int64 `json:"offsets"`
				} `json:"state"`
			}
			if err := json.Unmarshal([]byte(raw), &env); err != nil {
				b.Fatal(err)
			}
			at := env.State.Offsets["orders"]["0"]
			now := time.Now()
			for i := committed; i < at; i++ {
				lags = append(lags, now.Sub(produced[i]))
			}
			committed = max(committed, at)
		}
		elapsed := time.Since(start)
		cancel()
		wg.Wait()
		cl.Close()
		c.Close()
		if res.Status != engine.Cancelled {
			b.Fatalf("run %s: %s", res.Status, res.Error)
		}
		var n int64
		if err := conn.QueryRow(ctx, fmt.Sprintf(`SELECT count(*) FROM %s.orders`, schema)).Scan(&n); err != nil || n != int64(total) {
			b.Fatalf("%d rows loaded (%v), want %d", n, err, total)
		}
		slices.Sort(lags)
		b.ReportMetric(float64(total)/elapsed.Seconds(), "rows/s")
		b.ReportMetric(float64(lags[len(lags)*95/100].Milliseconds()), "lag_p95_ms")
		b.ReportMetric(float64(lags[len(lags)/2].Milliseconds()), "lag_p50_ms")
	}
}
