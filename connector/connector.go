package connector

import (
	"context"
	"encoding/json"
)

// SyncMode says how a stream is read and loaded.
type SyncMode string

// The sync modes, as named in pipeline files.
const (
	FullRefreshOverwrite SyncMode = "full_refresh_overwrite" // replace the table atomically
	FullRefreshAppend    SyncMode = "full_refresh_append"    // read everything, append it
	IncrementalAppend    SyncMode = "incremental_append"     // read rows past the cursor, append them
	IncrementalDedup     SyncMode = "incremental_dedup"      // read rows past the cursor, upsert on the primary key
)

// SyncModes lists every valid [SyncMode].
var SyncModes = []SyncMode{FullRefreshOverwrite, FullRefreshAppend, IncrementalAppend, IncrementalDedup}

// Incremental reports whether the mode reads from a saved cursor.
func (m SyncMode) Incremental() bool { return m == IncrementalAppend || m == IncrementalDedup }

// SchemaPolicy says what a destination does when a stream's schema gains
// columns or changes a column's type.
type SchemaPolicy string

// The schema policies.
const (
	SchemaEvolve  SchemaPolicy = "evolve"  // add columns, widen types
	SchemaFreeze  SchemaPolicy = "freeze"  // fail the stream
	SchemaDiscard SchemaPolicy = "discard" // drop the new columns' values, keep loading
)

// Stream is a stream as selected in a pipeline: what to read and how.
type Stream struct {
	Name        string   `json:"name"`
	SyncMode    SyncMode `json:"sync_mode,omitempty"`
	PrimaryKey  []string `json:"primary_key,omitempty"`
	CursorField string   `json:"cursor_field,omitempty"`
	// Schema overrides the type of the named fields; other fields keep the
	// type the source infers.
	Schema map[string]Type `json:"schema,omitempty"`
	// Config holds the connector's own per-stream settings (a file pattern,
	// a table, a query), as written in the pipeline file.
	Config map[string]any `json:"config,omitempty"`
}

// ReadRequest is what a [Source] is asked to read.
type ReadRequest struct {
	Streams []Stream
	// State holds, per stream name, the checkpoint the source emitted last
	// time and the destination committed. Nil means start from the beginning.
	State map[string]json.RawMessage
	// BatchSize is the number of rows a batch should hold.
	BatchSize int
	// Limit, when positive, stops each stream after that many rows (preview).
	Limit int
}

// Emitter receives what a source reads. Calls for one stream are ordered:
// a checkpoint covers every batch emitted before it.
type Emitter interface {
	// Emit hands over a batch; the source must not touch it afterwards.
	Emit(ctx context.Context, b *Batch) error
	// Checkpoint records that the stream may resume from state once every
	// batch emitted so far is committed at the destination.
	Checkpoint(ctx context.Context, stream string, state json.RawMessage) error
	// Reject quarantines a record the source could not read.
	Reject(ctx context.Context, r Reject) error
}

// StreamDiscoverer is a source whose streams the pipeline defines (the
// endpoints of a REST API), so that only the pipeline's stream entries
// can say what there is to describe.
type StreamDiscoverer interface {
	// DiscoverStreams describes the given streams.
	DiscoverStreams(ctx context.Context, streams []Stream) (*Catalog, error)
}

// Source reads streams out of a system.
type Source interface {
	// Check verifies the configuration reaches the system.
	Check(ctx context.Context) error
	// Discover lists the streams the source offers.
	Discover(ctx context.Context) (*Catalog, error)
	// Read reads the requested streams, calling emit for every batch,
	// checkpoint and reject, and returns when all are read or ctx ends.
	Read(ctx context.Context, req ReadRequest, emit Emitter) error
	// Close releases connections and files.
	Close() error
}

// Catalog is what a source offers.
type Catalog struct {
	Streams []StreamInfo `json:"streams"`
}

// StreamInfo describes one discoverable stream.
type StreamInfo struct {
	Name             string     `json:"name"`
	Schema           *Schema    `json:"schema"`
	PrimaryKey       []string   `json:"primary_key,omitempty"`
	CursorCandidates []string   `json:"cursor_candidates,omitempty"`
	SyncModes        []SyncMode `json:"sync_modes"`
}

// Find returns the stream called name, or nil.
func (c *Catalog) Find(name string) *StreamInfo {
	for i := range c.Streams {
		if c.Streams[i].Name == name {
			return &c.Streams[i]
		}
	}
	return nil
}

// Load describes one stream being loaded into a destination in one run.
type Load struct {
	Pipeline     string
	RunID        string
	Stream       string
	Schema       *Schema
	SyncMode     SyncMode
	PrimaryKey   []string
	CursorField  string
	SchemaPolicy SchemaPolicy
}

// Destination writes streams into a system.
type Destination interface {
	// Check verifies the configuration reaches the system.
	Check(ctx context.Context) error
	// Open starts loading one stream. Streams are loaded one writer each;
	// a writer is used by one goroutine.
	Open(ctx context.Context, load Load) (Writer, error)
	// Close releases connections and files.
	Close() error
}

// Writer loads the batches of one stream with checkpoint semantics: nothing
// written becomes visible as committed until [Writer.Commit] returns.
type Writer interface {
	// Write loads a batch. Its schema may differ from the previous batch's;
	// the writer applies the load's schema policy.
	Write(ctx context.Context, b *Batch) error
	// Quarantine stores rejected records beside the data.
	Quarantine(ctx context.Context, rejects []Reject) error
	// Commit makes every batch and reject written so far durable together
	// with state, atomically where the destination can hold state. For
	// full_refresh_overwrite the data may stay invisible until Close.
	Commit(ctx context.Context, state json.RawMessage) error
	// Close ends the stream. With ok it publishes the load (an overwrite
	// swaps the new table in); without it, it rolls back what was not
	// committed.
	Close(ctx context.Context, ok bool) error
}

// StateStore is implemented by destinations that keep each pipeline's state
// in the same transaction as its data: the exactly-once path. The engine
// prefers it to a local state file.
type StateStore interface {
	// State returns the committed state of every stream of a pipeline.
	State(ctx context.Context, pipeline string) (map[string]json.RawMessage, error)
	// ResetState forgets the state of the given streams (all if none).
	ResetState(ctx context.Context, pipeline string, streams ...string) error
}
