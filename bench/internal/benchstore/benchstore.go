// Package benchstore opens the fresh metadata stores benchmarks measure: a
// SQLite file in a directory, or a PostgreSQL schema of its own that is
// dropped afterwards.
package benchstore

import (
	"context"
	"fmt"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/tributary-data/tributary/store"
)

// Open opens a store of kind ("sqlite" in dir, or "postgres" at pgURL in
// a new schema named after prefix, with params added to its URL) and
// returns it with the function that closes and removes it.
func Open(ctx context.Context, kind, dir, pgURL, prefix, params string) (store.Store, func(), error) {
	switch kind {
	case "sqlite":
		st, err := store.Open(ctx, store.Options{DataDir: dir})
		if err != nil {
			return nil, nil, err
		}
		return st, func() { st.Close() }, nil
	case "postgres":
		conn, err := pgx.Connect(ctx, pgURL)
		if err != nil {
			return nil, nil, err
		}
		schema := prefix + strings.ReplaceAll(uuid.NewString()[:8], "-", "")
		if _, err := conn.Exec(ctx, `CREATE SCHEMA `+schema); err != nil {
			conn.Close(ctx)
			return nil, nil, err
		}
		drop := func() {
			conn.Exec(context.Background(), `DROP SCHEMA `+schema+` CASCADE`)
			conn.Close(context.Background())
		}
		sep := "?"
		if strings.Contains(pgURL, "?") {
			sep = "&"
		}
		url := pgURL + sep + "search_path=" + schema
		if params != "" {
			url += "&" + params
		}
		st, err := store.Open(ctx, store.Options{DatabaseURL: url})
		if err != nil {
			drop()
			return nil, nil, err
		}
		return st, func() { st.Close(); drop() }, nil
	}
	return nil, nil, fmt.Errorf("-store %q: want sqlite or postgres", kind)
}
