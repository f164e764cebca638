package transform

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/tributary-data/tributary/connector"
)

func TestValidateBuildErrors(t *testing.T) {
	cases := []struct {
		settings string
		want     []string
	}{
		{`{on_fail: quarantine, rules: [{field: email, rule: email}, {field: amount, rule: min, value: 0}, {field: country, rule: enum, values: [US, GB]}, {expr: 'score <= 100', name: score_in_range}]}`, nil},
		{`{rules: [{field: a, rule: required}, {field: a, rule: type, type: int}, {field: a, rule: regex, pattern: "^[a-z]+$"}, {field: a, rule: max, value: "2030-01-01"}, {field: a, rule: length, min: 1, max: 5}, {field: a, rule: url}, {field: a, rule: unique}, {rule: expression, expr: "a != nil"}]}`, nil},
		{`{on_fail: explode, rules: [{field: a, rule: required}]}`, []string{"on_fail: expected quarantine, drop or fail, got explode"}},
		{`{rules: []}`, []string{"rules: expected a list of rules such as {field: email, rule: email}"}},
		{`{rules: [{field: a, rule: required}], extra: 1}`, []string{"extra: unknown setting (known: on_fail, rules)"}},
		{`{rules: [{field: a, rule: required}, {field: a, rule: emial}]}`, []string{"rules[1].rule: unknown rule \"emial\" (known: required, type, regex, min, max, length, enum, email, url, unique, expression)"}},
		{`{rules: [{field: a, rule: min}]}`, []string{"rules[0]: rule min needs value"}},
		{`{rules: [{field: a, rule: email}, {field: a, rule: min, value: abc}]}`, []string{`rules[1].value: expected a number or a date, got "abc"`}},
		{`{rules: [{field: a, rule: regex, pattern: "a("}]}`, []string{"rules[0].pattern: invalid regular expression: error parsing regexp: missing closing ): `a(`"}},
		{`{rules: [{field: a, rule: type, type: intger}]}`, []string{`rules[0].type: unknown type "intger" (known: [bool int64 float64 decimal string bytes date timestamp json])`}},
		{`{rules: [{field: a, rule: length, min: -1}]}`, []string{"rules[0].min: expected a length, got -1"}},
		{`{rules: [{field: a, rule: length}]}`, []string{"rules[0]: rule length needs min, max or both"}},
		{`{rules: [{rule: email}]}`, []string{"rules[0]: rule email needs field"}},
		{`{rules: [{field: a, rule: enum, values: US}]}`, []string{"rules[0].values: expected a list of values"}},
		{`{rules: [{field: a, rule: email, vaule: 1}]}`, []string{"rules[0].vaule: unknown setting for rule email"}},
		{`{rules: [{expr: "score <=", name: s}]}`, []string{"rules[0].expr: invalid expression at 1:8: unexpected token EOF"}},
		{`{rules: [{field: a, rule: email}, {field: b, rule: min, value: 0}, {field: c, rule: enum, values: [US]}, {field: d, rule: min, value: [1]}]}`, []string{"rules[3].value: expected a number or a date, got [1]"}},
	}
	for _, c := range cases {
		t.Run(c.settings, func(t *testing.T) {
			_, err := Build("validate", settings(t, c.settings))
			if got := buildErrors(err); !slices.Equal(got, c.want) {
				t.Errorf("errors = %q, want %q", got, c.want)
			}
		})
	}
}

func TestValidateRules(t *testing.T) {
	spec := "id:int64, email:string, amount:decimal, country:string, score:int64, site:string, at:timestamp"
	ts := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	rows := [][]any{
		{int64(1), "ann@example.com", connector.Decimal{Unscaled: 10}, "US", int64(90), "https://a.example", ts},
		{int64(2), "not-an-email", connector.Decimal{Unscaled: -5}, "XX", int64(120), "nope", ts.AddDate(10, 0, 0)},
		{int64(1), nil, nil, nil, nil, nil, nil},
		{int64(4), "Bob <bob@x.io>", connector.Decimal{Unscaled: 0}, "GB", int64(100), "ftp://x.org/a", ts},
	}
	cases := []struct {
		name    string
		rules   string
		kept    []int64
		rejects []string
	}{
		{"email", `[{field: email, rule: email}]`, []int64{1, 1}, []string{
			`customers.csv:3 validate: rule email failed on field "email": "not-an-email"`,
			`customers.csv:5 validate: rule email failed on field "email": "Bob <bob@x.io>"`,
		}},
		{"min max on decimals", `[{field: amount, rule: min, value: 0}, {field: amount, rule: max, value: 9.5}]`, []int64{1, 4}, []string{
			`customers.csv:2 validate: rule max failed on field "amount": 10`,
			`customers.csv:3 validate: rule min failed on field "amount": -5`,
		}},
		{"enum", `[{field: country, rule: enum, values: [US, GB, DE]}]`, []int64{1, 1, 4}, []string{
			`customers.csv:3 validate: rule enum failed on field "country": "XX"`,
		}},
		{"expression", `[{expr: 'score <= 100', name: score_in_range}]`, []int64{1, 4}, []string{
			`customers.csv:3 validate: rule score_in_range failed: score <= 100`,
			`customers.csv:4 validate: rule score_in_range could not be evaluated: invalid operation: <nil> <= int (a field it reads is null)`,
		}},
		{"required and all failures named", `[{field: email, rule: required}, {field: country, rule: required}]`, []int64{1, 2, 4}, []string{
			`customers.csv:4 validate: rule required failed on field "email": null; validate: rule required failed on field "country": null`,
		}},
		{"unique within the run", `[{field: id, rule: unique}]`, []int64{1, 2, 4}, []string{
			`customers.csv:4 validate: rule unique failed on field "id": 1 was seen before in this run`,
		}},
		{"url", `[{field: site, rule: url}]`, []int64{1, 1, 4}, []string{`customers.csv:3 validate: rule url failed on field "site": "nope"`}},
		{"regex and length", `[{field: country, rule: regex, pattern: "^[A-Z]{2}$"}, {field: email, rule: length, max: 14}]`, []int64{2, 1, 4}, []string{
			`customers.csv:2 validate: rule length failed on field "email": "ann@example.com" has length 15`,
		}},
		{"dates", `[{field: at, rule: max, value: "2030-01-01"}]`, []int64{1, 1, 4}, []string{
			`customers.csv:3 validate: rule max failed on field "at": 2034-01-01T00:00:00Z`,
		}},
		{"type", `[{field: country, rule: type, type: int}]`, []int64{1}, []string{
			`customers.csv:2 validate: rule type failed on field "country": "US" is not int64`,
			`customers.csv:3 validate: rule type failed on field "country": "XX" is not int64`,
			`customers.csv:5 validate: rule type failed on field "country": "GB" is not int64`,
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := mustBuild(t, "validate", "{rules: "+c.rules+"}")
			out, res, err := s.Apply(context.Background(), newTestBatch(spec, rows...))
			if err != nil {
				t.Fatal(err)
			}
			var ids []int64
			for _, r := range out.Rows {
				ids = append(ids, r[0].(int64))
			}
			if !slices.Equal(ids, c.kept) {
				t.Errorf("kept ids %v, want %v", ids, c.kept)
			}
			if got := reasons(res); !slices.Equal(got, c.rejects) {
				t.Errorf("rejects\n%q\nwant\n%q", got, c.rejects)
			}
			if res.Filtered != 0 {
				t.Errorf("filtered %d with on_fail quarantine", res.Filtered)
			}
		})
	}
}

func TestValidateOnFail(t *testing.T) {
	rows := [][]any{{"a@b.co"}, {"bad"}, {"c@d.co"}}
	s := mustBuild(t, "validate", `{on_fail: drop, rules: [{field: email, rule: email}]}`)
	out, res, err := s.Apply(context.Background(), newTestBatch("email:string", rows...))
	if err != nil || out.Len() != 2 || res.Filtered != 1 || len(res.Rejects) != 0 {
		t.Errorf("drop: %d rows, %d filtered, %d rejects, %v", out.Len(), res.Filtered, len(res.Rejects), err)
	}
	s = mustBuild(t, "validate", `{on_fail: fail, rules: [{field: email, rule: email}]}`)
	_, _, err = s.Apply(context.Background(), newTestBatch("email:string", rows...))
	want := `validation failed at customers.csv:3: validate: rule email failed on field "email": "bad"`
	if !errors.Is(err, ErrValidation) || err.Error() != want {
		t.Errorf("fail: error %v, want %s", err, want)
	}
}

func TestValidEmail(t *testing.T) {
	for s, want := range map[string]bool{
		"ann@example.com": true, "a.b+tag@sub.example.co.uk": true, "o'neil@example.ie": true, "josé@exämple.de": true,
		"": false, "ann": false, "@example.com": false, "ann@": false, "ann@localhost": false, "ann@@example.com": false,
		"a@b@example.com": false, ".ann@example.com": false, "ann.@example.com": false, "a..b@example.com": false,
		"ann@-example.com": false, "ann@example..com": false, "Ann <ann@example.com>": false, "ann smith@example.com": false,
		"ann@exa_mple.com": false, "ann@example.com.": false,
	} {
		if got := validEmail(s); got != want {
			t.Errorf("validEmail(%q) = %v, want %v", s, got, want)
		}
	}
}

func TestValidateUniqueAcrossBatches(t *testing.T) {
	s := mustBuild(t, "validate", `{rules: [{field: email, rule: email}, {field: id, rule: unique}]}`)
	spec := "id:int64, email:string"
	cases := []struct {
		rows [][]any
		kept int
		want []string
	}{
		// The first id 1 is quarantined for its email, so the second id 1
		// is not a duplicate.
		{[][]any{{int64(1), "bad"}, {int64(1), "a@b.co"}, {int64(2), "c@d.co"}}, 2, []string{`customers.csv:2 validate: rule email failed on field "email": "bad"`}},
		// The run remembers ids from earlier batches.
		{[][]any{{int64(2), "e@f.co"}, {int64(3), "g@h.co"}}, 1, []string{`customers.csv:2 validate: rule unique failed on field "id": 2 was seen before in this run`}},
	}
	for i, c := range cases {
		out, res, err := s.Apply(context.Background(), newTestBatch(spec, c.rows...))
		if err != nil {
			t.Fatal(err)
		}
		if out.Len() != c.kept || !slices.Equal(reasons(res), c.want) {
			t.Errorf("batch %d: kept %d, rejects %q; want %d, %q", i, out.Len(), reasons(res), c.kept, c.want)
		}
	}
}
