package e2e

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/uuid"
	_ "modernc.org/sqlite"
)

// TestMigrate: `tributary migrate` creates the store's tables and River's on
// an empty store of either kind, and a second migrate changes nothing.
func TestMigrate(t *testing.T) {
	conn := needPostgres(t)
	ctx := context.Background()
	tables := []string{"tributary_migrations", "connections", "pipelines", "runs", "river_job"}
	for _, kind := range []string{"sqlite", "postgres"} {
		t.Run(kind, func(t *testing.T) {
			dir := t.TempDir()
			data := filepath.Join(dir, "tributary-data")
			var env []string
			var count func(table string) int64
			if kind == "postgres" {
				meta := "e2e_migrate_" + strings.ReplaceAll(uuid.NewString()[:8], "-", "")
				if _, err := conn.Exec(ctx, `CREATE SCHEMA `+meta); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() {
					if _, err := conn.Exec(ctx, `DROP SCHEMA `+meta+` CASCADE`); err != nil {
						t.Error(err)
					}
				})
				env = pgStoreEnv(pgURL + "&search_path=" + meta)
				count = func(table string) int64 {
					return queryInt(t, conn, `SELECT count(*) FROM information_schema.tables WHERE table_schema = $1 AND table_name = $2`, meta, table)
				}
			} else {
				count = func(table string) int64 {
					db, err := sql.Open("sqlite", filepath.Join(data, "tributary.db"))
					if err != nil {
						t.Fatal(err)
					}
					defer db.Close()
					var n int64
					if err := db.QueryRow(`SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?`, table).Scan(&n); err != nil {
						t.Fatal(err)
					}
					return n
				}
			}
			var versions []string
			for i := range 2 {
				r := tributary(t, dir, env, "migrate", "--data", data)
				want := "store migrated: postgres"
				if kind == "sqlite" {
					want = "store migrated: " + filepath.Join(data, "tributary.db")
				}
				if r.code != 0 || !strings.Contains(r.stdout, want) {
					t.Fatalf("migrate %d: exit %d\n%s%s", i+1, r.code, r.stdout, r.stderr)
				}
				for _, table := range tables {
					if count(table) != 1 {
						t.Errorf("migrate %d: no table %s", i+1, table)
					}
				}
				versions = append(versions, r.stdout)
			}
			if versions[0] != versions[1] {
				t.Errorf("second migrate said %q, first %q", versions[1], versions[0])
			}
		})
	}
}
