package quality

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tributary-data/tributary/connector"
	"github.com/tributary-data/tributary/transform"
)

func TestBuildCheckErrors(t *testing.T) {
	tests := []struct {
		check map[string]any
		want  string
	}{
		{map[string]any{}, "check: is required: the kind of check (accepted_values, expression, freshness, null_ratio, row_count, unique)"},
		{map[string]any{"check": "rowcount"}, `check: unknown check "rowcount" (known: accepted_values, expression, freshness, null_ratio, row_count, unique)`},
		{map[string]any{"check": "row_count"}, "row_count needs min, max or both"},
		{map[string]any{"check": "row_count", "max": "ten"}, "max: must be a number"},
		{map[string]any{"check": "row_count", "min": 5, "max": 1}, "min: must not be above max"},
		{map[string]any{"check": "row_count", "min": 1, "mx": 3}, "mx: unknown setting for check row_count"},
		{map[string]any{"check": "row_count", "min": 1, "severity": "error"}, "severity: must be warn or fail, got error"},
		{map[string]any{"check": "null_ratio", "max": 0.1}, "field: is required"},
		{map[string]any{"check": "null_ratio", "field": "email", "max": 2}, "max: must be between 0 and 1"},
		{map[string]any{"check": "unique", "fields": []any{"id", 3}}, "fields[1]: must be a field name"},
		{map[string]any{"check": "freshness", "field": "at", "max_age": "a day"}, "max_age: must be a positive duration such as 30m, 24h or 7d, got a day"},
		{map[string]any{"check": "freshness", "field": "at"}, "max_age: is required"},
		{map[string]any{"check": "expression", "expr": "sum(amount) >"}, "expr: unexpected token EOF (1:13)"},
		{map[string]any{"check": "expression", "expr": "sum(amount, 2) > 0"}, "expr: sum takes one field name"},
		{map[string]any{"check": "expression", "expr": "amount > 0"}, "expr: unknown name amount (1:1)"},
		{map[string]any{"check": "accepted_values", "field": "c", "values": []any{}}, "values: must be a non-empty list"},
		{map[string]any{"check": "accepted_values", "values": []any{"a"}, "severity": "x"}, "field: is required; severity: must be warn or fail, got x"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			_, err := BuildCheck(tt.check)
			var es transform.Errors
			if !errors.As(err, &es) || err.Error() != tt.want {
				t.Fatalf("error = %v (%T), want transform.Errors %q", err, err, tt.want)
			}
		})
	}
	_, err := BuildChecks([]map[string]any{{"check": "row_count", "min": 1}, {"check": "row_count", "max": "x"}})
	if err == nil || err.Error() != "[1].max: must be a number" {
		t.Errorf("BuildChecks error = %v", err)
	}
}

func TestChecks(t *testing.T) {
	now := time.Date(2024, 6, 1, 12, 0, 0, 0, time.UTC)
	spec := "id:int64, email:string, amount:decimal, score:float64, country:string, updated:timestamp"
	d := func(u int64) connector.Decimal { return connector.Decimal{Unscaled: u, Scale: 2} }
	b1 := batchOf(spec,
		[]any{int64(1), "a@x", d(1000), 50.0, "US", now.Add(-2 * time.Hour)},
		[]any{int64(2), nil, d(-250), 70.0, "DE", now.Add(-30 * time.Hour)},
		[]any{int64(3), "c@x", d(500), nil, "Canada", nil},
	)
	// The second batch lacks email (schema changed), repeats id 2.
	b2 := batchOf("id:int64, amount:decimal, score:float64, country:string, updated:string",
		[]any{int64(2), d(100), 90.0, "US", "2024-06-01T11:00:00Z"},
		[]any{nil, d(100), 60.0, "fr", "garbage"},
	)
	tests := []struct {
		check    map[string]any
		passed   bool
		severity Severity
		observed string
		message  string
	}{
		{map[string]any{"check": "row_count", "min": 1}, true, SeverityWarn, "5", ""},
		{map[string]any{"check": "row_count", "min": 10, "severity": "fail"}, false, SeverityFail, "5", "5 rows, fewer than 10"},
		{map[string]any{"check": "row_count", "max": 4}, false, SeverityWarn, "5", "5 rows, more than 4"},
		{map[string]any{"check": "null_ratio", "field": "email", "max": 0.5}, false, SeverityWarn, "0.6", "3 of 5 values of email are null (60.00%), more than 50.00%"},
		{map[string]any{"check": "null_ratio", "field": "email", "max": 0.6}, true, SeverityWarn, "0.6", ""},
		{map[string]any{"check": "null_ratio", "field": "nope", "max": 0.6}, false, SeverityWarn, "<nil>", `field "nope" is not in the stream`},
		{map[string]any{"check": "unique", "fields": "id"}, false, SeverityWarn, "1", "1 rows repeat a key, e.g. (2)"},
		{map[string]any{"check": "unique", "fields": []any{"id", "country"}}, true, SeverityWarn, "0", ""},
		{map[string]any{"check": "freshness", "field": "updated", "max_age": "3h"}, true, SeverityWarn, "2024-06-01T11:00:00Z", ""},
		{map[string]any{"check": "freshness", "field": "updated", "max_age": "30m"}, false, SeverityWarn, "2024-06-01T11:00:00Z", "newest updated is 1h0m0s old, older than 30m"},
		{map[string]any{"check": "freshness", "field": "id", "max_age": "1d"}, false, SeverityWarn, "<nil>", "no timestamp values in id"},
		{map[string]any{"check": "expression", "expr": "sum(amount) > 0 && count() >= 5"}, true, SeverityWarn, "map[count():5 sum(amount):14.5]", ""},
		{map[string]any{"check": "expression", "expr": "avg(score) < 60"}, false, SeverityWarn, "map[avg(score):67.5]", "avg(score) < 60 is false with avg(score) = 67.5"},
		{map[string]any{"check": "expression", "expr": "max(amount) < 1e6 and min(amount) >= -5 and count(email) == 2"}, true, SeverityWarn, "map[count(email):2 max(amount):10 min(amount):-2.5]", ""},
		{map[string]any{"check": "expression", "expr": `sum("country") > 0`}, false, SeverityWarn, "map[]", `sum(country): field "country" holds values that are not numbers`},
		{map[string]any{"check": "accepted_values", "field": "country", "values": []any{"US", "DE", "FR"}}, false, SeverityWarn, "2", `2 values of country are not accepted, e.g. "Canada", "fr"`},
		{map[string]any{"check": "accepted_values", "field": "id", "values": []any{1, 2, 3}}, true, SeverityWarn, "0", ""},
	}
	var checks []Check
	for _, tt := range tests {
		c, err := BuildCheck(tt.check)
		if err != nil {
			t.Fatalf("%v: %v", tt.check, err)
		}
		checks = append(checks, c)
	}
	ck := NewChecker(checks...)
	ck.now = func() time.Time { return now }
	ck.Observe(b1)
	ck.Observe(b2)
	for i, r := range ck.Results() {
		tt := tests[i]
		t.Run(r.Check, func(t *testing.T) {
			if r.Passed != tt.passed || r.Severity != tt.severity || fmt.Sprint(r.Observed) != tt.observed || r.Message != tt.message {
				t.Errorf("got passed=%v severity=%s observed=%v message=%q\nwant passed=%v severity=%s observed=%s message=%q",
					r.Passed, r.Severity, r.Observed, r.Message, tt.passed, tt.severity, tt.observed, tt.message)
			}
			if r.Failed() != (!tt.passed && tt.severity == SeverityFail) {
				t.Errorf("Failed() = %v", r.Failed())
			}
			if r.Kind != tt.check["check"] || !strings.Contains(r.Check, fmt.Sprint(tt.check["field"], "")) && tt.check["field"] != nil {
				t.Errorf("kind %q, check %q", r.Kind, r.Check)
			}
		})
	}
}

func TestUniqueManyRows(t *testing.T) {
	c, err := BuildCheck(map[string]any{"check": "unique", "fields": []any{"a", "b"}})
	if err != nil {
		t.Fatal(err)
	}
	ck := NewChecker(c)
	s := schemaOf("a:int64, b:string")
	const n = 200_000
	for off := 0; off < n; off += 10_000 {
		b := connector.NewBatch("s", s, 10_000)
		for i := off; i < off+10_000; i++ {
			// (i, "x") then every 1000th row again as (i-1, "x").
			a := int64(i)
			if i%1000 == 999 {
				a--
			}
			b.Append([]any{a, "x"})
		}
		ck.Observe(b)
	}
	if r := ck.Results()[0]; r.Passed || r.Observed != int64(n/1000) {
		t.Errorf("result %+v, want %d duplicates", r, n/1000)
	}
}
