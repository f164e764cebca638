package transform

import (
	"context"
	"slices"
	"testing"

	"github.com/tributary-data/tributary/connector"
)

func TestFilter(t *testing.T) {
	spec := "name:string, active:bool, amount:decimal"
	rows := [][]any{
		{"Ann", true, connector.Decimal{Unscaled: 10}},
		{"Bob", false, connector.Decimal{Unscaled: 20}},
		{"Cy", nil, nil},
		{"Di", true, connector.Decimal{Unscaled: 30}},
	}
	cases := []struct {
		settings string
		names    []string
		filtered int
		rejects  []string
	}{
		{`'active == true'`, []string{"Ann", "Di"}, 2, nil},
		{`{expr: "amount > 15"}`, []string{"Bob", "Di"}, 1, []string{`customers.csv:4 filter: invalid operation: <nil> > int (a field it reads is null)`}},
		{`'name in ["Ann", "Cy"] || amount >= 30'`, []string{"Ann", "Cy", "Di"}, 1, nil},
	}
	for _, c := range cases {
		t.Run(c.settings, func(t *testing.T) {
			s := mustBuild(t, "filter", c.settings)
			out, res, err := s.Apply(context.Background(), newTestBatch(spec, rows...))
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, r := range out.Rows {
				names = append(names, r[0].(string))
			}
			if !slices.Equal(names, c.names) || res.Filtered != c.filtered {
				t.Errorf("kept %v filtered %d, want %v %d", names, res.Filtered, c.names, c.filtered)
			}
			if got := reasons(res); !slices.Equal(got, c.rejects) {
				t.Errorf("rejects %q, want %q", got, c.rejects)
			}
		})
	}
	for _, bad := range []struct{ settings, want string }{
		{`'active =='`, "invalid expression at 1:9: unexpected token EOF"},
		{`[a]`, "expected an expression such as 'amount > 0'"},
		{`{expr: 3}`, "expr: expected an expression"},
	} {
		_, err := Build("filter", settings(t, bad.settings))
		if got := buildErrors(err); !slices.Equal(got, []string{bad.want}) {
			t.Errorf("%s: errors %q, want %q", bad.settings, got, bad.want)
		}
	}
	// A non-boolean expression is refused when the schema is known.
	s := mustBuild(t, "filter", `'name + "x"'`)
	if _, _, err := s.Apply(context.Background(), newTestBatch(spec, rows...)); err == nil {
		t.Error("a string-valued filter was accepted")
	}
}
