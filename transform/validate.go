package transform

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/expr-lang/expr"

	"github.com/tributary-data/tributary/connector"
)

var (
	_ Step     = (*validate)(nil)
	_ Lineager = (*validate)(nil)
)

func init() { Register("validate", newValidate) }

// validate checks rows against rules. A row that breaks a rule is
// quarantined, dropped (counted as filtered) or fails the run, as on_fail
// says. Every broken rule is named in the reason, not just the first.
type validate struct {
	onFail string
	rules  []*rule
	cache  schemaCache[*validatePlan]
}

type rule struct {
	kind  string // required, type, regex, min, max, length, enum, email, url, unique, expression
	field string
	name  string // the expression rule's name

	typ    connector.Type
	re     *regexp.Regexp
	bound  any // min/max: float64, or time.Time for dates
	minLen int
	maxLen int // -1 for none
	enum   map[string]bool
	e      exprSource
	seen   map[string]struct{} // unique: stream and value seen so far
}

type validatePlan struct {
	cols  []int // per rule, -1 for expression rules
	progs []*program
}

var ruleKinds = []string{"required", "type", "regex", "min", "max", "length", "enum", "email", "url", "unique", "expression"}

// ErrValidation is returned by a validate step with on_fail: fail.
var ErrValidation = errors.New("validation failed")

func newValidate(args any) (Step, error) {
	m, ok := args.(map[string]any)
	if !ok {
		return nil, errorf("", "expected {on_fail: quarantine|drop|fail, rules: [...]}")
	}
	v := &validate{onFail: "quarantine"}
	var errs Errors
	for k, val := range m {
		switch k {
		case "on_fail":
			s, _ := val.(string)
			if s != "quarantine" && s != "drop" && s != "fail" {
				errs = append(errs, errorf("on_fail", "expected quarantine, drop or fail, got %v", val))
			}
			v.onFail = s
		case "rules":
		default:
			errs = append(errs, errorf(k, "unknown setting (known: on_fail, rules)"))
		}
	}
	list, ok := m["rules"].([]any)
	if !ok || len(list) == 0 {
		errs = append(errs, errorf("rules", "expected a list of rules such as {field: email, rule: email}"))
	}
	for i, r := range list {
		rl, rerrs := newRule(r, fmt.Sprintf("rules[%d]", i))
		errs = append(errs, rerrs...)
		if rl != nil {
			v.rules = append(v.rules, rl)
		}
	}
	if len(errs) > 0 {
		slices.SortStableFunc(errs, func(a, b *Error) int { return cmpString(a.Path, b.Path) })
		return nil, errs
	}
	return v, nil
}

func newRule(r any, path string) (*rule, Errors) {
	m, ok := r.(map[string]any)
	if !ok {
		return nil, Errors{errorf(path, "expected a rule such as {field: email, rule: email}")}
	}
	var errs Errors
	add := func(p, format string, args ...any) { errs = append(errs, errorf(path+p, format, args...)) }
	rl := &rule{maxLen: -1}
	rl.kind, _ = m["rule"].(string)
	if _, isExpr := m["expr"]; isExpr && rl.kind == "" {
		rl.kind = "expression"
	}
	if _, has := m["field"]; has {
		rl.field, _ = m["field"].(string)
		if rl.field == "" {
			add(".field", "expected a field name")
		}
	}
	allowed := map[string]bool{"rule": true, "field": true}
	need := func(k string) any {
		allowed[k] = true
		v, ok := m[k]
		if !ok {
			add("", "rule %s needs %s", rl.kind, k)
		}
		return v
	}
	switch rl.kind {
	case "":
		add(".rule", "expected one of %s", strings.Join(ruleKinds, ", "))
		return nil, errs
	case "required", "email", "url", "unique":
	case "type":
		name, _ := need("type").(string)
		t, err := connector.ParseType(name)
		if err != nil && m["type"] != nil {
			add(".type", "unknown type %q (known: %v)", name, connector.Types)
		}
		rl.typ = t
	case "regex":
		pat, ok := m["pattern"].(string)
		allowed["pattern"] = true
		key := ".pattern"
		if !ok {
			pat, ok = need("value").(string)
			key = ".value"
		}
		if ok {
			re, err := regexp.Compile(pat)
			if err != nil {
				add(key, "invalid regular expression: %v", err)
			}
			rl.re = re
		} else if m["value"] != nil {
			add(key, "expected a regular expression")
		}
	case "min", "max":
		v := need("value")
		switch x := v.(type) {
		case int, int64, float64:
			rl.bound = toFloat(x)
		case string:
			t, err := connector.ParseTimestamp(x)
			if err != nil {
				add(".value", "expected a number or a date, got %q", x)
			}
			rl.bound = t
		case nil:
		default:
			add(".value", "expected a number or a date, got %v", v)
		}
	case "length":
		allowed["min"], allowed["max"] = true, true
		if _, ok := m["min"]; !ok {
			if _, ok := m["max"]; !ok {
				add("", "rule length needs min, max or both")
			}
		}
		if v, ok := m["min"]; ok {
			n, ok := toInt(v)
			if !ok || n < 0 {
				add(".min", "expected a length, got %v", v)
			}
			rl.minLen = n
		}
		if v, ok := m["max"]; ok {
			n, ok := toInt(v)
			if !ok || n < 0 {
				add(".max", "expected a length, got %v", v)
			}
			rl.maxLen = n
		}
	case "enum":
		vals, ok := need("values").([]any)
		if !ok && m["values"] != nil {
			add(".values", "expected a list of values")
		}
		rl.enum = map[string]bool{}
		for _, v := range vals {
			rl.enum[connector.FormatValue(v)] = true
		}
	case "expression":
		src, ok := need("expr").(string)
		allowed["name"] = true
		rl.name, _ = m["name"].(string)
		if rl.name == "" {
			rl.name = "expression"
		}
		if ok {
			e, err := parseExpr(src)
			if err != nil {
				add(".expr", "%v", err)
			}
			rl.e = e
		} else if m["expr"] != nil {
			add(".expr", "expected an expression")
		}
	default:
		add(".rule", "unknown rule %q (known: %s)", rl.kind, strings.Join(ruleKinds, ", "))
		return nil, errs
	}
	if rl.kind != "expression" && rl.field == "" && m["field"] == nil {
		add("", "rule %s needs field", rl.kind)
	}
	for k := range m {
		if !allowed[k] {
			add("."+k, "unknown setting for rule %s", rl.kind)
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	if rl.kind == "unique" {
		rl.seen = map[string]struct{}{}
	}
	return rl, nil
}

func toFloat(v any) float64 {
	switch x := v.(type) {
	case int:
		return float64(x)
	case int64:
		return float64(x)
	case float64:
		return x
	case connector.Decimal:
		return x.Float64()
	}
	return math.NaN()
}

func (v *validate) Name() string { return "validate" }

func (v *validate) plan(in *connector.Schema) (*validatePlan, error) {
	p := &validatePlan{}
	for _, rl := range v.rules {
		if rl.kind == "expression" {
			prog, err := rl.e.compile(in, nil, expr.AsBool())
			if err != nil {
				return nil, fmt.Errorf("rule %s: %w", rl.name, err)
			}
			p.cols = append(p.cols, -1)
			p.progs = append(p.progs, prog)
			continue
		}
		c := in.Index(rl.field)
		if c < 0 {
			return nil, fmt.Errorf("rule %s: field %q is not in the stream (fields: %v)", rl.kind, rl.field, in.Names())
		}
		p.cols = append(p.cols, c)
		p.progs = append(p.progs, nil)
	}
	return p, nil
}

func (v *validate) Apply(_ context.Context, b *connector.Batch) (*connector.Batch, Result, error) {
	p, err := v.cache.get(b.Schema, v.plan)
	if err != nil {
		return nil, Result{}, err
	}
	var res Result
	var reasons []string
	kept := 0
	for r, row := range b.Rows {
		reasons = reasons[:0]
		broken := false // an expression that could not run, as opposed to a rule that failed
		for i, rl := range v.rules {
			if rl.kind == "expression" {
				out, err := p.progs[i].run(row)
				if err != nil {
					reasons = append(reasons, fmt.Sprintf("validate: rule %s could not be evaluated: %v", rl.name, err))
					broken = true
				} else if ok, _ := out.(bool); !ok {
					reasons = append(reasons, fmt.Sprintf("validate: rule %s failed: %s", rl.name, rl.e.src))
				}
				continue
			}
			if msg := rl.check(b.Stream, row[p.cols[i]]); msg != "" {
				reasons = append(reasons, fmt.Sprintf("validate: rule %s failed on field %q: %s", rl.kind, rl.field, msg))
			}
		}
		if len(reasons) == 0 {
			// Unique values count once their row passed, so a duplicate of
			// a quarantined row is not refused too.
			for i, rl := range v.rules {
				if rl.kind == "unique" && row[p.cols[i]] != nil {
					rl.seen[uniqueKey(b.Stream, row[p.cols[i]])] = struct{}{}
				}
			}
			keepRow(b, kept, r, row)
			kept++
			continue
		}
		reason := strings.Join(reasons, "; ")
		switch {
		case v.onFail == "fail":
			return nil, res, fmt.Errorf("%w at %s: %s", ErrValidation, b.Origin(r), reason)
		case v.onFail == "drop" && !broken:
			res.Filtered++
		default:
			res.Rejects = append(res.Rejects, reject(b, r, reason))
		}
	}
	truncate(b, kept)
	return b, res, nil
}

// check returns why v breaks the rule, or "" when it holds. Only the
// required rule looks at nulls: a missing value is not a malformed one.
func (rl *rule) check(stream string, v any) string {
	if v == nil {
		if rl.kind == "required" {
			return "null"
		}
		return ""
	}
	switch rl.kind {
	case "required":
		if s, ok := v.(string); ok && strings.TrimSpace(s) == "" {
			return quoteValue(s)
		}
	case "type":
		if _, err := connector.Convert(rl.typ, v); err != nil {
			return fmt.Sprintf("%s is not %s", quoteValue(v), rl.typ)
		}
	case "regex":
		s, ok := v.(string)
		if !ok {
			s = connector.FormatValue(v)
		}
		if !rl.re.MatchString(s) {
			return quoteValue(v)
		}
	case "min", "max":
		c, ok := compareBound(v, rl.bound)
		if !ok {
			return fmt.Sprintf("%s cannot be compared with %s", quoteValue(v), connector.FormatValue(rl.bound))
		}
		if (rl.kind == "min" && c < 0) || (rl.kind == "max" && c > 0) {
			return quoteValue(v)
		}
	case "length":
		s, ok := v.(string)
		if !ok {
			s = connector.FormatValue(v)
		}
		n := utf8.RuneCountInString(s)
		if n < rl.minLen || (rl.maxLen >= 0 && n > rl.maxLen) {
			return fmt.Sprintf("%s has length %d", quoteValue(v), n)
		}
	case "enum":
		if !rl.enum[connector.FormatValue(v)] {
			return quoteValue(v)
		}
	case "email":
		s, _ := v.(string)
		if !validEmail(s) {
			return quoteValue(v)
		}
	case "url":
		s, _ := v.(string)
		u, err := url.Parse(s)
		if err != nil || u.Scheme == "" || u.Host == "" {
			return quoteValue(v)
		}
	case "unique":
		if _, dup := rl.seen[uniqueKey(stream, v)]; dup {
			return quoteValue(v) + " was seen before in this run"
		}
	}
	return ""
}

func uniqueKey(stream string, v any) string {
	return stream + "\x00" + connector.FormatValue(v)
}

// compareBound compares a number or a time with a min/max bound.
func compareBound(v, bound any) (int, bool) {
	switch b := bound.(type) {
	case float64:
		var f float64
		switch x := v.(type) {
		case int64, float64, connector.Decimal:
			f = toFloat(x)
		case string:
			d, err := connector.ParseDecimal(strings.TrimSpace(x))
			if err != nil {
				return 0, false
			}
			f = d.Float64()
		default:
			return 0, false
		}
		return cmpFloat(f, b), true
	case time.Time:
		t, ok := v.(time.Time)
		if !ok {
			return 0, false
		}
		return t.Compare(b), true
	}
	return 0, false
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// validEmail accepts a bare address (no display name, no quoted local
// part) whose domain has at least two labels, which is what a column of
// emails should hold. It is hand-written because net/mail parsing cost
// microseconds a row.
func validEmail(s string) bool {
	at := strings.IndexByte(s, '@')
	if at <= 0 || at > 64 || len(s)-at-1 > 255 || !utf8.ValidString(s) {
		return false
	}
	local, dom := s[:at], s[at+1:]
	if local[0] == '.' || local[len(local)-1] == '.' || strings.Contains(local, "..") {
		return false
	}
	for i := 0; i < len(local); i++ {
		c := local[i]
		if !(isAlnum(c) || c >= 0x80 || strings.IndexByte(".!#$%&'*+/=?^_`{|}~-", c) >= 0) {
			return false
		}
	}
	labels := 0
	for label := range strings.SplitSeq(dom, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			if c := label[i]; !(isAlnum(c) || c == '-' || c >= 0x80) {
				return false
			}
		}
		labels++
	}
	return labels >= 2
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// Lineage of validate: fields pass through unchanged.
func (v *validate) Lineage(in []string) ([]string, map[string][]string) { return in, nil }
