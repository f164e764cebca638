package filesink

import (
	"context"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/tributary-data/tributary/connector"
)

// mergePartRows bounds the parts a merge writes, so no single file grows
// without limit.
const mergePartRows = 1 << 20

// merge rewrites the committed parts of a stream keeping, per primary key,
// only the row written last (later parts beat earlier ones, later rows in a
// part beat earlier rows), into a new generation swapped in by the
// manifest. The first pass finds the winning row of each key, the second
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
	var buf []byte
	keyOf := func(row []any) string {
		buf = buf[:0]
		for _, i := range key {
			buf = appendKey(buf, row[i])
		}
		return string(buf)
	}

	winner := map[string]int64{}
	var n int64
	err := scan(ctx, w.dir, m, m.Parts, schema, w.d.format, func(row []any) error {
		winner[keyOf(row)] = n
		n++
		return nil
	})
	if err != nil {
		return fmt.Errorf("merge: %w", err)
	}
	if int64(len(winner)) == n {
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
	err = scan(ctx, w.dir, m, m.Parts, schema, w.d.format, func(row []any) error {
		ord := i
		i++
		if winner[keyOf(row)] != ord {
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
	w.d.log.Info("merged stream on primary key", "stream", w.load.Stream, "rows", n, "kept", len(winner), "duration", time.Since(start))
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
