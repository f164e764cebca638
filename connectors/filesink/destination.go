package filesink

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/tributary-data/tributary/connector"
	"github.com/tributary-data/tributary/connectors/location"
)

// Destination writes streams as parts of one [Format] under a directory,
// local or remote (s3://bucket/prefix, sftp://user@host/path), and keeps
// each pipeline's state in the stream manifests.
type Destination struct {
	loc    string // the directory as configured, cleaned
	format Format
	log    *slog.Logger

	r    *location.Resolver
	once sync.Mutex
	fs   location.FS // nil until resolved
	dir  string      // the directory inside fs
}

var (
	_ connector.Destination = (*Destination)(nil)
	_ connector.StateStore  = (*Destination)(nil)
)

// New returns a destination writing format parts under the local
// directory dir. The directory is created when the first stream is opened.
func New(dir string, format Format) (*Destination, error) {
	if location.Remote(dir) {
		return nil, fmt.Errorf("path %q: a remote location needs its options (filesink.NewAt)", dir)
	}
	return NewAt(dir, format, location.Options{})
}

// NewAt returns a destination writing format parts under loc, a local
// directory or an s3:// or sftp:// URL reached with opts. Nothing is
// connected before the destination is first used.
func NewAt(loc string, format Format, opts location.Options) (*Destination, error) {
	if loc == "" {
		return nil, errors.New("path is required")
	}
	if format == nil {
		return nil, errors.New("no file format")
	}
	if location.Remote(loc) {
		if s, _, _ := strings.Cut(loc, "://"); strings.HasPrefix(strings.ToLower(s), "http") {
			return nil, fmt.Errorf("path %q: https locations are read only; write to a local directory, s3:// or sftp://", loc)
		}
		loc = strings.TrimRight(loc, "/")
	} else {
		loc = filepath.Clean(loc)
	}
	return &Destination{loc: loc, format: format, r: location.NewResolver(opts),
		log: slog.Default().With("destination", format.Name(), "path", loc)}, nil
}

// resolve connects to the destination's file system once.
func (d *Destination) resolve(ctx context.Context) (location.FS, string, error) {
	d.once.Lock()
	defer d.once.Unlock()
	if d.fs == nil {
		f, dir, err := d.r.Resolve(ctx, d.loc)
		if err != nil {
			return nil, "", err
		}
		d.fs, d.dir = f, dir
	}
	return d.fs, d.dir, nil
}

// Dir is the directory the destination writes into.
func (d *Destination) Dir() string { return d.loc }

func (d *Destination) join(name string) string {
	if location.Remote(d.loc) {
		return d.loc + "/" + name
	}
	return filepath.Join(d.loc, name)
}

// StreamDir is the directory holding the parts of stream.
func (d *Destination) StreamDir(stream string) string { return d.join(SafeName(stream)) }

// QuarantinePath is the file holding the rejected records of stream.
func (d *Destination) QuarantinePath(stream string) string {
	return d.join(SafeName(stream) + quarantineSuffix)
}

// Check verifies the directory can be created and written to.
func (d *Destination) Check(ctx context.Context) error {
	fsys, dir, err := d.resolve(ctx)
	if err != nil {
		return err
	}
	if err := fsys.MkdirAll(ctx, dir); err != nil {
		return fmt.Errorf("create %s: %w", d.loc, err)
	}
	var rnd [6]byte
	rand.Read(rnd[:])
	name := fsys.Join(dir, tmpPrefix+"check-"+hex.EncodeToString(rnd[:]))
	w, err := fsys.Create(ctx, name)
	if err != nil {
		return fmt.Errorf("write into %s: %w", d.loc, err)
	}
	if _, err := w.Commit(); err != nil {
		return fmt.Errorf("write into %s: %w", d.loc, err)
	}
	return fsys.Remove(ctx, name)
}

// Close closes the connections to a remote location; writers hold their
// own files.
func (d *Destination) Close() error { return d.r.Close() }

// State returns the committed state of every stream pipeline has loaded
// into this directory, read from the stream manifests.
func (d *Destination) State(ctx context.Context, pipeline string) (map[string]json.RawMessage, error) {
	out := map[string]json.RawMessage{}
	err := d.eachManifest(ctx, func(dir string, m *Manifest) error {
		if st, ok := m.State[pipeline]; ok {
			out[m.Stream] = st
		}
		return nil
	})
	return out, err
}

// ResetState forgets the state of pipeline for the given streams, or for
// every stream when none are given. The data stays.
func (d *Destination) ResetState(ctx context.Context, pipeline string, streams ...string) error {
	return d.eachManifest(ctx, func(dir string, m *Manifest) error {
		if _, ok := m.State[pipeline]; !ok {
			return nil
		}
		if len(streams) > 0 && !slices.Contains(streams, m.Stream) {
			return nil
		}
		delete(m.State, pipeline)
		return writeManifest(ctx, d.fs, dir, m)
	})
}

func (d *Destination) eachManifest(ctx context.Context, fn func(dir string, m *Manifest) error) error {
	fsys, root, err := d.resolve(ctx)
	if err != nil {
		return err
	}
	entries, err := fsys.ReadDir(ctx, root)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("list %s: %w", d.loc, err)
	}
	for _, e := range entries {
		if !e.Dir {
			continue
		}
		dir := fsys.Join(root, e.Name)
		m, err := readManifest(ctx, fsys, dir)
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
