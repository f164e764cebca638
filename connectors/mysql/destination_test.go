package mysql

import (
	"context"
	"database/sql"
	"encoding/json"
	"testing"
	"time"

	"github.com/tributary-data/tributary/connector"
	"github.com/tributary-data/tributary/connectors/sqldest/desttest"
)

func TestDestinationConformance(t *testing.T) {
	dsn := newDatabase(t)
	newDest := func(t *testing.T) connector.Destination {
		raw, _ := json.Marshal(DestinationConfig{DSN: dsn})
		d, err := NewDestination(context.Background(), raw)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { d.Close() })
		return d
	}
	first := newDest(t)
	dialect := first.(interface{ DB() *sql.DB })
	var name string
	if err := dialect.DB().QueryRow("SELECT DATABASE()").Scan(&name); err != nil {
		t.Fatal(err)
	}
	desttest.Run(t, desttest.Options{
		Destination:   newDest,
		Source:        func(t *testing.T) connector.Source { return openSource(t, SourceConfig{DSN: dsn}) },
		DB:            dialect.DB(),
		Table:         DestDialect{Database: name}.Table,
		Quote:         Dialect{}.Quote,
		TimePrecision: time.Microsecond,
	})
}

func BenchmarkAppend(b *testing.B) {
	raw, _ := json.Marshal(DestinationConfig{DSN: newDatabase(b)})
	d, err := NewDestination(context.Background(), raw)
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	desttest.Benchmark(b, d)
}
