package postgres

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/tributary-data/tributary/connector"
	"github.com/tributary-data/tributary/connectors/sqlsource"
)

// SourceConfig configures the postgres source.
type SourceConfig struct {
	URL     string   `json:"url" secret:"true" jsonschema:"required,description=Connection URL such as postgres://user:pass@host:5432/db?sslmode=disable"`
	Schemas []string `json:"schemas,omitempty" jsonschema:"description=Schemas whose tables are offered as streams. Default: [public]."`
	// CDC, when set, reads the selected tables through logical replication
	// instead of queries (see cdc.go).
	CDC *CDCConfig `json:"cdc,omitempty" jsonschema:"description=Read changes through logical replication (pgoutput): a snapshot first, then inserts, updates and deletes. Streams need sync_mode incremental_dedup and a primary key."`
}

func init() {
	connector.RegisterSource(connector.NewSpec[SourceConfig, sqlsource.StreamConfig]("postgres",
		"PostgreSQL tables and custom queries, full or incremental past a cursor"), NewSource)
}

// Source reads tables and queries through the shared SQL reader, with
// PostgreSQL's dialect.
type Source struct {
	*sqlsource.Source
	db      *sql.DB
	conn    *pgx.ConnConfig
	dialect Dialect
	cdc     *CDCConfig
}

var _ connector.Source = (*Source)(nil)

// NewSource builds a postgres source from its JSON config.
func NewSource(_ context.Context, raw json.RawMessage) (connector.Source, error) {
	var cfg SourceConfig
	if err := connector.DecodeConfig(raw, &cfg); err != nil {
		return nil, err
	}
	if cfg.URL == "" {
		return nil, errors.New("url is required")
	}
	if len(cfg.Schemas) == 0 {
		cfg.Schemas = []string{"public"}
	}
	cc, err := pgx.ParseConfig(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("url: %w", err)
	}
	if cfg.CDC != nil {
		if err := cfg.CDC.validate(); err != nil {
			return nil, fmt.Errorf("cdc: %w", err)
		}
	}
	db := stdlib.OpenDB(*cc)
	d := Dialect{schemas: cfg.Schemas}
	return &Source{Source: sqlsource.New(db, d, sqlsource.Options{Schemas: cfg.Schemas}), db: db, conn: cc, dialect: d, cdc: cfg.CDC}, nil
}

// cursorNames are column names that usually track a row's last change;
// Discover lists them first among the cursor candidates.
var cursorNames = []string{"updated_at", "modified_at", "modified", "last_modified", "updated", "changed_at", "updated_on", "last_updated", "created_at", "inserted_at"}

// Discover lists the tables of the configured schemas, with the cursor
// candidates that look like change timestamps first.
func (s *Source) Discover(ctx context.Context) (*connector.Catalog, error) {
	cat, err := s.Source.Discover(ctx)
	if err != nil {
		return nil, err
	}
	rank := func(name string) int {
		if i := slices.Index(cursorNames, strings.ToLower(name)); i >= 0 {
			return i
		}
		return len(cursorNames)
	}
	for i := range cat.Streams {
		slices.SortStableFunc(cat.Streams[i].CursorCandidates, func(a, b string) int { return rank(a) - rank(b) })
	}
	return cat, nil
}

// Dialect is PostgreSQL's SQL for the shared reader.
type Dialect struct {
	schemas []string
}

var _ sqlsource.Dialect = Dialect{}

// Quote quotes an identifier.
func (Dialect) Quote(name string) string { return pgx.Identifier{name}.Sanitize() }

// Placeholder is $n.
func (Dialect) Placeholder(n int) string { return fmt.Sprintf("$%d", n) }

// ColumnType maps a result column of a custom query by its type name.
func (Dialect) ColumnType(ct *sql.ColumnType) connector.Type {
	return MapType(strings.ToLower(ct.DatabaseTypeName()))
}

// MapType maps a pg_type name to the SDK type the source reads it as.
// Types without an SDK counterpart (time, interval, inet, arrays, ranges,
// enums…) are read in their text form.
func MapType(typname string) connector.Type {
	switch typname {
	case "oid", "xid":
		return connector.TypeInt64
	case "money":
		return connector.TypeString
	}
	return logical(kindOf(typname))
}

// Tables lists the ordinary, partitioned and foreign tables, views and
// materialized views of the schemas, leaving out tributary's own tables.
func (d Dialect) Tables(ctx context.Context, db *sql.DB, schemas []string) ([]sqlsource.Table, error) {
	if len(schemas) == 0 {
		schemas = d.schemas
	}
	if len(schemas) == 0 {
		schemas = []string{"public"}
	}
	rows, err := db.QueryContext(ctx, `SELECT n.nspname, c.relname, a.attname, t.typname, format_type(a.atttypid, a.atttypmod), NOT a.attnotnull
		FROM pg_class c
		JOIN pg_namespace n ON n.oid = c.relnamespace
		JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
		JOIN pg_type t ON t.oid = a.atttypid
		WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND n.nspname = ANY($1) AND NOT c.relispartition
			AND c.relname NOT LIKE '\_tributary\_%'
		ORDER BY array_position($1, n.nspname::text), c.relname, a.attnum`, schemas)
	if err != nil {
		return nil, fmt.Errorf("list tables: %w", err)
	}
	defer rows.Close()
	var out []sqlsource.Table
	for rows.Next() {
		var schema, table string
		var c sqlsource.Column
		var typname string
		if err := rows.Scan(&schema, &table, &c.Name, &typname, &c.DBType, &c.Nullable); err != nil {
			return nil, fmt.Errorf("list tables: %w", err)
		}
		c.Type = MapType(typname)
		if n := len(out); n == 0 || out[n-1].Schema != schema || out[n-1].Name != table {
			stream := table
			if len(schemas) > 1 {
				stream = schema + "." + table
			}
			out = append(out, sqlsource.Table{Schema: schema, Name: table, Stream: stream})
		}
		t := &out[len(out)-1]
		t.Columns = append(t.Columns, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list tables: %w", err)
	}
	rows.Close()
	pks, err := db.QueryContext(ctx, `SELECT n.nspname, c.relname, a.attname
		FROM pg_index i
		JOIN pg_class c ON c.oid = i.indrelid
		JOIN pg_namespace n ON n.oid = c.relnamespace
		CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
		JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum
		WHERE i.indisprimary AND n.nspname = ANY($1)
		ORDER BY n.nspname, c.relname, k.ord`, schemas)
	if err != nil {
		return nil, fmt.Errorf("primary keys: %w", err)
	}
	defer pks.Close()
	for pks.Next() {
		var schema, table, col string
		if err := pks.Scan(&schema, &table, &col); err != nil {
			return nil, fmt.Errorf("primary keys: %w", err)
		}
		for i := range out {
			if out[i].Schema == schema && out[i].Name == table {
				out[i].PrimaryKey = append(out[i].PrimaryKey, col)
			}
		}
	}
	if err := pks.Err(); err != nil {
		return nil, fmt.Errorf("primary keys: %w", err)
	}
	return out, nil
}
