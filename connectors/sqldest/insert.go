package sqldest

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/tributary-data/tributary/connector"
)

// insert converts the rows of b and inserts them in statements as wide as
// the parameter limit and the packet budget allow. Rows that cannot be
// loaded (a value the column cannot take, a null key) are quarantined in
// the same transaction.
func (w *writer) insert(ctx context.Context, m *mapping, b *connector.Batch) error {
	ncol := len(m.names)
	if ncol == 0 {
		return nil
	}
	perStmt := max(1, w.d.MaxParams()/ncol)
	cursor := ""
	if w.load.SyncMode == connector.IncrementalDedup && contains(m.names, w.load.CursorField) {
		cursor = w.load.CursorField
	}
	args := make([]any, 0, min(perStmt, b.Len())*ncol)
	var rejects []connector.Reject
	n, size := 0, 0
	flush := func() error {
		if n == 0 {
			return nil
		}
		stmt, err := w.stmt(ctx, "r", w.table, m.names, n, cursor)
		if err != nil {
			return err
		}
		if _, err := stmt.ExecContext(ctx, args...); err != nil {
			return fmt.Errorf("insert: %w", err)
		}
		args, n, size = args[:0], 0, 0
		return nil
	}
	delCol, delField := w.deleteColumn(m)
rows:
	for ri, row := range b.Rows {
		for _, k := range m.keys {
			if row[k] == nil {
				rejects = append(rejects, w.reject(b, ri, fmt.Sprintf("primary key column %q is null", b.Schema.Fields[k].Name)))
				continue rows
			}
		}
		if delField >= 0 && row[delField] != nil {
			// Rows before it are written first: order decides per key.
			if err := flush(); err != nil {
				return err
			}
			if err := w.applyDelete(ctx, m, row, delCol); err != nil {
				return err
			}
			continue
		}
		start := len(args)
		for ci, fi := range m.fields {
			v := row[fi]
			if v != nil {
				t := m.types[ci]
				if b.Schema.Fields[fi].Type != t {
					x, err := connector.Convert(t, v)
					if err != nil {
						args = args[:start]
						rejects = append(rejects, w.reject(b, ri, fmt.Sprintf("column %q: %v into a %s column", m.names[ci], err, t)))
						continue rows
					}
					v = x
				}
				x, err := w.d.Value(t, v)
				if err != nil {
					args = args[:start]
					rejects = append(rejects, w.reject(b, ri, fmt.Sprintf("column %q: %v", m.names[ci], err)))
					continue rows
				}
				v = x
				size += valueSize(v)
			}
			args = append(args, v)
		}
		n++
		if n == perStmt || size >= maxStatementBytes {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if err := flush(); err != nil {
		return err
	}
	if len(rejects) > 0 {
		return w.quarantine(ctx, rejects)
	}
	return nil
}

func (w *writer) reject(b *connector.Batch, i int, reason string) connector.Reject {
	fields := make(map[string]any, len(b.Schema.Fields))
	for j, f := range b.Schema.Fields {
		if v := b.Rows[i][j]; v != nil {
			fields[f.Name] = connector.FormatValue(v)
		} else {
			fields[f.Name] = nil
		}
	}
	raw, _ := json.Marshal(fields)
	origin := b.Origin(i)
	if origin == "" {
		origin = "#" + strconv.Itoa(i)
	}
	return connector.Reject{
		RunID: w.load.RunID, Stream: w.load.Stream, Origin: origin, Raw: string(raw),
		Reason: reason, Step: "load", At: time.Now().UTC(),
	}
}

func valueSize(v any) int {
	switch x := v.(type) {
	case string:
		return len(x) + 8
	case []byte:
		return len(x) + 8
	}
	return 16
}

// stmt returns the statement inserting n rows of cols into table, prepared
// once per shape in the open transaction.
func (w *writer) stmt(ctx context.Context, kind, table string, cols []string, n int, cursor string) (*sql.Stmt, error) {
	key := kind + "\x00" + strconv.Itoa(n) + "\x00" + strings.Join(cols, "\x00")
	if s, ok := w.stmts[key]; ok {
		return s, nil
	}
	var sb strings.Builder
	sb.WriteString("INSERT INTO ")
	sb.WriteString(w.d.Table(table))
	sb.WriteString(" (")
	sb.WriteString(w.quoteAll(cols))
	sb.WriteString(") VALUES ")
	p := 1
	for r := 0; r < n; r++ {
		if r > 0 {
			sb.WriteString(", ")
		}
		sb.WriteByte('(')
		for c := range cols {
			if c > 0 {
				sb.WriteString(", ")
			}
			sb.WriteString(w.d.Placeholder(p))
			p++
		}
		sb.WriteByte(')')
	}
	if kind == "r" && len(w.pk) > 0 {
		sb.WriteString(" ")
		sb.WriteString(w.d.Upsert(w.d.Table(table), cols, w.pk, cursor))
	}
	s, err := w.tx.PrepareContext(ctx, sb.String())
	if err != nil {
		return nil, fmt.Errorf("prepare insert: %w", err)
	}
	w.stmts[key] = s
	return s, nil
}
