package csv

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/tributary-data/tributary/connector"
	"github.com/tributary-data/tributary/connectors/filesource"
	"github.com/tributary-data/tributary/connectors/location"
)

// StreamConfig holds the settings of one stream; every field left empty
// falls back to the connector-level value.
type StreamConfig struct {
	Path       string   `json:"path,omitempty" jsonschema:"description=Glob of the files to read: a local path or s3://bucket/prefix/*.ext or sftp://user@host/dir/*.ext or one https:// URL; every match feeds the stream in sorted order. A .gz suffix means gzip."`
	Delimiter  string   `json:"delimiter,omitempty" jsonschema:"description=Field delimiter (one byte),default=\\,"`
	Quote      string   `json:"quote,omitempty" jsonschema:"description=Quote character (one byte),default=\""`
	Header     *bool    `json:"header,omitempty" jsonschema:"description=Whether the first line holds the column names,default=true"`
	Columns    []string `json:"columns,omitempty" jsonschema:"description=Column names when the files have no header"`
	NullValues []string `json:"null_values,omitempty" jsonschema:"description=Unquoted values read as null (default: the empty value)"`
	SampleRows int      `json:"sample_rows,omitempty" jsonschema:"description=Rows of the first file sampled to infer column types,default=1000"`
}

// NamedStream is a stream declared in the connector config, so Discover
// can offer one stream per pattern.
type NamedStream struct {
	Name string `json:"name" jsonschema:"required"`
	StreamConfig
}

// Config configures the csv source.
type Config struct {
	StreamConfig
	// Options hold the credentials of s3://, sftp:// and https:// paths.
	location.Options
	Streams []NamedStream `json:"streams,omitempty" jsonschema:"description=One stream per pattern; without it the top-level path is one stream named after its files"`
}

func init() {
	connector.RegisterSource(connector.NewSpec[Config, StreamConfig]("csv", "Delimited text files (CSV, TSV), optionally gzip-compressed"), New)
}

// New builds the csv source from its JSON config.
func New(_ context.Context, raw json.RawMessage) (connector.Source, error) {
	var cfg Config
	if err := connector.DecodeConfig(raw, &cfg); err != nil {
		return nil, err
	}
	if _, err := cfg.StreamConfig.settings(); err != nil {
		return nil, err
	}
	named := make([]filesource.Named[StreamConfig], len(cfg.Streams))
	for i, n := range cfg.Streams {
		named[i] = filesource.Named[StreamConfig]{Name: n.Name, Settings: n.StreamConfig}
	}
	return filesource.NewSource("csv", cfg.StreamConfig, named, func(sc StreamConfig, s connector.Stream) (filesource.Format, error) {
		st, err := sc.settings()
		if err != nil {
			return nil, err
		}
		return &format{settings: st, overrides: s.Schema}, nil
	}).WithLocations(cfg.Options), nil
}

// PathPattern is the glob of the stream's files.
func (c StreamConfig) PathPattern() string { return c.Path }

// Merge returns c with the settings o sets.
func (c StreamConfig) Merge(o StreamConfig) StreamConfig {
	if o.Path != "" {
		c.Path = o.Path
	}
	if o.Delimiter != "" {
		c.Delimiter = o.Delimiter
	}
	if o.Quote != "" {
		c.Quote = o.Quote
	}
	if o.Header != nil {
		c.Header = o.Header
	}
	if o.Columns != nil {
		c.Columns = o.Columns
	}
	if o.NullValues != nil {
		c.NullValues = o.NullValues
	}
	if o.SampleRows != 0 {
		c.SampleRows = o.SampleRows
	}
	return c
}

// settings is a StreamConfig with defaults applied and checked.
type settings struct {
	delim, quote byte
	header       bool
	columns      []string
	nulls        []string
	sampleRows   int
}

func (c StreamConfig) settings() (settings, error) {
	s := settings{delim: ',', quote: '"', header: true, columns: c.Columns, nulls: c.NullValues, sampleRows: c.SampleRows}
	switch c.Delimiter {
	case "":
	case `\t`, "tab":
		s.delim = '\t'
	default:
		if len(c.Delimiter) != 1 {
			return s, fmt.Errorf("delimiter %q: must be one byte", c.Delimiter)
		}
		s.delim = c.Delimiter[0]
	}
	if c.Quote != "" {
		if len(c.Quote) != 1 {
			return s, fmt.Errorf("quote %q: must be one byte", c.Quote)
		}
		s.quote = c.Quote[0]
	}
	if s.quote == s.delim || s.delim == '\n' || s.delim == '\r' || s.quote == '\n' || s.quote == '\r' {
		return s, fmt.Errorf("delimiter %q and quote %q must differ and not be line breaks", s.delim, s.quote)
	}
	if c.Header != nil {
		s.header = *c.Header
	}
	if s.nulls == nil {
		s.nulls = []string{""}
	}
	if s.sampleRows <= 0 {
		s.sampleRows = 1000
	}
	return s, nil
}

// format reads the CSV files of one stream.
type format struct {
	settings  settings
	overrides map[string]connector.Type
}

// Infer reads the header and a sample of the first file.
func (f *format) Infer(ctx context.Context, files []filesource.File) (*connector.Schema, error) {
	for _, file := range files {
		s, err := f.inferFile(ctx, file, nil)
		if errors.Is(err, errEmpty) {
			continue
		}
		return s, err
	}
	// Only empty files: no columns yet.
	return connector.NewSchema(), nil
}

// errEmpty reports a file without a single line, which holds no records
// and no header; it is skipped rather than failing the stream.
var errEmpty = errors.New("empty file")

// inferFile returns the schema of one file: its column names, with the
// types of known (stream-level) columns and inferred types for the rest.
func (f *format) inferFile(ctx context.Context, file filesource.File, known *connector.Schema) (*connector.Schema, error) {
	r, err := filesource.OpenContext(ctx, file, 0)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	p := newParser(r, f.settings)
	names, err := f.readNames(p)
	if err != nil {
		return nil, err
	}
	samples := make([][]string, 0)
	for len(samples) < f.settings.sampleRows {
		rec, err := p.record()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		if rec.bad != "" {
			continue
		}
		if names == nil {
			names = defaultNames(len(rec.fields))
		}
		if len(rec.fields) != len(names) {
			continue
		}
		vals := make([]string, len(rec.fields))
		for i, b := range rec.fields {
			if !rec.quoted[i] && f.isNull(b) {
				continue
			}
			vals[i] = string(b)
		}
		samples = append(samples, vals)
	}
	if names == nil {
		return nil, errEmpty
	}
	fields := make([]connector.Field, len(names))
	col := make([]string, len(samples))
	for i, n := range names {
		var t connector.Type
		if j := -1; known != nil {
			if j = known.Index(n); j >= 0 {
				t = known.Fields[j].Type
			}
		}
		if t == "" {
			for k, s := range samples {
				col[k] = s[i]
			}
			t = connector.InferType(col)
		}
		if o, ok := f.overrides[n]; ok {
			t = o
		}
		fields[i] = connector.Field{Name: n, Type: t, Nullable: true}
	}
	return connector.NewSchema(fields...), nil
}

// readNames reads the header line, or returns the configured columns (nil
// when the first record should decide how many there are).
func (f *format) readNames(p *parser) ([]string, error) {
	if !f.settings.header {
		if len(f.settings.columns) > 0 {
			return uniqueNames(f.settings.columns), nil
		}
		return nil, nil
	}
	rec, err := p.record()
	if err == io.EOF {
		return nil, errEmpty
	}
	if err != nil {
		return nil, err
	}
	if rec.bad != "" {
		return nil, fmt.Errorf("header: %s", rec.bad)
	}
	names := make([]string, len(rec.fields))
	for i, b := range rec.fields {
		names[i] = string(b)
	}
	if len(f.settings.columns) == len(names) {
		// Configured names win over the file's own.
		names = f.settings.columns
	}
	return uniqueNames(names), nil
}

func defaultNames(n int) []string {
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("column_%d", i+1)
	}
	return names
}

// uniqueNames fills blank names and disambiguates repeated ones, since a
// schema needs distinct field names.
func uniqueNames(in []string) []string {
	out := make([]string, len(in))
	seen := map[string]bool{}
	for i, n := range in {
		if n == "" {
			n = fmt.Sprintf("column_%d", i+1)
		}
		base := n
		for k := 2; seen[n]; k++ {
			n = fmt.Sprintf("%s_%d", base, k)
		}
		seen[n] = true
		out[i] = n
	}
	return out
}

func (f *format) isNull(b []byte) bool {
	for _, n := range f.settings.nulls {
		if string(b) == n {
			return true
		}
	}
	return false
}

// Open reads the header (from the start of the file), then positions the
// parser at pos.
func (f *format) Open(ctx context.Context, pos filesource.Position, schema *connector.Schema) (filesource.Scanner, error) {
	file := pos.File
	fileSchema := schema
	if f.settings.header {
		r, err := filesource.OpenContext(ctx, file, 0)
		if err != nil {
			return nil, err
		}
		p := newParser(r, f.settings)
		names, err := f.readNames(p)
		start := filesource.Mark{Offset: p.offset, Line: p.line}
		r.Close()
		if errors.Is(err, errEmpty) {
			return emptyScanner{}, nil
		}
		if err != nil {
			return nil, err
		}
		if !equalNames(names, schema.Names()) {
			if fileSchema, err = f.inferFile(ctx, file, schema); err != nil {
				return nil, err
			}
		}
		if pos.Offset < start.Offset {
			pos.Mark = start
		}
	}
	r, err := filesource.OpenContext(ctx, file, pos.Offset)
	if err != nil {
		return nil, err
	}
	p := newParser(r, f.settings)
	p.offset = r.Offset
	p.line = pos.Line
	return &scanner{p: p, format: f, schema: fileSchema, record: pos.Record}, nil
}

func equalNames(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// emptyScanner reads a file with nothing in it.
type emptyScanner struct{}

func (emptyScanner) Next(filesource.Alloc) (filesource.Item, error) { return filesource.Item{}, io.EOF }
func (emptyScanner) Close() error                                   { return nil }

// scanner turns parsed records into rows of one file.
type scanner struct {
	p      *parser
	format *format
	schema *connector.Schema
	record int64
	conv   []converter
}

func (s *scanner) Close() error { return s.p.r.Close() }

func (s *scanner) Next(alloc filesource.Alloc) (filesource.Item, error) {
	rec, err := s.p.record()
	if err != nil {
		return filesource.Item{}, err
	}
	s.record++
	it := filesource.Item{Line: rec.line, End: filesource.Mark{Offset: s.p.offset, Line: s.p.line, Record: s.record}}
	if rec.bad != "" {
		it.Raw, it.Reason = rec.rawString(), rec.bad
		return it, nil
	}
	fields := s.schema.Fields
	if len(rec.fields) != len(fields) {
		it.Raw, it.Reason = rec.rawString(), fmt.Sprintf("expected %d fields, got %d", len(fields), len(rec.fields))
		return it, nil
	}
	if s.conv == nil {
		s.conv = make([]converter, len(fields))
		bx := newBoxer()
		for i, fl := range fields {
			s.conv[i] = converterFor(fl.Type, bx)
		}
	}
	row := alloc(s.schema)
	nulls := s.format.settings.nulls
	simpleNull := len(nulls) == 1 && nulls[0] == ""
	for i, b := range rec.fields {
		if !rec.quoted[i] {
			if simpleNull {
				if len(b) == 0 {
					continue
				}
			} else if s.format.isNull(b) {
				continue
			}
		}
		v, err := s.conv[i](b)
		if err != nil {
			it.Raw, it.Reason = rec.rawString(), fmt.Sprintf("field %q: %v", fields[i].Name, err)
			return it, nil
		}
		row[i] = v
	}
	it.Row = row
	return it, nil
}
