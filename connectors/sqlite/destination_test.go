package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"path/filepath"
	"testing"

	"github.com/tributary-data/tributary/connector"
	"github.com/tributary-data/tributary/connectors/sqldest/desttest"
)

func TestDestinationConformance(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "dest.db")
	newDest := func(t *testing.T) connector.Destination {
		raw, _ := json.Marshal(DestinationConfig{Path: path})
		d, err := NewDestination(context.Background(), raw)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { d.Close() })
		return d
	}
	first := newDest(t)
	desttest.Run(t, desttest.Options{
		Destination: newDest,
		Source:      func(t *testing.T) connector.Source { return openSource(t, path) },
		DB:          first.(interface{ DB() *sql.DB }).DB(),
		Table:       DestDialect{}.Table,
		Quote:       Dialect{}.Quote,
	})
}

func BenchmarkAppend(b *testing.B) {
	raw, _ := json.Marshal(DestinationConfig{Path: filepath.Join(b.TempDir(), "bench.db")})
	d, err := NewDestination(context.Background(), raw)
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	desttest.Benchmark(b, d)
}
