package lineage

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tributary-data/tributary/connector"
	"github.com/tributary-data/tributary/pipeline"
	"github.com/tributary-data/tributary/transform"
)

func init() {
	transform.Register("lineage_test_concat", newConcat)
	transform.Register("lineage_test_opaque", func(any) (transform.Step, error) { return opaque{}, nil })
}

// concat joins fields into a new string field: a step with lineage that
// reads several fields, like a set step would.
type concat struct {
	target string
	fields []string
}

func newConcat(args any) (transform.Step, error) {
	m, _ := args.(map[string]any)
	c := &concat{target: fmt.Sprint(m["target"])}
	for _, f := range m["fields"].([]any) {
		c.fields = append(c.fields, f.(string))
	}
	return c, nil
}

func (c *concat) Name() string { return "lineage_test_concat" }

func (c *concat) Apply(_ context.Context, b *connector.Batch) (*connector.Batch, transform.Result, error) {
	s := b.Schema.Clone()
	s.Fields = append(s.Fields, connector.Field{Name: c.target, Type: connector.TypeString, Nullable: true})
	b.Schema = s
	return b, transform.Result{}, nil
}

func (c *concat) Lineage(in []string) ([]string, map[string][]string) {
	return append(in, c.target), map[string][]string{c.target: c.fields}
}

// opaque has no lineage: it must be taken as passing fields through.
type opaque struct{}

func (opaque) Name() string { return "lineage_test_opaque" }
func (opaque) Apply(_ context.Context, b *connector.Batch) (*connector.Batch, transform.Result, error) {
	return b, transform.Result{}, nil
}

const specYAML = `
version: 1
name: customers-sync
source:
  connector: csv
  config: {path: data}
  streams:
    - name: customers
      transforms:
        - cast: {amount: decimal}
        - lineage_test_concat: {target: label, fields: [full_name, country]}
        - lineage_test_opaque: {}
        - drop: [secret]
        - dedup: {keys: [email]}
        - select: [id, full_name, label, amount, "select"]
        - rename: {label: "display label; \"x\"", "select": café}
    - name: "order lines"
destination:
  connector: postgres
transforms:
  - rename: {name: full_name}
`

func testSpec(t *testing.T) (*pipeline.Spec, map[string]*connector.Schema) {
	t.Helper()
	spec, err := pipeline.Parse([]byte(specYAML), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	schemas := map[string]*connector.Schema{
		"customers": connector.NewSchema(
			connector.Field{Name: "id", Type: connector.TypeInt64},
			connector.Field{Name: "name", Type: connector.TypeString, Nullable: true},
			connector.Field{Name: "email", Type: connector.TypeString, Nullable: true},
			connector.Field{Name: "country", Type: connector.TypeString, Nullable: true},
			connector.Field{Name: "amount", Type: connector.TypeString, Nullable: true},
			connector.Field{Name: "secret", Type: connector.TypeString, Nullable: true},
			connector.Field{Name: "select", Type: connector.TypeBool, Nullable: true},
		),
		"order lines": connector.NewSchema(
			connector.Field{Name: "line id", Type: connector.TypeInt64},
			connector.Field{Name: "name", Type: connector.TypeString},
		),
	}
	return spec, schemas
}

func TestColumns(t *testing.T) {
	spec, schemas := testSpec(t)
	got, err := Columns(spec, schemas)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Stream != "customers" || got[1].Stream != "order lines" {
		t.Fatalf("streams = %+v", got)
	}
	tests := []struct {
		stream  int
		column  string
		typ     connector.Type
		sources []string
		steps   []string
	}{
		{0, "id", connector.TypeInt64, []string{"id"}, nil},
		{0, "full_name", connector.TypeString, []string{"name"}, []string{"rename"}},
		{0, `display label; "x"`, connector.TypeString, []string{"name", "country"}, []string{"rename", "lineage_test_concat", "rename"}},
		{0, "amount", connector.TypeDecimal, []string{"amount"}, nil}, // cast has no lineage: a pass-through
		{0, "café", connector.TypeBool, []string{"select"}, []string{"rename"}},
		{1, "line id", connector.TypeInt64, []string{"line id"}, nil},
		{1, "full_name", connector.TypeString, []string{"name"}, []string{"rename"}},
	}
	var names [2][]string
	for s := range got {
		for _, c := range got[s].Columns {
			names[s] = append(names[s], c.Name)
		}
	}
	if want := []string{"id", "full_name", `display label; "x"`, "amount", "café"}; !slices.Equal(names[0], want) {
		t.Errorf("customers columns = %q, want %q", names[0], want)
	}
	if want := []string{"line id", "full_name"}; !slices.Equal(names[1], want) {
		t.Errorf("order lines columns = %q, want %q", names[1], want)
	}
	for _, tt := range tests {
		i := slices.IndexFunc(got[tt.stream].Columns, func(c Column) bool { return c.Name == tt.column })
		if i < 0 {
			t.Errorf("no column %q", tt.column)
			continue
		}
		c := got[tt.stream].Columns[i]
		if c.Type != tt.typ || !slices.Equal(c.Sources, tt.sources) || !slices.Equal(c.Steps, tt.steps) {
			t.Errorf("%s: type %s sources %q steps %q, want %s %q %q", tt.column, c.Type, c.Sources, c.Steps, tt.typ, tt.sources, tt.steps)
		}
	}

	if _, err := Columns(spec, map[string]*connector.Schema{"customers": schemas["customers"]}); err == nil || !strings.Contains(err.Error(), "order lines: no source schema") {
		t.Errorf("missing schema error = %v", err)
	}
}

func TestOpenLineageEvent(t *testing.T) {
	spec, schemas := testSpec(t)
	streams, err := Columns(spec, schemas)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2024, 5, 1, 8, 30, 0, 0, time.UTC)
	ev := OpenLineage(spec, streams, EventOptions{RunID: "run-42", EventTime: at, SourceNamespace: "file:///data"})
	raw, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	// Decode generically: the shape on the wire is what catalogs read.
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	get := func(path string) any {
		var cur any = doc
		for p := range strings.SplitSeq(path, "/") {
			switch c := cur.(type) {
			case map[string]any:
				cur = c[p]
			case []any:
				var i int
				fmt.Sscan(p, &i)
				cur = c[i]
			default:
				return nil
			}
		}
		return cur
	}
	again := OpenLineage(spec, streams, EventOptions{RunID: "run-42", EventTime: at})
	tests := []struct {
		path string
		want any
	}{
		{"eventType", "COMPLETE"},
		{"eventTime", "2024-05-01T08:30:00Z"},
		{"run/runId", again.Run.RunID}, // the same run always gets the same UUID
		{"job/namespace", "tributary"},
		{"job/name", "customers-sync"},
		{"producer", Producer},
		{"schemaURL", "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"},
		{"inputs/0/namespace", "file:///data"},
		{"inputs/0/name", "customers"},
		{"inputs/0/facets/schema/fields/4/name", "amount"},
		{"inputs/0/facets/schema/fields/4/type", "string"},
		{"inputs/1/name", "order lines"},
		{"outputs/0/namespace", "postgres"},
		{"outputs/0/facets/schema/fields/3/name", "amount"},
		{"outputs/0/facets/schema/fields/3/type", "decimal"},
		{"outputs/0/facets/schema/_producer", Producer},
		{"outputs/0/facets/columnLineage/_schemaURL", "https://openlineage.io/spec/facets/1-2-0/ColumnLineageDatasetFacet.json#/$defs/ColumnLineageDatasetFacet"},
		{`outputs/0/facets/columnLineage/fields/display label; "x"/inputFields/0/field`, "name"},
		{`outputs/0/facets/columnLineage/fields/display label; "x"/inputFields/1/field`, "country"},
		{`outputs/0/facets/columnLineage/fields/display label; "x"/inputFields/1/namespace`, "file:///data"},
		{`outputs/0/facets/columnLineage/fields/display label; "x"/inputFields/1/name`, "customers"},
		{`outputs/0/facets/columnLineage/fields/display label; "x"/inputFields/1/transformations/0/subtype`, "TRANSFORMATION"},
		{`outputs/0/facets/columnLineage/fields/display label; "x"/inputFields/1/transformations/0/description`, "rename → lineage_test_concat → rename"},
		{"outputs/0/facets/columnLineage/fields/id/inputFields/0/transformations/0/type", "DIRECT"},
		{"outputs/0/facets/columnLineage/fields/id/inputFields/0/transformations/0/subtype", "IDENTITY"},
		{"outputs/1/facets/columnLineage/fields/line id/inputFields/0/field", "line id"},
	}
	for _, tt := range tests {
		if got := get(tt.path); got != tt.want {
			t.Errorf("%s = %v, want %v", tt.path, got, tt.want)
		}
	}
	if id := ev.Run.RunID; len(id) != 36 || id[14] != '5' {
		t.Errorf("runId %q is not a name-based UUID", id)
	}
	if ev := OpenLineage(spec, streams, EventOptions{RunID: "0b7d0b5e-5f7e-4b8e-9a38-2d9c7f1e0a11"}); ev.Run.RunID != "0b7d0b5e-5f7e-4b8e-9a38-2d9c7f1e0a11" {
		t.Errorf("a UUID run id became %q", ev.Run.RunID)
	}
}
