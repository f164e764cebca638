package transform

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/tributary-data/tributary/connector"
)

// settings decodes a step's settings from YAML, the way a pipeline file
// hands them to a builder.
func settings(t testing.TB, src string) any {
	t.Helper()
	var v any
	if err := yaml.Unmarshal([]byte(src), &v); err != nil {
		t.Fatalf("bad test YAML %q: %v", src, err)
	}
	return v
}

func mustBuild(t testing.TB, name, src string) Step {
	t.Helper()
	s, err := Build(name, settings(t, src))
	if err != nil {
		t.Fatalf("build %s %s: %v", name, src, err)
	}
	return s
}

// schemaOf parses "name:type, other:type".
func schemaOf(spec string) *connector.Schema {
	s := &connector.Schema{}
	for f := range strings.SplitSeq(spec, ",") {
		name, typ, _ := strings.Cut(strings.TrimSpace(f), ":")
		s.Fields = append(s.Fields, connector.Field{Name: name, Type: connector.Type(typ), Nullable: true})
	}
	return s
}

func newTestBatch(spec string, rows ...[]any) *connector.Batch {
	b := connector.NewBatch("customers", schemaOf(spec), len(rows))
	b.File = "customers.csv"
	for i, r := range rows {
		b.Append(slices.Clone(r))
		b.Origins = append(b.Origins, int64(i+2))
	}
	return b
}

func reasons(r Result) []string {
	var out []string
	for _, rj := range r.Rejects {
		out = append(out, rj.Origin+" "+rj.Reason)
	}
	return out
}

// buildErrors returns "path: message" for each problem Build reports.
func buildErrors(err error) []string {
	var es Errors
	var e *Error
	switch {
	case errors.As(err, &es):
		out := make([]string, len(es))
		for i, x := range es {
			out[i] = x.Error()
		}
		return out
	case errors.As(err, &e):
		return []string{e.Error()}
	case err != nil:
		return []string{"NOT A transform.Error: " + err.Error()}
	}
	return nil
}

func TestExpressionBuildErrors(t *testing.T) {
	cases := []struct {
		src  string
		want string // "" for valid
	}{
		{`amount * 100`, ""},
		{`amount * `, "invalid expression at 1:9: unexpected token EOF"},
		{"a +\n  (b", "invalid expression at 2:4: unexpected token EOF"},
		{`lowr(name)`, "invalid expression at 1:1: unknown function lowr"},
		{`name == 'a' && frob(1, 2)`, "invalid expression at 1:16: unknown function frob"},
		{`coalesce(a, b, "x")`, ""},
		{`len(split(email, "@"))`, ""},
		{`name startsWith "J" ? 1 : 2`, ""},
		{`   `, "expression is empty"},
	}
	for _, c := range cases {
		t.Run(c.src, func(t *testing.T) {
			_, err := parseExpr(c.src)
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != c.want {
				t.Errorf("parseExpr(%q) error = %q, want %q", c.src, got, c.want)
			}
		})
	}
}

func TestExpressionVariables(t *testing.T) {
	cases := []struct {
		src  string
		vars []string
		all  bool
	}{
		{`amount * 100 + fee`, []string{"amount", "fee"}, false},
		{`coalesce(nick, name)`, []string{"nick", "name"}, false},
		{`let x = amount; x * 2`, []string{"amount"}, false},
		{`filter(tags, # != "x")`, []string{"tags"}, false},
		{`$env["first name"] + surname`, []string{"surname"}, true},
		{`user.address.city`, []string{"user"}, false},
	}
	for _, c := range cases {
		e, err := parseExpr(c.src)
		if err != nil {
			t.Fatalf("%s: %v", c.src, err)
		}
		if !slices.Equal(e.vars, c.vars) || e.allFields != c.all {
			t.Errorf("%s: vars %v all %v, want %v %v", c.src, e.vars, e.allFields, c.vars, c.all)
		}
	}
}

func TestExpressionFunctions(t *testing.T) {
	ts := time.Date(2024, 3, 9, 14, 5, 6, 0, time.UTC)
	row := []any{"John Smith", "John@Example.com", connector.Decimal{Unscaled: 1999, Scale: 2}, int64(7), ts, nil, map[string]any{"tier": "gold"}}
	spec := "name:string, email:string, amount:decimal, n:int64, at:timestamp, missing:string, doc:json"
	cases := []struct {
		src  string
		want any
		typ  connector.Type
	}{
		{`int(amount * 100)`, int64(1999), connector.TypeInt64},
		{`amount * 100`, 1999.0, connector.TypeFloat64},
		{`n + 1`, int64(8), connector.TypeInt64},
		{`n / 2`, 3.5, connector.TypeFloat64},
		{`split(email, "@")[1]`, "Example.com", connector.TypeString},
		{`lower(trim("  A "))`, "a", connector.TypeString},
		{`upper(name)`, "JOHN SMITH", connector.TypeString},
		{`title("jOHN smith")`, "John Smith", connector.TypeString},
		{`replace(name, "John", "Jon")`, "Jon Smith", connector.TypeString},
		{`name contains "Smith"`, true, connector.TypeBool},
		{`name startsWith "Jo" && name endsWith "th"`, true, connector.TypeBool},
		{`hasPrefix(name, "Jo")`, true, connector.TypeBool},
		{`len(name)`, int64(10), connector.TypeInt64},
		{`substr(name, 5)`, "Smith", connector.TypeString},
		{`substr(name, 0, 4)`, "John", connector.TypeString},
		{`n > 5 ? "big" : "small"`, "big", connector.TypeString},
		{`coalesce(missing, name)`, "John Smith", connector.TypeJSON},
		{`missing ?? "none"`, "none", connector.TypeString},
		{`lookup({"gold": 3, "silver": 2}, doc.tier, 0)`, 3.0, connector.TypeJSON},
		{`lookup({"gold": 3}, "bronze", 0)`, 0.0, connector.TypeJSON},
		{`year(at) * 100 + month(at)`, int64(202403), connector.TypeInt64},
		{`day(at) + hour(at) + minute(at) + second(at)`, int64(9 + 14 + 5 + 6), connector.TypeInt64},
		{`weekday(at)`, int64(6), connector.TypeInt64},
		{`format(at, "2006-01-02")`, "2024-03-09", connector.TypeString},
		{`at.Format("15:04")`, "14:05", connector.TypeString},
		{`daysBetween(parseTime("2024-03-01"), at)`, int64(8), connector.TypeInt64},
		{`parseTime("09/03/2024", "02/01/2006")`, time.Date(2024, 3, 9, 0, 0, 0, 0, time.UTC), connector.TypeTimestamp},
		{`at`, ts, connector.TypeTimestamp},
		{`now().Year() >= 2024`, true, connector.TypeBool},
		{`split(name, " ")`, []any{"John", "Smith"}, connector.TypeJSON},
	}
	for _, c := range cases {
		t.Run(c.src, func(t *testing.T) {
			e, err := parseExpr(c.src)
			if err != nil {
				t.Fatal(err)
			}
			p, err := e.compile(schemaOf(spec), nil)
			if err != nil {
				t.Fatal(err)
			}
			typ := resultType(p.prog)
			if typ != c.typ {
				t.Errorf("type = %s, want %s", typ, c.typ)
			}
			v, err := p.run(row)
			if err == nil {
				v, err = fromExpr(v, typ)
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(v, c.want) {
				t.Errorf("= %#v, want %#v", v, c.want)
			}
		})
	}
}

func TestExpressionRuntimeErrors(t *testing.T) {
	spec := "name:string, amount:decimal, n:int64, doc:json"
	cases := []struct {
		src  string
		row  []any
		want string
	}{
		{`amount * 100`, []any{"a", nil, int64(1), nil}, "invalid operation: <nil> * int (a field it reads is null)"},
		{`10 / n`, []any{"a", nil, int64(0), nil}, ""}, // float division by zero is +Inf, not an error
		{`10 % n`, []any{"a", nil, int64(0), nil}, "integer divide by zero"},
		{`split(name, "@")[1]`, []any{"a", nil, int64(1), nil}, "index out of range: 1 (array length is 1)"},
		{`upper(name)`, []any{nil, nil, int64(1), nil}, "a field it reads is null"},
		{`doc.a.b`, []any{"a", nil, int64(1), map[string]any{"a": 1.0}}, "cannot fetch b from float64"},
	}
	for _, c := range cases {
		t.Run(c.src, func(t *testing.T) {
			e, err := parseExpr(c.src)
			if err != nil {
				t.Fatal(err)
			}
			p, err := e.compile(schemaOf(spec), nil)
			if err != nil {
				t.Fatal(err)
			}
			_, err = p.run(c.row)
			switch {
			case c.want == "" && err != nil:
				t.Errorf("unexpected error %v", err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Errorf("error = %v, want it to contain %q", err, c.want)
			case err != nil && strings.Contains(err.Error(), "\n"):
				t.Errorf("error spans lines: %q", err)
			}
		})
	}
}

func TestExpressionUnknownFieldFailsPlan(t *testing.T) {
	s := mustBuild(t, "set", `{x: "nme + 1"}`)
	_, _, err := s.Apply(context.Background(), newTestBatch("name:string", []any{"a"}))
	if err == nil || !strings.Contains(err.Error(), `unknown field "nme"`) {
		t.Errorf("error = %v, want unknown field", err)
	}
}
