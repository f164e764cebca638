// Package storetest opens real stores for tests: a SQLite file in a
// temporary directory, and PostgreSQL in a schema of its own that is
// dropped when the test ends.
package storetest

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/tributary-data/tributary/store"
)

// PostgresURL is the test server.
const PostgresURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// PostgresSchema creates a schema of its own for the test and returns a
// URL whose search_path selects it. Without a server the test fails under
// CI and skips elsewhere.
func PostgresSchema(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, PostgresURL)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("PostgreSQL at %s is required: %v", PostgresURL, err)
		}
		t.Skipf("PostgreSQL not reachable (%v); CI fails here instead of skipping", err)
	}
	defer conn.Close(context.Background())
	schema := "trib_store_" + strings.ReplaceAll(uuid.NewString()[:13], "-", "")
	if _, err := conn.Exec(ctx, fmt.Sprintf(`CREATE SCHEMA %s`, schema)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, PostgresURL)
		if err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, fmt.Sprintf(`DROP SCHEMA %s CASCADE`, schema)); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	return PostgresURL + "&search_path=" + schema
}

// Kinds are the stores every store-backed test runs against.
var Kinds = []string{"sqlite", "postgres"}

// Open opens a fresh, migrated store of the kind ("sqlite" or "postgres")
// for the test and closes it when the test ends; a SQLite store's file
// lives in dir.
func Open(t testing.TB, kind, dir string) store.Store {
	t.Helper()
	opts := store.Options{DataDir: dir}
	if kind == "postgres" {
		opts = store.Options{DatabaseURL: PostgresSchema(t)}
	}
	s, err := store.Open(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// Each runs f against a fresh store of every kind, in parallel subtests.
func Each(t *testing.T, f func(t *testing.T, s store.Store)) {
	for _, kind := range Kinds {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			f(t, Open(t, kind, t.TempDir()))
		})
	}
}
