package pgcluster_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tributary-data/tributary/internal/pgcluster"
)

func TestStartStopKeepsDataAndSettings(t *testing.T) {
	c := pgcluster.Start(t, pgcluster.LogicalReplication())
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	query := func(sql string) string {
		t.Helper()
		conn, err := pgx.Connect(ctx, c.URL(""))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		var s string
		if err := conn.QueryRow(ctx, sql).Scan(&s); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
		return s
	}
	if got := query("SHOW wal_level"); got != "logical" {
		t.Fatalf("wal_level = %q, want logical", got)
	}
	{
		conn, err := pgx.Connect(ctx, c.URL(""))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Exec(ctx, "CREATE TABLE kept AS SELECT 'here'::text AS v"); err != nil {
			t.Fatal(err)
		}
		conn.Close(ctx)
	}
	c.Stop()
	if conn, err := pgx.Connect(ctx, c.URL("")); err == nil {
		conn.Close(ctx)
		t.Fatal("connected to a stopped cluster")
	}
	c.Start()
	if got := query("SELECT v FROM kept"); got != "here" {
		t.Fatalf("after restart: %q", got)
	}
	if got := query("SHOW wal_level"); got != "logical" {
		t.Fatalf("wal_level after restart = %q", got)
	}
}
