package mysql

import (
	"context"
	"database/sql"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/tributary-data/tributary/connector"
	"github.com/tributary-data/tributary/connectors/sqlsource/sourcetest"
)

func openSource(t *testing.T, cfg SourceConfig) connector.Source {
	t.Helper()
	raw, _ := json.Marshal(cfg)
	src, err := NewSource(context.Background(), raw)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close() })
	return src
}

func TestSourceConformance(t *testing.T) {
	dsn := newDatabase(t)
	src := openSource(t, SourceConfig{DSN: dsn})
	db := src.(interface{ DB() *sql.DB }).DB()
	sourcetest.Run(t, sourcetest.Options{
		DB:      db,
		Source:  func(t *testing.T) connector.Source { return openSource(t, SourceConfig{DSN: dsn}) },
		Dialect: Dialect{},
		Types:   map[string]string{"int": "BIGINT", "timestamp": "DATETIME(6)", "text": "VARCHAR(200)", "decimal": "DECIMAL(38,6)", "blob": "LONGBLOB"},
	})
}

func TestSourceTypes(t *testing.T) {
	dsn := newDatabase(t)
	src := openSource(t, SourceConfig{DSN: dsn})
	db := src.(interface{ DB() *sql.DB }).DB()
	if _, err := db.Exec("CREATE TABLE `typ``es; select` (" +
		"`k1` VARCHAR(20) NOT NULL, `k2` INT NOT NULL, `flag` TINYINT(1), `small` TINYINT, `big` BIGINT UNSIGNED, " +
		"`amount` DECIMAL(12,3), `f` DOUBLE, `d` DATE, `dt` DATETIME(6), `ts` TIMESTAMP(3) NULL, `doc` JSON, " +
		"`bin` VARBINARY(10), `blob` BLOB, `txt` TEXT, `größe` VARCHAR(10), `e` ENUM('a','b'), " +
		"PRIMARY KEY (`k2`, `k1`))"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("INSERT INTO `typ``es; select` VALUES ('x', 1, 1, -5, 18446744073709551615, -123.456, 1.5, '2024-02-29', " +
		"'2024-02-29 23:59:58.123456', '2024-01-01 00:00:01.5', '{\"a\": [1, 2]}', X'00FF', X'0102', 'héllo', 'ß', 'b'), " +
		"('y', 2, 0, 5, 7, 0.001, -2, '1999-12-31', '1999-12-31 00:00:00', NULL, 'null', '', NULL, '', '', NULL)"); err != nil {
		t.Fatal(err)
	}
	cat, err := src.Discover(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(cat.Streams) != 1 {
		t.Fatalf("streams %+v", cat.Streams)
	}
	s := cat.Streams[0]
	if s.Name != "typ`es; select" || !slices.Equal(s.PrimaryKey, []string{"k2", "k1"}) {
		t.Fatalf("stream %+v", s)
	}
	want := map[string]connector.Type{
		"k1": connector.TypeString, "k2": connector.TypeInt64, "flag": connector.TypeBool, "small": connector.TypeInt64,
		"big": connector.TypeInt64, "amount": connector.TypeDecimal, "f": connector.TypeFloat64, "d": connector.TypeDate,
		"dt": connector.TypeTimestamp, "ts": connector.TypeTimestamp, "doc": connector.TypeJSON, "bin": connector.TypeBytes,
		"blob": connector.TypeBytes, "txt": connector.TypeString, "größe": connector.TypeString, "e": connector.TypeString,
	}
	for _, f := range s.Schema.Fields {
		if want[f.Name] != f.Type {
			t.Errorf("%s: %s, want %s", f.Name, f.Type, want[f.Name])
		}
	}
	c := sourcetest.Read(t, sourcetest.Options{Source: func(*testing.T) connector.Source { return src }},
		connector.Stream{Name: s.Name, SyncMode: connector.FullRefreshAppend}, nil, 10, 0)
	rows := c.Rows()
	// Row 1's unsigned BIGINT does not fit an int64: rejected, not wrapped.
	if len(rows) != 1 || len(c.Rejects()) != 1 {
		t.Fatalf("rows %v rejects %+v", rows, c.Rejects())
	}
	if r := c.Rejects()[0]; r.Origin != "typ`es; select:k2=1,k1=x" || r.Step != "read" {
		t.Fatalf("reject %+v", r)
	}
	got := rows[0]
	wantRow := []any{"y", int64(2), false, int64(5), int64(7), connector.Decimal{Unscaled: 1, Scale: 3}, -2.0,
		time.Date(1999, 12, 31, 0, 0, 0, 0, time.UTC), time.Date(1999, 12, 31, 0, 0, 0, 0, time.UTC), nil, nil,
		[]byte{}, nil, "", "", nil}
	for i := range wantRow {
		if !equalValue(got[i], wantRow[i]) {
			t.Errorf("%s = %#v, want %#v", s.Schema.Fields[i].Name, got[i], wantRow[i])
		}
	}
}

func equalValue(a, b any) bool {
	switch x := a.(type) {
	case []byte:
		y, ok := b.([]byte)
		return ok && string(x) == string(y)
	case time.Time:
		y, ok := b.(time.Time)
		return ok && x.Equal(y) && x.Location() == time.UTC
	case connector.Decimal:
		y, ok := b.(connector.Decimal)
		return ok && x.Cmp(y) == 0
	}
	return a == b
}
