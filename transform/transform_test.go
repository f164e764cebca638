package transform

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/tributary-data/tributary/connector"
)

func batch() *connector.Batch {
	s := connector.NewSchema(
		connector.Field{Name: "id", Type: connector.TypeString},
		connector.Field{Name: "name", Type: connector.TypeString},
		connector.Field{Name: "amount", Type: connector.TypeString},
		connector.Field{Name: "day", Type: connector.TypeString},
	)
	b := connector.NewBatch("people", s, 3)
	b.File = "people.csv"
	b.Origins = []int64{2, 3, 4}
	b.Append([]any{"1", "Ann", "12.5", "01/02/2026"})
	b.Append([]any{"2", "Bob", "x", "02/02/2026"})
	b.Append([]any{"3", "Cy", nil, "13/13/2026"})
	return b
}

func TestSteps(t *testing.T) {
	cases := []struct {
		name       string
		steps      map[string]any // applied in key order of the list below
		order      []string
		wantFields string
		wantRows   int
		wantReject []string
		check      func(t *testing.T, b *connector.Batch)
	}{
		{name: "select reorders", order: []string{"select"}, steps: map[string]any{"select": []any{"name", "id"}},
			wantFields: "name,id", wantRows: 3,
			check: func(t *testing.T, b *connector.Batch) {
				if b.Rows[1][0] != "Bob" || b.Rows[1][1] != "2" {
					t.Errorf("row = %v", b.Rows[1])
				}
			}},
		{name: "drop", order: []string{"drop"}, steps: map[string]any{"drop": []any{"amount", "day"}},
			wantFields: "id,name", wantRows: 3},
		{name: "rename", order: []string{"rename"}, steps: map[string]any{"rename": map[string]any{"name": "full_name"}},
			wantFields: "id,full_name,amount,day", wantRows: 3},
		{name: "cast quarantines what does not convert", order: []string{"cast"},
			steps: map[string]any{"cast": map[string]any{
				"id":     "int64",
				"amount": map[string]any{"type": "decimal", "scale": 2},
				"day":    map[string]any{"type": "date", "format": "02/01/2006"},
			}},
			wantFields: "id,name,amount,day", wantRows: 1,
			wantReject: []string{`people.csv:3 field "amount": not a decimal: "x"`, `people.csv:4 field "day": "13/13/2026" does not match layout "02/01/2006"`},
			check: func(t *testing.T, b *connector.Batch) {
				if b.Rows[0][0] != int64(1) || b.Rows[0][2] != (connector.Decimal{Unscaled: 1250, Scale: 2}) ||
					!b.Rows[0][3].(time.Time).Equal(time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)) {
					t.Errorf("row = %#v", b.Rows[0])
				}
				if b.Origins[0] != 2 {
					t.Errorf("origins = %v", b.Origins)
				}
			}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var chain Chain
			for _, n := range c.order {
				s, err := Build(n, c.steps[n])
				if err != nil {
					t.Fatal(err)
				}
				chain = append(chain, s)
			}
			b, res, err := chain.Apply(context.Background(), batch())
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(b.Schema.Names(), ","); got != c.wantFields {
				t.Errorf("fields = %s, want %s", got, c.wantFields)
			}
			if b.Len() != c.wantRows {
				t.Errorf("rows = %d, want %d", b.Len(), c.wantRows)
			}
			if len(res.Rejects) != len(c.wantReject) {
				t.Fatalf("rejects = %+v", res.Rejects)
			}
			for i, w := range c.wantReject {
				r := res.Rejects[i]
				if got := r.Origin + " " + r.Reason; got != w || r.Step != c.order[0] || !strings.HasPrefix(r.Raw, "{") {
					t.Errorf("reject %d = %q (step %s, raw %s), want %q", i, got, r.Step, r.Raw, w)
				}
			}
			if c.check != nil {
				c.check(t, b)
			}
		})
	}
}

func TestBuildErrors(t *testing.T) {
	cases := []struct {
		step string
		args any
		want string
	}{
		{"cast", map[string]any{"amount": "decmal"}, `amount: unknown type "decmal"`},
		{"cast", map[string]any{"amount": map[string]any{"type": "decimal", "scale": 40}}, "amount.scale: must be an integer between 0 and 18"},
		{"cast", map[string]any{"amount": map[string]any{"type": "decimal", "precision": 4}}, "amount.precision: unknown setting"},
		{"rename", []any{"a"}, "expected a map"},
		{"select", map[string]any{}, "expected a list of field names"},
		{"frobnicate", nil, `unknown step "frobnicate"`},
	}
	for _, c := range cases {
		_, err := Build(c.step, c.args)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s %v: err = %v, want %q", c.step, c.args, err, c.want)
		}
	}
}

func TestMissingFieldFailsRun(t *testing.T) {
	s, err := Build("rename", map[string]any{"nope": "x"})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Apply(context.Background(), batch()); err == nil || !strings.Contains(err.Error(), `field "nope" is not in the stream`) {
		t.Fatalf("err = %v", err)
	}
}
