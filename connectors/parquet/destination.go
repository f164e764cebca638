package parquet

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
	"unsafe"

	pq "github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress"
	"github.com/parquet-go/parquet-go/format"

	"github.com/tributary-data/tributary/connector"
	"github.com/tributary-data/tributary/connectors/filesink"
	"github.com/tributary-data/tributary/connectors/location"
)

// DestinationConfig configures the parquet destination.
type DestinationConfig struct {
	Path        string `json:"path" jsonschema:"required,description=Directory the streams are written into: a local path, s3://bucket/prefix or sftp://user@host/path; created if missing. Each stream gets a folder of part files listed by a manifest."`
	Compression string `json:"compression,omitempty" jsonschema:"enum=snappy,enum=zstd,enum=gzip,enum=lz4,enum=none,description=Page compression codec. Default: snappy."`
	// Options hold the credentials of s3:// and sftp:// paths.
	location.Options
}

func init() {
	connector.RegisterDestination(connector.NewSpec[DestinationConfig, struct{}]("parquet",
		"Parquet files with logical types, committed part by part through a manifest"), NewDestination)
}

// NewDestination builds a parquet destination from its JSON config.
func NewDestination(_ context.Context, raw json.RawMessage) (connector.Destination, error) {
	var cfg DestinationConfig
	if err := connector.DecodeConfig(raw, &cfg); err != nil {
		return nil, err
	}
	f, err := SinkFormat(cfg.Compression)
	if err != nil {
		return nil, err
	}
	return filesink.NewAt(cfg.Path, f, cfg.Options)
}

// SinkFormat is the parquet part format of the destination, compressing
// pages with the named codec ("" means snappy).
func SinkFormat(compression string) (filesink.Format, error) {
	var codec compress.Codec
	switch strings.ToLower(compression) {
	case "", "snappy":
		codec = &pq.Snappy
	case "zstd":
		codec = &pq.Zstd
	case "gzip":
		codec = &pq.Gzip
	case "lz4":
		codec = &pq.Lz4Raw
	case "none", "uncompressed":
		codec = &pq.Uncompressed
	default:
		return nil, fmt.Errorf("compression %q: want snappy, zstd, gzip, lz4 or none", compression)
	}
	return sinkFormat{codec: codec}, nil
}

// ReadCommitted calls fn for every committed row of stream written by a
// parquet destination under dir; see [filesink.Read].
func ReadCommitted(ctx context.Context, dir, stream string, fn func(schema *connector.Schema, row []any) error) error {
	f, _ := SinkFormat("")
	return filesink.Read(ctx, dir, stream, f, fn)
}

// SchemaKey is the key-value metadata entry of every part holding its
// connector schema as JSON, so readers recover the field order and types.
const SchemaKey = "tributary.schema"

// rowGroupRows bounds the rows a part buffers before writing a row group.
const rowGroupRows = 128 << 10

// sinkFormat writes every column optional, with logical types: decimal
// (INT64, precision 18, the scale of the part's values), string, json,
// date (INT32 days), timestamp (INT64 microseconds, adjusted to UTC).
// Parquet columns are in name order; the connector schema order is kept in
// the SchemaKey metadata.
type sinkFormat struct {
	codec compress.Codec
}

func (sinkFormat) Name() string { return "parquet" }
func (sinkFormat) Ext() string  { return "parquet" }

func (f sinkFormat) NewEncoder(w *bufio.Writer, schema *connector.Schema, first [][]any) (filesink.Encoder, error) {
	e := &encoder{
		schema: schema,
		col:    make([]int, len(schema.Fields)),
		scale:  make([]int32, len(schema.Fields)),
	}
	group := pq.Group{}
	for i, fld := range schema.Fields {
		var node pq.Node
		switch fld.Type {
		case connector.TypeBool:
			node = pq.Leaf(pq.BooleanType)
		case connector.TypeInt64:
			node = pq.Int(64)
		case connector.TypeFloat64:
			node = pq.Leaf(pq.DoubleType)
		case connector.TypeDecimal:
			e.scale[i] = partScale(first, i)
			node = pq.Decimal(int(e.scale[i]), 18, pq.Int64Type)
		case connector.TypeString:
			node = pq.String()
		case connector.TypeBytes:
			node = pq.Leaf(pq.ByteArrayType)
		case connector.TypeDate:
			node = pq.Date()
		case connector.TypeTimestamp:
			node = pq.Timestamp(pq.Microsecond)
		case connector.TypeJSON:
			node = pq.JSON()
		default:
			return nil, fmt.Errorf("column %q: unsupported type %q", fld.Name, fld.Type)
		}
		group[fld.Name] = pq.Optional(node)
	}
	// A Group lays its fields out in name order.
	names := schema.Names()
	sorted := slices.Clone(names)
	slices.Sort(sorted)
	for i, n := range names {
		e.col[i], _ = slices.BinarySearch(sorted, n)
	}
	meta, err := json.Marshal(schema)
	if err != nil {
		return nil, err
	}
	e.w = pq.NewGenericWriter[any](w, pq.NewSchema("tributary", group), pq.Compression(f.codec), pq.KeyValueMetadata(SchemaKey, string(meta)))
	return e, nil
}

// partScale is the largest scale among the first decimal values of column
// i: every value of the part is stored at that scale.
func partScale(rows [][]any, i int) int32 {
	var s int32
	for _, r := range rows {
		if d, ok := r[i].(connector.Decimal); ok && d.Scale > s {
			s = d.Scale
		}
	}
	return min(s, 18)
}

type encoder struct {
	w       *pq.GenericWriter[any]
	schema  *connector.Schema
	col     []int   // parquet column of each field
	scale   []int32 // decimal scale of each decimal field
	rows    []pq.Row
	vals    []pq.Value
	pending int   // rows since the last row group
	written int64 // rows in the part
}

func (e *encoder) Write(rows [][]any) error {
	if err := e.fits(rows); err != nil {
		return err
	}
	width := len(e.schema.Fields)
	if need := width * len(rows); cap(e.vals) < need {
		e.vals = make([]pq.Value, need)
	}
	e.rows = e.rows[:0]
	for r, row := range rows {
		out := e.vals[r*width : (r+1)*width : (r+1)*width]
		for i, v := range row[:width] {
			pv, err := e.value(i, v)
			if err != nil {
				return fmt.Errorf("column %q: %w", e.schema.Fields[i].Name, err)
			}
			out[e.col[i]] = pv
		}
		e.rows = append(e.rows, out)
	}
	if _, err := e.w.WriteRows(e.rows); err != nil {
		return err
	}
	e.written += int64(len(rows))
	if e.pending += len(rows); e.pending >= rowGroupRows {
		e.pending = 0
		return e.w.Flush()
	}
	return nil
}

// fits reports ErrRotate when a decimal cannot be stored exactly at the
// part's scale, so the next part takes a scale that fits it. A part that
// has no rows yet cannot do better, so it names the value instead.
func (e *encoder) fits(rows [][]any) error {
	for i, f := range e.schema.Fields {
		if f.Type != connector.TypeDecimal {
			continue
		}
		for _, r := range rows {
			d, ok := r[i].(connector.Decimal)
			if !ok {
				continue
			}
			if rs, err := d.Rescale(e.scale[i]); err != nil || rs.Cmp(d) != 0 {
				if e.written == 0 {
					return fmt.Errorf("column %q: decimal %s does not fit 18 digits at scale %d", f.Name, d, e.scale[i])
				}
				return filesink.ErrRotate
			}
		}
	}
	return nil
}

func (e *encoder) value(i int, v any) (pq.Value, error) {
	c := e.col[i]
	var pv pq.Value
	switch x := v.(type) {
	case nil:
		return pq.NullValue().Level(0, 0, c), nil
	case bool:
		pv = pq.BooleanValue(x)
	case int64:
		pv = pq.Int64Value(x)
	case float64:
		pv = pq.DoubleValue(x)
	case connector.Decimal:
		d, err := x.Rescale(e.scale[i])
		if err != nil {
			return pv, err
		}
		pv = pq.Int64Value(d.Unscaled)
	case string:
		// The writer copies the bytes into its page buffer: no need to
		// copy the string first.
		pv = pq.ByteArrayValue(unsafe.Slice(unsafe.StringData(x), len(x)))
	case []byte:
		pv = pq.ByteArrayValue(x)
	case time.Time:
		if e.schema.Fields[i].Type == connector.TypeDate {
			pv = pq.Int32Value(int32(days(x)))
		} else {
			pv = pq.Int64Value(x.UnixMicro())
		}
	default:
		b, err := json.Marshal(x)
		if err != nil {
			return pv, err
		}
		pv = pq.ByteArrayValue(b)
	}
	if e.schema.Fields[i].Type == connector.TypeJSON {
		if _, isString := v.(string); isString {
			b, _ := json.Marshal(v)
			pv = pq.ByteArrayValue(b)
		}
	}
	return pv.Level(0, 1, c), nil
}

// days counts whole days since 1970-01-01, rounding towards the past.
func days(t time.Time) int64 {
	s := t.Unix()
	d := s / 86400
	if s%86400 < 0 {
		d--
	}
	return d
}

func (e *encoder) Close() error { return e.w.Close() }

// Decode reads a part back; columns are matched to the schema by name.
func (sinkFormat) Decode(r io.ReaderAt, size int64, schema *connector.Schema, fn func(row []any) error) error {
	file, err := pq.OpenFile(r, size, pq.SkipBloomFilters(true), pq.SkipPageIndex(true))
	if err != nil {
		return err
	}
	fields := file.Schema().Fields()
	field := make([]int, len(fields)) // schema field of each parquet column
	scale := make([]int32, len(fields))
	for c, f := range fields {
		field[c] = schema.Index(f.Name())
		if lt := f.Type().LogicalType(); lt != nil {
			if d, ok := lt.Value.(*format.DecimalType); ok {
				scale[c] = d.Scale
			}
		}
	}
	row := make([]any, len(schema.Fields))
	buf := make([]pq.Row, 256)
	for _, rg := range file.RowGroups() {
		rows := rg.Rows()
		for {
			n, err := rows.ReadRows(buf)
			for _, pr := range buf[:n] {
				clear(row)
				for _, v := range pr {
					c := v.Column()
					if c < 0 || c >= len(field) || field[c] < 0 || v.IsNull() {
						continue
					}
					j := field[c]
					val, derr := decodeValue(schema.Fields[j].Type, v, scale[c])
					if derr != nil {
						rows.Close()
						return fmt.Errorf("column %q: %w", schema.Fields[j].Name, derr)
					}
					row[j] = val
				}
				if ferr := fn(row); ferr != nil {
					rows.Close()
					return ferr
				}
			}
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				rows.Close()
				return err
			}
		}
		if err := rows.Close(); err != nil {
			return err
		}
	}
	return nil
}

func decodeValue(t connector.Type, v pq.Value, scale int32) (any, error) {
	switch t {
	case connector.TypeBool:
		return v.Boolean(), nil
	case connector.TypeInt64:
		return v.Int64(), nil
	case connector.TypeFloat64:
		return v.Double(), nil
	case connector.TypeDecimal:
		return connector.Decimal{Unscaled: v.Int64(), Scale: scale}, nil
	case connector.TypeString:
		return string(v.ByteArray()), nil
	case connector.TypeBytes:
		return bytes.Clone(v.ByteArray()), nil
	case connector.TypeDate:
		return time.Unix(int64(v.Int32())*86400, 0).UTC(), nil
	case connector.TypeTimestamp:
		return time.UnixMicro(v.Int64()).UTC(), nil
	case connector.TypeJSON:
		var x any
		err := json.Unmarshal(v.ByteArray(), &x)
		return x, err
	}
	return nil, fmt.Errorf("unsupported type %q", t)
}
