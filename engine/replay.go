package engine

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tributary-data/tributary/connector"
	"github.com/tributary-data/tributary/pipeline"
)

// ReplayRecord is a quarantined record to feed through a pipeline again.
type ReplayRecord struct {
	Stream string
	Origin string
	// Raw is the record as quarantined: a JSON object of the row's fields,
	// or the original text of a record refused while reading.
	Raw string
	// Step refused the record: "read", "load" or a transform step's name.
	Step string
}

// replaySource emits quarantined records as rows of their streams.
type replaySource struct {
	spec    *pipeline.Spec
	records []ReplayRecord
	log     *slog.Logger
}

// NewReplaySource returns a source, for [Options.Replay], that feeds the
// records to the pipeline again, each where it left it: a record refused
// while reading goes through every step of the stream, one refused by a
// step through that step (the first of its name in the current version)
// and the steps after it, one refused by the destination straight to the
// destination. Field types come from the spec's source as it describes its
// streams now (with the streams' declared types over them); fields it does
// not know take the type their JSON values show, RFC 3339 text being a
// timestamp. A record that is not a JSON object is read as one CSV record
// of the stream's described fields. A record that cannot become a row is
// quarantined again, with the reason.
func NewReplaySource(spec *pipeline.Spec, records []ReplayRecord, log *slog.Logger) connector.Source {
	if log == nil {
		log = slog.Default()
	}
	return &replaySource{spec: spec, records: records, log: log}
}

func (s *replaySource) Check(context.Context) error { return nil }

func (s *replaySource) Discover(context.Context) (*connector.Catalog, error) {
	return &connector.Catalog{}, nil
}

func (s *replaySource) Close() error { return nil }

// discover returns the source's stream schemas, none when the source cannot
// say (its files are gone, its server is down): types are then inferred.
func (s *replaySource) discover(ctx context.Context) *connector.Catalog {
	src, err := OpenSource(ctx, s.spec)
	if err == nil {
		defer src.Close()
		var cat *connector.Catalog
		if cat, err = Discover(ctx, src, s.spec); err == nil {
			return cat
		}
	}
	s.log.Warn("replay: the source does not describe its streams; field types are taken from the quarantined rows", "error", err)
	return &connector.Catalog{}
}

func (s *replaySource) Read(ctx context.Context, req connector.ReadRequest, emit connector.Emitter) error {
	byStream := map[string][]ReplayRecord{}
	for _, rec := range s.records {
		byStream[rec.Stream] = append(byStream[rec.Stream], rec)
	}
	selected := map[string]bool{}
	for _, st := range req.Streams {
		selected[st.Name] = true
	}
	for _, name := range slices.Sorted(maps.Keys(byStream)) {
		if selected[name] {
			continue
		}
		// The fixed pipeline no longer has the stream: its rows cannot go
		// anywhere, and must not vanish.
		return fmt.Errorf("replay: %d quarantined rows belong to stream %q, which the pipeline no longer selects", len(byStream[name]), name)
	}
	var cat *connector.Catalog
	for _, st := range req.Streams {
		recs := byStream[st.Name]
		if len(recs) == 0 {
			continue
		}
		if cat == nil {
			cat = s.discover(ctx)
		}
		var known []connector.Field
		if info := cat.Find(st.Name); info != nil && info.Schema != nil {
			known = info.Schema.Clone().Fields
		}
		for i := range known {
			if t, ok := st.Schema[known[i].Name]; ok {
				known[i].Type = t
			}
		}
		if err := s.readStream(ctx, st, known, recs, req.BatchSize, emit); err != nil {
			return err
		}
	}
	return nil
}

// replayRow is a record decoded into field values not yet typed: strings
// from CSV text, JSON values (numbers as json.Number) from objects.
type replayRow struct {
	rec    ReplayRecord
	values map[string]any
}

func (s *replaySource) readStream(ctx context.Context, st connector.Stream, known []connector.Field, recs []ReplayRecord, batchSize int, emit connector.Emitter) error {
	reject := func(rec ReplayRecord, reason string) error {
		return emit.Reject(ctx, connector.Reject{Stream: st.Name, Origin: rec.Origin, Raw: rec.Raw, Reason: "replay: " + reason, Step: "read"})
	}
	chain, err := s.spec.Steps(st.Name)
	if err != nil {
		return err
	}
	// Where each record re-enters the stream's steps.
	entry := func(step string) int {
		switch step {
		case "", "read":
			return 0
		case "load":
			return len(chain)
		}
		for i, t := range chain {
			if t.Name() == step {
				return i
			}
		}
		s.log.Warn("replay: the step that refused rows is gone; they go through every step", "stream", st.Name, "step", step)
		return 0
	}
	groups := map[int][]replayRow{}
	var all []replayRow
	for _, rec := range recs {
		values, err := decodeRecord(rec.Raw, known)
		if err != nil {
			if err := reject(rec, err.Error()); err != nil {
				return err
			}
			continue
		}
		r := replayRow{rec, values}
		all = append(all, r)
		from := entry(rec.Step)
		groups[from] = append(groups[from], r)
	}
	schema := replaySchema(known, st.Schema, all)
	if batchSize <= 0 {
		batchSize = DefaultBatchSize
	}
	em, _ := emit.(*emitter)
	for _, from := range slices.Sorted(maps.Keys(groups)) {
		rows := groups[from]
		var b *connector.Batch
		send := func() error {
			if b == nil || b.Len() == 0 {
				return nil
			}
			defer func() { b = nil }()
			if em != nil {
				return em.emitFrom(ctx, b, from)
			}
			return emit.Emit(ctx, b)
		}
		for _, r := range rows {
			row := make([]any, len(schema.Fields))
			var bad error
			for i, f := range schema.Fields {
				v, err := typed(f.Type, r.values[f.Name])
				if err != nil {
					bad = fmt.Errorf("field %q: %w", f.Name, err)
					break
				}
				row[i] = v
			}
			if bad != nil {
				if err := reject(r.rec, bad.Error()); err != nil {
					return err
				}
				continue
			}
			file, line, ok := splitOrigin(r.rec.Origin)
			if b != nil && (b.Len() >= batchSize || b.File != file || (b.Origins == nil) == ok) {
				if err := send(); err != nil {
					return err
				}
			}
			if b == nil {
				b = connector.NewBatch(st.Name, schema, min(batchSize, len(rows)))
				b.File = file
			}
			b.Append(row)
			if ok {
				b.Origins = append(b.Origins, line)
			}
		}
		if err := send(); err != nil {
			return err
		}
	}
	return nil
}

// splitOrigin parses "file:line"; other origins stand whole as the file.
func splitOrigin(origin string) (string, int64, bool) {
	i := strings.LastIndexByte(origin, ':')
	if i < 0 {
		return origin, 0, false
	}
	n, err := strconv.ParseInt(origin[i+1:], 10, 64)
	if err != nil {
		return origin, 0, false
	}
	return origin[:i], n, true
}

// decodeRecord reads a JSON object, or else one CSV record of the known
// fields.
func decodeRecord(raw string, known []connector.Field) (map[string]any, error) {
	trimmed := strings.TrimSpace(raw)
	if strings.HasPrefix(trimmed, "{") {
		dec := json.NewDecoder(strings.NewReader(trimmed))
		dec.UseNumber()
		var m map[string]any
		if err := dec.Decode(&m); err == nil {
			return m, nil
		}
	}
	if len(known) == 0 {
		return nil, fmt.Errorf("the record is not a JSON object and the source does not describe the stream's fields to read it by")
	}
	r := csv.NewReader(bytes.NewReader([]byte(strings.TrimRight(raw, "\r\n"))))
	r.FieldsPerRecord = -1
	fields, err := r.Read()
	if err != nil {
		return nil, fmt.Errorf("the record is neither a JSON object nor a CSV record: %w", err)
	}
	if len(fields) != len(known) {
		return nil, fmt.Errorf("expected %d fields, got %d", len(known), len(fields))
	}
	m := make(map[string]any, len(fields))
	for i, f := range known {
		if fields[i] != "" {
			m[f.Name] = fields[i]
		}
	}
	return m, nil
}

// replaySchema lists the known fields first, in the source's order, then
// the fields only the rows have, by name, typed by their values.
func replaySchema(known []connector.Field, declared map[string]connector.Type, rows []replayRow) *connector.Schema {
	schema := &connector.Schema{Fields: slices.Clone(known)}
	extra := map[string]connector.Type{}
	for _, r := range rows {
		for name, v := range r.values {
			if slices.ContainsFunc(known, func(f connector.Field) bool { return f.Name == name }) {
				continue
			}
			t, seen := extra[name]
			if dt, ok := declared[name]; ok {
				extra[name] = dt
				continue
			}
			vt, ok := jsonType(v)
			switch {
			case !ok:
				if !seen {
					extra[name] = ""
				}
			case !seen || t == "":
				extra[name] = vt
			case t != vt:
				if w, ok := connector.Widen(t, vt); ok {
					extra[name] = w
				} else {
					extra[name] = connector.TypeString
				}
			}
		}
	}
	for _, name := range slices.Sorted(maps.Keys(extra)) {
		t := extra[name]
		if t == "" {
			t = connector.TypeString
		}
		schema.Fields = append(schema.Fields, connector.Field{Name: name, Type: t, Nullable: true})
	}
	return schema
}

// jsonType is the type a JSON value shows; false for null.
func jsonType(v any) (connector.Type, bool) {
	switch x := v.(type) {
	case nil:
		return "", false
	case bool:
		return connector.TypeBool, true
	case json.Number:
		if _, err := x.Int64(); err == nil {
			return connector.TypeInt64, true
		}
		return connector.TypeFloat64, true
	case string:
		if len(x) >= 20 && x[10] == 'T' {
			if _, err := time.Parse(time.RFC3339Nano, x); err == nil {
				return connector.TypeTimestamp, true
			}
		}
		return connector.TypeString, true
	}
	return connector.TypeJSON, true
}

// typed converts a decoded value to the field's type.
func typed(t connector.Type, v any) (any, error) {
	switch x := v.(type) {
	case nil:
		return nil, nil
	case json.Number:
		if t == connector.TypeString {
			return x.String(), nil
		}
		return connector.ParseValue(t, x.String())
	case string:
		if t == connector.TypeJSON {
			return x, nil
		}
	}
	return connector.Convert(t, v)
}
