package filesink

import (
	"bufio"
	"errors"
	"io"

	"github.com/tributary-data/tributary/connector"
)

// Format is a file format a destination writes: it encodes rows into a part
// and decodes a part back.
type Format interface {
	// Name identifies the format in manifests ("jsonl", "csv", "parquet").
	Name() string
	// Ext is the file name extension of a part, without the dot.
	Ext() string
	// NewEncoder starts a part holding rows of schema. first is the first
	// group of rows the part will receive, for formats that size their
	// columns from the data (parquet decimal scales); it is not written.
	NewEncoder(w *bufio.Writer, schema *connector.Schema, first [][]any) (Encoder, error)
	// Decode reads a part written with schema and calls fn for every row.
	// The row slice is reused between calls.
	Decode(r io.ReaderAt, size int64, schema *connector.Schema, fn func(row []any) error) error
}

// Encoder writes the rows of one part. Rows hold the SDK Go type of their
// field or nil.
type Encoder interface {
	// Write encodes rows. It returns [ErrRotate], having written nothing,
	// when the rows cannot go into this part; the caller then starts a new
	// part with these rows first.
	Write(rows [][]any) error
	// Close writes whatever ends the part (a footer); it does not flush or
	// close the underlying writer.
	Close() error
}

// ErrRotate is returned by [Encoder.Write] when rows need a new part.
var ErrRotate = errors.New("rows need a new part")
