package json

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/tributary-data/tributary/connector"
	"github.com/tributary-data/tributary/connectors/filesource"
	"github.com/tributary-data/tributary/connectors/location"
)

// StreamConfig holds the settings of one stream; every field left empty
// falls back to the connector-level value.
type StreamConfig struct {
	Path       string `json:"path,omitempty" jsonschema:"description=Glob of the files to read: a local path or s3://bucket/prefix/*.ext or sftp://user@host/dir/*.ext or one https:// URL; every match feeds the stream in sorted order. A .gz suffix means gzip."`
	Records    string `json:"records,omitempty" jsonschema:"description=Dotted path to the array of records inside a top-level object (e.g. data.items); empty when the document is the array"`
	SampleRows int    `json:"sample_rows,omitempty" jsonschema:"description=Records of the first file sampled to infer field types,default=1000"`
}

// NamedStream is a stream declared in the connector config, so Discover
// can offer one stream per pattern.
type NamedStream struct {
	Name string `json:"name" jsonschema:"required"`
	StreamConfig
}

// Config configures the json source.
type Config struct {
	StreamConfig
	// Options hold the credentials of s3://, sftp:// and https:// paths.
	location.Options
	Streams []NamedStream `json:"streams,omitempty" jsonschema:"description=One stream per pattern; without it the top-level path is one stream named after its files"`
}

func init() {
	connector.RegisterSource(connector.NewSpec[Config, StreamConfig]("json", "JSON documents holding an array of records, optionally gzip-compressed"), New)
}

// New builds the json source from its JSON config.
func New(_ context.Context, raw json.RawMessage) (connector.Source, error) {
	var cfg Config
	if err := connector.DecodeConfig(raw, &cfg); err != nil {
		return nil, err
	}
	named := make([]filesource.Named[StreamConfig], len(cfg.Streams))
	for i, n := range cfg.Streams {
		named[i] = filesource.Named[StreamConfig]{Name: n.Name, Settings: n.StreamConfig}
	}
	return filesource.NewSource("json", cfg.StreamConfig, named, func(sc StreamConfig, s connector.Stream) (filesource.Format, error) {
		if sc.SampleRows <= 0 {
			sc.SampleRows = 1000
		}
		var path []string
		if sc.Records != "" {
			path = strings.Split(sc.Records, ".")
		}
		return &format{records: path, sampleRows: sc.SampleRows, overrides: s.Schema}, nil
	}).WithLocations(cfg.Options), nil
}

// PathPattern is the glob of the stream's files.
func (c StreamConfig) PathPattern() string { return c.Path }

// Merge returns c with the settings o sets.
func (c StreamConfig) Merge(o StreamConfig) StreamConfig {
	if o.Path != "" {
		c.Path = o.Path
	}
	if o.Records != "" {
		c.Records = o.Records
	}
	if o.SampleRows != 0 {
		c.SampleRows = o.SampleRows
	}
	return c
}

type format struct {
	records    []string
	sampleRows int
	overrides  map[string]connector.Type
}

func (f *format) Infer(ctx context.Context, files []filesource.File) (*connector.Schema, error) {
	if len(files) == 0 {
		return nil, errors.New("no file to infer a schema from")
	}
	sc, err := f.open(ctx, files[0], 0, nil)
	if err != nil {
		return nil, err
	}
	var sample [][]filesource.KV
	for len(sample) < f.sampleRows {
		raw, _, err := sc.element()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		if rec, err := filesource.DecodeObject(raw, nil); err == nil {
			sample = append(sample, rec)
		}
	}
	return filesource.InferObjects(sample, f.overrides, false), nil
}

// Open reads the whole document and skips the records already read: the
// position in a document is the record index.
func (f *format) Open(ctx context.Context, pos filesource.Position, schema *connector.Schema) (filesource.Scanner, error) {
	sc, err := f.open(ctx, pos.File, pos.Record, schema)
	if err != nil {
		return nil, err
	}
	return sc, nil
}

func (f *format) open(ctx context.Context, file filesource.File, skip int64, schema *connector.Schema) (*scanner, error) {
	data, err := filesource.ReadAllContext(ctx, file)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	s := &scanner{data: data, dec: dec, line: 1}
	if schema != nil {
		s.objects = filesource.NewObjects(schema, f.overrides, false)
	}
	if err := s.seek(f.records); err != nil {
		return nil, err
	}
	for ; s.record < skip; s.record++ {
		if _, _, err := s.element(); err != nil {
			return nil, fmt.Errorf("skip to record %d: %w", skip, err)
		}
	}
	return s, nil
}

type scanner struct {
	data    []byte
	dec     *json.Decoder
	objects *filesource.Objects
	record  int64
	kv      []filesource.KV

	// line is the line number at byte offset counted, kept incrementally
	// because records come in order.
	line    int64
	counted int
}

func (s *scanner) Close() error { return nil }

// lineAt returns the line number of a byte offset at or after the last one
// asked for.
func (s *scanner) lineAt(off int) int64 {
	s.line += int64(bytes.Count(s.data[s.counted:off], []byte{'\n'}))
	s.counted = off
	return s.line
}

func (s *scanner) syntax(err error) error {
	if se, ok := err.(*json.SyntaxError); ok {
		return fmt.Errorf("invalid JSON document at line %d: %w", s.lineAt(int(se.Offset)), err)
	}
	if err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF) {
		return errors.New("invalid JSON document: unexpected end")
	}
	return fmt.Errorf("invalid JSON document: %w", err)
}

// seek moves the decoder into the records array.
func (s *scanner) seek(path []string) error {
	for depth, key := range path {
		tok, err := s.dec.Token()
		if err != nil {
			return s.syntax(err)
		}
		if d, ok := tok.(json.Delim); !ok || d != '{' {
			return fmt.Errorf("records path %q: %q is not an object", strings.Join(path, "."), strings.Join(path[:depth], "."))
		}
		found := false
		for s.dec.More() {
			tok, err := s.dec.Token()
			if err != nil {
				return s.syntax(err)
			}
			if tok == key {
				found = true
				break
			}
			var skip json.RawMessage
			if err := s.dec.Decode(&skip); err != nil {
				return s.syntax(err)
			}
		}
		if !found {
			return fmt.Errorf("records path %q: no field %q", strings.Join(path, "."), key)
		}
	}
	tok, err := s.dec.Token()
	if err != nil {
		return s.syntax(err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '[' {
		if len(path) == 0 {
			return errors.New("the document is not an array of records; set records to the path of one")
		}
		return fmt.Errorf("records path %q is not an array", strings.Join(path, "."))
	}
	return nil
}

// element returns the next element of the records array and its line.
func (s *scanner) element() ([]byte, int64, error) {
	if !s.dec.More() {
		if _, err := s.dec.Token(); err != nil {
			return nil, 0, s.syntax(err)
		}
		return nil, 0, io.EOF
	}
	var raw json.RawMessage
	if err := s.dec.Decode(&raw); err != nil {
		return nil, 0, s.syntax(err)
	}
	end := int(s.dec.InputOffset())
	start := end - len(raw)
	return raw, s.lineAt(start), nil
}

func (s *scanner) Next(alloc filesource.Alloc) (filesource.Item, error) {
	raw, line, err := s.element()
	if err != nil {
		return filesource.Item{}, err
	}
	s.record++
	it := filesource.Item{Line: line, End: filesource.Mark{Record: s.record}}
	if !utf8.Valid(raw) {
		it.Raw, it.Reason = strings.ToValidUTF8(string(raw), "\uFFFD"), "invalid UTF-8"
		return it, nil
	}
	s.kv, err = s.objects.DecodeRecord(raw, s.kv)
	if err != nil {
		it.Raw, it.Reason = string(raw), err.Error()
		return it, nil
	}
	row, reason := s.objects.Row(s.kv, alloc)
	if reason != "" {
		it.Raw, it.Reason = string(raw), reason
		return it, nil
	}
	it.Row = row
	return it, nil
}
