// Package sourcetest holds test helpers for file sources: an in-memory
// emitter that records what a source emits, and a runner that reads a
// stream in interrupted pieces the way a crashed and resumed run does.
package sourcetest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"

	"github.com/tributary-data/tributary/connector"
)

// Emitter records batches, rejects and checkpoints in memory.
type Emitter struct {
	mu          sync.Mutex
	Batches     []*connector.Batch
	Rejects     []connector.Reject
	Checkpoints []json.RawMessage
	// StopAfter, when positive, makes Checkpoint fail after that many
	// checkpoints, simulating a crash right after a commit.
	StopAfter int
}

// ErrStopped is returned once StopAfter checkpoints were taken.
var ErrStopped = errors.New("stopped by test")

func (e *Emitter) Emit(_ context.Context, b *connector.Batch) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(b.Origins) != 0 && len(b.Origins) != b.Len() {
		return errors.New("origins do not match rows")
	}
	for _, r := range b.Rows {
		if len(r) != len(b.Schema.Fields) {
			return errors.New("row width does not match schema")
		}
	}
	e.Batches = append(e.Batches, b)
	return nil
}

func (e *Emitter) Checkpoint(_ context.Context, _ string, state json.RawMessage) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.Checkpoints = append(e.Checkpoints, append(json.RawMessage(nil), state...))
	if e.StopAfter > 0 && len(e.Checkpoints) >= e.StopAfter {
		return ErrStopped
	}
	return nil
}

func (e *Emitter) Reject(_ context.Context, r connector.Reject) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.Rejects = append(e.Rejects, r)
	return nil
}

// Row is one emitted row as a field-name map, with its origin.
type Row struct {
	Origin string
	Values map[string]any
}

// Rows flattens the batches into named rows, in order.
func (e *Emitter) Rows() []Row {
	var out []Row
	for _, b := range e.Batches {
		for i, r := range b.Rows {
			m := make(map[string]any, len(r))
			for j, f := range b.Schema.Fields {
				m[f.Name] = r[j]
			}
			out = append(out, Row{Origin: b.Origin(i), Values: m})
		}
	}
	return out
}

// Last returns the last checkpoint, nil when there was none.
func (e *Emitter) Last() json.RawMessage {
	if len(e.Checkpoints) == 0 {
		return nil
	}
	return e.Checkpoints[len(e.Checkpoints)-1]
}

// ReadInPieces reads stream from src repeatedly, stopping each run after
// `every` checkpoints and resuming from the last one, as a process killed
// right after each commit would. Only what a checkpoint covers counts, so
// batches and rejects after the last checkpoint of a run are dropped, as a
// destination would roll them back. It returns everything committed.
func ReadInPieces(t testing.TB, src connector.Source, stream connector.Stream, batchSize, every int) *Emitter {
	t.Helper()
	ctx := context.Background()
	all := &Emitter{}
	var state json.RawMessage
	for run := 0; run < 10000; run++ {
		e := &emitterCut{stopAfter: every}
		req := connector.ReadRequest{Streams: []connector.Stream{stream}, BatchSize: batchSize}
		if state != nil {
			req.State = map[string]json.RawMessage{stream.Name: state}
		}
		err := src.Read(ctx, req, e)
		all.Batches = append(all.Batches, e.committed.Batches...)
		all.Rejects = append(all.Rejects, e.committed.Rejects...)
		all.Checkpoints = append(all.Checkpoints, e.committed.Checkpoints...)
		if err == nil {
			return all
		}
		if !errors.Is(err, ErrStopped) {
			t.Fatalf("run %d: %v", run, err)
		}
		if bytes.Equal(all.Last(), state) {
			// The run handed back the state it was given: nothing left.
			return all
		}
		state = all.Last()
	}
	t.Fatal("too many runs")
	return nil
}

// emitterCut keeps what each checkpoint covers and fails after stopAfter
// checkpoints.
type emitterCut struct {
	stopAfter int
	pending   Emitter
	committed Emitter
}

func (e *emitterCut) Emit(ctx context.Context, b *connector.Batch) error {
	return e.pending.Emit(ctx, b)
}

func (e *emitterCut) Reject(ctx context.Context, r connector.Reject) error {
	return e.pending.Reject(ctx, r)
}

func (e *emitterCut) Checkpoint(_ context.Context, _ string, state json.RawMessage) error {
	e.committed.Batches = append(e.committed.Batches, e.pending.Batches...)
	e.committed.Rejects = append(e.committed.Rejects, e.pending.Rejects...)
	e.committed.Checkpoints = append(e.committed.Checkpoints, append(json.RawMessage(nil), state...))
	e.pending = Emitter{}
	if len(e.committed.Checkpoints) >= e.stopAfter {
		return ErrStopped
	}
	return nil
}
