package lineage

import (
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/tributary-data/tributary/pipeline"
)

// The OpenLineage schema versions the event and its facets follow.
const (
	Producer         = "https://github.com/tributary-data/tributary"
	runEventSchema   = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"
	schemaFacetURL   = "https://openlineage.io/spec/facets/1-1-1/SchemaDatasetFacet.json#/$defs/SchemaDatasetFacet"
	columnLineageURL = "https://openlineage.io/spec/facets/1-2-0/ColumnLineageDatasetFacet.json#/$defs/ColumnLineageDatasetFacet"
	defaultNamespace = "tributary"
	defaultEventType = "COMPLETE"
	transformDirect  = "DIRECT"
	subtypeIdentity  = "IDENTITY"
	subtypeTransform = "TRANSFORMATION"
)

// RunEvent is an OpenLineage run event.
type RunEvent struct {
	EventType string    `json:"eventType"` // START, RUNNING, COMPLETE, ABORT, FAIL
	EventTime string    `json:"eventTime"` // RFC 3339
	Run       Run       `json:"run"`
	Job       Job       `json:"job"`
	Inputs    []Dataset `json:"inputs"`
	Outputs   []Dataset `json:"outputs"`
	Producer  string    `json:"producer"`
	SchemaURL string    `json:"schemaURL"`
}

// Run identifies the run; RunID is a UUID.
type Run struct {
	RunID string `json:"runId"`
}

// Job is the pipeline.
type Job struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
}

// Dataset is a source stream (input) or a destination table (output).
type Dataset struct {
	Namespace string        `json:"namespace"`
	Name      string        `json:"name"`
	Facets    DatasetFacets `json:"facets"`
}

// DatasetFacets holds the facets Tributary fills in.
type DatasetFacets struct {
	Schema        *SchemaFacet        `json:"schema,omitempty"`
	ColumnLineage *ColumnLineageFacet `json:"columnLineage,omitempty"`
}

// SchemaFacet lists a dataset's fields.
type SchemaFacet struct {
	Producer  string        `json:"_producer"`
	SchemaURL string        `json:"_schemaURL"`
	Fields    []SchemaField `json:"fields"`
}

// SchemaField is one field of a [SchemaFacet].
type SchemaField struct {
	Name string `json:"name"`
	Type string `json:"type,omitempty"`
}

// ColumnLineageFacet maps each output column to its input fields.
type ColumnLineageFacet struct {
	Producer  string                        `json:"_producer"`
	SchemaURL string                        `json:"_schemaURL"`
	Fields    map[string]ColumnLineageField `json:"fields"`
}

// ColumnLineageField lists the inputs of one output column.
type ColumnLineageField struct {
	InputFields []InputField `json:"inputFields"`
}

// InputField is a column of an input dataset.
type InputField struct {
	Namespace       string           `json:"namespace"`
	Name            string           `json:"name"`
	Field           string           `json:"field"`
	Transformations []Transformation `json:"transformations,omitempty"`
}

// Transformation says how an input field becomes the output column.
type Transformation struct {
	Type        string `json:"type"`    // DIRECT
	Subtype     string `json:"subtype"` // IDENTITY or TRANSFORMATION
	Description string `json:"description,omitempty"`
	Masking     bool   `json:"masking,omitempty"`
}

// EventOptions describe the run an event is about; zero values take
// defaults.
type EventOptions struct {
	// RunID of the run; a value that is not a UUID is turned into one
	// (a name-based UUID, so the same run always gets the same one). A
	// new random UUID when empty.
	RunID     string
	EventType string    // default COMPLETE
	EventTime time.Time // default now
	// Namespace of the job (default "tributary").
	Namespace string
	// SourceNamespace and DestinationNamespace name where the datasets
	// live, in OpenLineage's naming ("postgres://db.example.com:5432");
	// by default the source and destination connector (or connection)
	// names.
	SourceNamespace      string
	DestinationNamespace string
}

// OpenLineage builds the run event of spec with the lineage of its
// streams: every source stream an input with its schema, every stream an
// output with its schema and column lineage.
func OpenLineage(spec *pipeline.Spec, streams []Stream, opts EventOptions) RunEvent {
	ev := RunEvent{
		EventType: opts.EventType,
		EventTime: opts.EventTime.UTC().Format(time.RFC3339Nano),
		Run:       Run{RunID: runUUID(opts.RunID)},
		Job:       Job{Namespace: opts.Namespace, Name: spec.Name},
		Inputs:    []Dataset{},
		Outputs:   []Dataset{},
		Producer:  Producer,
		SchemaURL: runEventSchema,
	}
	if ev.EventType == "" {
		ev.EventType = defaultEventType
	}
	if opts.EventTime.IsZero() {
		ev.EventTime = time.Now().UTC().Format(time.RFC3339Nano)
	}
	if ev.Job.Namespace == "" {
		ev.Job.Namespace = defaultNamespace
	}
	srcNS := firstOf(opts.SourceNamespace, spec.Source.Connection, spec.Source.Connector, "source")
	dstNS := firstOf(opts.DestinationNamespace, spec.Destination.Connection, spec.Destination.Connector, "destination")
	for _, s := range streams {
		in := Dataset{Namespace: srcNS, Name: s.Stream, Facets: DatasetFacets{Schema: &SchemaFacet{Producer: Producer, SchemaURL: schemaFacetURL, Fields: []SchemaField{}}}}
		if s.Source != nil {
			for _, f := range s.Source.Fields {
				in.Facets.Schema.Fields = append(in.Facets.Schema.Fields, SchemaField{Name: f.Name, Type: string(f.Type)})
			}
		}
		ev.Inputs = append(ev.Inputs, in)

		out := Dataset{Namespace: dstNS, Name: s.Stream, Facets: DatasetFacets{
			Schema:        &SchemaFacet{Producer: Producer, SchemaURL: schemaFacetURL, Fields: []SchemaField{}},
			ColumnLineage: &ColumnLineageFacet{Producer: Producer, SchemaURL: columnLineageURL, Fields: map[string]ColumnLineageField{}},
		}}
		for _, c := range s.Columns {
			out.Facets.Schema.Fields = append(out.Facets.Schema.Fields, SchemaField{Name: c.Name, Type: string(c.Type)})
			tr := Transformation{Type: transformDirect, Subtype: subtypeIdentity}
			if len(c.Steps) > 0 {
				tr.Subtype = subtypeTransform
				tr.Description = strings.Join(c.Steps, " → ")
				tr.Masking = slices.Contains(c.Steps, "mask")
			}
			inputs := []InputField{}
			for _, src := range c.Sources {
				inputs = append(inputs, InputField{Namespace: srcNS, Name: s.Stream, Field: src, Transformations: []Transformation{tr}})
			}
			out.Facets.ColumnLineage.Fields[c.Name] = ColumnLineageField{InputFields: inputs}
		}
		ev.Outputs = append(ev.Outputs, out)
	}
	return ev
}

func firstOf(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

// runUUID returns id if it is a UUID, else a UUID derived from it.
func runUUID(id string) string {
	if id == "" {
		return uuid.NewString()
	}
	if u, err := uuid.Parse(id); err == nil {
		return u.String()
	}
	return uuid.NewSHA1(uuid.NameSpaceURL, []byte("tributary:run:"+id)).String()
}
