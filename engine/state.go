package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/tributary-data/tributary/connector"
	"github.com/tributary-data/tributary/internal/atomicfile"
)

// envelope wraps a source's checkpoint with what the engine needs to know
// about it: whether the stream was read to the end. A full refresh resumes
// from an unfinished checkpoint (a crash halfway must not load rows twice)
// but starts over after a finished one.
type envelope struct {
	Done  bool            `json:"done"`
	State json.RawMessage `json:"state,omitempty"`
}

func wrap(done bool, state json.RawMessage) json.RawMessage {
	b, _ := json.Marshal(envelope{Done: done, State: state})
	return b
}

func unwrap(raw json.RawMessage) (envelope, error) {
	var e envelope
	if len(raw) == 0 {
		return e, nil
	}
	if err := json.Unmarshal(raw, &e); err != nil {
		return e, fmt.Errorf("stored state is not valid: %w", err)
	}
	return e, nil
}

// stateBackend is where a run reads and saves state of record.
type stateBackend interface {
	load(ctx context.Context, pipeline string) (map[string]json.RawMessage, error)
	// save records a committed checkpoint; destinations holding state have
	// already stored it with the data, so for them this does nothing.
	save(pipeline, stream string, state json.RawMessage) error
	String() string
}

type destinationState struct{ store connector.StateStore }

func (d destinationState) load(ctx context.Context, pipeline string) (map[string]json.RawMessage, error) {
	return d.store.State(ctx, pipeline)
}
func (destinationState) save(string, string, json.RawMessage) error { return nil }
func (destinationState) String() string                             { return "destination" }

// fileState keeps state in a JSON file, replaced atomically on each save.
// It is the state of record only for destinations that cannot hold state.
type fileState struct {
	path    string
	streams map[string]json.RawMessage
}

type stateFile struct {
	Pipeline string                     `json:"pipeline"`
	Streams  map[string]json.RawMessage `json:"streams"`
}

func (f *fileState) load(_ context.Context, pipeline string) (map[string]json.RawMessage, error) {
	f.streams = map[string]json.RawMessage{}
	b, err := os.ReadFile(f.path)
	if errors.Is(err, fs.ErrNotExist) {
		return f.streams, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read state file: %w", err)
	}
	var sf stateFile
	if err := json.Unmarshal(b, &sf); err != nil {
		return nil, fmt.Errorf("state file %s: %w", f.path, err)
	}
	if sf.Pipeline != "" && sf.Pipeline != pipeline {
		return nil, fmt.Errorf("state file %s belongs to pipeline %q, not %q", f.path, sf.Pipeline, pipeline)
	}
	for k, v := range sf.Streams {
		f.streams[k] = v
	}
	return f.streams, nil
}

func (f *fileState) save(pipeline, stream string, state json.RawMessage) error {
	f.streams[stream] = state
	b, err := json.MarshalIndent(stateFile{Pipeline: pipeline, Streams: f.streams}, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(f.path), 0o755); err != nil {
		return err
	}
	return atomicfile.Write(filepath.Dir(f.path), filepath.Base(f.path), ".", b)
}

func (f *fileState) String() string { return f.path }
