package csv

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/tributary-data/tributary/connector"
	"github.com/tributary-data/tributary/connectors/filesink"
	"github.com/tributary-data/tributary/connectors/location"
)

// DestinationConfig configures the csv destination.
type DestinationConfig struct {
	Path      string `json:"path" jsonschema:"required,description=Directory the streams are written into: a local path, s3://bucket/prefix or sftp://user@host/path; created if missing. Each stream gets a folder of part files listed by a manifest."`
	Delimiter string `json:"delimiter,omitempty" jsonschema:"description=Field separator: one character; 'tab' or a tab character for TSV. Default: comma."`
	Header    *bool  `json:"header,omitempty" jsonschema:"description=Write the column names as the first line of every part. Default: true."`
	// Options hold the credentials of s3:// and sftp:// paths.
	location.Options
}

func init() {
	connector.RegisterDestination(connector.NewSpec[DestinationConfig, struct{}]("csv",
		"CSV files with a header line, committed part by part through a manifest"), NewDestination)
}

// NewDestination builds a csv destination from its JSON config.
func NewDestination(_ context.Context, raw json.RawMessage) (connector.Destination, error) {
	var cfg DestinationConfig
	if err := connector.DecodeConfig(raw, &cfg); err != nil {
		return nil, err
	}
	f, err := SinkFormat(cfg.Delimiter, cfg.Header == nil || *cfg.Header)
	if err != nil {
		return nil, err
	}
	return filesink.NewAt(cfg.Path, f, cfg.Options)
}

// SinkFormat is the csv part format of the destination: delimiter "" means
// a comma, "tab" a tab.
func SinkFormat(delimiter string, header bool) (filesink.Format, error) {
	switch delimiter {
	case "":
		delimiter = ","
	case "tab", `\t`:
		delimiter = "\t"
	}
	r, size := utf8.DecodeRuneInString(delimiter)
	if size != len(delimiter) || r == utf8.RuneError || r == '"' || r == '\r' || r == '\n' || r >= utf8.RuneSelf {
		return nil, fmt.Errorf("delimiter %q: want one ASCII character other than a quote or line break", delimiter)
	}
	return sinkFormat{delim: byte(r), header: header}, nil
}

// ReadCommitted calls fn for every committed row of stream written by a
// csv destination under dir with the given settings; see [filesink.Read].
func ReadCommitted(ctx context.Context, dir, stream, delimiter string, header bool, fn func(schema *connector.Schema, row []any) error) error {
	f, err := SinkFormat(delimiter, header)
	if err != nil {
		return err
	}
	return filesink.Read(ctx, dir, stream, f, fn)
}

// sinkFormat writes RFC 4180 CSV: values in their connector.FormatValue
// text (dates as YYYY-MM-DD), null as an empty field, the empty string as
// "" so the two differ, and fields holding the delimiter, quotes, line
// breaks or edge spaces quoted with doubled quotes.
type sinkFormat struct {
	delim  byte
	header bool
}

func (sinkFormat) Name() string { return "csv" }
func (sinkFormat) Ext() string  { return "csv" }

func (f sinkFormat) NewEncoder(w *bufio.Writer, schema *connector.Schema, _ [][]any) (filesink.Encoder, error) {
	e := &lineEncoder{w: w, delim: f.delim, schema: schema}
	if f.header {
		b := e.buf[:0]
		for i, fld := range schema.Fields {
			if i > 0 {
				b = append(b, f.delim)
			}
			b = e.appendField(b, fld.Name, true)
		}
		b = append(b, '\n')
		e.buf = b
		if _, err := w.Write(b); err != nil {
			return nil, err
		}
	}
	return e, nil
}

type lineEncoder struct {
	w      *bufio.Writer
	delim  byte
	schema *connector.Schema
	buf    []byte
	field  []byte
}

func (e *lineEncoder) Write(rows [][]any) error {
	fields := e.schema.Fields
	for _, row := range rows {
		b := e.buf[:0]
		for i := range fields {
			if i > 0 {
				b = append(b, e.delim)
			}
			var err error
			if b, err = e.appendValue(b, fields[i].Type, row[i]); err != nil {
				return fmt.Errorf("column %q: %w", fields[i].Name, err)
			}
		}
		b = append(b, '\n')
		e.buf = b
		if _, err := e.w.Write(b); err != nil {
			return err
		}
	}
	return nil
}

func (e *lineEncoder) Close() error { return nil }

func (e *lineEncoder) appendValue(b []byte, t connector.Type, v any) ([]byte, error) {
	f := e.field[:0]
	if t == connector.TypeJSON && v != nil {
		// A json value that is a string is still written as JSON text.
		j, err := json.Marshal(v)
		if err != nil {
			return b, err
		}
		e.field = append(f, j...)
		return e.appendField(b, string(e.field), false), nil
	}
	switch x := v.(type) {
	case nil:
		return b, nil
	case string:
		return e.appendField(b, x, true), nil
	case int64:
		return strconv.AppendInt(b, x, 10), nil
	case bool:
		return strconv.AppendBool(b, x), nil
	case float64:
		f = strconv.AppendFloat(f, x, 'g', -1, 64)
	case connector.Decimal:
		f = x.Append(f)
	case time.Time:
		if t == connector.TypeDate {
			f = x.UTC().AppendFormat(f, time.DateOnly)
		} else {
			f = x.UTC().AppendFormat(f, time.RFC3339Nano)
		}
	case []byte:
		if len(x) == 0 {
			return e.appendField(b, "", true), nil
		}
		f = base64.StdEncoding.AppendEncode(f, x)
	default:
		j, err := json.Marshal(x)
		if err != nil {
			return b, err
		}
		f = append(f, j...)
	}
	e.field = f
	return e.appendField(b, string(f), false), nil
}

// appendField appends s, quoted when a reader would otherwise split or
// trim it; an empty string is quoted only when it is a value, not a null.
func (e *lineEncoder) appendField(b []byte, s string, emptyQuoted bool) []byte {
	if !e.needsQuotes(s) && (s != "" || !emptyQuoted) {
		return append(b, s...)
	}
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' {
			b = append(b, '"')
		}
		b = append(b, s[i])
	}
	return append(b, '"')
}

func (e *lineEncoder) needsQuotes(s string) bool {
	if s == "" {
		return false
	}
	if s[0] == ' ' || s[0] == '\t' || s[len(s)-1] == ' ' || s[len(s)-1] == '\t' {
		return true
	}
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case e.delim, '"', '\r', '\n':
			return true
		}
	}
	return false
}

// Decode reads a part back. An empty field is null: encoding/csv does not
// tell "" from an empty field.
func (f sinkFormat) Decode(r io.ReaderAt, size int64, schema *connector.Schema, fn func(row []any) error) error {
	cr := csv.NewReader(bufio.NewReaderSize(io.NewSectionReader(r, 0, size), 1<<20))
	cr.Comma = rune(f.delim)
	cr.FieldsPerRecord = len(schema.Fields)
	cr.ReuseRecord = true
	if len(schema.Fields) == 0 {
		cr.FieldsPerRecord = -1
	}
	row := make([]any, len(schema.Fields))
	first := true
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if first && f.header {
			first = false
			continue
		}
		line, _ := cr.FieldPos(0)
		for i, fld := range schema.Fields {
			if rec[i] == "" {
				row[i] = nil
				continue
			}
			v, err := connector.ParseValue(fld.Type, rec[i])
			if err != nil {
				return fmt.Errorf("line %d, column %q: %w", line, fld.Name, err)
			}
			row[i] = v
		}
		if err := fn(row); err != nil {
			return err
		}
	}
}
