package transform

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/builtin"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/parser"
	"github.com/expr-lang/expr/vm"
	"golang.org/x/text/cases"
	"golang.org/x/text/language"

	"github.com/tributary-data/tributary/connector"
)

// Expressions are checked twice: once when the step is built, without
// knowing the schema, so a typo fails `tributary validate` with its
// position; and once per input schema with every field typed, which is the
// program that runs. Rows reach the program through one map reused for
// every row, holding only the fields the expression names.

// exprSource is an expression as written in a step's settings.
type exprSource struct {
	src  string
	vars []string // identifiers the expression reads; nil with allFields
	// allFields is set when the expression reads $env, so any field may be
	// read by name.
	allFields bool
}

var timeType = reflect.TypeFor[time.Time]()

// exprOptions are the helpers expressions get on top of expr's builtins.
func exprOptions() []expr.Option {
	return []expr.Option{
		expr.Timezone("UTC"),
		expr.Function("coalesce", fnCoalesce),
		expr.Function("lookup", fnLookup),
		expr.Function("title", func(p ...any) (any, error) {
			s, ok := p[0].(string)
			if !ok {
				return nil, fmt.Errorf("title: expected a string, got %s", typeName(p[0]))
			}
			return cases.Title(language.Und).String(s), nil
		}, new(func(string) string)),
		expr.Function("substr", fnSubstr, new(func(string, int) string), new(func(string, int, int) string)),
		expr.Function("format", func(p ...any) (any, error) {
			t, err := timeArg("format", p[0])
			if err != nil {
				return nil, err
			}
			l, ok := p[1].(string)
			if !ok {
				return nil, fmt.Errorf("format: layout must be a string")
			}
			return t.Format(l), nil
		}, new(func(time.Time, string) string)),
		expr.Function("parseTime", fnParseTime, new(func(string) time.Time), new(func(string, string) time.Time)),
		datePart("year", func(t time.Time) int { return t.Year() }),
		datePart("month", func(t time.Time) int { return int(t.Month()) }),
		datePart("day", func(t time.Time) int { return t.Day() }),
		datePart("hour", func(t time.Time) int { return t.Hour() }),
		datePart("minute", func(t time.Time) int { return t.Minute() }),
		datePart("second", func(t time.Time) int { return t.Second() }),
		datePart("weekday", func(t time.Time) int { return int(t.Weekday()) }),
		datePart("yearday", func(t time.Time) int { return t.YearDay() }),
		expr.Function("daysBetween", func(p ...any) (any, error) {
			a, err := timeArg("daysBetween", p[0])
			if err != nil {
				return nil, err
			}
			b, err := timeArg("daysBetween", p[1])
			if err != nil {
				return nil, err
			}
			return int(math.Floor(b.Sub(a).Hours() / 24)), nil
		}, new(func(time.Time, time.Time) int)),
		// Decimals reach expressions as floats, so 19.99 * 100 is
		// 1998.9999999999998; truncating that to 1998 would lose a cent.
		expr.DisableBuiltin("int"),
		expr.Function("int", fnInt, new(func(any) int)),
	}
}

func datePart(name string, f func(time.Time) int) expr.Option {
	return expr.Function(name, func(p ...any) (any, error) {
		t, err := timeArg(name, p[0])
		if err != nil {
			return nil, err
		}
		return f(t), nil
	}, new(func(time.Time) int))
}

func timeArg(fn string, v any) (time.Time, error) {
	t, ok := v.(time.Time)
	if !ok {
		return time.Time{}, fmt.Errorf("%s: expected a timestamp, got %s", fn, typeName(v))
	}
	return t.UTC(), nil
}

func typeName(v any) string {
	if v == nil {
		return "null"
	}
	return fmt.Sprintf("%T", v)
}

// fnCoalesce returns its first argument that is not null.
func fnCoalesce(p ...any) (any, error) {
	for _, v := range p {
		if v != nil {
			return v, nil
		}
	}
	return nil, nil
}

// fnLookup finds key in a map (an inline lookups table or a JSON object),
// returning the default when it is absent.
func fnLookup(p ...any) (any, error) {
	if len(p) < 2 || len(p) > 3 {
		return nil, fmt.Errorf("lookup: expected (map, key) or (map, key, default), got %d arguments", len(p))
	}
	var def any
	if len(p) == 3 {
		def = p[2]
	}
	m, ok := p[0].(map[string]any)
	if !ok {
		return nil, fmt.Errorf("lookup: first argument must be a map, got %s", typeName(p[0]))
	}
	if p[1] == nil {
		return def, nil
	}
	key, ok := p[1].(string)
	if !ok {
		key = connector.FormatValue(p[1])
	}
	if v, ok := m[key]; ok {
		return v, nil
	}
	return def, nil
}

func fnSubstr(p ...any) (any, error) {
	s, ok := p[0].(string)
	if !ok {
		return nil, fmt.Errorf("substr: expected a string, got %s", typeName(p[0]))
	}
	r := []rune(s)
	start, _ := p[1].(int)
	if start < 0 {
		start += len(r)
	}
	start = min(max(start, 0), len(r))
	end := len(r)
	if len(p) == 3 {
		n, _ := p[2].(int)
		end = min(start+max(n, 0), len(r))
	}
	return string(r[start:end]), nil
}

func fnParseTime(p ...any) (any, error) {
	s, ok := p[0].(string)
	if !ok {
		return nil, fmt.Errorf("parseTime: expected a string, got %s", typeName(p[0]))
	}
	if len(p) == 2 {
		l, _ := p[1].(string)
		t, err := time.ParseInLocation(l, strings.TrimSpace(s), time.UTC)
		if err != nil {
			return nil, fmt.Errorf("parseTime: %q does not match layout %q", s, l)
		}
		return t.UTC(), nil
	}
	return connector.ParseTimestamp(s)
}

func fnInt(p ...any) (any, error) {
	switch x := p[0].(type) {
	case int:
		return x, nil
	case int64:
		return int(x), nil
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) || math.Abs(x) > 1<<62 {
			return nil, fmt.Errorf("int: %v is out of range", x)
		}
		if r := math.Round(x); math.Abs(x-r) <= 1e-9*math.Max(1, math.Abs(x)) {
			return int(r), nil
		}
		return int(x), nil
	case string:
		v, err := connector.ParseValue(connector.TypeInt64, x)
		if err != nil {
			return nil, fmt.Errorf("int: %w", err)
		}
		return int(v.(int64)), nil
	case bool:
		if x {
			return 1, nil
		}
		return 0, nil
	}
	return nil, fmt.Errorf("int: cannot convert %s", typeName(p[0]))
}

// parseExpr checks src without a schema: syntax, unknown functions and
// the arity of known ones. The error carries the line and column.
func parseExpr(src string) (exprSource, error) {
	e := exprSource{src: src}
	if strings.TrimSpace(src) == "" {
		return e, errors.New("expression is empty")
	}
	// Only the syntax is checked here: without the schema a field named
	// like a builtin (count, date) would look like a misuse of it.
	tree, err := parser.Parse(src)
	if err != nil {
		return e, exprError(err)
	}
	v := identifiers(tree.Node)
	e.vars, e.allFields = v.names, v.all
	if len(v.calls) > 0 {
		known := map[string]bool{}
		for _, f := range builtin.Builtins {
			known[f.Name] = true
		}
		for _, f := range exprFunctionNames {
			known[f] = true
		}
		for _, c := range v.calls {
			name := c.Callee.(*ast.IdentifierNode).Value
			if !known[name] {
				line, col := position(src, c.Location().From)
				return e, fmt.Errorf("invalid expression at %d:%d: unknown function %s", line, col, name)
			}
		}
	}
	return e, nil
}

// exprError flattens expr's multi-line error into one line that keeps the
// position, since it is printed after a settings path.
func exprError(err error) error {
	var fe *file.Error
	if errors.As(err, &fe) {
		return fmt.Errorf("invalid expression at %d:%d: %s", fe.Line, fe.Column+1, fe.Message)
	}
	return fmt.Errorf("invalid expression: %w", err)
}

// exprFunctionNames are the functions exprOptions adds, for telling a
// misspelt function from a field at build time.
var exprFunctionNames = []string{"coalesce", "lookup", "title", "substr", "format", "parseTime",
	"year", "month", "day", "hour", "minute", "second", "weekday", "yearday", "daysBetween", "int"}

// position turns a rune offset into a 1-based line and column.
func position(src string, from int) (line, col int) {
	line, col = 1, 1
	for i, r := range []rune(src) {
		if i == from {
			break
		}
		if r == '\n' {
			line, col = line+1, 1
			continue
		}
		col++
	}
	return line, col
}

type identVisitor struct {
	names []string
	all   bool
	calls []*ast.CallNode
	// callees are identifiers naming a function, never fields.
	callees map[*ast.IdentifierNode]bool
	idents  []*ast.IdentifierNode
	// locals are names bound by closures or let, never fields.
	locals map[string]bool
}

func (v *identVisitor) Visit(n *ast.Node) {
	switch x := (*n).(type) {
	case *ast.CallNode:
		if id, ok := x.Callee.(*ast.IdentifierNode); ok {
			v.callees[id] = true
			v.calls = append(v.calls, x)
		}
	case *ast.IdentifierNode:
		if x.Value == "$env" {
			v.all = true
			return
		}
		v.idents = append(v.idents, x)
	case *ast.VariableDeclaratorNode:
		v.locals[x.Name] = true
	}
}

func identifiers(n ast.Node) *identVisitor {
	v := &identVisitor{locals: map[string]bool{}, callees: map[*ast.IdentifierNode]bool{}}
	ast.Walk(&n, v)
	// The walk visits children first, so callees are known only now.
	for _, id := range v.idents {
		if !v.callees[id] && !slices.Contains(v.names, id.Value) {
			v.names = append(v.names, id.Value)
		}
	}
	v.names = slices.DeleteFunc(v.names, func(s string) bool { return v.locals[s] })
	return v
}

// exprValue is how a row value looks to an expression: decimals as
// floats and int64 as int, so `amount * 100` and builtins just work.
func exprValue(v any) any {
	switch x := v.(type) {
	case connector.Decimal:
		return x.Float64()
	case int64:
		return int(x)
	}
	return v
}

// exprSample is a value of the type a field of type t has in an
// expression, for type checking.
func exprSample(t connector.Type) any {
	switch t {
	case connector.TypeBool:
		return false
	case connector.TypeInt64:
		return 0
	case connector.TypeFloat64, connector.TypeDecimal:
		return 0.0
	case connector.TypeString:
		return ""
	case connector.TypeBytes:
		return []byte(nil)
	case connector.TypeDate, connector.TypeTimestamp:
		return time.Time{}
	}
	return nil
}

// program is an expression compiled for one input schema.
type program struct {
	src   string
	prog  *vm.Program
	cols  []int
	names []string
	env   map[string]any
	vm    vm.VM
	// decimal is set when the expression reads a decimal field: its float
	// results are rounded to 15 significant digits, so 19.99 * 100 is 1999
	// rather than 1998.9999999999998.
	decimal bool
}

// compile types the expression against schema in. extra holds names that
// are not fields (lookup tables), visible to the expression as they are.
func (e exprSource) compile(in *connector.Schema, extra map[string]any, opts ...expr.Option) (*program, error) {
	env := make(map[string]any, len(in.Fields)+len(extra))
	for k, v := range extra {
		env[k] = v
	}
	p := &program{src: e.src, env: env}
	for i, f := range in.Fields {
		if _, ok := extra[f.Name]; ok {
			continue
		}
		if f.Type == connector.TypeJSON {
			// Left out of the typed environment so the checker treats it
			// as any value; see AllowUndefinedVariables below.
			if e.allFields || slices.Contains(e.vars, f.Name) {
				env[f.Name] = nil
			}
		} else {
			env[f.Name] = exprSample(f.Type)
		}
		if f.Type == connector.TypeDecimal && (e.allFields || slices.Contains(e.vars, f.Name)) {
			p.decimal = true
		}
		if e.allFields || slices.Contains(e.vars, f.Name) {
			p.cols = append(p.cols, i)
			p.names = append(p.names, f.Name)
		}
	}
	if !e.allFields {
		for _, v := range e.vars {
			if _, ok := env[v]; !ok {
				return nil, fmt.Errorf("expression %q: unknown field %q (fields: %v)", e.src, v, in.Names())
			}
		}
	}
	// A json field has no static type: hide it from the checker, which
	// then types it as any. Unknown names were refused above.
	typed := make(map[string]any, len(env))
	for k, v := range env {
		if v != nil || extra[k] != nil {
			typed[k] = v
		}
	}
	opts = append(append(exprOptions(), expr.Env(typed), expr.AllowUndefinedVariables()), opts...)
	prog, err := expr.Compile(e.src, opts...)
	if err != nil {
		return nil, fmt.Errorf("expression %q: %w", e.src, exprError(err))
	}
	p.prog = prog
	return p, nil
}

// run evaluates the program on one row. A panic in a helper or in expr
// becomes an error: one bad value must not take the run down.
func (p *program) run(row []any) (out any, err error) {
	defer func() {
		if r := recover(); r != nil {
			out, err = nil, fmt.Errorf("%v", r)
		}
	}()
	for i, c := range p.cols {
		p.env[p.names[i]] = exprValue(row[c])
	}
	out, err = p.vm.Run(p.prog, p.env)
	if err != nil {
		return nil, runError(err)
	}
	if f, ok := out.(float64); ok && p.decimal {
		out = round15(f)
	}
	return out, nil
}

func round15(f float64) float64 {
	if math.IsInf(f, 0) || math.IsNaN(f) || f == 0 {
		return f
	}
	r, err := strconv.ParseFloat(strconv.FormatFloat(f, 'g', 15, 64), 64)
	if err != nil {
		return f
	}
	return r
}

// runError keeps the message of a run-time error, without the snippet
// that would make a quarantine reason span lines.
func runError(err error) error {
	msg := err.Error()
	var fe *file.Error
	if errors.As(err, &fe) {
		msg = fe.Message
	}
	if strings.Contains(msg, "interface {} is nil") || strings.Contains(msg, "invalid operation: <nil>") {
		msg += " (a field it reads is null)"
	}
	return errors.New(msg)
}

// resultType maps the static type of a compiled expression to a field type.
func resultType(p *vm.Program) connector.Type {
	t := p.Node().Type()
	if t == nil {
		return connector.TypeJSON
	}
	switch {
	case t == timeType:
		return connector.TypeTimestamp
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Uint64:
		return connector.TypeInt64
	case t.Kind() == reflect.Float32 || t.Kind() == reflect.Float64:
		return connector.TypeFloat64
	case t.Kind() == reflect.String:
		return connector.TypeString
	case t.Kind() == reflect.Bool:
		return connector.TypeBool
	}
	return connector.TypeJSON
}

// fromExpr converts an expression result to a row value of type t.
func fromExpr(v any, t connector.Type) (any, error) {
	if v == nil {
		return nil, nil
	}
	switch t {
	case connector.TypeJSON:
		switch x := v.(type) {
		case string, bool, float64, map[string]any, []any:
			return v, nil
		case int:
			return float64(x), nil
		}
		// Keep json values in the shapes encoding/json produces.
		b, err := json.Marshal(v)
		if err != nil {
			return nil, err
		}
		var out any
		err = json.Unmarshal(b, &out)
		return out, err
	case connector.TypeString:
		if s, ok := v.(string); ok {
			return s, nil
		}
	case connector.TypeInt64:
		if i, ok := v.(int); ok {
			return int64(i), nil
		}
	case connector.TypeFloat64:
		if f, ok := v.(float64); ok {
			return f, nil
		}
	}
	return connector.Convert(t, v)
}
