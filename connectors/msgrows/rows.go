package msgrows

import (
	"context"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/tributary-data/tributary/connector"
	"github.com/tributary-data/tributary/connectors/filesource"
)

// The value formats.
const (
	FormatJSON   = "json"   // a JSON object per message, its fields as columns
	FormatString = "string" // the value as one string column
	FormatBytes  = "bytes"  // the value as one bytes column
)

// ValueField is the column holding the whole value in the string and bytes
// formats.
const ValueField = "value"

// CheckFormat validates a value format setting, empty meaning json.
func CheckFormat(f string) (string, error) {
	switch f {
	case "":
		return FormatJSON, nil
	case FormatJSON, FormatString, FormatBytes:
		return f, nil
	}
	return "", fmt.Errorf("%q is not one of json, string, bytes", f)
}

// Builder accumulates one stream's messages into batches. The metadata
// columns come first, in the order given, then the value's.
type Builder struct {
	stream  string
	format  string
	size    int
	meta    []connector.Field
	objects *filesource.Objects
	batch   *connector.Batch
	kv      []filesource.KV
}

// NewBuilder starts a builder for stream. meta lists the metadata columns
// every row starts with; overrides fix the type of named value fields.
func NewBuilder(stream, format string, size int, meta []connector.Field, overrides map[string]connector.Type) *Builder {
	fields := append([]connector.Field(nil), meta...)
	switch format {
	case FormatString:
		fields = append(fields, connector.Field{Name: ValueField, Type: connector.TypeString, Nullable: true})
	case FormatBytes:
		fields = append(fields, connector.Field{Name: ValueField, Type: connector.TypeBytes, Nullable: true})
	}
	if size <= 0 {
		size = 10_000
	}
	return &Builder{
		stream:  stream,
		format:  format,
		size:    size,
		meta:    meta,
		objects: filesource.NewObjects(connector.NewSchema(fields...), overrides, false),
	}
}

// Emitter is where full batches and rejects go.
type Emitter interface {
	Emit(ctx context.Context, b *connector.Batch) error
	Reject(ctx context.Context, r connector.Reject) error
}

// Add converts one message. meta holds the values of the metadata columns;
// origin names the message (topic/partition/offset) in a reject. A message
// that cannot be converted is rejected through em with the reason; a full
// batch is emitted.
func (b *Builder) Add(ctx context.Context, em Emitter, value []byte, meta []any, origin string) error {
	kv := b.kv[:0]
	for i, f := range b.meta {
		kv = append(kv, filesource.KV{Key: f.Name, Value: meta[i]})
	}
	var reason string
	switch b.format {
	case FormatString:
		if !utf8.Valid(value) {
			reason = "value is not valid UTF-8"
		} else {
			kv = append(kv, filesource.KV{Key: ValueField, Value: string(value)})
		}
	case FormatBytes:
		kv = append(kv, filesource.KV{Key: ValueField, Value: append([]byte(nil), value...)})
	default:
		fields, err := b.objects.DecodeRecord(value, kv[len(b.meta):])
		if err != nil {
			reason = err.Error()
		} else {
			kv = append(kv[:len(b.meta)], fields...)
		}
	}
	b.kv = kv
	if reason == "" {
		row, why := b.objects.Row(kv, b.alloc)
		if why == "" {
			if cur := b.objects.Schema(); b.batch != nil && b.batch.Schema != cur {
				// The schema grew with this row: the rows before it form
				// a batch of the old schema.
				if err := b.Flush(ctx, em); err != nil {
					return err
				}
			}
			if b.batch == nil {
				b.batch = connector.NewBatch(b.stream, b.objects.Schema(), b.size)
				nr := b.batch.NewRow()
				copy(nr, row)
				row = nr
			}
			b.batch.Append(row)
			if b.batch.Len() >= b.size {
				return b.Flush(ctx, em)
			}
			return nil
		}
		reason = why
	}
	return em.Reject(ctx, connector.Reject{
		Stream: b.stream, Origin: origin, Raw: rawText(value), Reason: reason, Step: "read", At: time.Now().UTC(),
	})
}

// alloc gives Objects.Row a row of the current schema, carved from the
// open batch when it has that schema; otherwise Add copies it into a new
// batch.
func (b *Builder) alloc(s *connector.Schema) []any {
	if b.batch != nil && b.batch.Schema == s {
		return b.batch.NewRow()
	}
	return make([]any, len(s.Fields))
}

// Flush emits the rows gathered so far.
func (b *Builder) Flush(ctx context.Context, em Emitter) error {
	if b.batch == nil || b.batch.Len() == 0 {
		return nil
	}
	bt := b.batch
	b.batch = nil
	return em.Emit(ctx, bt)
}

func rawText(v []byte) string {
	if utf8.Valid(v) {
		return string(v)
	}
	return fmt.Sprintf("%q", v)
}
