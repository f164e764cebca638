package filesink

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/tributary-data/tributary/connector"
	"github.com/tributary-data/tributary/connectors/location"
)

// ManifestName is the file in a stream directory that lists its committed
// parts.
const ManifestName = "_manifest.json"

const manifestVersion = 1

// Manifest is what a stream directory commits to. Only the parts it lists
// are data; it is replaced atomically on every commit.
type Manifest struct {
	Version int    `json:"version"`
	Stream  string `json:"stream"`
	Format  string `json:"format"`
	// Generation numbers the set of parts: an overwrite or a dedup merge
	// writes the next generation and swaps it in.
	Generation int64 `json:"generation"`
	// NextSeq numbers the parts, so a part's name is never reused.
	NextSeq int64 `json:"next_seq"`
	// Schema is the stream's schema as evolved so far; parts written
	// before a change keep theirs in Schemas.
	Schema  *connector.Schema   `json:"schema,omitempty"`
	Schemas []*connector.Schema `json:"schemas,omitempty"`
	Parts   []Part              `json:"parts"`
	// State holds the committed checkpoint of each pipeline loading the
	// stream.
	State map[string]json.RawMessage `json:"state,omitempty"`
	// QuarantineBytes is the committed length of the quarantine file;
	// anything past it was written by a run that did not commit it.
	QuarantineBytes int64     `json:"quarantine_bytes"`
	UpdatedAt       time.Time `json:"updated_at"`
}

// Part is one committed data file of a stream.
type Part struct {
	File   string `json:"file"`
	Rows   int64  `json:"rows"`
	Bytes  int64  `json:"bytes"`
	Schema int    `json:"schema"` // index into Manifest.Schemas
	RunID  string `json:"run_id,omitempty"`
}

// Rows is the number of committed rows.
func (m *Manifest) Rows() int64 {
	var n int64
	for _, p := range m.Parts {
		n += p.Rows
	}
	return n
}

// PartSchema returns the schema part p was written with.
func (m *Manifest) PartSchema(p Part) (*connector.Schema, error) {
	if p.Schema < 0 || p.Schema >= len(m.Schemas) {
		return nil, fmt.Errorf("part %s: schema %d is not in the manifest", p.File, p.Schema)
	}
	return m.Schemas[p.Schema], nil
}

// schemaIndex returns the index of s in Schemas, adding it when new.
func (m *Manifest) schemaIndex(s *connector.Schema) int {
	for i, o := range m.Schemas {
		if o.Equal(s) {
			return i
		}
	}
	m.Schemas = append(m.Schemas, s.Clone())
	return len(m.Schemas) - 1
}

func (m *Manifest) clone() *Manifest {
	c := *m
	c.Schemas = append([]*connector.Schema(nil), m.Schemas...)
	c.Parts = append([]Part(nil), m.Parts...)
	c.State = make(map[string]json.RawMessage, len(m.State))
	for k, v := range m.State {
		c.State[k] = v
	}
	return &c
}

// ReadManifest reads the manifest of a local stream directory. A
// directory without one holds no committed data: it returns nil and no
// error.
func ReadManifest(dir string) (*Manifest, error) {
	return readManifest(context.Background(), location.Local, dir)
}

func readManifest(ctx context.Context, fsys location.FS, dir string) (*Manifest, error) {
	path := fsys.Join(dir, ManifestName)
	b, err := fsys.ReadFile(ctx, path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read manifest: %w", err)
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("manifest %s: %w", fsys.URL(path), err)
	}
	if m.Version > manifestVersion {
		return nil, fmt.Errorf("manifest %s: version %d is newer than this build reads (%d)", fsys.URL(path), m.Version, manifestVersion)
	}
	for _, p := range m.Parts {
		if _, err := m.PartSchema(p); err != nil {
			return nil, fmt.Errorf("manifest %s: %w", fsys.URL(path), err)
		}
	}
	return &m, nil
}

func writeManifest(ctx context.Context, fsys location.FS, dir string, m *Manifest) error {
	m.Version = manifestVersion
	m.UpdatedAt = time.Now().UTC()
	// Compact, so a state reads back byte for byte as it was committed.
	b, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("encode manifest: %w", err)
	}
	if err := fsys.WriteFile(ctx, fsys.Join(dir, ManifestName), tmpPrefix, b); err != nil {
		return fmt.Errorf("write manifest: %w", err)
	}
	return nil
}

// tmpPrefix starts the name of every file not yet committed.
const tmpPrefix = ".tmp-"
