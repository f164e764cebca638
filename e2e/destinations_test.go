package e2e

import (
	"bufio"
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"

	_ "modernc.org/sqlite"

	"github.com/tributary-data/tributary/connector"
	"github.com/tributary-data/tributary/connectors/filesink"
	"github.com/tributary-data/tributary/connectors/jsonl"
)

// countDestination counts the committed rows of stream people and the
// quarantined records in the destination of the example pipeline file.
func countDestination(t *testing.T, dir, file string) (rows, quarantined int64) {
	t.Helper()
	switch {
	case strings.Contains(file, "sqlite"):
		db, err := sql.Open("sqlite", filepath.Join(dir, "out.db"))
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if err := db.QueryRow(`SELECT count(*) FROM people`).Scan(&rows); err != nil {
			t.Fatal(err)
		}
		if err := db.QueryRow(`SELECT count(*) FROM _tributary_quarantine`).Scan(&quarantined); err != nil {
			t.Fatal(err)
		}
	case strings.Contains(file, "jsonl"):
		out := filepath.Join(dir, "out")
		n, err := filesink.Rows(out, "people")
		if err != nil {
			t.Fatal(err)
		}
		rows = n
		quarantined = int64(countLines(t, filepath.Join(out, "people.quarantine.jsonl")))
	default:
		t.Fatalf("no counter for %s", file)
	}
	return rows, quarantined
}

func countLines(t *testing.T, path string) int {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	n := 0
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		n++
	}
	return n
}

// jsonlIDs returns the id column of every committed row of a stream.
func jsonlIDs(t *testing.T, dir, stream string) []int64 {
	t.Helper()
	var ids []int64
	err := jsonl.ReadCommitted(context.Background(), dir, stream, func(s *connector.Schema, row []any) error {
		v, err := connector.Convert(connector.TypeInt64, row[s.Index("id")])
		if err != nil {
			return err
		}
		ids = append(ids, v.(int64))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return ids
}
