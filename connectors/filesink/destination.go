package filesink

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"

	"github.com/tributary-data/tributary/connector"
)

// Destination writes streams as parts of one [Format] under a directory,
// and keeps each pipeline's state in the stream manifests.
type Destination struct {
	dir    string
	format Format
	log    *slog.Logger
}

var (
	_ connector.Destination = (*Destination)(nil)
	_ connector.StateStore  = (*Destination)(nil)
)

// New returns a destination writing format parts under dir. The directory
// is created when the first stream is opened.
func New(dir string, format Format) (*Destination, error) {
	if dir == "" {
		return nil, errors.New("path is required")
	}
	if format == nil {
		return nil, errors.New("no file format")
	}
	return &Destination{dir: filepath.Clean(dir), format: format, log: slog.Default().With("destination", format.Name(), "path", dir)}, nil
}

// Dir is the directory the destination writes into.
func (d *Destination) Dir() string { return d.dir }

// StreamDir is the directory holding the parts of stream.
func (d *Destination) StreamDir(stream string) string {
	return filepath.Join(d.dir, SafeName(stream))
}

// QuarantinePath is the file holding the rejected records of stream.
func (d *Destination) QuarantinePath(stream string) string {
	return filepath.Join(d.dir, SafeName(stream)+quarantineSuffix)
}

// Check verifies the directory can be created and written to.
func (d *Destination) Check(context.Context) error {
	if err := os.MkdirAll(d.dir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", d.dir, err)
	}
	f, err := os.CreateTemp(d.dir, tmpPrefix+"check-*")
	if err != nil {
		return fmt.Errorf("write into %s: %w", d.dir, err)
	}
	name := f.Name()
	f.Close()
	return os.Remove(name)
}

// Close releases nothing: writers hold their own files.
func (d *Destination) Close() error { return nil }

// State returns the committed state of every stream pipeline has loaded
// into this directory, read from the stream manifests.
func (d *Destination) State(_ context.Context, pipeline string) (map[string]json.RawMessage, error) {
	out := map[string]json.RawMessage{}
	err := d.eachManifest(func(dir string, m *Manifest) error {
		if st, ok := m.State[pipeline]; ok {
			out[m.Stream] = st
		}
		return nil
	})
	return out, err
}

// ResetState forgets the state of pipeline for the given streams, or for
// every stream when none are given. The data stays.
func (d *Destination) ResetState(_ context.Context, pipeline string, streams ...string) error {
	return d.eachManifest(func(dir string, m *Manifest) error {
		if _, ok := m.State[pipeline]; !ok {
			return nil
		}
		if len(streams) > 0 && !slices.Contains(streams, m.Stream) {
			return nil
		}
		delete(m.State, pipeline)
		return writeManifest(dir, m)
	})
}

func (d *Destination) eachManifest(fn func(dir string, m *Manifest) error) error {
	entries, err := os.ReadDir(d.dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("list %s: %w", d.dir, err)
	}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		dir := filepath.Join(d.dir, e.Name())
		m, err := ReadManifest(dir)
		if err != nil {
			return err
		}
		if m == nil || m.Format != d.format.Name() {
			continue
		}
		if err := fn(dir, m); err != nil {
			return err
		}
	}
	return nil
}

// Open starts loading one stream. It first removes what a killed run left
// behind: parts the manifest does not list, temporary files and quarantine
// records past the committed length.
func (d *Destination) Open(ctx context.Context, load connector.Load) (connector.Writer, error) {
	return d.open(ctx, load)
}
