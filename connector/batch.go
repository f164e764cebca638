package connector

import "sync"

// Batch is a group of rows of one stream that share a schema. Rows are
// positional: Rows[i][j] is the value of Schema.Fields[j], holding the Go
// type listed for the field's [Type] or nil.
//
// A batch passed to an emitter belongs to the engine from then on; the source
// must not touch it again.
type Batch struct {
	Stream string
	Schema *Schema
	Rows   [][]any
	// Origins, when set, holds one entry per row telling where it came from
	// (a line number in File, or a record index). Quarantine entries use it.
	File    string
	Origins []int64

	slab []any
}

// Len is the number of rows.
func (b *Batch) Len() int { return len(b.Rows) }

// Origin describes where row i came from, as "file:line" when known.
func (b *Batch) Origin(i int) string {
	if i < len(b.Origins) {
		return originString(b.File, b.Origins[i])
	}
	return b.File
}

// rowPool recycles the backing arrays of rows; at ten thousand rows a batch,
// allocating them anew dominates a fast load.
var rowPool sync.Pool

// NewBatch returns an empty batch with room for capacity rows, reusing
// memory released by [Batch.Release] where it can.
func NewBatch(stream string, schema *Schema, capacity int) *Batch {
	b := &Batch{Stream: stream, Schema: schema}
	if v, ok := rowPool.Get().(*[][]any); ok && cap(*v) >= capacity {
		b.Rows = (*v)[:0]
	} else {
		b.Rows = make([][]any, 0, capacity)
	}
	return b
}

// NewRow returns a zeroed row as wide as the schema, carved from a shared
// slab so a batch costs a few allocations, not one per row.
func (b *Batch) NewRow() []any {
	w := len(b.Schema.Fields)
	if len(b.slab) < w {
		b.slab = make([]any, w*256)
	}
	row := b.slab[:w:w]
	b.slab = b.slab[w:]
	return row
}

// Append adds a row.
func (b *Batch) Append(row []any) { b.Rows = append(b.Rows, row) }

// Release hands the batch's row array back for reuse. Call it only when no
// one holds the batch or its rows any longer.
func (b *Batch) Release() {
	if b == nil || b.Rows == nil {
		return
	}
	rows := b.Rows
	clear(rows)
	rows = rows[:0]
	rowPool.Put(&rows)
	b.Rows = nil
}
