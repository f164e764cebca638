package jsonl

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/tributary-data/tributary/connector"
	"github.com/tributary-data/tributary/connectors/filesink"
	"github.com/tributary-data/tributary/connectors/location"
)

// DestinationConfig configures the jsonl destination.
type DestinationConfig struct {
	Path string `json:"path" jsonschema:"required,description=Directory the streams are written into: a local path, s3://bucket/prefix or sftp://user@host/path; created if missing. Each stream gets a folder of part files listed by a manifest."`
	// Options hold the credentials of s3:// and sftp:// paths.
	location.Options
}

func init() {
	connector.RegisterDestination(connector.NewSpec[DestinationConfig, struct{}]("jsonl",
		"JSON Lines files: one JSON object per row, committed part by part through a manifest"), NewDestination)
}

// NewDestination builds a jsonl destination from its JSON config.
func NewDestination(_ context.Context, raw json.RawMessage) (connector.Destination, error) {
	var cfg DestinationConfig
	if err := connector.DecodeConfig(raw, &cfg); err != nil {
		return nil, err
	}
	return filesink.NewAt(cfg.Path, SinkFormat(), cfg.Options)
}

// SinkFormat is the jsonl part format of the destination.
func SinkFormat() filesink.Format { return sinkFormat{} }

// ReadCommitted calls fn for every committed row of stream written by a
// jsonl destination under dir; see [filesink.Read].
func ReadCommitted(ctx context.Context, dir, stream string, fn func(schema *connector.Schema, row []any) error) error {
	return filesink.Read(ctx, dir, stream, SinkFormat(), fn)
}

// sinkFormat writes one JSON object per line: decimals as exact JSON
// numbers, timestamps as RFC 3339 strings in UTC, dates as YYYY-MM-DD,
// bytes as base64 strings, json values nested, null for missing values.
// Floats that JSON cannot hold (NaN, ±Inf) are written as strings.
type sinkFormat struct{}

func (sinkFormat) Name() string { return "jsonl" }
func (sinkFormat) Ext() string  { return "jsonl" }

func (sinkFormat) NewEncoder(w *bufio.Writer, schema *connector.Schema, _ [][]any) (filesink.Encoder, error) {
	e := &lineEncoder{w: w, schema: schema, types: make([]connector.Type, len(schema.Fields)), keys: make([][]byte, len(schema.Fields))}
	for i, f := range schema.Fields {
		sep := byte(',')
		if i == 0 {
			sep = '{'
		}
		k := appendString([]byte{sep}, f.Name)
		e.keys[i] = append(k, ':')
		e.types[i] = f.Type
	}
	return e, nil
}

type lineEncoder struct {
	w      *bufio.Writer
	schema *connector.Schema
	types  []connector.Type
	keys   [][]byte // `{"name":` for the first field, `,"name":` after
	buf    []byte
}

func (e *lineEncoder) Write(rows [][]any) error {
	for _, row := range rows {
		b := e.buf[:0]
		if len(e.keys) == 0 {
			b = append(b, '{')
		}
		for i, k := range e.keys {
			b = append(b, k...)
			var err error
			if b, err = appendValue(b, e.types[i], row[i]); err != nil {
				return fmt.Errorf("column %q: %w", e.schema.Fields[i].Name, err)
			}
		}
		b = append(b, '}', '\n')
		e.buf = b
		if _, err := e.w.Write(b); err != nil {
			return err
		}
	}
	return nil
}

func (e *lineEncoder) Close() error { return nil }

func appendValue(b []byte, t connector.Type, v any) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return append(b, "null"...), nil
	case bool:
		return strconv.AppendBool(b, x), nil
	case int64:
		return strconv.AppendInt(b, x, 10), nil
	case float64:
		return appendFloat(b, x), nil
	case connector.Decimal:
		return x.Append(b), nil
	case string:
		return appendString(b, x), nil
	case time.Time:
		b = append(b, '"')
		if t == connector.TypeDate {
			b = x.UTC().AppendFormat(b, time.DateOnly)
		} else {
			b = x.UTC().AppendFormat(b, time.RFC3339Nano)
		}
		return append(b, '"'), nil
	case []byte:
		b = append(b, '"')
		b = base64.StdEncoding.AppendEncode(b, x)
		return append(b, '"'), nil
	}
	j, err := json.Marshal(v)
	if err != nil {
		return b, err
	}
	return append(b, j...), nil
}

// appendFloat writes f the way encoding/json does: plain notation for
// everyday magnitudes, exponents for tiny and huge ones.
func appendFloat(b []byte, f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return strconv.AppendQuote(b, strconv.FormatFloat(f, 'g', -1, 64))
	}
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	return strconv.AppendFloat(b, f, format, -1, 64)
}

const hexDigits = "0123456789abcdef"

// appendString writes s as a JSON string; invalid UTF-8 becomes U+FFFD as
// encoding/json does.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&15])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i++
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			// Valid JSON, but not valid JavaScript: escape as encoding/json does.
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&15])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// Decode reads a part back, converting each key to its field's type.
func (sinkFormat) Decode(r io.ReaderAt, size int64, schema *connector.Schema, fn func(row []any) error) error {
	br := bufio.NewReaderSize(io.NewSectionReader(r, 0, size), 1<<20)
	row := make([]any, len(schema.Fields))
	var long []byte
	for lineNo := 1; ; lineNo++ {
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			long = append(long[:0], line...)
			for errors.Is(err, bufio.ErrBufferFull) {
				line, err = br.ReadSlice('\n')
				long = append(long, line...)
			}
			line = long
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		if len(bytes.TrimSpace(line)) > 0 {
			if derr := decodeLine(line, schema, row); derr != nil {
				return fmt.Errorf("line %d: %w", lineNo, derr)
			}
			if ferr := fn(row); ferr != nil {
				return ferr
			}
		}
		if err != nil {
			return nil
		}
	}
}

func decodeLine(line []byte, schema *connector.Schema, row []any) error {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(line, &obj); err != nil {
		return err
	}
	for i, f := range schema.Fields {
		raw, ok := obj[f.Name]
		if !ok || string(raw) == "null" {
			row[i] = nil
			continue
		}
		v, err := decodeValue(f.Type, raw)
		if err != nil {
			return fmt.Errorf("column %q: %w", f.Name, err)
		}
		row[i] = v
	}
	return nil
}

func decodeValue(t connector.Type, raw json.RawMessage) (any, error) {
	quoted := raw[0] == '"'
	text := func() (string, error) {
		if !quoted {
			return string(raw), nil
		}
		var s string
		err := json.Unmarshal(raw, &s)
		return s, err
	}
	switch t {
	case connector.TypeJSON:
		var v any
		err := json.Unmarshal(raw, &v)
		return v, err
	case connector.TypeBytes:
		s, err := text()
		if err != nil {
			return nil, err
		}
		return base64.StdEncoding.DecodeString(s)
	case connector.TypeDecimal:
		s, err := text()
		if err != nil {
			return nil, err
		}
		return connector.ParseDecimal(s)
	}
	s, err := text()
	if err != nil {
		return nil, err
	}
	return connector.ParseValue(t, s)
}
