package sqldest

import (
	"context"
	"fmt"
	"strings"

	"github.com/tributary-data/tributary/connector"
)

// DeletesSetting is the destination setting that says how rows a change
// data capture source marks deleted are applied; SQL destinations embed it
// in their config.
type DeletesSetting struct {
	Deletes string `json:"deletes,omitempty" jsonschema:"enum=soft,enum=hard,default=soft,description=How deletes read by change data capture are applied: soft keeps the row and sets _tributary_deleted_at; hard deletes the row"`
}

// Hard reports whether deletes remove rows, and refuses an unknown value.
func (d DeletesSetting) Hard() (bool, error) {
	switch d.Deletes {
	case "", "soft":
		return false, nil
	case "hard":
		return true, nil
	}
	return false, fmt.Errorf("deletes: %q is neither soft nor hard", d.Deletes)
}

// HardDeletes makes the destination delete the rows a change data capture
// source marks deleted (connector.DeletedAtField) instead of keeping them
// with the column set, the default.
func (x *Destination) HardDeletes(on bool) { x.hard = on }

// deleteColumn returns the inserted column and batch field of the delete
// marker when the load applies deletes, else -1.
func (w *writer) deleteColumn(m *mapping) (col, field int) {
	if w.load.SyncMode != connector.IncrementalDedup || len(w.pk) == 0 {
		return -1, -1
	}
	for ci, n := range m.names {
		if n == connector.DeletedAtField {
			return ci, m.fields[ci]
		}
	}
	return -1, -1
}

// applyDelete applies one row marked deleted: a hard delete removes the row
// with its key, a soft one sets the marker and keeps the rest of the row
// (a delete carries only the key). A key the table never held has nothing
// to delete.
func (w *writer) applyDelete(ctx context.Context, m *mapping, row []any, del int) error {
	var where []string
	var args []any
	p := 1
	if !w.x.hard {
		v, err := w.d.Value(m.types[del], row[m.fields[del]])
		if err != nil {
			return fmt.Errorf("column %q: %w", connector.DeletedAtField, err)
		}
		args = append(args, v)
		p++
	}
	for ci, fi := range m.fields {
		if !contains(w.pk, m.names[ci]) {
			continue
		}
		v, err := connector.Convert(m.types[ci], row[fi])
		if err == nil {
			v, err = w.d.Value(m.types[ci], v)
		}
		if err != nil {
			return fmt.Errorf("key column %q: %w", m.names[ci], err)
		}
		where = append(where, w.d.Quote(m.names[ci])+" = "+w.d.Placeholder(p))
		args = append(args, v)
		p++
	}
	q := "DELETE FROM " + w.d.Table(w.table) + " WHERE " + strings.Join(where, " AND ")
	if !w.x.hard {
		q = "UPDATE " + w.d.Table(w.table) + " SET " + w.d.Quote(connector.DeletedAtField) + " = " + w.d.Placeholder(1) + " WHERE " + strings.Join(where, " AND ")
	}
	if _, err := w.tx.ExecContext(ctx, q, args...); err != nil {
		return fmt.Errorf("apply delete: %w", err)
	}
	return nil
}
