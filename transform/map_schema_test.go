package transform

import (
	"context"
	"reflect"
	"slices"
	"testing"
)

func TestMapSchemaBuildErrors(t *testing.T) {
	cases := []struct {
		settings string
		want     []string
	}{
		{`{fields: {full_name: [name, customer_name, fullname], email: [email, mail]}, defaults: {country: "US"}, types: {email: string}, drop_unmapped: true}`, nil},
		{`{fields: [{full_name: [name, fullname]}, {email: mail}]}`, nil},
		{`{defaults: {country: US}}`, nil},
		{`[a]`, []string{"expected {fields: {target: [sources]}, defaults: {...}, types: {...}, drop_unmapped: bool}"}},
		{`{fields: {a: [x]}, drop: true}`, []string{"drop: unknown setting (known: fields, defaults, types, drop_unmapped)"}},
		{`{fields: {a: []}}`, []string{"fields.a: expected a source field name or a list of them"}},
		{`{fields: [{a: x, b: y}]}`, []string{"fields[0]: expected {target: [sources]}"}},
		{`{fields: {a: [x]}, types: {a: numbr}}`, []string{`types.a: unknown type "numbr" (known: [bool int64 float64 decimal string bytes date timestamp json])`}},
		{`{fields: {a: [x]}, types: {b: int}}`, []string{`types.b: "b" is not a target in fields or defaults`}},
		{`{fields: {a: [x]}, defaults: {a: abc}, types: {a: int}}`, []string{`defaults.a: abc is not a int64`}},
		{`{fields: {a: [x]}, drop_unmapped: yes please}`, []string{"drop_unmapped: expected true or false"}},
	}
	for _, c := range cases {
		t.Run(c.settings, func(t *testing.T) {
			_, err := Build("map_schema", settings(t, c.settings))
			if got := buildErrors(err); !slices.Equal(got, c.want) {
				t.Errorf("errors = %q, want %q", got, c.want)
			}
		})
	}
}

func TestMapSchemaApply(t *testing.T) {
	cases := []struct {
		name     string
		settings string
		in       string
		rows     [][]any
		out      string
		want     [][]any
		rejects  []string
	}{
		{
			name:     "first present candidate wins, defaults fill",
			settings: `{fields: {full_name: [name, customer_name, fullname], email: [email, mail]}, defaults: {country: "US"}, drop_unmapped: true}`,
			in:       "customer_name:string, mail:string, country:string, junk:string",
			rows:     [][]any{{"Ann", "a@x.io", "GB", "j"}, {"Bob", nil, nil, "j"}},
			out:      "email:string, full_name:string, country:string",
			want:     [][]any{{"a@x.io", "Ann", "GB"}, {nil, "Bob", "US"}},
		},
		{
			name:     "null in one candidate falls to the next; unmapped kept",
			settings: `{fields: [{full_name: [name, fullname]}, {id: [id]}], types: {id: int64}}`,
			in:       "id:string, name:string, fullname:string, extra:int64",
			rows:     [][]any{{"1", nil, "Cy Young", int64(5)}, {"x", "Di", nil, int64(6)}},
			out:      "full_name:string, id:int64, extra:int64",
			want:     [][]any{{"Cy Young", int64(1), int64(5)}},
			rejects:  []string{`customers.csv:3 map_schema: field "id" from "id": not an integer: "x"`},
		},
		{
			name:     "sources of different types widen",
			settings: `{fields: {amount: [total, amt]}}`,
			in:       "total:int64, amt:float64",
			rows:     [][]any{{int64(3), 1.5}, {nil, 1.5}},
			out:      "amount:float64",
			want:     [][]any{{3.0}, {1.5}},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := mustBuild(t, "map_schema", c.settings)
			out, res, err := s.Apply(context.Background(), newTestBatch(c.in, c.rows...))
			if err != nil {
				t.Fatal(err)
			}
			want := schemaOf(c.out)
			for i := range want.Fields {
				want.Fields[i].Nullable = out.Schema.Fields[i].Nullable
			}
			if !out.Schema.Equal(want) {
				t.Errorf("schema %v, want %v", out.Schema.Fields, want.Fields)
			}
			if !reflect.DeepEqual(out.Rows, c.want) {
				t.Errorf("rows %v, want %v", out.Rows, c.want)
			}
			if got := reasons(res); !slices.Equal(got, c.rejects) {
				t.Errorf("rejects %q, want %q", got, c.rejects)
			}
		})
	}
}

func TestMapSchemaLineage(t *testing.T) {
	s := mustBuild(t, "map_schema", `{fields: {full_name: [name, fullname]}, defaults: {country: US}}`)
	out, from := s.(Lineager).Lineage([]string{"fullname", "country", "x"})
	if !slices.Equal(out, []string{"full_name", "country", "x"}) {
		t.Errorf("out %v", out)
	}
	want := map[string][]string{"full_name": {"fullname"}, "country": {"country"}}
	if !reflect.DeepEqual(from, want) {
		t.Errorf("from %v, want %v", from, want)
	}
}
