package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tributary-data/tributary/connector"
)

func testURL() string {
	if u := os.Getenv("TRIBUTARY_TEST_POSTGRES_URL"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
}

var schemaSeq atomic.Int64

// testSchema connects to the test server and returns a connection and a
// fresh schema name, dropped when the test ends.
func testSchema(t testing.TB) (*pgx.Conn, string) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, testURL())
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("postgres is not reachable: %v", err)
		}
		t.Skipf("postgres is not reachable (set CI to fail instead): %v", err)
	}
	name := fmt.Sprintf("trib_pg_%d_%d_%d", os.Getpid(), time.Now().UnixNano()%1e6, schemaSeq.Add(1))
	t.Cleanup(func() {
		if _, err := conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{name}.Sanitize()+" CASCADE"); err != nil {
			t.Errorf("drop schema: %v", err)
		}
		conn.Close(ctx)
	})
	return conn, name
}

func newTestDest(t testing.TB, schema string) *Destination {
	t.Helper()
	d, err := Open(context.Background(), DestinationConfig{URL: testURL(), Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func mkBatch(stream string, schema *connector.Schema, rows ...[]any) *connector.Batch {
	b := connector.NewBatch(stream, schema, len(rows))
	for i, r := range rows {
		row := b.NewRow()
		copy(row, r)
		b.Append(row)
		b.Origins = append(b.Origins, int64(i+1))
	}
	b.File = stream + ".csv"
	return b
}

// loadAll opens a writer, writes each batch followed by a commit with the
// batch number as state, and closes with ok.
func loadAll(t testing.TB, d *Destination, load connector.Load, batches ...*connector.Batch) {
	t.Helper()
	ctx := context.Background()
	w, err := d.Open(ctx, load)
	if err != nil {
		t.Fatal(err)
	}
	for i, b := range batches {
		if err := w.Write(ctx, b); err != nil {
			w.Close(ctx, false)
			t.Fatalf("write %d: %v", i, err)
		}
		if err := w.Commit(ctx, json.RawMessage(fmt.Sprintf(`{"batch":%d}`, i+1))); err != nil {
			w.Close(ctx, false)
			t.Fatalf("commit %d: %v", i, err)
		}
	}
	if err := w.Close(ctx, true); err != nil {
		t.Fatal(err)
	}
}

// query returns the rows of a query as strings (NULL as "<nil>").
func query(t testing.TB, conn *pgx.Conn, sql string, args ...any) [][]string {
	t.Helper()
	rows, err := conn.Query(context.Background(), sql, args...)
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	defer rows.Close()
	var out [][]string
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			t.Fatal(err)
		}
		r := make([]string, len(vals))
		for i, v := range vals {
			if v == nil {
				r[i] = "<nil>"
			} else {
				r[i] = fmt.Sprint(v)
			}
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return out
}

func qt(schema, table string) string { return pgx.Identifier{schema, table}.Sanitize() }

func joinRows(rows [][]string) string {
	var parts []string
	for _, r := range rows {
		parts = append(parts, strings.Join(r, "|"))
	}
	return strings.Join(parts, "\n")
}
