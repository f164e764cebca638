package engine_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	_ "github.com/tributary-data/tributary/connectors/csv"
	"github.com/tributary-data/tributary/connectors/sqlite"
	"github.com/tributary-data/tributary/engine"
	"github.com/tributary-data/tributary/pipeline"
)

// TestStreamsIntoOneSQLiteFile loads several streams into one SQLite file,
// which allows one writing transaction at a time: a stream's writer must
// not wait on another stream's transaction that the loader holds open.
func TestStreamsIntoOneSQLiteFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, from, to int) {
		var b strings.Builder
		b.WriteString("id,name\n")
		for i := from; i <= to; i++ {
			fmt.Fprintf(&b, "%d,n%d\n", i, i)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	streams := []struct{ name, mode string }{
		{"a", "sync_mode: incremental_dedup, primary_key: [id], cursor_field: id"},
		{"b", "sync_mode: incremental_append, cursor_field: id"},
		{"c", "sync_mode: full_refresh_overwrite"},
		{"d", "sync_mode: full_refresh_append"},
	}
	var cfg, sel strings.Builder
	for _, s := range streams {
		write(s.name+"-1.csv", 1, 500)
		fmt.Fprintf(&cfg, "      - {name: %s, path: %s/%s-*.csv}\n", s.name, dir, s.name)
		fmt.Fprintf(&sel, "    - {name: %s, %s}\n", s.name, s.mode)
	}
	doc := fmt.Sprintf(`version: 1
name: many-streams
source:
  connector: csv
  config:
    streams:
%s  streams:
%sdestination:
  connector: sqlite
  config: {path: %s/out.db}
`, cfg.String(), sel.String(), dir)
	spec, err := pipeline.Parse([]byte(doc), nil)
	if err != nil {
		t.Fatal(err)
	}
	run := func() {
		t.Helper()
		r, err := engine.New(spec, engine.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.Execute(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	run()
	for _, s := range streams {
		write(s.name+"-2.csv", 501, 600)
	}
	run()
	db, err := sqlite.Open(filepath.Join(dir, "out.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// Incremental streams read only the new file; full refreshes read both:
	// overwrite keeps the last refresh, append keeps both.
	want := map[string]int{"a": 600, "b": 600, "c": 600, "d": 1100}
	for name, n := range want {
		var got int
		if err := db.QueryRow(`SELECT count(*) FROM ` + name).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != n {
			t.Errorf("table %s: %d rows, want %d", name, got, n)
		}
	}
}
