package sqldest

import (
	"context"
	"fmt"

	"github.com/tributary-data/tributary/connector"
)

// mapping says where each field of a batch schema goes.
type mapping struct {
	schema *connector.Schema
	fields []int            // batch field of each inserted column
	types  []connector.Type // column type of each inserted column
	names  []string         // inserted column names
	keys   []int            // batch fields of the primary key
}

// mapping returns how batches of schema s load into the table, first
// changing the table as the schema policy allows.
func (w *writer) mapping(ctx context.Context, s *connector.Schema) (*mapping, error) {
	if w.last != nil && (w.last.schema == s || w.last.schema.Equal(s)) {
		return w.last, nil
	}
	have := make(map[string]int, len(w.cols))
	for i, c := range w.cols {
		have[c.Name] = i
	}
	var add []Column
	var changed []string
	cols := append([]Column(nil), w.cols...)
	for _, f := range s.Fields {
		i, ok := have[f.Name]
		if !ok {
			add = append(add, Column{Name: f.Name, Type: f.Type})
			continue
		}
		ct := cols[i].Type
		if ct == f.Type {
			continue
		}
		if wide, ok := connector.Widen(ct, f.Type); ok && wide != ct {
			cols[i].Type = wide
			changed = append(changed, f.Name)
		}
		// Otherwise the column already holds the field's values (or no
		// lossless type holds both): values are converted row by row and
		// the ones that do not convert are quarantined.
	}
	if len(add) > 0 || len(changed) > 0 {
		switch w.load.SchemaPolicy {
		case connector.SchemaFreeze:
			return nil, fmt.Errorf("%w: new columns %v, changed types of %v", ErrSchemaFrozen, names(add), changed)
		case connector.SchemaDiscard:
			// The table stays as it is; unknown columns are left out of
			// the mapping below.
		default:
			var stmts []string
			for _, c := range add {
				stmts = append(stmts, "ALTER TABLE "+w.d.Table(w.table)+" ADD COLUMN "+w.d.Quote(c.Name)+" "+w.d.ColumnType(c.Type, false))
			}
			cols = append(cols, add...)
			if len(changed) > 0 {
				stmts = append(stmts, w.d.Retype(w.table, cols, changed, w.pk)...)
			}
			w.cols, w.last = cols, nil
			if err := w.ddl(ctx, stmts); err != nil {
				return nil, err
			}
		}
	}
	m := &mapping{schema: s}
	for i, c := range w.cols {
		have[c.Name] = i
	}
	for fi, f := range s.Fields {
		ci, ok := have[f.Name]
		if !ok {
			continue // discarded
		}
		m.fields = append(m.fields, fi)
		m.types = append(m.types, w.cols[ci].Type)
		m.names = append(m.names, f.Name)
	}
	for _, k := range w.pk {
		i := s.Index(k)
		if i < 0 {
			return nil, fmt.Errorf("primary key column %q missing from the batch", k)
		}
		m.keys = append(m.keys, i)
	}
	w.last = m
	return m, nil
}

func names(cs []Column) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.Name
	}
	return out
}
