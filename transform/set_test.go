package transform

import (
	"context"
	"reflect"
	"slices"
	"testing"

	"github.com/tributary-data/tributary/connector"
)

func TestSetBuildErrors(t *testing.T) {
	cases := []struct {
		settings string
		want     []string
	}{
		{`{email_domain: 'split(email, "@")[1]'}`, nil},
		{`{total: {expr: "amount * 2", type: decimal}}`, nil},
		{`{lookups: {tiers: {gold: 3}}, rank: 'lookup(tiers, tier, 0)'}`, nil},
		{`[a, b]`, []string{"expected a map of field: expression"}},
		{`{total: "amount *"}`, []string{"total: invalid expression at 1:8: unexpected token EOF"}},
		{`{b: "x +", a: "y(", c: "1"}`, []string{"a: invalid expression at 1:2: unexpected token EOF", "b: invalid expression at 1:3: unexpected token EOF"}},
		{`{total: {expr: "1", type: decmal}}`, []string{`total.type: unknown type "decmal" (known: [bool int64 float64 decimal string bytes date timestamp json])`}},
		{`{total: {exp: "1"}}`, []string{"total.expr: expected an expression"}},
		{`{total: {expr: "1", as: x}}`, []string{"total.as: unknown setting (known: expr, type)"}},
		{`{total: 3}`, []string{"total: expected an expression or {expr: ..., type: ...}"}},
		{`{lookups: {tiers: [1, 2]}, x: "1"}`, []string{"lookups.tiers: expected a map of key: value"}},
		{`{x: "nmae(1)"}`, []string{"x: invalid expression at 1:1: unknown function nmae"}},
	}
	for _, c := range cases {
		t.Run(c.settings, func(t *testing.T) {
			_, err := Build("set", settings(t, c.settings))
			if got := buildErrors(err); !slices.Equal(got, c.want) {
				t.Errorf("errors = %q, want %q", got, c.want)
			}
		})
	}
}

func TestSetApply(t *testing.T) {
	spec := "name:string, email:string, amount:decimal, tier:string"
	rows := [][]any{
		{"Ann", "ann@example.com", connector.Decimal{Unscaled: 1999, Scale: 2}, "gold"},
		{"Bob", "bob-at-example", connector.Decimal{Unscaled: 5, Scale: 0}, "tin"},
		{"Cy", "cy@example.org", nil, nil},
	}
	cases := []struct {
		name     string
		settings string
		schema   string
		want     [][]any
		rejects  []string
	}{
		{
			name:     "acceptance",
			settings: `{email_domain: 'split(email, "@")[1]', amount_cents: 'int(amount * 100)'}`,
			schema:   "name:string, email:string, amount:decimal, tier:string, amount_cents:int64, email_domain:string",
			want: [][]any{
				{"Ann", "ann@example.com", connector.Decimal{Unscaled: 1999, Scale: 2}, "gold", int64(1999), "example.com"},
			},
			rejects: []string{
				`customers.csv:3 set: field "email_domain": index out of range: 1 (array length is 1)`,
				`customers.csv:4 set: field "amount_cents": invalid operation: <nil> * int (a field it reads is null)`,
			},
		},
		{
			name:     "replace existing field, explicit decimal, lookups",
			settings: `{amount: {expr: "coalesce(amount, 0) * 2", type: decimal}, lookups: {tiers: {gold: 3, silver: 2}}, rank: 'lookup(tiers, tier, 0)', name: 'upper(name)'}`,
			schema:   "name:string, email:string, amount:decimal, tier:string, rank:json",
			want: [][]any{
				{"ANN", "ann@example.com", connector.Decimal{Unscaled: 3998, Scale: 2}, "gold", 3.0},
				{"BOB", "bob-at-example", connector.Decimal{Unscaled: 10}, "tin", 0.0},
				{"CY", "cy@example.org", connector.Decimal{Unscaled: 0}, nil, 0.0},
			},
		},
		{
			name:     "conditional",
			settings: `{size: 'amount == nil ? "none" : amount > 10 ? "big" : "small"'}`,
			schema:   "name:string, email:string, amount:decimal, tier:string, size:string",
			want: [][]any{
				{"Ann", "ann@example.com", connector.Decimal{Unscaled: 1999, Scale: 2}, "gold", "big"},
				{"Bob", "bob-at-example", connector.Decimal{Unscaled: 5, Scale: 0}, "tin", "small"},
				{"Cy", "cy@example.org", nil, nil, "none"},
			},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := mustBuild(t, "set", c.settings)
			// Twice: the second batch reuses the cached plan.
			for range 2 {
				b := newTestBatch(spec, rows...)
				out, res, err := s.Apply(context.Background(), b)
				if err != nil {
					t.Fatal(err)
				}
				if got := out.Schema.Names(); !slices.Equal(got, schemaOf(c.schema).Names()) {
					t.Errorf("schema %v, want %v", got, schemaOf(c.schema).Names())
				}
				for i, f := range schemaOf(c.schema).Fields {
					if out.Schema.Fields[i].Type != f.Type {
						t.Errorf("field %s type %s, want %s", f.Name, out.Schema.Fields[i].Type, f.Type)
					}
				}
				if !reflect.DeepEqual(out.Rows, c.want) {
					t.Errorf("rows\n%v\nwant\n%v", out.Rows, c.want)
				}
				if got := reasons(res); !slices.Equal(got, c.rejects) {
					t.Errorf("rejects %q, want %q", got, c.rejects)
				}
				if len(out.Origins) != len(out.Rows) {
					t.Errorf("%d origins for %d rows", len(out.Origins), len(out.Rows))
				}
			}
		})
	}
}

func TestSetLineage(t *testing.T) {
	s := mustBuild(t, "set", `{total: "price * qty", name: "upper(name)"}`)
	out, from := s.(Lineager).Lineage([]string{"name", "price", "qty"})
	if !slices.Equal(out, []string{"name", "price", "qty", "total"}) {
		t.Errorf("out = %v", out)
	}
	want := map[string][]string{"total": {"price", "qty"}, "name": {"name"}}
	if !reflect.DeepEqual(from, want) {
		t.Errorf("from = %v, want %v", from, want)
	}
}
