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
	"github.com/tributary-data/tributary/pipeline"
)

// ResetState forgets the saved state of the given streams of a pipeline
// (every stream when none is given), so its next run reads them from the
// start. The state lives where a run keeps it: in the destination when the
// destination holds state, otherwise in the local state file at statePath.
// It reports where the state was.
func ResetState(ctx context.Context, spec *pipeline.Spec, statePath string, streams ...string) (string, error) {
	dst, err := OpenDestination(ctx, spec)
	if err != nil {
		return "", err
	}
	defer dst.Close()
	if ss, ok := dst.(connector.StateStore); ok {
		if err := ss.ResetState(ctx, spec.Name, streams...); err != nil {
			return "", fmt.Errorf("reset state in the destination: %w", err)
		}
		return "destination", nil
	}
	if statePath == "" {
		return "", nil
	}
	return statePath, resetStateFile(statePath, spec.Name, streams)
}

// resetStateFile removes streams from a local state file; a missing file
// holds no state to forget.
func resetStateFile(path, pipelineName string, streams []string) error {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read state file: %w", err)
	}
	var sf stateFile
	if err := json.Unmarshal(b, &sf); err != nil {
		return fmt.Errorf("state file %s: %w", path, err)
	}
	if sf.Pipeline != "" && sf.Pipeline != pipelineName {
		return fmt.Errorf("state file %s belongs to pipeline %q, not %q", path, sf.Pipeline, pipelineName)
	}
	if len(streams) == 0 {
		sf.Streams = map[string]json.RawMessage{}
	}
	for _, s := range streams {
		delete(sf.Streams, s)
	}
	if sf.Streams == nil {
		sf.Streams = map[string]json.RawMessage{}
	}
	out, err := json.MarshalIndent(stateFile{Pipeline: pipelineName, Streams: sf.Streams}, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(filepath.Dir(path), filepath.Base(path), ".", out)
}
