package pipeline

import (
	"encoding/json"
	"fmt"
	"sort"

	"gopkg.in/yaml.v3"

	"github.com/tributary-data/tributary/connector"
	"github.com/tributary-data/tributary/transform"
)

// Spec is a pipeline: where data comes from, what happens to it, where it
// goes, and when. Files and API documents are both this type.
type Spec struct {
	Version     int         `json:"version" yaml:"version"`
	Name        string      `json:"name" yaml:"name"`
	Description string      `json:"description,omitempty" yaml:"description,omitempty"`
	Source      Source      `json:"source" yaml:"source"`
	Destination Destination `json:"destination" yaml:"destination"`
	// Transforms run on every stream, before the stream's own steps.
	Transforms []Step `json:"transforms,omitempty" yaml:"transforms,omitempty"`
	// Checks are data quality checks applied to every stream.
	Checks    []Check   `json:"checks,omitempty" yaml:"checks,omitempty"`
	Options   Options   `json:"options,omitempty" yaml:"options,omitempty"`
	Schedule  string    `json:"schedule,omitempty" yaml:"schedule,omitempty"`
	DependsOn []string  `json:"depends_on,omitempty" yaml:"depends_on,omitempty"`
	lines     lineIndex `json:"-" yaml:"-"`
}

// Source names the connector (or stored connection) to read and the streams
// to read from it.
type Source struct {
	Connector  string         `json:"connector,omitempty" yaml:"connector,omitempty"`
	Connection string         `json:"connection,omitempty" yaml:"connection,omitempty"`
	Config     map[string]any `json:"config,omitempty" yaml:"config,omitempty"`
	Streams    []Stream       `json:"streams,omitempty" yaml:"streams,omitempty"`
}

// Destination names the connector (or stored connection) to load into.
type Destination struct {
	Connector  string         `json:"connector,omitempty" yaml:"connector,omitempty"`
	Connection string         `json:"connection,omitempty" yaml:"connection,omitempty"`
	Config     map[string]any `json:"config,omitempty" yaml:"config,omitempty"`
}

// Stream selects one stream of the source and says how to sync it. Keys a
// stream entry has beyond these belong to the connector (a file pattern, a
// table, a query) and are kept in Config.
type Stream struct {
	Name        string            `json:"name" yaml:"name"`
	SyncMode    string            `json:"sync_mode,omitempty" yaml:"sync_mode,omitempty"`
	PrimaryKey  []string          `json:"primary_key,omitempty" yaml:"primary_key,omitempty"`
	CursorField string            `json:"cursor_field,omitempty" yaml:"cursor_field,omitempty"`
	Schema      map[string]string `json:"schema,omitempty" yaml:"schema,omitempty"`
	Transforms  []Step            `json:"transforms,omitempty" yaml:"transforms,omitempty"`
	Checks      []Check           `json:"checks,omitempty" yaml:"checks,omitempty"`
	Config      map[string]any    `json:"-" yaml:"-"`
}

// Check is one data quality check as written: a map whose `check` key
// names the kind (row_count, null_ratio, unique, freshness, expression,
// accepted_values) and whose other keys are its settings.
type Check map[string]any

// Options tune a run.
type Options struct {
	BatchSize int `json:"batch_size,omitempty" yaml:"batch_size,omitempty"`
	// MaxQuarantineRatio fails a run whose quarantined/read ratio of any
	// stream exceeds it. Nil means no limit.
	MaxQuarantineRatio *float64 `json:"max_quarantine_ratio,omitempty" yaml:"max_quarantine_ratio,omitempty"`
	SchemaPolicy       string   `json:"schema_policy,omitempty" yaml:"schema_policy,omitempty"`
	// CommitRows is how many rows may be loaded between two checkpoints.
	CommitRows int `json:"commit_rows,omitempty" yaml:"commit_rows,omitempty"`
	// CommitInterval is the longest time between two checkpoints, as a Go
	// duration ("5s").
	CommitInterval string `json:"commit_interval,omitempty" yaml:"commit_interval,omitempty"`
	// StateFile is where headless runs keep state when the destination
	// cannot; relative to the pipeline file.
	StateFile string `json:"state_file,omitempty" yaml:"state_file,omitempty"`
	// Profile turns column profiling of written rows off when false; it is
	// on by default. The benchmark uses it to measure what profiling costs.
	Profile *bool `json:"profile,omitempty" yaml:"profile,omitempty"`
	// LateAfter is how long after a scheduled time the pipeline is late
	// without a succeeded run, as a Go duration ("30m"); one schedule
	// interval when empty.
	LateAfter string `json:"late_after,omitempty" yaml:"late_after,omitempty"`
	// Retries is how many times a served run that failed is tried again,
	// each attempt resuming from the last checkpoint.
	Retries int `json:"retries,omitempty" yaml:"retries,omitempty"`
	// RetryBackoff is the wait before the first retry, as a Go duration;
	// it doubles for each further retry (capped, with jitter).
	RetryBackoff string `json:"retry_backoff,omitempty" yaml:"retry_backoff,omitempty"`
	// Timeout fails an attempt of a served run that takes longer, as a Go
	// duration.
	Timeout string `json:"timeout,omitempty" yaml:"timeout,omitempty"`
}

// Step is one transform step: a one-key map whose key is the step name and
// whose value holds the step's settings.
type Step struct {
	Name string
	Args any
	Line int
}

var streamKeys = map[string]bool{"name": true, "sync_mode": true, "primary_key": true, "cursor_field": true, "schema": true, "transforms": true, "checks": true}

// UnmarshalYAML keeps a stream's connector-specific keys in Config.
func (s *Stream) UnmarshalYAML(n *yaml.Node) error {
	type plain Stream
	var p plain
	if err := n.Decode(&p); err != nil {
		return err
	}
	var all map[string]any
	if err := n.Decode(&all); err != nil {
		return err
	}
	*s = Stream(p)
	s.Config = extras(all)
	return nil
}

// UnmarshalJSON keeps a stream's connector-specific keys in Config.
func (s *Stream) UnmarshalJSON(b []byte) error {
	type plain Stream
	var p plain
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	var all map[string]any
	if err := json.Unmarshal(b, &all); err != nil {
		return err
	}
	*s = Stream(p)
	s.Config = extras(all)
	return nil
}

func extras(all map[string]any) map[string]any {
	var out map[string]any
	for k, v := range all {
		if streamKeys[k] {
			continue
		}
		if out == nil {
			out = map[string]any{}
		}
		out[k] = v
	}
	return out
}

// MarshalYAML writes Config keys inline again.
func (s Stream) MarshalYAML() (any, error) { return s.flat(), nil }

// MarshalJSON writes Config keys inline again.
func (s Stream) MarshalJSON() ([]byte, error) { return json.Marshal(s.flat()) }

func (s Stream) flat() map[string]any {
	m := map[string]any{"name": s.Name}
	if s.SyncMode != "" {
		m["sync_mode"] = s.SyncMode
	}
	if len(s.PrimaryKey) > 0 {
		m["primary_key"] = s.PrimaryKey
	}
	if s.CursorField != "" {
		m["cursor_field"] = s.CursorField
	}
	if len(s.Schema) > 0 {
		m["schema"] = s.Schema
	}
	if len(s.Transforms) > 0 {
		m["transforms"] = s.Transforms
	}
	if len(s.Checks) > 0 {
		m["checks"] = s.Checks
	}
	for k, v := range s.Config {
		m[k] = v
	}
	return m
}

// UnmarshalYAML reads a one-key map.
func (st *Step) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.MappingNode || len(n.Content) != 2 {
		return fmt.Errorf("line %d: a step is a map with exactly one key, the step name", n.Line)
	}
	st.Name = n.Content[0].Value
	st.Line = n.Line
	return n.Content[1].Decode(&st.Args)
}

// UnmarshalJSON reads a one-key object.
func (st *Step) UnmarshalJSON(b []byte) error {
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	if len(m) != 1 {
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		return fmt.Errorf("a step is an object with exactly one key, the step name; got %v", keys)
	}
	for k, v := range m {
		st.Name, st.Args = k, v
	}
	return nil
}

// MarshalYAML writes the one-key map.
func (st Step) MarshalYAML() (any, error) { return map[string]any{st.Name: st.Args}, nil }

// MarshalJSON writes the one-key object.
func (st Step) MarshalJSON() ([]byte, error) { return json.Marshal(map[string]any{st.Name: st.Args}) }

// DefaultSyncMode is the mode of a stream that names none: read
// everything, replace the destination table atomically.
const DefaultSyncMode = connector.FullRefreshOverwrite

// ConnectorStreams returns the selected streams as the connector SDK sees
// them. Call it on a validated spec.
func (s *Spec) ConnectorStreams() []connector.Stream {
	out := make([]connector.Stream, len(s.Source.Streams))
	for i, st := range s.Source.Streams {
		cs := connector.Stream{
			Name:        st.Name,
			SyncMode:    connector.SyncMode(st.SyncMode),
			PrimaryKey:  st.PrimaryKey,
			CursorField: st.CursorField,
			Config:      st.Config,
		}
		if cs.SyncMode == "" {
			cs.SyncMode = DefaultSyncMode
		}
		if len(st.Schema) > 0 {
			cs.Schema = map[string]connector.Type{}
			for f, t := range st.Schema {
				cs.Schema[f], _ = connector.ParseType(t)
			}
		}
		out[i] = cs
	}
	return out
}

// Steps builds the transform chain of a stream: the pipeline-wide steps,
// then the stream's own. Each call returns fresh steps, since steps keep
// per-run state.
func (s *Spec) Steps(stream string) (transform.Chain, error) {
	var chain transform.Chain
	build := func(path string, steps []Step) error {
		for i, st := range steps {
			t, err := transform.Build(st.Name, st.Args)
			if err != nil {
				return fmt.Errorf("%s[%d].%s: %w", path, i, st.Name, err)
			}
			chain = append(chain, t)
		}
		return nil
	}
	if err := build("transforms", s.Transforms); err != nil {
		return nil, err
	}
	for i, st := range s.Source.Streams {
		if st.Name == stream {
			if err := build(fmt.Sprintf("source.streams[%d].transforms", i), st.Transforms); err != nil {
				return nil, err
			}
		}
	}
	return chain, nil
}
