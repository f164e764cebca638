package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"sort"
	"strings"

	"github.com/tributary-data/tributary/connector"
	"github.com/tributary-data/tributary/connectors/sqlsource"

	_ "modernc.org/sqlite" // the "sqlite" database/sql driver
)

// Dialect is SQLite's SQL: double-quoted identifiers, "?" parameters and
// types from declared affinity.
type Dialect struct{}

var (
	_ sqlsource.Dialect  = Dialect{}
	_ sqlsource.RawKeys  = Dialect{}
	_ sqlsource.Selector = Dialect{}
)

// Quote double-quotes name, doubling embedded quotes.
func (Dialect) Quote(name string) string {
	return `"` + strings.ReplaceAll(name, `"`, `""`) + `"`
}

// Placeholder is always "?".
func (Dialect) Placeholder(int) string { return "?" }

// RawKey keeps date and timestamp keys as the text SQLite stores: it
// compares them as text, so binding any other form would skip or repeat
// rows.
func (Dialect) RawKey(t connector.Type) bool {
	return t == connector.TypeTimestamp || t == connector.TypeDate
}

// Select reads dates and timestamps through unary plus, a no-op that drops
// the declared type so the driver hands back the stored text (or number)
// instead of parsing it.
func (Dialect) Select(quoted string, t connector.Type) string {
	if t == connector.TypeTimestamp || t == connector.TypeDate {
		return "+" + quoted
	}
	return quoted
}

// ColumnType maps a result column by its declared type.
func (Dialect) ColumnType(ct *sql.ColumnType) connector.Type {
	return MapType(ct.DatabaseTypeName())
}

// MapType maps a declared column type to an SDK type, following SQLite's
// affinity rules but reading the names people declare (BOOLEAN, DATETIME,
// DECIMAL, JSON) more precisely than affinity does.
func MapType(decl string) connector.Type {
	d := strings.ToUpper(decl)
	switch {
	case strings.Contains(d, "BOOL"):
		return connector.TypeBool
	case strings.Contains(d, "DATETIME"), strings.Contains(d, "TIMESTAMP"):
		return connector.TypeTimestamp
	case strings.Contains(d, "DATE"):
		return connector.TypeDate
	case strings.Contains(d, "JSON"):
		return connector.TypeJSON
	case strings.Contains(d, "DECIMAL"), strings.Contains(d, "NUMERIC"):
		return connector.TypeDecimal
	case strings.Contains(d, "INT"):
		return connector.TypeInt64
	case strings.Contains(d, "CHAR"), strings.Contains(d, "CLOB"), strings.Contains(d, "TEXT"):
		return connector.TypeString
	case strings.Contains(d, "BLOB"):
		return connector.TypeBytes
	case strings.Contains(d, "REAL"), strings.Contains(d, "FLOA"), strings.Contains(d, "DOUB"):
		return connector.TypeFloat64
	}
	// No declared type (or one SQLite gives NUMERIC affinity we cannot
	// read): every value has a text form.
	return connector.TypeString
}

// Tables lists the tables of the main database (or the attached schemas
// named), leaving out SQLite's own and tributary's bookkeeping tables.
func (d Dialect) Tables(ctx context.Context, db *sql.DB, schemas []string) ([]sqlsource.Table, error) {
	if len(schemas) == 0 {
		schemas = []string{"main"}
	}
	var out []sqlsource.Table
	for _, schema := range schemas {
		rows, err := db.QueryContext(ctx, "SELECT name FROM "+d.Quote(schema)+".sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND name NOT LIKE '\\_tributary\\_%' ESCAPE '\\' ORDER BY name")
		if err != nil {
			return nil, fmt.Errorf("list tables of %s: %w", schema, err)
		}
		var names []string
		for rows.Next() {
			var n string
			if err := rows.Scan(&n); err != nil {
				rows.Close()
				return nil, err
			}
			names = append(names, n)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
		for _, n := range names {
			t := sqlsource.Table{Name: n, Stream: n}
			if schema != "main" {
				t.Schema, t.Stream = schema, schema+"."+n
			}
			cols, err := db.QueryContext(ctx, `SELECT name, type, "notnull", pk FROM pragma_table_info(?, ?) ORDER BY cid`, n, schema)
			if err != nil {
				return nil, fmt.Errorf("columns of %s: %w", n, err)
			}
			type pkCol struct {
				name string
				pos  int
			}
			var pk []pkCol
			for cols.Next() {
				var c sqlsource.Column
				var notNull bool
				var pos int
				if err := cols.Scan(&c.Name, &c.DBType, &notNull, &pos); err != nil {
					cols.Close()
					return nil, err
				}
				c.Type, c.Nullable = MapType(c.DBType), !notNull
				t.Columns = append(t.Columns, c)
				if pos > 0 {
					pk = append(pk, pkCol{c.Name, pos})
				}
			}
			cols.Close()
			if err := cols.Err(); err != nil {
				return nil, err
			}
			sort.Slice(pk, func(i, j int) bool { return pk[i].pos < pk[j].pos })
			for _, p := range pk {
				t.PrimaryKey = append(t.PrimaryKey, p.name)
			}
			out = append(out, t)
		}
	}
	return out, nil
}

// Open opens the database file at path with WAL and a busy timeout set on
// every connection the pool makes, so concurrent readers and the writer
// wait for each other instead of failing with "database is locked".
func Open(path string) (*sql.DB, error) {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(NORMAL)")
	// Times bound as parameters are written as SQLite's own date functions
	// write them, not in Go's time.String form.
	q.Set("_time_format", "sqlite")
	db, err := sql.Open("sqlite", "file:"+(&url.URL{Path: path}).EscapedPath()+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	return db, nil
}
