package jsonl

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
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
	SampleRows int    `json:"sample_rows,omitempty" jsonschema:"description=Lines of the first file sampled to infer field types,default=1000"`
}

// NamedStream is a stream declared in the connector config, so Discover
// can offer one stream per pattern.
type NamedStream struct {
	Name string `json:"name" jsonschema:"required"`
	StreamConfig
}

// Config configures the jsonl source.
type Config struct {
	StreamConfig
	// Options hold the credentials of s3://, sftp:// and https:// paths.
	location.Options
	Streams []NamedStream `json:"streams,omitempty" jsonschema:"description=One stream per pattern; without it the top-level path is one stream named after its files"`
}

func init() {
	connector.RegisterSource(connector.NewSpec[Config, StreamConfig]("jsonl", "JSON Lines files (one object a line), optionally gzip-compressed"), New)
}

// New builds the jsonl source from its JSON config.
func New(_ context.Context, raw json.RawMessage) (connector.Source, error) {
	var cfg Config
	if err := connector.DecodeConfig(raw, &cfg); err != nil {
		return nil, err
	}
	named := make([]filesource.Named[StreamConfig], len(cfg.Streams))
	for i, n := range cfg.Streams {
		named[i] = filesource.Named[StreamConfig]{Name: n.Name, Settings: n.StreamConfig}
	}
	return filesource.NewSource("jsonl", cfg.StreamConfig, named, func(sc StreamConfig, s connector.Stream) (filesource.Format, error) {
		if sc.SampleRows <= 0 {
			sc.SampleRows = 1000
		}
		return &format{sampleRows: sc.SampleRows, overrides: s.Schema}, nil
	}).WithLocations(cfg.Options), nil
}

// PathPattern is the glob of the stream's files.
func (c StreamConfig) PathPattern() string { return c.Path }

// Merge returns c with the settings o sets.
func (c StreamConfig) Merge(o StreamConfig) StreamConfig {
	if o.Path != "" {
		c.Path = o.Path
	}
	if o.SampleRows != 0 {
		c.SampleRows = o.SampleRows
	}
	return c
}

type format struct {
	sampleRows int
	overrides  map[string]connector.Type
}

// Infer types the fields of the first valid lines of the first file.
func (f *format) Infer(ctx context.Context, files []filesource.File) (*connector.Schema, error) {
	if len(files) == 0 {
		return nil, errors.New("no file to infer a schema from")
	}
	r, err := filesource.OpenContext(ctx, files[0], 0)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	lr := &lineReader{r: r.Reader}
	var sample [][]filesource.KV
	for len(sample) < f.sampleRows {
		line, err := lr.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		if rec, err := filesource.DecodeObject(line, nil); err == nil {
			sample = append(sample, rec)
		}
	}
	return filesource.InferObjects(sample, f.overrides, false), nil
}

// Open positions a scanner at pos by its byte offset.
func (f *format) Open(ctx context.Context, pos filesource.Position, schema *connector.Schema) (filesource.Scanner, error) {
	r, err := filesource.OpenContext(ctx, pos.File, pos.Offset)
	if err != nil {
		return nil, err
	}
	return &scanner{
		r:       r,
		lr:      &lineReader{r: r.Reader, offset: r.Offset, line: pos.Line},
		objects: filesource.NewObjects(schema, f.overrides, false),
		record:  pos.Record,
	}, nil
}

// lineReader yields non-blank lines without their line break.
type lineReader struct {
	r      *bufio.Reader
	offset int64
	line   int64
	long   []byte
}

func (l *lineReader) next() ([]byte, error) {
	for {
		b, err := l.r.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			l.long = append(l.long[:0], b...)
			for errors.Is(err, bufio.ErrBufferFull) {
				b, err = l.r.ReadSlice('\n')
				l.long = append(l.long, b...)
			}
			b = l.long
		}
		if err != nil && err != io.EOF {
			return nil, err
		}
		if len(b) == 0 {
			return nil, io.EOF
		}
		l.offset += int64(len(b))
		l.line++
		// The line aliases the reader's buffer: it is valid until the
		// next call, and whoever keeps part of it copies it.
		if t := bytes.TrimSpace(b); len(t) > 0 {
			return t, nil
		}
	}
}

type scanner struct {
	r       *filesource.Reader
	lr      *lineReader
	objects *filesource.Objects
	record  int64
	kv      []filesource.KV
	fast    fastDecoder
}

func (s *scanner) Close() error { return s.r.Close() }

func (s *scanner) Next(alloc filesource.Alloc) (filesource.Item, error) {
	line, err := s.lr.next()
	if err != nil {
		return filesource.Item{}, err
	}
	s.record++
	it := filesource.Item{Line: s.lr.line, End: filesource.Mark{Offset: s.lr.offset, Line: s.lr.line, Record: s.record}}
	reject := func(reason string) (filesource.Item, error) {
		it.Raw, it.Reason = strings.ToValidUTF8(string(line), "\uFFFD"), reason
		return it, nil
	}
	if !utf8.Valid(line) {
		return reject("invalid UTF-8")
	}
	if row, ok := s.fast.decode(line, s.objects.Schema(), alloc); ok {
		it.Row = row
		return it, nil
	}
	s.kv, err = s.objects.DecodeRecord(line, s.kv)
	if err != nil {
		return reject(err.Error())
	}
	row, reason := s.objects.Row(s.kv, alloc)
	if reason != "" {
		return reject(reason)
	}
	it.Row = row
	return it, nil
}
