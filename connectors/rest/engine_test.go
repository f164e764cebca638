package rest

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tributary-data/tributary/engine"
	"github.com/tributary-data/tributary/pipeline"

	_ "github.com/tributary-data/tributary/connectors/postgres"
)

const pgURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// The acceptance example of the rest source, exactly as written, run by
// the engine into PostgreSQL: a first sync, an API failing mid-sync, the
// resumed run picking up at the page after the last commit, then an
// incremental sync upserting what changed.
func TestAcceptanceExampleIntoPostgres(t *testing.T) {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, pgURL)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("postgres: %v", err)
		}
		t.Skipf("postgres not reachable: %v", err)
	}
	schema := fmt.Sprintf("rest_accept_%d", time.Now().UnixNano()%1e9)
	t.Cleanup(func() {
		conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+schema+" CASCADE")
		conn.Close(ctx)
	})
	srv := newAPIServerAt(t, "bearer", 25, "127.0.0.1:8099")
	doc := `version: 1
name: orders-api
source:
  connector: rest
  config:
    base_url: http://127.0.0.1:8099/api
    auth: {type: bearer, token: "${API_TOKEN}"}
    rate_limit: {requests_per_second: 50}
  streams:
    - name: orders
      path: /orders
      records: $.data
      pagination: {type: cursor, cursor_path: $.next_cursor, param: cursor}
      incremental: {cursor_field: updated_at, param: updated_since}
      primary_key: [id]
      sync_mode: incremental_dedup
destination:
  connector: postgres
  config: {url: "` + pgURL + `", schema: ` + schema + `}
options:
  commit_rows: 1
`
	env := func(k string) (string, bool) {
		if k == "API_TOKEN" {
			return "t-456", true
		}
		return "", false
	}
	run := func() (*engine.Result, error) {
		spec, err := pipeline.Parse([]byte(doc), env)
		if err != nil {
			t.Fatal(err)
		}
		r, err := engine.New(spec, engine.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return r.Execute(ctx)
	}
	count := func() int {
		var n int
		if err := conn.QueryRow(ctx, "SELECT count(*) FROM "+schema+".orders").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	// Pages hold 7 orders; the API goes away at its third page.
	srv.down = 3
	_, err = run()
	if err == nil || !strings.Contains(err.Error(), "stream orders: page 3") || !strings.Contains(err.Error(), "404 Not Found") {
		t.Fatalf("first run: err = %v", err)
	}
	if n := count(); n != 14 {
		t.Fatalf("after the failed run the table holds %d rows, want the 14 of the two committed pages", n)
	}

	srv.mu.Lock()
	srv.down, srv.requests = 0, nil
	srv.mu.Unlock()
	res, err := run()
	if err != nil {
		t.Fatal(err)
	}
	if st := res.Streams[0]; st.Read != 11 || st.Written != 11 {
		t.Fatalf("resumed run: %+v", st)
	}
	if got, want := srv.log(), []string{"/orders?cursor=YXQ6MTQ", "/orders?cursor=YXQ6MjE"}; !slices.Equal(got, want) {
		t.Fatalf("resumed run requests = %v, want %v", got, want)
	}
	if n := count(); n != 25 {
		t.Fatalf("table holds %d rows", n)
	}

	srv.mu.Lock()
	srv.orders[4].Customer = "renamed"
	srv.orders[4].UpdatedAt = epoch.Add(40 * time.Hour).Format(time.RFC3339)
	srv.orders = append(srv.orders, order{ID: 26, Customer: "new", Amount: "9.99", UpdatedAt: epoch.Add(41 * time.Hour).Format(time.RFC3339)})
	srv.requests = nil
	srv.mu.Unlock()
	res, err = run()
	if err != nil {
		t.Fatal(err)
	}
	if st := res.Streams[0]; st.Read != 2 || st.Written != 2 {
		t.Fatalf("incremental run: %+v", st)
	}
	if got := srv.log(); len(got) != 1 || !strings.HasPrefix(got[0], "/orders?updated_since=2026-01-02T00%3A00%3A00Z") {
		t.Fatalf("incremental run requests = %v", got)
	}
	var customer string
	var updated time.Time
	if err := conn.QueryRow(ctx, "SELECT customer, updated_at FROM "+schema+".orders WHERE id = 5").Scan(&customer, &updated); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 26 || customer != "renamed" || !updated.Equal(epoch.Add(40*time.Hour)) {
		t.Fatalf("rows %d, order 5: %s %s", n, customer, updated)
	}
}

// Validation plans steps on the schemas the source describes; a REST
// source can only describe the streams the pipeline defines.
func TestDiscoverSchemasOfPipelineStreams(t *testing.T) {
	srv := newAPIServer(t, "bearer", 10)
	doc := `version: 1
name: orders-api
source:
  connector: rest
  config:
    base_url: ` + srv.URL + `/api
    auth: {type: bearer, token: t-456}
  streams:
    - name: orders
      path: /orders
      records: $.data
      pagination: {type: cursor, cursor_path: $.next_cursor, param: cursor}
      primary_key: [id]
destination:
  connector: jsonl
  config: {path: ` + t.TempDir() + `}
`
	spec, err := pipeline.Parse([]byte(doc), nil)
	if err != nil {
		t.Fatal(err)
	}
	schemas, missing, err := engine.DiscoverSchemas(context.Background(), spec)
	if err != nil || len(missing) > 0 {
		t.Fatalf("discover: missing %v, err %v", missing, err)
	}
	s := schemas["orders"]
	if s == nil || s.Index("id") < 0 || s.Index("updated_at") < 0 {
		t.Fatalf("orders schema %v", s)
	}
}
