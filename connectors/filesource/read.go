package filesource

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/tributary-data/tributary/connector"
	"github.com/tributary-data/tributary/connectors/location"
)

// DefaultBatchSize is used when a read request does not set one.
const DefaultBatchSize = 10000

// Format reads one file format for one stream, with the stream's settings
// and schema overrides already applied.
type Format interface {
	// Infer returns the stream's schema, inferred from a sample of the
	// first of files, with the stream's type overrides applied. Errors of
	// Infer and Open need not name the file: the caller adds it.
	Infer(ctx context.Context, files []File) (*connector.Schema, error)
	// Open starts reading the file of pos at pos.Mark (zero: the
	// beginning). schema is what Infer returned.
	Open(ctx context.Context, pos Position, schema *connector.Schema) (Scanner, error)
}

// Alloc returns a fresh row for the given schema. A scanner calls it once
// per record it turns into a row, with the same *Schema for as long as the
// schema does not change; a different pointer starts a new batch.
type Alloc func(*connector.Schema) []any

// Scanner yields the records of one file in order.
type Scanner interface {
	// Next reads the next record. It returns io.EOF after the last one and
	// another error only when the file cannot be read further.
	Next(alloc Alloc) (Item, error)
	Close() error
}

// Item is one record read from a file: a row, or a reject when Reason is
// set.
type Item struct {
	Row    []any
	Line   int64 // physical line (or record number) where the record starts
	Raw    string
	Reason string
	// End is the position right after the record: resuming there reads
	// the next one.
	End Mark
}

// Source is the skeleton every file source shares; a format package fills
// in how streams map to patterns and formats.
type Source struct {
	// Kind is the connector name, for messages.
	Kind string
	// Patterns are the streams Discover offers.
	Patterns []Pattern
	// Stream resolves the pattern and format of a stream from the
	// connector config and the stream's own settings.
	Stream func(s connector.Stream) (string, Format, error)
	// Locations resolves s3://, sftp:// and https:// patterns; nil reads
	// local files only.
	Locations *location.Resolver
}

// WithLocations lets the source read remote patterns with opts.
func (s *Source) WithLocations(opts location.Options) *Source {
	s.Locations = location.NewResolver(opts)
	return s
}

// Pattern is one configured stream: a name and a path pattern.
type Pattern struct {
	Stream string
	Path   string
}

var _ connector.Source = (*Source)(nil)

// Check verifies every configured pattern matches at least one file.
func (s *Source) Check(ctx context.Context) error {
	for _, p := range s.Patterns {
		files, err := ExpandIn(ctx, s.Locations, p.Path)
		if err != nil {
			return err
		}
		if len(files) == 0 {
			return fmt.Errorf("path %q matches no file", p.Path)
		}
	}
	return nil
}

// Discover offers one stream per configured pattern, with the schema of a
// sample of its first file.
func (s *Source) Discover(ctx context.Context) (*connector.Catalog, error) {
	streams := make([]connector.Stream, len(s.Patterns))
	for i, p := range s.Patterns {
		streams[i] = connector.Stream{Name: p.Stream}
	}
	return s.DiscoverStreams(ctx, streams)
}

// DiscoverStreams describes the given streams with the settings a read of
// them uses, so a stream whose path only its pipeline entry gives is
// described too.
func (s *Source) DiscoverStreams(ctx context.Context, streams []connector.Stream) (*connector.Catalog, error) {
	cat := &connector.Catalog{}
	for _, st := range streams {
		pattern, f, err := s.Stream(st)
		if err != nil {
			return nil, fmt.Errorf("stream %q: %w", st.Name, err)
		}
		files, err := ExpandIn(ctx, s.Locations, pattern)
		if err != nil {
			return nil, fmt.Errorf("stream %q: %w", st.Name, err)
		}
		if len(files) == 0 {
			return nil, fmt.Errorf("stream %q: path %q matches no file", st.Name, pattern)
		}
		schema, err := f.Infer(ctx, files)
		if err != nil {
			return nil, fmt.Errorf("stream %q: %s: %w", st.Name, files[0].Path, err)
		}
		info := connector.StreamInfo{Name: st.Name, Schema: schema, SyncModes: connector.SyncModes}
		for _, fl := range schema.Fields {
			switch fl.Type {
			case connector.TypeTimestamp, connector.TypeDate, connector.TypeInt64:
				info.CursorCandidates = append(info.CursorCandidates, fl.Name)
			}
			if fl.Name == "id" {
				info.PrimaryKey = []string{"id"}
			}
		}
		cat.Streams = append(cat.Streams, info)
	}
	return cat, nil
}

// Read reads every requested stream in turn.
func (s *Source) Read(ctx context.Context, req connector.ReadRequest, emit connector.Emitter) error {
	for _, st := range req.Streams {
		pattern, f, err := s.Stream(st)
		if err != nil {
			return fmt.Errorf("stream %q: %w", st.Name, err)
		}
		state, err := ParseState(req.State[st.Name])
		if err != nil {
			return fmt.Errorf("stream %q: %w", st.Name, err)
		}
		r := &streamReader{
			stream: st, format: f, emit: emit, state: state, locations: s.Locations,
			batchSize: req.BatchSize, limit: int64(req.Limit),
		}
		if err := r.run(ctx, pattern); err != nil {
			return fmt.Errorf("%s source: stream %q: %w", s.Kind, st.Name, err)
		}
	}
	return nil
}

// Close closes the clients of remote locations; local files are closed
// as each is read.
func (s *Source) Close() error { return s.Locations.Close() }

// streamReader runs the read of one stream.
type streamReader struct {
	stream    connector.Stream
	format    Format
	emit      connector.Emitter
	state     State
	batchSize int
	limit     int64
	emitted   int64
	locations *location.Resolver

	done    []File
	maxVal  any
	maxType connector.Type
	floor   *CursorValue
}

var errLimit = errors.New("row limit reached")

func (r *streamReader) run(ctx context.Context, pattern string) error {
	if r.batchSize <= 0 {
		r.batchSize = DefaultBatchSize
	}
	files, err := ExpandIn(ctx, r.locations, pattern)
	if err != nil {
		return err
	}
	prev := map[string]File{}
	for _, f := range r.state.Files {
		prev[f.Path] = f
	}
	// A run that does not resume inside a file starts a new floor: the
	// cursor as all earlier runs left it.
	r.floor = r.state.Floor
	if r.state.Current == nil {
		r.floor = r.state.Cursor
	}
	if c := r.state.Cursor; c != nil {
		if v, err := c.value(c.Type); err == nil {
			r.maxVal, r.maxType = v, c.Type
		}
	}
	// Files read before stay done while they exist unchanged; they are
	// listed first so the state keeps their order.
	for _, f := range files {
		if p, ok := prev[f.Path]; ok && p.Same(f) {
			r.done = append(r.done, f)
		}
	}
	var schema *connector.Schema
	for _, f := range files {
		p, seen := prev[f.Path]
		if seen && p.Same(f) {
			continue
		}
		if schema == nil {
			if schema, err = r.format.Infer(ctx, files); err != nil {
				return fmt.Errorf("%s: %w", files[0].Path, err)
			}
		}
		changed := seen
		var start Mark
		if cur := r.state.Current; cur != nil && cur.Path == f.Path {
			if cur.File.Same(f) {
				start = cur.Mark
			} else {
				changed = true
			}
		}
		err := r.readFile(ctx, f, start, changed, schema)
		if errors.Is(err, errLimit) {
			return nil
		}
		if err != nil {
			return err
		}
	}
	if schema == nil && (len(r.state.Files) > 0 || r.state.Cursor != nil) {
		// Nothing new to read: hand the state back, minus files gone.
		return r.checkpoint(ctx, nil)
	}
	return nil
}

func (r *streamReader) checkpoint(ctx context.Context, cur *Position) error {
	st := State{Files: r.done, Current: cur}
	if r.maxVal != nil {
		st.Cursor = newCursor(r.maxType, r.maxVal)
	}
	if cur != nil {
		// The floor only matters while a file is resumed mid-way; a run
		// starting between files takes the cursor as its floor.
		st.Floor = r.floor
	}
	b, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("encode state: %w", err)
	}
	return r.emit.Checkpoint(ctx, r.stream.Name, b)
}

func (r *streamReader) readFile(ctx context.Context, f File, start Mark, changed bool, schema *connector.Schema) error {
	sc, err := r.format.Open(ctx, Position{File: f, Mark: start}, schema)
	if err != nil {
		return fmt.Errorf("%s: %w", f.Path, err)
	}
	defer sc.Close()

	filter := changed && r.stream.SyncMode == connector.IncrementalAppend && r.stream.CursorField != "" && r.floor != nil
	var (
		cur, pending *connector.Batch
		last         = start
		sinceCheck   int
		ciSchema     *connector.Schema
		ci           = -1
		floorVal     any
		floorType    connector.Type
	)
	alloc := func(s *connector.Schema) []any {
		if cur == nil || cur.Schema != s {
			if cur != nil && cur.Len() > 0 {
				pending = cur
			}
			cur = connector.NewBatch(r.stream.Name, s, r.batchSize)
			cur.File = f.Path
			cur.Origins = make([]int64, 0, r.batchSize)
		}
		return cur.NewRow()
	}
	flush := func(b *connector.Batch, at Mark) error {
		if b != nil && b.Len() > 0 {
			if err := r.emit.Emit(ctx, b); err != nil {
				return err
			}
		}
		sinceCheck = 0
		return r.checkpoint(ctx, &Position{File: f, Mark: at})
	}
	for {
		it, err := sc.Next(alloc)
		if pending != nil {
			if err := flush(pending, last); err != nil {
				return err
			}
			pending = nil
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("%s: %w", f.Path, err)
		}
		sinceCheck++
		if it.Reason != "" {
			rej := connector.Reject{
				Stream: r.stream.Name, Origin: connector.Origin(f.Path, it.Line),
				Raw: it.Raw, Reason: it.Reason, Step: "read", At: time.Now().UTC(),
			}
			if err := r.emit.Reject(ctx, rej); err != nil {
				return err
			}
			last = it.End
			if sinceCheck >= r.batchSize && (cur == nil || cur.Len() == 0) {
				if err := flush(nil, last); err != nil {
					return err
				}
			}
			continue
		}
		if r.stream.CursorField != "" {
			if ciSchema != cur.Schema {
				ciSchema, ci = cur.Schema, cur.Schema.Index(r.stream.CursorField)
			}
			if ci >= 0 && it.Row[ci] != nil {
				v, t := it.Row[ci], cur.Schema.Fields[ci].Type
				if filter {
					if floorVal == nil || floorType != t {
						floorVal, _ = r.floor.value(t)
						floorType = t
					}
					if c, ok := Compare(v, floorVal); ok && c <= 0 {
						last = it.End
						continue
					}
				}
				r.observe(v, t)
			}
		}
		cur.Append(it.Row)
		cur.Origins = append(cur.Origins, it.Line)
		last = it.End
		r.emitted++
		if r.limit > 0 && r.emitted >= r.limit {
			if err := flush(cur, last); err != nil {
				return err
			}
			return errLimit
		}
		if cur.Len() >= r.batchSize {
			if err := flush(cur, last); err != nil {
				return err
			}
			cur = nil
			if err := ctx.Err(); err != nil {
				return err
			}
		}
	}
	if cur != nil && cur.Len() > 0 {
		if err := r.emit.Emit(ctx, cur); err != nil {
			return err
		}
	}
	r.done = append(r.done, f)
	return r.checkpoint(ctx, nil)
}

// observe keeps the largest cursor value seen.
func (r *streamReader) observe(v any, t connector.Type) {
	if r.maxVal == nil {
		r.maxVal, r.maxType = v, t
		return
	}
	m := r.maxVal
	if r.maxType != t {
		cv, err := connector.Convert(t, m)
		if err != nil {
			r.maxVal, r.maxType = v, t
			return
		}
		m = cv
	}
	if c, ok := Compare(v, m); ok && c > 0 {
		r.maxVal, r.maxType = v, t
	} else if r.maxType != t {
		r.maxVal, r.maxType = m, t
	}
}
