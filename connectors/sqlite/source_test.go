package sqlite

import (
	"context"
	"encoding/json"
	"path/filepath"
	"slices"
	"testing"

	"github.com/tributary-data/tributary/connector"
	"github.com/tributary-data/tributary/connectors/sqlsource/sourcetest"
)

func openSource(t *testing.T, path string) connector.Source {
	t.Helper()
	raw, _ := json.Marshal(SourceConfig{Path: path})
	src, err := NewSource(context.Background(), raw)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close() })
	return src
}

func TestSourceConformance(t *testing.T) {
	path := filepath.Join(t.TempDir(), "src.db")
	db, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	sourcetest.Run(t, sourcetest.Options{
		DB:      db,
		Source:  func(t *testing.T) connector.Source { return openSource(t, path) },
		Dialect: Dialect{},
		Types:   map[string]string{"int": "INTEGER", "timestamp": "DATETIME", "text": "TEXT", "decimal": "DECIMAL TEXT", "blob": "BLOB"},
	})
}

func TestDiscover(t *testing.T) {
	path := filepath.Join(t.TempDir(), "d.db")
	db, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`CREATE TABLE "odd ""name""; drop" (
		"k1" TEXT NOT NULL, "k2" INTEGER NOT NULL, "flag" BOOLEAN, "amount" DECIMAL(10,2), "f" REAL,
		"d" DATE, "ts" TIMESTAMP, "doc" JSON, "bin" BLOB, "any", "größe" VARCHAR(20),
		PRIMARY KEY ("k2", "k1"));
		CREATE TABLE "_tributary_state" (x);`); err != nil {
		t.Fatal(err)
	}
	cat, err := openSource(t, path).Discover(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(cat.Streams) != 1 {
		t.Fatalf("streams %+v", cat.Streams)
	}
	s := cat.Streams[0]
	if s.Name != `odd "name"; drop` || !slices.Equal(s.PrimaryKey, []string{"k2", "k1"}) {
		t.Fatalf("stream %+v", s)
	}
	want := map[string]connector.Type{
		"k1": connector.TypeString, "k2": connector.TypeInt64, "flag": connector.TypeBool, "amount": connector.TypeDecimal,
		"f": connector.TypeFloat64, "d": connector.TypeDate, "ts": connector.TypeTimestamp, "doc": connector.TypeJSON,
		"bin": connector.TypeBytes, "any": connector.TypeString, "größe": connector.TypeString,
	}
	for _, f := range s.Schema.Fields {
		if want[f.Name] != f.Type {
			t.Errorf("%s: %s, want %s", f.Name, f.Type, want[f.Name])
		}
	}
	if !slices.Equal(s.CursorCandidates, []string{"k2", "amount", "d", "ts"}) {
		t.Errorf("cursor candidates %v", s.CursorCandidates)
	}
	if !slices.Contains(s.SyncModes, connector.IncrementalDedup) {
		t.Errorf("sync modes %v", s.SyncModes)
	}
}
