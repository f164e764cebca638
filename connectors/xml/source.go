package xml

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"sort"
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
	RecordPath string `json:"record_path,omitempty" jsonschema:"description=Slash-separated element names from the root to the record element (e.g. catalog/book); empty means every child of the root"`
	SampleRows int    `json:"sample_rows,omitempty" jsonschema:"description=Records of the first file sampled to infer field types,default=1000"`
}

// NamedStream is a stream declared in the connector config, so Discover
// can offer one stream per pattern.
type NamedStream struct {
	Name string `json:"name" jsonschema:"required"`
	StreamConfig
}

// Config configures the xml source.
type Config struct {
	StreamConfig
	// Options hold the credentials of s3://, sftp:// and https:// paths.
	location.Options
	Streams []NamedStream `json:"streams,omitempty" jsonschema:"description=One stream per pattern; without it the top-level path is one stream named after its files"`
}

func init() {
	connector.RegisterSource(connector.NewSpec[Config, StreamConfig]("xml", "XML documents with repeated record elements, optionally gzip-compressed"), New)
}

// New builds the xml source from its JSON config.
func New(_ context.Context, raw json.RawMessage) (connector.Source, error) {
	var cfg Config
	if err := connector.DecodeConfig(raw, &cfg); err != nil {
		return nil, err
	}
	named := make([]filesource.Named[StreamConfig], len(cfg.Streams))
	for i, n := range cfg.Streams {
		named[i] = filesource.Named[StreamConfig]{Name: n.Name, Settings: n.StreamConfig}
	}
	return filesource.NewSource("xml", cfg.StreamConfig, named, func(sc StreamConfig, s connector.Stream) (filesource.Format, error) {
		if sc.SampleRows <= 0 {
			sc.SampleRows = 1000
		}
		var path []string
		if p := strings.Trim(sc.RecordPath, "/"); p != "" {
			path = strings.Split(p, "/")
		}
		return &format{path: path, sampleRows: sc.SampleRows, overrides: s.Schema}, nil
	}).WithLocations(cfg.Options), nil
}

// PathPattern is the glob of the stream's files.
func (c StreamConfig) PathPattern() string { return c.Path }

// Merge returns c with the settings o sets.
func (c StreamConfig) Merge(o StreamConfig) StreamConfig {
	if o.Path != "" {
		c.Path = o.Path
	}
	if o.RecordPath != "" {
		c.RecordPath = o.RecordPath
	}
	if o.SampleRows != 0 {
		c.SampleRows = o.SampleRows
	}
	return c
}

type format struct {
	path       []string
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
		n, _, _, err := sc.element()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		sample = append(sample, flatten(n, "", nil))
	}
	return filesource.InferObjects(sample, f.overrides, true), nil
}

// Open reads the whole document and skips the records already read: the
// position in a document is the record index.
func (f *format) Open(ctx context.Context, pos filesource.Position, schema *connector.Schema) (filesource.Scanner, error) {
	return f.open(ctx, pos.File, pos.Record, schema)
}

func (f *format) open(ctx context.Context, file filesource.File, skip int64, schema *connector.Schema) (*scanner, error) {
	data, err := filesource.ReadAllContext(ctx, file)
	if err != nil {
		return nil, err
	}
	s := &scanner{data: data, path: f.path, line: 1}
	if !utf8.Valid(data) {
		// encoding/xml stops at the first invalid byte, which would fail
		// the whole file for one bad record. Each invalid byte becomes '?'
		// (same length, so offsets hold) and the records holding one are
		// rejected.
		s.orig = data
		data = bytes.Clone(data)
		for i := 0; i < len(data); {
			r, n := utf8.DecodeRune(data[i:])
			if r == utf8.RuneError && n == 1 {
				s.bad = append(s.bad, i)
				data[i] = '?'
			}
			i += n
		}
		s.data = data
	}
	s.dec = xml.NewDecoder(bytes.NewReader(data))
	if schema != nil {
		s.objects = filesource.NewObjects(schema, f.overrides, true)
	}
	for ; s.record < skip; s.record++ {
		if _, _, _, err := s.element(); err != nil {
			return nil, fmt.Errorf("skip to record %d: %w", skip, err)
		}
	}
	return s, nil
}

// node is an element as decoded, before flattening.
type node struct {
	XMLName  xml.Name
	Attrs    []xml.Attr `xml:",any,attr"`
	Text     string     `xml:",chardata"`
	Children []node     `xml:",any"`
}

type scanner struct {
	data    []byte
	orig    []byte // the content as read, when data had invalid UTF-8 replaced
	bad     []int  // offsets of the invalid bytes, ascending
	dec     *xml.Decoder
	path    []string
	stack   []string
	objects *filesource.Objects
	record  int64
	start   int  // offset of the last record element
	root    bool // the root element matches the record path

	line    int64
	counted int
}

func (s *scanner) Close() error { return nil }

func (s *scanner) lineAt(off int) int64 {
	s.line += int64(bytes.Count(s.data[s.counted:off], []byte{'\n'}))
	s.counted = off
	return s.line
}

func (s *scanner) isRecord() bool {
	if len(s.path) == 0 {
		return len(s.stack) == 2
	}
	if len(s.stack) != len(s.path) {
		return false
	}
	for i := range s.path {
		if s.stack[i] != s.path[i] {
			return false
		}
	}
	return true
}

// element finds the next record element and returns it with its line and
// original text.
func (s *scanner) element() (node, int64, string, error) {
	for {
		start := int(s.dec.InputOffset())
		tok, err := s.dec.Token()
		if err == io.EOF {
			if !s.root {
				return node{}, 0, "", fmt.Errorf("no element at record path %q", strings.Join(s.path, "/"))
			}
			return node{}, 0, "", io.EOF
		}
		if err != nil {
			var se *xml.SyntaxError
			if errors.As(err, &se) {
				return node{}, 0, "", fmt.Errorf("invalid XML document at line %d: %s", se.Line, se.Msg)
			}
			return node{}, 0, "", fmt.Errorf("invalid XML document: %w", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			s.stack = append(s.stack, t.Name.Local)
			if len(s.stack) == 1 && (len(s.path) == 0 || s.path[0] == t.Name.Local) {
				s.root = true
			}
			if !s.isRecord() {
				continue
			}
			s.stack = s.stack[:len(s.stack)-1]
			s.start = start
			var n node
			if err := s.dec.DecodeElement(&n, &t); err != nil {
				var se *xml.SyntaxError
				if errors.As(err, &se) {
					return node{}, 0, "", fmt.Errorf("invalid XML document at line %d: %s", se.Line, se.Msg)
				}
				return node{}, 0, "", fmt.Errorf("invalid XML document: %w", err)
			}
			end := int(s.dec.InputOffset())
			return n, s.lineAt(start), string(s.data[start:end]), nil
		case xml.EndElement:
			s.stack = s.stack[:len(s.stack)-1]
		}
	}
}

func (s *scanner) Next(alloc filesource.Alloc) (filesource.Item, error) {
	n, line, raw, err := s.element()
	if err != nil {
		return filesource.Item{}, err
	}
	s.record++
	it := filesource.Item{Line: line, End: filesource.Mark{Record: s.record}}
	if s.orig != nil {
		end := s.start + len(raw)
		if i := sort.SearchInts(s.bad, s.start); i < len(s.bad) && s.bad[i] < end {
			it.Raw, it.Reason = strings.ToValidUTF8(string(s.orig[s.start:end]), "\uFFFD"), "invalid UTF-8"
			return it, nil
		}
	}
	row, reason := s.objects.Row(flatten(n, "", nil), alloc)
	if reason != "" {
		it.Raw, it.Reason = raw, reason
		return it, nil
	}
	it.Row = row
	return it, nil
}

func join(prefix, name string) string {
	if prefix == "" {
		return name
	}
	return prefix + "_" + name
}

func isLeaf(n node) bool { return len(n.Children) == 0 && len(attrs(n)) == 0 }

// attrs leaves out namespace declarations, which are not data.
func attrs(n node) []xml.Attr {
	var out []xml.Attr
	for _, a := range n.Attrs {
		if a.Name.Space == "xmlns" || a.Name.Local == "xmlns" {
			continue
		}
		out = append(out, a)
	}
	return out
}

func text(n node) any {
	if t := strings.TrimSpace(n.Text); t != "" {
		return t
	}
	return nil
}

func set(out []filesource.KV, key string, v any) []filesource.KV {
	for i := range out {
		if out[i].Key == key {
			out[i].Value = v
			return out
		}
	}
	return append(out, filesource.KV{Key: key, Value: v})
}

// flatten turns an element into named fields, following the rules in the
// package documentation.
func flatten(n node, prefix string, out []filesource.KV) []filesource.KV {
	for _, a := range attrs(n) {
		out = set(out, join(prefix, a.Name.Local), a.Value)
	}
	var order []string
	groups := map[string][]node{}
	for _, c := range n.Children {
		name := c.XMLName.Local
		if _, ok := groups[name]; !ok {
			order = append(order, name)
		}
		groups[name] = append(groups[name], c)
	}
	for _, name := range order {
		kids, key := groups[name], join(prefix, name)
		switch {
		case len(kids) > 1:
			arr := make([]any, len(kids))
			for i, k := range kids {
				arr[i] = value(k)
			}
			out = set(out, key, arr)
		case isLeaf(kids[0]):
			out = set(out, key, text(kids[0]))
		default:
			out = flatten(kids[0], key, out)
		}
	}
	if t := text(n); t != nil {
		switch {
		case len(n.Children) > 0 || prefix == "":
			if prefix == "" {
				out = set(out, "_text", t)
			} else {
				out = set(out, prefix+"_text", t)
			}
		default:
			out = set(out, prefix, t)
		}
	}
	return out
}

// value is a repeated element inside a json array: its text when it is a
// plain leaf, else an object of its flattened fields.
func value(n node) any {
	if isLeaf(n) {
		return text(n)
	}
	m := map[string]any{}
	for _, kv := range flatten(n, "", nil) {
		m[kv.Key] = kv.Value
	}
	return m
}
