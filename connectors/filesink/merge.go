package filesink

import (
	"cmp"
	"context"
	"encoding/binary"
	"fmt"
	"strings"
	"time"

	"github.com/tributary-data/tributary/connector"
)

// mergePartRows bounds the parts a merge writes, so no single file grows
// without limit.
const mergePartRows = 1 << 20

// merge rewrites the committed parts of a stream keeping, per primary key,
// only the latest row, into a new generation swapped in by the manifest.
// The latest row is the one with the greatest cursor value when the load
// has a cursor field; between equal or missing cursors, the one written
// last (later parts beat earlier ones, later rows in a part earlier rows). The first pass finds the winning row of each key, the second
// writes the winners: memory grows with the number of keys, not rows.
func (w *writer) merge(ctx context.Context) error {
	m := w.man
	if len(m.Parts) == 0 {
		return nil
	}
	start := time.Now()
	schema := m.Schema
	key := make([]int, len(w.load.PrimaryKey))
	for i, k := range w.load.PrimaryKey {
		if key[i] = schema.Index(k); key[i] < 0 {
			return fmt.Errorf("primary key column %q is not in the schema", k)
		}
	}
	// A row with a null key part matches no other row (as NULL in SQL):
	// it is kept, never merged away.
	var buf []byte
	keyOf := func(row []any) (string, bool) {
		buf = buf[:0]
		for _, i := range key {
			if row[i] == nil {
				return "", false
			}
			buf = appendKey(buf, row[i])
		}
		return string(buf), true
	}

	cursor := -1
	if w.load.CursorField != "" {
		cursor = schema.Index(w.load.CursorField)
	}
	type latest struct {
		ord    int64
		cursor any
	}
	winner := map[string]latest{}
	var n, keyless int64
	err := scan(ctx, w.fs, w.dir, m, m.Parts, schema, w.d.format, func(row []any) error {
		cur := latest{ord: n}
		n++
		if cursor >= 0 {
			cur.cursor = row[cursor]
		}
		k, ok := keyOf(row)
		if !ok {
			keyless++
			return nil
		}
		if old, ok := winner[k]; ok && compareCursor(cur.cursor, old.cursor) < 0 {
			return nil
		}
		winner[k] = cur
		return nil
	})
	if err != nil {
		return fmt.Errorf("merge: %w", err)
	}
	kept := int64(len(winner)) + keyless
	if kept == n {
		return nil // no key repeats: the parts are already merged
	}

	w.gen = m.Generation + 1
	w.schema = schema.Clone()
	const chunk = 4096
	rows := make([][]any, 0, chunk)
	slab := make([]any, 0, chunk*len(schema.Fields))
	flush := func() error {
		if len(rows) == 0 {
			return nil
		}
		if err := w.writeRows(rows); err != nil {
			return err
		}
		rows, slab = rows[:0], slab[:0]
		if w.cur.rows >= mergePartRows {
			return w.finishPart()
		}
		return nil
	}
	var i int64
	err = scan(ctx, w.fs, w.dir, m, m.Parts, schema, w.d.format, func(row []any) error {
		ord := i
		i++
		if k, ok := keyOf(row); ok && winner[k].ord != ord {
			return nil
		}
		slab = append(slab, row...)
		rows = append(rows, slab[len(slab)-len(row):])
		if len(rows) == chunk {
			return flush()
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	if err == nil {
		err = w.finishPart()
	}
	if err != nil {
		w.discard()
		return fmt.Errorf("merge: %w", err)
	}
	w.load.SyncMode = connector.FullRefreshOverwrite // stage, don't append
	w.lastState = nil                                // keep the committed state as it is
	if err := w.commit(nil); err != nil {
		w.discard()
		return fmt.Errorf("merge: %w", err)
	}
	if err := w.publish(); err != nil {
		return fmt.Errorf("merge: %w", err)
	}
	w.d.log.Info("merged stream on primary key", "stream", w.load.Stream, "rows", n, "kept", kept, "duration", time.Since(start))
	return nil
}

// appendKey appends an unambiguous encoding of v: a type tag, the length
// and the text form, so ("a", "bc") and ("ab", "c") differ.
func appendKey(b []byte, v any) []byte {
	if v == nil {
		return append(b, 0)
	}
	s := connector.FormatValue(v)
	b = append(b, 1)
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// compareCursor orders two cursor values of one column; values it cannot
// order (nulls, json) compare equal, so the later row wins.
func compareCursor(a, b any) int {
	switch x := a.(type) {
	case int64:
		if y, ok := b.(int64); ok {
			return cmp.Compare(x, y)
		}
	case float64:
		if y, ok := b.(float64); ok {
			return cmp.Compare(x, y)
		}
	case connector.Decimal:
		if y, ok := b.(connector.Decimal); ok {
			return x.Cmp(y)
		}
	case string:
		if y, ok := b.(string); ok {
			return strings.Compare(x, y)
		}
	case time.Time:
		if y, ok := b.(time.Time); ok {
			return x.Compare(y)
		}
	}
	return 0
}
