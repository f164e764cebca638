package mysql

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/tributary-data/tributary/connector"
	"github.com/tributary-data/tributary/connectors/sqldest"
	"github.com/tributary-data/tributary/connectors/sqlsource"
)

// Dialect is MySQL's and MariaDB's SQL: backtick identifiers, "?"
// parameters, information_schema catalog.
type Dialect struct{}

var _ sqlsource.Dialect = Dialect{}

// Quote backtick-quotes name, doubling embedded backticks.
func (Dialect) Quote(name string) string {
	return "`" + strings.ReplaceAll(name, "`", "``") + "`"
}

// Placeholder is always "?".
func (Dialect) Placeholder(int) string { return "?" }

// ColumnType maps a result column by the driver's type name.
func (Dialect) ColumnType(ct *sql.ColumnType) connector.Type {
	name := strings.ToLower(ct.DatabaseTypeName())
	name = strings.TrimPrefix(name, "unsigned ")
	return MapType(name, name)
}

// MapType maps a column by its information_schema DATA_TYPE and
// COLUMN_TYPE.
func MapType(dataType, columnType string) connector.Type {
	ct := strings.ToLower(columnType)
	switch strings.ToLower(dataType) {
	case "tinyint":
		if strings.HasPrefix(ct, "tinyint(1)") {
			return connector.TypeBool
		}
		return connector.TypeInt64
	case "bool", "boolean":
		return connector.TypeBool
	case "smallint", "mediumint", "int", "integer", "bigint", "year":
		return connector.TypeInt64
	case "decimal", "numeric", "dec", "fixed":
		return connector.TypeDecimal
	case "float", "double", "real", "double precision":
		return connector.TypeFloat64
	case "date":
		return connector.TypeDate
	case "datetime", "timestamp":
		return connector.TypeTimestamp
	case "json":
		return connector.TypeJSON
	case "binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob", "geometry", "point",
		"linestring", "polygon", "multipoint", "multilinestring", "multipolygon", "geometrycollection":
		return connector.TypeBytes
	case "bit":
		// The driver hands BIT values over as big-endian bytes.
		return connector.TypeBytes
	}
	// char, varchar, the text types, enum, set, time, uuid, inet…
	return connector.TypeString
}

// Tables lists base tables and views of the schemas (default: the
// connection's database), leaving out tributary's bookkeeping tables.
func (d Dialect) Tables(ctx context.Context, db *sql.DB, schemas []string) ([]sqlsource.Table, error) {
	qualify := len(schemas) > 1
	if len(schemas) == 0 {
		var cur sql.NullString
		if err := db.QueryRowContext(ctx, "SELECT DATABASE()").Scan(&cur); err != nil {
			return nil, fmt.Errorf("current database: %w", err)
		}
		if !cur.Valid {
			return nil, fmt.Errorf("no database selected: name one in the dsn or in databases")
		}
		schemas = []string{cur.String}
	}
	marks := strings.TrimSuffix(strings.Repeat("?, ", len(schemas)), ", ")
	args := make([]any, len(schemas))
	for i, s := range schemas {
		args[i] = s
	}
	jsonCols, err := mariaJSONColumns(ctx, db, marks, args)
	if err != nil {
		return nil, err
	}
	rows, err := db.QueryContext(ctx, `SELECT c.TABLE_SCHEMA, c.TABLE_NAME, c.COLUMN_NAME, c.DATA_TYPE, c.COLUMN_TYPE, c.IS_NULLABLE
		FROM information_schema.COLUMNS c JOIN information_schema.TABLES t
		  ON t.TABLE_SCHEMA = c.TABLE_SCHEMA AND t.TABLE_NAME = c.TABLE_NAME
		WHERE c.TABLE_SCHEMA IN (`+marks+`) AND t.TABLE_TYPE IN ('BASE TABLE', 'VIEW')
		  AND c.TABLE_NAME NOT LIKE '\_tributary\_%'
		ORDER BY c.TABLE_SCHEMA, c.TABLE_NAME, c.ORDINAL_POSITION`, args...)
	if err != nil {
		return nil, fmt.Errorf("list columns: %w", err)
	}
	defer rows.Close()
	var out []sqlsource.Table
	index := map[[2]string]int{}
	for rows.Next() {
		var schema, table, nullable string
		var c sqlsource.Column
		var dataType string
		if err := rows.Scan(&schema, &table, &c.Name, &dataType, &c.DBType, &nullable); err != nil {
			return nil, err
		}
		c.Type = MapType(dataType, c.DBType)
		if jsonCols[[3]string{schema, table, c.Name}] {
			c.Type = connector.TypeJSON
		}
		c.Nullable = nullable == "YES"
		k := [2]string{schema, table}
		i, ok := index[k]
		if !ok {
			name := table
			if qualify {
				name = schema + "." + table
			}
			out = append(out, sqlsource.Table{Schema: schema, Name: table, Stream: name})
			i = len(out) - 1
			index[k] = i
		}
		out[i].Columns = append(out[i].Columns, c)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows.Close()
	pks, err := db.QueryContext(ctx, `SELECT TABLE_SCHEMA, TABLE_NAME, COLUMN_NAME FROM information_schema.KEY_COLUMN_USAGE
		WHERE TABLE_SCHEMA IN (`+marks+`) AND CONSTRAINT_NAME = 'PRIMARY'
		ORDER BY TABLE_SCHEMA, TABLE_NAME, ORDINAL_POSITION`, args...)
	if err != nil {
		return nil, fmt.Errorf("list primary keys: %w", err)
	}
	defer pks.Close()
	for pks.Next() {
		var schema, table, col string
		if err := pks.Scan(&schema, &table, &col); err != nil {
			return nil, err
		}
		if i, ok := index[[2]string{schema, table}]; ok {
			out[i].PrimaryKey = append(out[i].PrimaryKey, col)
		}
	}
	return out, pks.Err()
}

// mariaJSONColumns finds MariaDB JSON columns, which it stores as LONGTEXT
// with a json_valid check constraint. MySQL has a real JSON type and no
// such constraints, and older servers lack the view: both yield none.
func mariaJSONColumns(ctx context.Context, db sqldest.Querier, marks string, args []any) (map[[3]string]bool, error) {
	out := map[[3]string]bool{}
	rows, err := db.QueryContext(ctx, `SELECT CONSTRAINT_SCHEMA, TABLE_NAME, CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS
		WHERE CONSTRAINT_SCHEMA IN (`+marks+`) AND CHECK_CLAUSE LIKE 'json\_valid(%'`, args...)
	if err != nil {
		return out, nil
	}
	defer rows.Close()
	for rows.Next() {
		var schema, table, clause string
		if err := rows.Scan(&schema, &table, &clause); err != nil {
			return nil, err
		}
		col := strings.TrimSuffix(strings.TrimPrefix(clause, "json_valid("), ")")
		if len(col) >= 2 && col[0] == '`' && col[len(col)-1] == '`' {
			col = strings.ReplaceAll(col[1:len(col)-1], "``", "`")
		}
		out[[3]string{schema, table, col}] = true
	}
	return out, rows.Err()
}
