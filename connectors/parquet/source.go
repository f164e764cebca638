package parquet

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"time"
	"unicode/utf8"

	pq "github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/deprecated"
	"github.com/parquet-go/parquet-go/format"

	"github.com/tributary-data/tributary/connector"
	"github.com/tributary-data/tributary/connectors/filesource"
	"github.com/tributary-data/tributary/connectors/location"
)

// StreamConfig holds the settings of one stream; every field left empty
// falls back to the connector-level value.
type StreamConfig struct {
	Path string `json:"path,omitempty" jsonschema:"description=Glob of the files to read: a local path or s3://bucket/prefix/*.ext or sftp://user@host/dir/*.ext or one https:// URL; every match feeds the stream in sorted order"`
}

// NamedStream is a stream declared in the connector config, so Discover
// can offer one stream per pattern.
type NamedStream struct {
	Name string `json:"name" jsonschema:"required"`
	StreamConfig
}

// Config configures the parquet source.
type Config struct {
	StreamConfig
	// Options hold the credentials of s3://, sftp:// and https:// paths.
	location.Options
	Streams []NamedStream `json:"streams,omitempty" jsonschema:"description=One stream per pattern; without it the top-level path is one stream named after its files"`
}

func init() {
	connector.RegisterSource(connector.NewSpec[Config, StreamConfig]("parquet", "Parquet files, with logical types mapped to exact SDK types"), New)
}

// New builds the parquet source from its JSON config.
func New(_ context.Context, raw json.RawMessage) (connector.Source, error) {
	var cfg Config
	if err := connector.DecodeConfig(raw, &cfg); err != nil {
		return nil, err
	}
	named := make([]filesource.Named[StreamConfig], len(cfg.Streams))
	for i, n := range cfg.Streams {
		named[i] = filesource.Named[StreamConfig]{Name: n.Name, Settings: n.StreamConfig}
	}
	return filesource.NewSource("parquet", cfg.StreamConfig, named, func(_ StreamConfig, s connector.Stream) (filesource.Format, error) {
		return &pqSource{overrides: s.Schema}, nil
	}).WithLocations(cfg.Options), nil
}

// PathPattern is the glob of the stream's files.
func (c StreamConfig) PathPattern() string { return c.Path }

// Merge returns c with the settings o sets.
func (c StreamConfig) Merge(o StreamConfig) StreamConfig {
	if o.Path != "" {
		c.Path = o.Path
	}
	return c
}

// pqSource is the parquet format of one stream.
type pqSource struct {
	overrides map[string]connector.Type
}

// pqFile is an open parquet file.
type pqFile struct {
	file   *pq.File
	closer io.Closer
	cols   []pqColumn
	schema *connector.Schema
	nested bool
}

// pqColumn is one top-level field of the file.
type pqColumn struct {
	name    string
	leaf    int // leaf column index; -1 for nested or repeated fields
	natural connector.Type
	typ     connector.Type // after overrides
	read    func(pq.Value) (any, error)
}

func openParquet(ctx context.Context, f filesource.File) (*pq.File, io.Closer, error) {
	var (
		ra     io.ReaderAt
		size   int64
		closer io.Closer = io.NopCloser(nil)
	)
	if f.Gzip() {
		data, err := filesource.ReadAllContext(ctx, f)
		if err != nil {
			return nil, nil, err
		}
		ra, size = bytes.NewReader(data), int64(len(data))
	} else {
		fh, err := filesource.OpenAt(ctx, f)
		if err != nil {
			return nil, nil, err
		}
		ra, size, closer = fh, fh.Size(), fh
	}
	file, err := pq.OpenFile(ra, size, pq.SkipBloomFilters(true))
	if err != nil {
		closer.Close()
		return nil, nil, fmt.Errorf("not a parquet file: %w", err)
	}
	return file, closer, nil
}

func (s *pqSource) open(ctx context.Context, f filesource.File) (*pqFile, error) {
	file, closer, err := openParquet(ctx, f)
	if err != nil {
		return nil, err
	}
	pf := &pqFile{file: file, closer: closer}
	leaf := 0
	var fields []connector.Field
	for _, fl := range file.Schema().Fields() {
		c := pqColumn{name: fl.Name(), leaf: -1}
		if fl.Leaf() && !fl.Repeated() {
			c.leaf = leaf
			c.natural, c.read = leafType(fl.Type())
		} else {
			c.natural = connector.TypeJSON
			pf.nested = true
		}
		leaf += countLeaves(fl)
		c.typ = c.natural
		if t, ok := s.overrides[c.name]; ok {
			c.typ = t
		}
		pf.cols = append(pf.cols, c)
		fields = append(fields, connector.Field{Name: c.name, Type: c.typ, Nullable: !fl.Required()})
	}
	pf.schema = connector.NewSchema(fields...)
	return pf, nil
}

func countLeaves(n pq.Node) int {
	if n.Leaf() {
		return 1
	}
	c := 0
	for _, f := range n.Fields() {
		c += countLeaves(f)
	}
	return c
}

// Infer reads the schema from the first file's footer: no sampling needed.
func (s *pqSource) Infer(ctx context.Context, files []filesource.File) (*connector.Schema, error) {
	if len(files) == 0 {
		return nil, errors.New("no file to infer a schema from")
	}
	pf, err := s.open(ctx, files[0])
	if err != nil {
		return nil, err
	}
	pf.closer.Close()
	return pf.schema, nil
}

// Open reads the file's own schema (files of a stream may differ) and
// seeks to the row index in pos.Record.
func (s *pqSource) Open(ctx context.Context, pos filesource.Position, _ *connector.Schema) (filesource.Scanner, error) {
	pf, err := s.open(ctx, pos.File)
	if err != nil {
		return nil, err
	}
	sc := &pqScanner{f: pf, groups: pf.file.RowGroups(), index: pos.Record, buf: make([]pq.Row, 128)}
	// Find the row group holding the first row to read.
	skip := pos.Record
	for sc.group < len(sc.groups) && skip >= sc.groups[sc.group].NumRows() {
		skip -= sc.groups[sc.group].NumRows()
		sc.group++
	}
	if sc.group < len(sc.groups) {
		sc.rows = sc.groups[sc.group].Rows()
		if skip > 0 {
			if err := sc.rows.SeekToRow(skip); err != nil {
				sc.Close()
				return nil, fmt.Errorf("seek to row %d: %w", pos.Record, err)
			}
		}
	}
	return sc, nil
}

type pqScanner struct {
	f      *pqFile
	groups []pq.RowGroup
	group  int
	rows   pq.Rows
	buf    []pq.Row
	n, i   int
	index  int64 // rows consumed
}

func (s *pqScanner) Close() error {
	if s.rows != nil {
		s.rows.Close()
	}
	return s.f.closer.Close()
}

func (s *pqScanner) nextRow() (pq.Row, error) {
	for s.i >= s.n {
		if s.rows == nil {
			return nil, io.EOF
		}
		n, err := s.rows.ReadRows(s.buf)
		s.n, s.i = n, 0
		if n > 0 {
			break
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, err
		}
		s.rows.Close()
		s.rows = nil
		if s.group++; s.group < len(s.groups) {
			s.rows = s.groups[s.group].Rows()
		}
	}
	r := s.buf[s.i]
	s.i++
	return r, nil
}

func (s *pqScanner) Next(alloc filesource.Alloc) (filesource.Item, error) {
	r, err := s.nextRow()
	if err != nil {
		return filesource.Item{}, err
	}
	s.index++
	it := filesource.Item{Line: s.index, End: filesource.Mark{Record: s.index}}
	row := alloc(s.f.schema)
	var nested map[string]any
	if s.f.nested {
		if nested, err = reconstruct(s.f.file.Schema(), r); err != nil {
			it.Raw, it.Reason = fmt.Sprint(r), fmt.Sprintf("nested value: %v", err)
			return it, nil
		}
	}
	for j, c := range s.f.cols {
		var v any
		if c.leaf >= 0 {
			pv := leafValue(r, c.leaf)
			if pv.IsNull() {
				continue
			}
			if v, err = c.read(pv); err != nil {
				it.Raw, it.Reason = rawRow(s.f, r), fmt.Sprintf("field %q: %v", c.name, err)
				return it, nil
			}
		} else {
			if v = jsonValue(nested[c.name]); v == nil {
				continue
			}
		}
		if c.typ != c.natural {
			if v, err = connector.Convert(c.typ, v); err != nil {
				it.Raw, it.Reason = rawRow(s.f, r), fmt.Sprintf("field %q: %v", c.name, err)
				return it, nil
			}
		}
		row[j] = v
	}
	it.Row = row
	return it, nil
}

// reconstruct assembles the nested values of a row. parquet-go panics on
// some malformed rows; that becomes an error, which rejects the row.
func reconstruct(schema *pq.Schema, r pq.Row) (m map[string]any, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%v", p)
		}
	}()
	m = map[string]any{}
	err = schema.Reconstruct(&m, r)
	return m, err
}

// leafValue finds the value of a leaf column in a row; rows list values in
// column order, so it is usually at the index itself.
func leafValue(r pq.Row, col int) pq.Value {
	if col < len(r) && r[col].Column() == col {
		return r[col]
	}
	for _, v := range r {
		if v.Column() == col {
			return v
		}
	}
	return pq.Value{}
}

// rawRow renders a row for the quarantine.
func rawRow(f *pqFile, r pq.Row) string {
	m := map[string]any{}
	for _, c := range f.cols {
		if c.leaf >= 0 {
			m[c.name] = leafValue(r, c.leaf).String()
		}
	}
	b, _ := json.Marshal(m)
	return string(b)
}

// jsonValue turns a reconstructed nested value into plain JSON values.
func jsonValue(v any) any {
	if v == nil {
		return nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	var out any
	if json.Unmarshal(b, &out) != nil {
		return string(b)
	}
	return out
}

// leafType maps a parquet column type to an SDK type and the reader of its
// values.
func leafType(t pq.Type) (connector.Type, func(pq.Value) (any, error)) {
	kind := t.Kind()
	if lt := t.LogicalType(); lt != nil && lt.Value != nil {
		switch l := lt.Value.(type) {
		case *format.StringType, *format.EnumType:
			return connector.TypeString, readString
		case *format.JsonType:
			return connector.TypeJSON, func(v pq.Value) (any, error) {
				var out any
				if err := json.Unmarshal(v.ByteArray(), &out); err != nil {
					return nil, fmt.Errorf("not JSON: %w", err)
				}
				return out, nil
			}
		case *format.UUIDType:
			return connector.TypeString, func(v pq.Value) (any, error) {
				b := v.ByteArray()
				if len(b) != 16 {
					return nil, fmt.Errorf("UUID of %d bytes", len(b))
				}
				h := hex.EncodeToString(b)
				return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:], nil
			}
		case *format.DecimalType:
			return connector.TypeDecimal, func(v pq.Value) (any, error) { return readDecimal(v, kind, l.Scale) }
		case *format.DateType:
			return connector.TypeDate, func(v pq.Value) (any, error) {
				return time.Unix(int64(v.Int32())*86400, 0).UTC(), nil
			}
		case *format.TimestampType:
			unit := l.Unit.Value.Duration()
			return connector.TypeTimestamp, func(v pq.Value) (any, error) {
				// Timestamps not adjusted to UTC are wall-clock times with
				// no zone; they are taken as UTC, as ParseTimestamp does.
				n := v.Int64()
				switch unit {
				case time.Millisecond:
					return time.UnixMilli(n).UTC(), nil
				case time.Microsecond:
					return time.UnixMicro(n).UTC(), nil
				}
				return time.Unix(0, n).UTC(), nil
			}
		case *format.TimeType:
			unit := l.Unit.Value.Duration()
			return connector.TypeString, func(v pq.Value) (any, error) {
				n := v.Int64()
				if kind == pq.Int32 {
					n = int64(v.Int32())
				}
				d := time.Duration(n) * unit
				return time.Unix(0, 0).UTC().Add(d).Format("15:04:05.999999999"), nil
			}
		case *format.IntType:
			if !l.IsSigned {
				return connector.TypeInt64, func(v pq.Value) (any, error) {
					if kind == pq.Int32 {
						return int64(uint32(v.Int32())), nil
					}
					u := v.Uint64()
					if u > math.MaxInt64 {
						return nil, fmt.Errorf("unsigned %d does not fit int64", u)
					}
					return int64(u), nil
				}
			}
		case *format.BsonType:
			return connector.TypeBytes, readBytes
		}
	}
	if ct := t.ConvertedType(); ct != nil {
		switch *ct {
		case deprecated.UTF8, deprecated.Enum:
			return connector.TypeString, readString
		case deprecated.Json:
			return connector.TypeJSON, func(v pq.Value) (any, error) {
				var out any
				err := json.Unmarshal(v.ByteArray(), &out)
				return out, err
			}
		}
	}
	switch kind {
	case pq.Boolean:
		return connector.TypeBool, func(v pq.Value) (any, error) { return v.Boolean(), nil }
	case pq.Int32:
		return connector.TypeInt64, func(v pq.Value) (any, error) { return int64(v.Int32()), nil }
	case pq.Int64:
		return connector.TypeInt64, func(v pq.Value) (any, error) { return v.Int64(), nil }
	case pq.Int96:
		return connector.TypeTimestamp, func(v pq.Value) (any, error) { return int96Time(v.Int96()), nil }
	case pq.Float:
		return connector.TypeFloat64, func(v pq.Value) (any, error) { return float64(v.Float()), nil }
	case pq.Double:
		return connector.TypeFloat64, func(v pq.Value) (any, error) { return v.Double(), nil }
	}
	return connector.TypeBytes, readBytes
}

func readString(v pq.Value) (any, error) {
	b := v.ByteArray()
	if !utf8.Valid(b) {
		return nil, errors.New("invalid UTF-8")
	}
	return string(b), nil
}

func readBytes(v pq.Value) (any, error) { return bytes.Clone(v.ByteArray()), nil }

// readDecimal reads an unscaled integer: int32, int64, or big-endian two's
// complement bytes that must fit an int64.
func readDecimal(v pq.Value, kind pq.Kind, scale int32) (any, error) {
	switch kind {
	case pq.Int32:
		return connector.Decimal{Unscaled: int64(v.Int32()), Scale: scale}, nil
	case pq.Int64:
		return connector.Decimal{Unscaled: v.Int64(), Scale: scale}, nil
	}
	b := v.ByteArray()
	if len(b) == 0 {
		return connector.Decimal{Scale: scale}, nil
	}
	// Strip sign-extension bytes, then what is left must fit 8 bytes.
	neg := b[0]&0x80 != 0
	for len(b) > 8 && ((!neg && b[0] == 0 && b[1]&0x80 == 0) || (neg && b[0] == 0xff && b[1]&0x80 != 0)) {
		b = b[1:]
	}
	if len(b) > 8 {
		return nil, connector.ErrDecimalRange
	}
	var buf [8]byte
	if neg {
		buf = [8]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	}
	copy(buf[8-len(b):], b)
	return connector.Decimal{Unscaled: int64(binary.BigEndian.Uint64(buf[:])), Scale: scale}, nil
}

// int96Time decodes the legacy Impala timestamp: nanoseconds of the day
// and a Julian day number.
func int96Time(i deprecated.Int96) time.Time {
	nanos := int64(i[1])<<32 | int64(i[0])
	days := int64(i[2]) - 2440588 // Julian day of 1970-01-01
	return time.Unix(days*86400, nanos).UTC()
}
