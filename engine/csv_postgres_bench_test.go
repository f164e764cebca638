package engine_test

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/tributary-data/tributary/engine"
	"github.com/tributary-data/tributary/pipeline"

	_ "github.com/tributary-data/tributary/connectors/csv"
	_ "github.com/tributary-data/tributary/connectors/postgres"
)

// BenchmarkCSVToPostgres runs the pipeline of bench/csv_to_postgres.sh in
// process, so `go test -bench CSVToPostgres -cpuprofile` shows where a run
// spends its time. It needs the file named by TRIBUTARY_BENCH_CSV (made by
// bench/gen) and a PostgreSQL server.
func BenchmarkCSVToPostgres(b *testing.B) {
	path := os.Getenv("TRIBUTARY_BENCH_CSV")
	if path == "" {
		b.Skip("TRIBUTARY_BENCH_CSV names no file; generate one with go run ./bench/gen")
	}
	url := os.Getenv("TRIBUTARY_TEST_POSTGRES_URL")
	if url == "" {
		url = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		b.Fatalf("connect: %v", err)
	}
	defer conn.Close(ctx)
	const schema = "tributary_engine_bench"
	if _, err := conn.Exec(ctx, "CREATE SCHEMA IF NOT EXISTS "+schema); err != nil {
		b.Fatal(err)
	}
	defer conn.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE")
	for _, profile := range []bool{true, false} {
		b.Run(fmt.Sprintf("profile=%t", profile), func(b *testing.B) {
			yaml := fmt.Sprintf(`version: 1
name: bench-csv-to-postgres
source:
  connector: csv
  config:
    path: %s
  streams:
    - name: people
      sync_mode: full_refresh_overwrite
      schema: {id: int64, name: string, email: string, amount: decimal, created_at: timestamp, country: string, active: bool, score: float64}
destination:
  connector: postgres
  config:
    url: %s
    schema: %s
options:
  profile: %t
`, path, url, schema, profile)
			for b.Loop() {
				spec, err := pipeline.Parse([]byte(yaml), os.LookupEnv)
				if err != nil {
					b.Fatal(err)
				}
				run, err := engine.New(spec, engine.Options{})
				if err != nil {
					b.Fatal(err)
				}
				if _, err := run.Execute(ctx); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
