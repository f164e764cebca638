package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tributary-data/tributary/store"
)

func newBackupCmd() *cobra.Command {
	var (
		dataDir string
		out     string
		force   bool
	)
	cmd := &cobra.Command{
		Use:   "backup --data DIR -o FILE",
		Short: "Write a consistent snapshot of the embedded store to a file",
		Long: `Write a consistent snapshot of the embedded SQLite store (DATA/tributary.db)
to FILE with SQLite's VACUUM INTO, while tributary serve may be running, then
open the copy to verify it. The copy is a complete store: start a server on
it by placing it as tributary.db in an empty data directory.

With ` + databaseURLEnv + ` set the store is PostgreSQL: back it up with
pg_dump; the command prints how and exits with status 2.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if u := os.Getenv(databaseURLEnv); u != "" {
				fmt.Fprint(cmd.OutOrStdout(), pgDumpGuidance(u, out))
				return exitError{code: 2}
			}
			if out == "" {
				return errors.New("-o FILE is required: where to write the backup")
			}
			src := filepath.Join(dataDir, "tributary.db")
			sum, err := backupSQLite(cmd.Context(), src, out, force)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "backup of %s written to %s (%d bytes): %d pipelines, %d connections, %d runs; integrity ok\n",
				src, out, sum.bytes, sum.pipelines, sum.connections, sum.runs)
			return nil
		},
	}
	cmd.Flags().StringVar(&dataDir, "data", "./tributary-data", "data directory holding tributary.db")
	cmd.Flags().StringVarP(&out, "output", "o", "", "file to write the backup to")
	cmd.Flags().BoolVar(&force, "force", false, "replace the output file if it exists")
	return cmd
}

type backupSummary struct {
	bytes                        int64
	pipelines, connections, runs int64
}

// backupSQLite snapshots src into a temporary file next to dst, checks
// the copy, and only then moves it to dst, so dst is a whole verified
// backup or untouched.
func backupSQLite(ctx context.Context, src, dst string, force bool) (*backupSummary, error) {
	if _, err := os.Stat(src); err != nil {
		return nil, fmt.Errorf("no embedded store to back up: %w", err)
	}
	if _, err := os.Stat(dst); err == nil && !force {
		return nil, fmt.Errorf("%s exists; pass --force to replace it", dst)
	}
	tmp, err := os.CreateTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".*.tmp")
	if err != nil {
		return nil, fmt.Errorf("create backup file: %w", err)
	}
	tmpPath := tmp.Name()
	tmp.Close()
	// VACUUM INTO refuses to write over a file, even an empty one.
	os.Remove(tmpPath)
	defer os.Remove(tmpPath)

	db, err := sql.Open("sqlite", store.SQLiteDSN(src))
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", src, err)
	}
	defer db.Close()
	// One read transaction: the copy is the store as of its start, while
	// a running server goes on writing to the WAL.
	if _, err := db.ExecContext(ctx, `VACUUM INTO ?`, tmpPath); err != nil {
		return nil, fmt.Errorf("snapshot %s: %w", src, err)
	}
	sum, err := verifyBackup(ctx, tmpPath)
	if err != nil {
		return nil, fmt.Errorf("verify the backup: %w", err)
	}
	if err := syncFile(tmpPath); err != nil {
		return nil, err
	}
	if err := os.Rename(tmpPath, dst); err != nil {
		return nil, fmt.Errorf("move the backup into place: %w", err)
	}
	return sum, nil
}

// verifyBackup opens a copy read-only, checks its integrity and counts
// what it holds.
func verifyBackup(ctx context.Context, path string) (*backupSummary, error) {
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		return nil, err
	}
	defer db.Close()
	var check string
	if err := db.QueryRowContext(ctx, `PRAGMA integrity_check`).Scan(&check); err != nil {
		return nil, err
	}
	if check != "ok" {
		return nil, fmt.Errorf("integrity check: %s", check)
	}
	sum := &backupSummary{}
	for _, c := range []struct {
		table string
		n     *int64
	}{{"pipelines", &sum.pipelines}, {"connections", &sum.connections}, {"runs", &sum.runs}} {
		if err := db.QueryRowContext(ctx, `SELECT count(*) FROM `+c.table).Scan(c.n); err != nil {
			return nil, fmt.Errorf("count %s: %w", c.table, err)
		}
	}
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	sum.bytes = st.Size()
	return sum, nil
}

func syncFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync the backup: %w", err)
	}
	return nil
}

// pgDumpGuidance says how to back up a PostgreSQL store; the URL's
// password is not repeated.
func pgDumpGuidance(dbURL, out string) string {
	if out == "" {
		out = "tributary.dump"
	}
	shown, schema := dbURL, ""
	if u, err := url.Parse(dbURL); err == nil {
		schema = u.Query().Get("search_path")
		q := u.Query()
		q.Del("search_path")
		u.RawQuery = q.Encode()
		shown = u.Redacted()
	}
	var w strings.Builder
	fmt.Fprintf(&w, "The store is PostgreSQL (%s is set): back it up with pg_dump, which takes a consistent\n", databaseURLEnv)
	fmt.Fprintf(&w, "snapshot while servers and workers keep running. The store's tables and River's job tables\n")
	fmt.Fprintf(&w, "live in the same database")
	if schema != "" {
		fmt.Fprintf(&w, " and schema (%s)", schema)
	}
	fmt.Fprintf(&w, ".\n\n")
	schemaFlag := ""
	if schema != "" {
		schemaFlag = " --schema=" + schema
	}
	fmt.Fprintf(&w, "  pg_dump --format=custom%s --file=%s '%s'\n\n", schemaFlag, out, shown)
	fmt.Fprintf(&w, "Restore into an empty database with:\n\n  pg_restore --no-owner --dbname='%s' %s\n\n", shown, out)
	fmt.Fprintf(&w, "No backup was written.\n")
	return w.String()
}
