package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/tributary-data/tributary/connector"
	"github.com/tributary-data/tributary/pipeline"
	"github.com/tributary-data/tributary/transform"
)

// DefaultPreviewRows is how many rows of each stream a preview reads when
// asked for none.
const DefaultPreviewRows = 20

// Preview is a pipeline run on the first rows of each stream with no
// writes: what every step received and produced, what it refused, and the
// schema that would reach the destination. The CLI, the API and the UI all
// show this same value.
type Preview struct {
	Pipeline string          `json:"pipeline"`
	Streams  []StreamPreview `json:"streams"`
}

// StreamPreview is one stream's preview.
type StreamPreview struct {
	Name   string        `json:"name"`
	Input  Table         `json:"input"`
	Steps  []StepPreview `json:"steps"`
	Output Table         `json:"output"`
	// Rejects holds every record refused on the way, by the source or a
	// step, with the reason.
	Rejects []connector.Reject `json:"rejects"`
}

// StepPreview is what one step did to the preview rows.
type StepPreview struct {
	Index        int                `json:"index"`
	Step         string             `json:"step"`
	Before       Table              `json:"before"`
	After        Table              `json:"after"`
	Rejects      []connector.Reject `json:"rejects"`
	Filtered     int                `json:"filtered"`
	Deduplicated int                `json:"deduplicated"`
	Error        string             `json:"error,omitempty"`
}

// Table is a schema with rows.
type Table struct {
	Schema *connector.Schema `json:"schema"`
	Rows   [][]any           `json:"rows"`
}

func (t *Table) add(b *connector.Batch) {
	if b == nil {
		return
	}
	if t.Schema == nil {
		t.Schema = b.Schema
	}
	for _, r := range b.Rows {
		t.Rows = append(t.Rows, append([]any(nil), r...))
	}
}

// RunPreview reads at most rows rows of each stream of spec (all streams
// when none are named) and passes them through the transform steps one at a
// time, writing nothing anywhere.
func RunPreview(ctx context.Context, spec *pipeline.Spec, rows int) (*Preview, error) {
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	if rows <= 0 {
		rows = DefaultPreviewRows
	}
	src, err := OpenSource(ctx, spec)
	if err != nil {
		return nil, err
	}
	defer src.Close()
	pe := &previewEmitter{spec: spec, streams: map[string]*previewStream{}}
	streams := spec.ConnectorStreams()
	for _, s := range streams {
		chain, err := spec.Steps(s.Name)
		if err != nil {
			return nil, err
		}
		ps := &previewStream{chain: chain, out: StreamPreview{Name: s.Name}}
		for i, st := range chain {
			ps.out.Steps = append(ps.out.Steps, StepPreview{Index: i, Step: st.Name()})
		}
		pe.streams[s.Name] = ps
		pe.order = append(pe.order, ps)
	}
	req := connector.ReadRequest{Streams: streams, BatchSize: rows, Limit: rows, State: map[string]json.RawMessage{}}
	if err := src.Read(ctx, req, pe); err != nil {
		return nil, fmt.Errorf("read: %w", err)
	}
	p := &Preview{Pipeline: spec.Name}
	for _, ps := range pe.order {
		if err := ps.flush(ctx); err != nil {
			return nil, err
		}
		p.Streams = append(p.Streams, ps.out)
	}
	return p, nil
}

type previewEmitter struct {
	spec    *pipeline.Spec
	mu      sync.Mutex
	streams map[string]*previewStream
	order   []*previewStream
}

type previewStream struct {
	chain transform.Chain
	out   StreamPreview
}

func (e *previewEmitter) stream(name string) (*previewStream, error) {
	ps, ok := e.streams[name]
	if !ok {
		return nil, fmt.Errorf("source emitted stream %q, which the pipeline did not select", name)
	}
	return ps, nil
}

func (e *previewEmitter) Emit(ctx context.Context, b *connector.Batch) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	ps, err := e.stream(b.Stream)
	if err != nil {
		return err
	}
	ps.out.Input.add(b)
	for i, st := range ps.chain {
		sp := &ps.out.Steps[i]
		sp.Before.add(b)
		out, res, err := st.Apply(ctx, b)
		if err != nil {
			// A step that cannot run at all is shown, not fatal: the
			// preview exists to find exactly such problems.
			sp.Error = err.Error()
			return nil
		}
		ps.record(sp, res)
		sp.After.add(out)
		b = out
	}
	ps.out.Output.add(b)
	return nil
}

func (ps *previewStream) record(sp *StepPreview, res transform.Result) {
	for i := range res.Rejects {
		if res.Rejects[i].Step == "" {
			res.Rejects[i].Step = sp.Step
		}
	}
	sp.Rejects = append(sp.Rejects, res.Rejects...)
	sp.Filtered += res.Filtered
	sp.Deduplicated += res.Deduplicated
	ps.out.Rejects = append(ps.out.Rejects, res.Rejects...)
}

// flush releases rows that steps held back to the end of the stream.
func (ps *previewStream) flush(ctx context.Context) error {
	for i, st := range ps.chain {
		f, ok := st.(transform.Flusher)
		if !ok || ps.out.Steps[i].Error != "" {
			continue
		}
		b, res, err := f.Flush(ctx)
		if err != nil {
			ps.out.Steps[i].Error = err.Error()
			continue
		}
		ps.record(&ps.out.Steps[i], res)
		ps.out.Steps[i].After.add(b)
		for j := i + 1; j < len(ps.chain) && b != nil && b.Len() > 0; j++ {
			sp := &ps.out.Steps[j]
			sp.Before.add(b)
			out, r, err := ps.chain[j].Apply(ctx, b)
			if err != nil {
				sp.Error = err.Error()
				b = nil
				break
			}
			ps.record(sp, r)
			sp.After.add(out)
			b = out
		}
		ps.out.Output.add(b)
	}
	return nil
}

func (e *previewEmitter) Checkpoint(context.Context, string, json.RawMessage) error { return nil }

func (e *previewEmitter) Reject(_ context.Context, r connector.Reject) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	ps, err := e.stream(r.Stream)
	if err != nil {
		return err
	}
	if r.Step == "" {
		r.Step = "read"
	}
	ps.out.Rejects = append(ps.out.Rejects, r)
	return nil
}
