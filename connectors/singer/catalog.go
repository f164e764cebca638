package singer

import (
	"encoding/json"
	"fmt"
	"slices"

	"github.com/tributary-data/tributary/connector"
)

// catalogStream is one stream of a Singer catalog. Unknown keys are kept so
// the catalog handed back to the tap is the one it discovered, with the
// selection added.
type catalogStream struct {
	TapStreamID   string          `json:"tap_stream_id"`
	Stream        string          `json:"stream"`
	Schema        json.RawMessage `json:"schema"`
	KeyProperties []string        `json:"key_properties,omitempty"`
	Metadata      []metadataEntry `json:"metadata,omitempty"`
	raw           map[string]json.RawMessage
}

type metadataEntry struct {
	Breadcrumb []string       `json:"breadcrumb"`
	Metadata   map[string]any `json:"metadata"`
}

func (c *catalogStream) name() string {
	if c.TapStreamID != "" {
		return c.TapStreamID
	}
	return c.Stream
}

// streamMetadata returns the metadata of the stream itself (empty
// breadcrumb), creating the entry when asked to.
func (c *catalogStream) streamMetadata(create bool) map[string]any {
	for i := range c.Metadata {
		if m := &c.Metadata[i]; len(m.Breadcrumb) == 0 {
			if m.Metadata == nil {
				if !create {
					return nil
				}
				m.Metadata = map[string]any{}
			}
			return m.Metadata
		}
	}
	if !create {
		return nil
	}
	m := metadataEntry{Breadcrumb: []string{}, Metadata: map[string]any{}}
	c.Metadata = append(c.Metadata, m)
	return m.Metadata
}

func (c *catalogStream) primaryKey() []string {
	if len(c.KeyProperties) > 0 {
		return c.KeyProperties
	}
	return stringList(c.streamMetadata(false)["table-key-properties"])
}

func stringList(v any) []string {
	list, _ := v.([]any)
	var out []string
	for _, e := range list {
		if s, ok := e.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

type catalog struct {
	Streams []*catalogStream
}

func parseCatalog(b []byte) (*catalog, error) {
	var doc struct {
		Streams []json.RawMessage `json:"streams"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("catalog is not JSON: %w", err)
	}
	c := &catalog{}
	for i, raw := range doc.Streams {
		cs := &catalogStream{}
		if err := json.Unmarshal(raw, cs); err != nil {
			return nil, fmt.Errorf("catalog streams[%d]: %w", i, err)
		}
		if err := json.Unmarshal(raw, &cs.raw); err != nil {
			return nil, fmt.Errorf("catalog streams[%d]: %w", i, err)
		}
		if cs.name() == "" {
			return nil, fmt.Errorf("catalog streams[%d]: has neither tap_stream_id nor stream", i)
		}
		c.Streams = append(c.Streams, cs)
	}
	return c, nil
}

func (c *catalog) find(name string) *catalogStream {
	for _, s := range c.Streams {
		if s.name() == name {
			return s
		}
	}
	return nil
}

func (c *catalog) names() []string {
	out := make([]string, len(c.Streams))
	for i, s := range c.Streams {
		out[i] = s.name()
	}
	return out
}

// selected returns the catalog with the streams of the pipeline selected,
// every other stream deselected, and each selected stream's replication
// method and key set from its sync mode and cursor field. Every property is
// selected too, since taps leave "available" properties out otherwise.
func (c *catalog) selected(streams []connector.Stream) ([]byte, error) {
	out := make([]map[string]json.RawMessage, 0, len(c.Streams))
	for _, cs := range c.Streams {
		i := slices.IndexFunc(streams, func(s connector.Stream) bool { return s.Name == cs.name() })
		sel := i >= 0
		md := cs.streamMetadata(true)
		md["selected"] = sel
		if sel {
			st := streams[i]
			if st.SyncMode.Incremental() {
				md["replication-method"] = "INCREMENTAL"
				if st.CursorField != "" {
					md["replication-key"] = st.CursorField
				}
			} else {
				md["replication-method"] = "FULL_TABLE"
			}
			names, _, err := orderedProperties(propertiesOf(cs.Schema))
			if err != nil {
				return nil, fmt.Errorf("stream %s: schema properties: %w", cs.name(), err)
			}
			for _, n := range names {
				found := false
				for j := range cs.Metadata {
					m := &cs.Metadata[j]
					if len(m.Breadcrumb) == 2 && m.Breadcrumb[0] == "properties" && m.Breadcrumb[1] == n {
						if m.Metadata == nil {
							m.Metadata = map[string]any{}
						}
						if m.Metadata["inclusion"] != "unsupported" {
							m.Metadata["selected"] = true
						}
						found = true
					}
				}
				if !found {
					cs.Metadata = append(cs.Metadata, metadataEntry{Breadcrumb: []string{"properties", n}, Metadata: map[string]any{"selected": true}})
				}
			}
		}
		raw := make(map[string]json.RawMessage, len(cs.raw)+2)
		for k, v := range cs.raw {
			raw[k] = v
		}
		// Older taps read the selection from the stream and its schema.
		raw["selected"], _ = json.Marshal(sel)
		schema, err := markSchemaSelected(cs.Schema, sel)
		if err != nil {
			return nil, fmt.Errorf("stream %s: %w", cs.name(), err)
		}
		raw["schema"] = schema
		mdRaw, err := json.Marshal(cs.Metadata)
		if err != nil {
			return nil, err
		}
		raw["metadata"] = mdRaw
		out = append(out, raw)
	}
	return json.Marshal(map[string]any{"streams": out})
}

func propertiesOf(schema json.RawMessage) json.RawMessage {
	var s struct {
		Properties json.RawMessage `json:"properties"`
	}
	json.Unmarshal(schema, &s)
	return s.Properties
}

// markSchemaSelected sets "selected" on the schema, the way taps read
// selection in --properties mode.
func markSchemaSelected(schema json.RawMessage, sel bool) (json.RawMessage, error) {
	if len(schema) == 0 {
		return json.Marshal(map[string]any{"selected": sel})
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(schema, &m); err != nil {
		return nil, fmt.Errorf("schema is not an object: %w", err)
	}
	m["selected"], _ = json.Marshal(sel)
	return json.Marshal(m)
}

// info describes a catalog stream for [connector.Catalog].
func (cs *catalogStream) info() (connector.StreamInfo, error) {
	ss, err := parseSchema(cs.Schema, nil)
	if err != nil {
		return connector.StreamInfo{}, fmt.Errorf("stream %s: %w", cs.name(), err)
	}
	md := cs.streamMetadata(false)
	cursors := stringList(md["valid-replication-keys"])
	if k, ok := md["replication-key"].(string); ok && !slices.Contains(cursors, k) {
		cursors = append(cursors, k)
	}
	return connector.StreamInfo{
		Name:             cs.name(),
		Schema:           ss.schema,
		PrimaryKey:       cs.primaryKey(),
		CursorCandidates: cursors,
		SyncModes:        connector.SyncModes,
	}, nil
}
