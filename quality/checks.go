package quality

import (
	"fmt"
	"hash/maphash"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/vm"

	"github.com/tributary-data/tributary/connector"
	"github.com/tributary-data/tributary/transform"
)

// Severity says what a failed check does to a run.
type Severity string

// A check warns unless its settings say `severity: fail`: a check that
// stops loads must be asked for explicitly.
const (
	SeverityWarn Severity = "warn"
	SeverityFail Severity = "fail"
)

// Check is a data quality check built from its settings. It holds no
// state: a [Checker] keeps what one run observed.
type Check interface {
	// Kind is the check's name in the pipeline file ("row_count").
	Kind() string
	// Describe says what is checked, for results and alerts.
	Describe() string
	Severity() Severity
	start() checkRun
}

// checkRun is one check's state during one run.
type checkRun interface {
	observe(b *connector.Batch)
	result(now time.Time) (passed bool, observed any, msg string)
}

// CheckResult is the outcome of one check for one run and stream.
type CheckResult struct {
	Check    string   `json:"check"` // what was checked: `null_ratio(email) <= 0.01`
	Kind     string   `json:"kind"`
	Severity Severity `json:"severity"`
	Passed   bool     `json:"passed"`
	Observed any      `json:"observed"`
	Message  string   `json:"message,omitempty"`
}

// Failed reports whether the result should stop the load: a failed check
// of severity fail.
func (r CheckResult) Failed() bool { return !r.Passed && r.Severity == SeverityFail }

var checkKinds = []string{"accepted_values", "expression", "freshness", "null_ratio", "row_count", "unique"}

// BuildCheck makes a check from its settings as written in a pipeline: a
// map whose `check` key names the kind. Errors are [transform.Errors] with
// paths relative to the check ("max: must be a number").
func BuildCheck(c map[string]any) (Check, error) {
	s := settings{m: c, used: map[string]bool{"check": true, "severity": true}}
	kind, _ := c["check"].(string)
	base := checkBase{kind: kind, severity: SeverityWarn}
	switch sev := c["severity"]; sev {
	case nil, "warn":
	case "fail":
		base.severity = SeverityFail
	default:
		s.fail("severity", "must be warn or fail, got %v", sev)
	}
	var ch Check
	switch kind {
	case "row_count":
		ch = buildRowCount(base, &s)
	case "null_ratio":
		ch = buildNullRatio(base, &s)
	case "unique":
		ch = buildUnique(base, &s)
	case "freshness":
		ch = buildFreshness(base, &s)
	case "expression":
		ch = buildExpression(base, &s)
	case "accepted_values":
		ch = buildAcceptedValues(base, &s)
	case "":
		s.fail("check", "is required: the kind of check (%s)", strings.Join(checkKinds, ", "))
		s.used = nil
	default:
		s.fail("check", "unknown check %q (known: %s)", kind, strings.Join(checkKinds, ", "))
		s.used = nil
	}
	s.unknown()
	if len(s.errs) > 0 {
		slices.SortStableFunc(s.errs, func(a, b *transform.Error) int { return strings.Compare(a.Path, b.Path) })
		return nil, s.errs
	}
	return ch, nil
}

// BuildChecks builds every check of a list; error paths start with the
// check's index ("[2].max").
func BuildChecks(cs []map[string]any) ([]Check, error) {
	var out []Check
	var errs transform.Errors
	for i, c := range cs {
		ch, err := BuildCheck(c)
		if err != nil {
			for _, e := range err.(transform.Errors) {
				p := fmt.Sprintf("[%d]", i)
				if e.Path != "" {
					p += "." + e.Path
				}
				errs = append(errs, &transform.Error{Path: p, Msg: e.Msg})
			}
			continue
		}
		out = append(out, ch)
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return out, nil
}

// settings reads a check's map, remembering problems and used keys.
type settings struct {
	m    map[string]any
	used map[string]bool
	errs transform.Errors
}

func (s *settings) fail(path, format string, args ...any) {
	s.errs = append(s.errs, &transform.Error{Path: path, Msg: fmt.Sprintf(format, args...)})
}

func (s *settings) has(k string) bool {
	s.used[k] = true
	_, ok := s.m[k]
	return ok
}

func (s *settings) number(k string, required bool) (float64, bool) {
	if !s.has(k) {
		if required {
			s.fail(k, "is required")
		}
		return 0, false
	}
	switch x := s.m[k].(type) {
	case int:
		return float64(x), true
	case int64:
		return float64(x), true
	case float64:
		return x, true
	}
	s.fail(k, "must be a number")
	return 0, false
}

func (s *settings) field(k string) string {
	if !s.has(k) {
		s.fail(k, "is required")
		return ""
	}
	f, ok := s.m[k].(string)
	if !ok || f == "" {
		s.fail(k, "must be a field name")
	}
	return f
}

func (s *settings) fields(k string) []string {
	if !s.has(k) {
		s.fail(k, "is required")
		return nil
	}
	switch x := s.m[k].(type) {
	case string:
		if x != "" {
			return []string{x}
		}
	case []string:
		return x
	case []any:
		var out []string
		for i, v := range x {
			f, ok := v.(string)
			if !ok || f == "" {
				s.fail(fmt.Sprintf("%s[%d]", k, i), "must be a field name")
				continue
			}
			out = append(out, f)
		}
		if len(out) > 0 {
			return out
		}
	}
	s.fail(k, "must be a field name or a list of them")
	return nil
}

// unknown reports keys no check kind reads, so a typo ("mx: 3") is not
// silently a check without a limit.
func (s *settings) unknown() {
	if s.used == nil {
		return
	}
	for k := range s.m {
		if !s.used[k] {
			s.fail(k, "unknown setting for check %v", s.m["check"])
		}
	}
}

type checkBase struct {
	kind     string
	severity Severity
}

func (c checkBase) Kind() string       { return c.kind }
func (c checkBase) Severity() Severity { return c.severity }

// Checker runs a stream's checks over the batches of one run. It is safe
// for concurrent use.
type Checker struct {
	mu     sync.Mutex
	checks []Check
	runs   []checkRun
	now    func() time.Time
}

// NewChecker starts a run of checks.
func NewChecker(checks ...Check) *Checker {
	c := &Checker{checks: checks, now: time.Now}
	for _, ch := range checks {
		c.runs = append(c.runs, ch.start())
	}
	return c
}

// Observe feeds a loaded batch to every check.
func (c *Checker) Observe(b *connector.Batch) {
	if b == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, r := range c.runs {
		r.observe(b)
	}
}

// Results judges every check on what was observed so far, in the order
// the checks were given.
func (c *Checker) Results() []CheckResult {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	out := make([]CheckResult, len(c.runs))
	for i, r := range c.runs {
		passed, observed, msg := r.result(now)
		out[i] = CheckResult{Check: c.checks[i].Describe(), Kind: c.checks[i].Kind(), Severity: c.checks[i].Severity(), Passed: passed, Observed: observed, Message: msg}
	}
	return out
}

// column finds field in b, remembering the position per schema.
type column struct {
	name   string
	schema *connector.Schema
	idx    int
}

func (c *column) in(b *connector.Batch) int {
	if b.Schema != c.schema {
		c.schema, c.idx = b.Schema, b.Schema.Index(c.name)
	}
	return c.idx
}

// row_count

type rowCount struct {
	checkBase
	min, max       float64
	hasMin, hasMax bool
}

func buildRowCount(base checkBase, s *settings) Check {
	c := &rowCount{checkBase: base}
	c.min, c.hasMin = s.number("min", false)
	c.max, c.hasMax = s.number("max", false)
	if !s.has("min") && !s.has("max") {
		s.fail("", "row_count needs min, max or both")
	}
	if c.hasMin && c.hasMax && c.min > c.max {
		s.fail("min", "must not be above max")
	}
	return c
}

func (c *rowCount) Describe() string {
	return "row_count" + bounds(c.min, c.hasMin, c.max, c.hasMax)
}

func bounds(lo float64, hasLo bool, hi float64, hasHi bool) string {
	switch {
	case hasLo && hasHi:
		return fmt.Sprintf(" between %v and %v", lo, hi)
	case hasLo:
		return fmt.Sprintf(" >= %v", lo)
	}
	return fmt.Sprintf(" <= %v", hi)
}

type rowCountRun struct {
	c *rowCount
	n int64
}

func (c *rowCount) start() checkRun               { return &rowCountRun{c: c} }
func (r *rowCountRun) observe(b *connector.Batch) { r.n += int64(b.Len()) }
func (r *rowCountRun) result(time.Time) (bool, any, string) {
	n := float64(r.n)
	switch {
	case r.c.hasMin && n < r.c.min:
		return false, r.n, fmt.Sprintf("%d rows, fewer than %v", r.n, r.c.min)
	case r.c.hasMax && n > r.c.max:
		return false, r.n, fmt.Sprintf("%d rows, more than %v", r.n, r.c.max)
	}
	return true, r.n, ""
}

// null_ratio

type nullRatio struct {
	checkBase
	field string
	max   float64
}

func buildNullRatio(base checkBase, s *settings) Check {
	c := &nullRatio{checkBase: base, field: s.field("field")}
	var ok bool
	if c.max, ok = s.number("max", true); ok && (c.max < 0 || c.max > 1) {
		s.fail("max", "must be between 0 and 1")
	}
	return c
}

func (c *nullRatio) Describe() string { return fmt.Sprintf("null_ratio(%s) <= %v", c.field, c.max) }

type nullRatioRun struct {
	c            *nullRatio
	col          column
	rows, nulls  int64
	seen, absent bool
}

func (c *nullRatio) start() checkRun { return &nullRatioRun{c: c, col: column{name: c.field}} }

func (r *nullRatioRun) observe(b *connector.Batch) {
	j := r.col.in(b)
	r.rows += int64(b.Len())
	if j < 0 {
		// A field missing from a batch is null in all its rows.
		r.nulls += int64(b.Len())
		r.absent = true
		return
	}
	r.seen = true
	for _, row := range b.Rows {
		if row[j] == nil {
			r.nulls++
		}
	}
}

func (r *nullRatioRun) result(time.Time) (bool, any, string) {
	if !r.seen && r.rows > 0 {
		return false, nil, fmt.Sprintf("field %q is not in the stream", r.c.field)
	}
	if r.rows == 0 {
		return true, 0.0, "no rows"
	}
	ratio := float64(r.nulls) / float64(r.rows)
	if ratio > r.c.max {
		return false, ratio, fmt.Sprintf("%d of %d values of %s are null (%.2f%%), more than %.2f%%", r.nulls, r.rows, r.c.field, ratio*100, r.c.max*100)
	}
	return true, ratio, ""
}

// unique

type unique struct {
	checkBase
	fields []string
}

func buildUnique(base checkBase, s *settings) Check {
	return &unique{checkBase: base, fields: s.fields("fields")}
}

func (c *unique) Describe() string { return fmt.Sprintf("unique(%s)", strings.Join(c.fields, ", ")) }

// uniqueRun keeps a 64-bit hash per distinct key rather than the key: a
// run of ten million rows costs about 200 MB less, and two different keys
// collide with a probability under 3e-6.
type uniqueRun struct {
	c        *unique
	seed     maphash.Seed
	cols     []column
	seen     map[uint64]struct{}
	dups     int64
	examples []string
	missing  string
}

func (c *unique) start() checkRun {
	r := &uniqueRun{c: c, seed: maphash.MakeSeed(), seen: map[uint64]struct{}{}}
	for _, f := range c.fields {
		r.cols = append(r.cols, column{name: f})
	}
	return r
}

func (r *uniqueRun) observe(b *connector.Batch) {
	idx := make([]int, len(r.cols))
	for i := range r.cols {
		if idx[i] = r.cols[i].in(b); idx[i] < 0 {
			r.missing = r.cols[i].name
			return
		}
	}
rows:
	for _, row := range b.Rows {
		var h uint64
		for _, j := range idx {
			// Null keys are not equal to anything, as in SQL.
			if row[j] == nil {
				continue rows
			}
			hv, ok := hashValue(r.seed, row[j])
			if !ok {
				hv = maphash.String(r.seed, connector.FormatValue(row[j]))
			}
			h = mix64(h*0x9e3779b97f4a7c15 ^ hv)
		}
		if _, dup := r.seen[h]; dup {
			r.dups++
			if len(r.examples) < 3 {
				var vals []string
				for _, j := range idx {
					vals = append(vals, connector.FormatValue(row[j]))
				}
				r.examples = append(r.examples, strings.Join(vals, ", "))
			}
			continue
		}
		r.seen[h] = struct{}{}
	}
}

func (r *uniqueRun) result(time.Time) (bool, any, string) {
	if r.missing != "" {
		return false, nil, fmt.Sprintf("field %q is not in the stream", r.missing)
	}
	if r.dups > 0 {
		return false, r.dups, fmt.Sprintf("%d rows repeat a key, e.g. (%s)", r.dups, strings.Join(r.examples, "), ("))
	}
	return true, int64(0), ""
}

// freshness

type freshness struct {
	checkBase
	field  string
	maxAge time.Duration
	text   string
}

func buildFreshness(base checkBase, s *settings) Check {
	c := &freshness{checkBase: base, field: s.field("field")}
	if !s.has("max_age") {
		s.fail("max_age", "is required")
		return c
	}
	c.text, _ = s.m["max_age"].(string)
	d, err := parseAge(c.text)
	if err != nil || d <= 0 {
		s.fail("max_age", "must be a positive duration such as 30m, 24h or 7d, got %v", s.m["max_age"])
	}
	c.maxAge = d
	return c
}

// parseAge is time.ParseDuration with days ("7d"), the unit freshness
// limits are usually written in.
func parseAge(s string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.ParseFloat(n, 64)
		if err != nil {
			return 0, err
		}
		return time.Duration(days * float64(24*time.Hour)), nil
	}
	return time.ParseDuration(s)
}

func (c *freshness) Describe() string {
	return fmt.Sprintf("freshness(%s) within %s", c.field, c.text)
}

type freshnessRun struct {
	c      *freshness
	col    column
	newest time.Time
	seen   bool
	bad    int64
}

func (c *freshness) start() checkRun { return &freshnessRun{c: c, col: column{name: c.field}} }

func (r *freshnessRun) observe(b *connector.Batch) {
	j := r.col.in(b)
	if j < 0 {
		return
	}
	for _, row := range b.Rows {
		var t time.Time
		switch v := row[j].(type) {
		case nil:
			continue
		case time.Time:
			t = v
		case string:
			// A cursor kept as text still says how fresh the data is.
			var err error
			if t, err = connector.ParseTimestamp(v); err != nil {
				r.bad++
				continue
			}
		default:
			r.bad++
			continue
		}
		if !r.seen || t.After(r.newest) {
			r.newest, r.seen = t, true
		}
	}
}

func (r *freshnessRun) result(now time.Time) (bool, any, string) {
	if !r.seen {
		return false, nil, fmt.Sprintf("no timestamp values in %s", r.c.field)
	}
	age := now.Sub(r.newest)
	obs := r.newest.UTC().Format(time.RFC3339)
	if age > r.c.maxAge {
		return false, obs, fmt.Sprintf("newest %s is %s old, older than %s", r.c.field, age.Round(time.Second), r.c.text)
	}
	return true, obs, ""
}

// expression

// aggregates usable in an expression check, each over one field's
// non-null values (count() counts rows).
var aggregateNames = []string{"avg", "count", "max", "min", "sum"}

type expression struct {
	checkBase
	src  string
	prog *vm.Program
	aggs []aggregate
}

type aggregate struct {
	fn, field string
	name      string // the variable the call became
}

func buildExpression(base checkBase, s *settings) Check {
	c := &expression{checkBase: base}
	if !s.has("expr") {
		s.fail("expr", "is required")
		return c
	}
	c.src, _ = s.m["expr"].(string)
	if strings.TrimSpace(c.src) == "" {
		s.fail("expr", "must be an expression such as `sum(amount) > 0`")
		return c
	}
	p := &aggPatcher{}
	opts := []expr.Option{expr.AsBool(), expr.Patch(p)}
	for _, n := range aggregateNames {
		// Declaring a function of the builtin's name makes the parser read
		// `sum(amount)` as a plain call, which the patcher then replaces;
		// the function itself never runs.
		opts = append(opts, expr.Function(n, func(...any) (any, error) {
			return nil, fmt.Errorf("%s is an aggregate over the stream", n)
		}))
	}
	// Compile once to find the aggregates, then again with their
	// variables declared, so any other name is an error at build time.
	if _, err := expr.Compile(c.src, append(opts, expr.AllowUndefinedVariables())...); err != nil {
		s.fail("expr", "%v", firstLine(err))
		return c
	}
	if p.err != "" {
		s.fail("expr", "%s", p.err)
		return c
	}
	env := map[string]any{}
	for _, a := range p.aggs {
		env[a.name] = 0.0
	}
	p.aggs, p.seen = nil, nil
	prog, err := expr.Compile(c.src, append(opts, expr.Env(env))...)
	if err != nil {
		s.fail("expr", "%v", firstLine(err))
		return c
	}
	c.prog, c.aggs = prog, p.aggs
	return c
}

func firstLine(err error) string {
	s, _, _ := strings.Cut(err.Error(), "\n")
	return s
}

// aggPatcher turns each aggregate call into a variable.
type aggPatcher struct {
	aggs []aggregate
	seen map[string]string
	err  string
}

func (p *aggPatcher) Visit(node *ast.Node) {
	call, ok := (*node).(*ast.CallNode)
	if !ok {
		return
	}
	id, ok := call.Callee.(*ast.IdentifierNode)
	if !ok || !slices.Contains(aggregateNames, id.Value) {
		return
	}
	a := aggregate{fn: id.Value}
	switch {
	case len(call.Arguments) == 0 && a.fn == "count":
	case len(call.Arguments) == 1:
		switch arg := call.Arguments[0].(type) {
		case *ast.IdentifierNode:
			a.field = arg.Value
		case *ast.StringNode: // sum("amount (EUR)") for names that are not identifiers
			a.field = arg.Value
		default:
			p.err = fmt.Sprintf("%s takes a field name", a.fn)
			return
		}
	default:
		p.err = fmt.Sprintf("%s takes one field name", a.fn)
		return
	}
	key := a.fn + "\x00" + a.field
	if p.seen == nil {
		p.seen = map[string]string{}
	}
	if name, ok := p.seen[key]; ok {
		ast.Patch(node, &ast.IdentifierNode{Value: name})
		return
	}
	a.name = fmt.Sprintf("__agg%d", len(p.aggs))
	p.seen[key] = a.name
	p.aggs = append(p.aggs, a)
	ast.Patch(node, &ast.IdentifierNode{Value: a.name})
}

func (c *expression) Describe() string { return c.src }

type expressionRun struct {
	c    *expression
	cols []column
	acc  []accumulator
	rows int64
}

type accumulator struct {
	n        int64
	sum      float64
	min, max float64
	notNum   bool
	missing  bool
}

func (c *expression) start() checkRun {
	r := &expressionRun{c: c, acc: make([]accumulator, len(c.aggs))}
	for _, a := range c.aggs {
		r.cols = append(r.cols, column{name: a.field})
	}
	return r
}

func (r *expressionRun) observe(b *connector.Batch) {
	r.rows += int64(b.Len())
	for i, a := range r.c.aggs {
		if a.field == "" {
			continue
		}
		acc := &r.acc[i]
		j := r.cols[i].in(b)
		if j < 0 {
			acc.missing = true
			continue
		}
		for _, row := range b.Rows {
			if row[j] == nil {
				continue
			}
			if a.fn == "count" {
				acc.n++
				continue
			}
			f, ok := toFloat(row[j])
			if !ok {
				acc.notNum = true
				continue
			}
			if acc.n == 0 || f < acc.min {
				acc.min = f
			}
			if acc.n == 0 || f > acc.max {
				acc.max = f
			}
			acc.sum += f
			acc.n++
		}
	}
}

func toFloat(v any) (float64, bool) {
	switch x := v.(type) {
	case int64:
		return float64(x), true
	case float64:
		return x, !math.IsNaN(x)
	case connector.Decimal:
		return x.Float64(), true
	case bool:
		if x {
			return 1, true
		}
		return 0, true
	}
	return 0, false
}

func (r *expressionRun) result(time.Time) (bool, any, string) {
	env := map[string]any{}
	observed := map[string]any{}
	for i, a := range r.c.aggs {
		acc := r.acc[i]
		call := a.fn + "(" + a.field + ")"
		var v float64
		switch {
		case a.field == "":
			v = float64(r.rows)
		case acc.missing && acc.n == 0:
			return false, observed, fmt.Sprintf("field %q is not in the stream", a.field)
		case acc.notNum:
			return false, observed, fmt.Sprintf("%s: field %q holds values that are not numbers", call, a.field)
		case a.fn == "count" || a.fn == "sum":
			v = float64(acc.n)
			if a.fn == "sum" {
				v = acc.sum
			}
		case acc.n == 0:
			return false, observed, fmt.Sprintf("%s: no values", call)
		case a.fn == "avg":
			v = acc.sum / float64(acc.n)
		case a.fn == "min":
			v = acc.min
		case a.fn == "max":
			v = acc.max
		}
		env[a.name] = v
		observed[call] = v
	}
	out, err := expr.Run(r.c.prog, env)
	if err != nil {
		return false, observed, firstLine(err)
	}
	if ok, _ := out.(bool); !ok {
		return false, observed, fmt.Sprintf("%s is false with %s", r.c.src, describeObserved(observed))
	}
	return true, observed, ""
}

func describeObserved(m map[string]any) string {
	keys := slices.Sorted(func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	})
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s = %v", k, m[k])
	}
	return strings.Join(parts, ", ")
}

// accepted_values

type acceptedValues struct {
	checkBase
	field  string
	values map[string]bool
	list   []string
}

func buildAcceptedValues(base checkBase, s *settings) Check {
	c := &acceptedValues{checkBase: base, field: s.field("field"), values: map[string]bool{}}
	if !s.has("values") {
		s.fail("values", "is required")
		return c
	}
	vs, ok := s.m["values"].([]any)
	if !ok || len(vs) == 0 {
		s.fail("values", "must be a non-empty list")
		return c
	}
	for _, v := range vs {
		// Values are compared in their text form, so `values: [1, 2]`
		// matches an int64 column and a string column alike.
		t := connector.FormatValue(v)
		if f, ok := v.(float64); ok {
			t = strconv.FormatFloat(f, 'f', -1, 64)
		}
		c.values[t] = true
		c.list = append(c.list, t)
	}
	return c
}

func (c *acceptedValues) Describe() string {
	return fmt.Sprintf("accepted_values(%s) in [%s]", c.field, strings.Join(c.list, ", "))
}

type acceptedRun struct {
	c        *acceptedValues
	col      column
	bad      int64
	examples []string
	seen     bool
	rows     int64
}

func (c *acceptedValues) start() checkRun {
	return &acceptedRun{c: c, col: column{name: c.field}}
}

func (r *acceptedRun) observe(b *connector.Batch) {
	r.rows += int64(b.Len())
	j := r.col.in(b)
	if j < 0 {
		return
	}
	r.seen = true
	for _, row := range b.Rows {
		v := row[j]
		if v == nil {
			continue
		}
		s, ok := v.(string)
		if !ok {
			s = connector.FormatValue(v)
		}
		if !r.c.values[s] {
			r.bad++
			if len(r.examples) < 5 && !slices.Contains(r.examples, strconv.Quote(s)) {
				r.examples = append(r.examples, strconv.Quote(s))
			}
		}
	}
}

func (r *acceptedRun) result(time.Time) (bool, any, string) {
	if !r.seen && r.rows > 0 {
		return false, nil, fmt.Sprintf("field %q is not in the stream", r.c.field)
	}
	if r.bad > 0 {
		return false, r.bad, fmt.Sprintf("%d values of %s are not accepted, e.g. %s", r.bad, r.c.field, strings.Join(r.examples, ", "))
	}
	return true, int64(0), ""
}
