package transform

import (
	"context"
	_ "embed"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/nyaruka/phonenumbers"
	"golang.org/x/text/cases"
	"golang.org/x/text/language"
	"golang.org/x/text/unicode/norm"

	"github.com/tributary-data/tributary/connector"
)

var (
	_ Step     = (*normalize)(nil)
	_ Lineager = (*normalize)(nil)
)

func init() { Register("normalize", newNormalize) }

// normalize cleans fields with a list of operations each, applied in
// order. A value an operation cannot make sense of (a date in none of the
// layouts, an unknown country) quarantines the row: guessing would put
// wrong data in the destination without anyone noticing.
type normalize struct {
	fields []string
	ops    [][]normOp
	cache  schemaCache[*normPlan]
}

// normOp is one operation. Text operations work on strings without
// boxing each intermediate value; the others convert to another type.
type normOp struct {
	name string
	text func(string) string
	conv func(any) (any, error)
	out  connector.Type // type after a conv operation
}

type normPlan struct {
	out  *connector.Schema
	cols []int
}

var normOpNames = []string{"trim", "collapse", "lower", "upper", "title", "nfc", "email", "country_code", "bool", "timestamp", "date", "phone"}

func newNormalize(args any) (Step, error) {
	m, ok := args.(map[string]any)
	if !ok || len(m) == 0 {
		return nil, errorf("", "expected a map of field: [operations]")
	}
	n := &normalize{}
	var errs Errors
	fields := make([]string, 0, len(m))
	for f := range m {
		fields = append(fields, f)
	}
	sort.Strings(fields)
	var countries map[string]string
	for _, field := range fields {
		list, ok := m[field].([]any)
		if !ok {
			if s, isStr := m[field].(string); isStr {
				list = []any{s}
			} else {
				errs = append(errs, errorf(field, "expected a list of operations (%s)", strings.Join(normOpNames, ", ")))
				continue
			}
		}
		var ops []normOp
		for i, o := range list {
			path := fmt.Sprintf("%s[%d]", field, i)
			op, err := normOperation(o, path, &countries)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			ops = append(ops, op)
		}
		n.fields = append(n.fields, field)
		n.ops = append(n.ops, ops)
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return n, nil
}

func normOperation(o any, path string, countries *map[string]string) (normOp, *Error) {
	name, isName := o.(string)
	var arg any
	if m, ok := o.(map[string]any); ok && len(m) == 1 {
		for k, v := range m {
			name, arg = k, v
			path += "." + k
		}
	} else if !isName {
		return normOp{}, errorf(path, "expected an operation name or a one-key map such as {timestamp: [layouts]}")
	}
	switch name {
	case "trim":
		return normOp{name: name, text: strings.TrimSpace}, nil
	case "collapse":
		return normOp{name: name, text: collapseSpace}, nil
	case "lower":
		return normOp{name: name, text: strings.ToLower}, nil
	case "upper":
		return normOp{name: name, text: strings.ToUpper}, nil
	case "title":
		c := cases.Title(language.Und)
		return normOp{name: name, text: func(s string) string { return c.String(s) }}, nil
	case "nfc":
		return normOp{name: name, text: norm.NFC.String}, nil
	case "email":
		return normOp{name: name, text: func(s string) string { return strings.ToLower(strings.TrimSpace(s)) }}, nil
	case "country_code":
		if *countries == nil {
			*countries = countryTable()
		}
		return normOp{name: name, conv: countryCode(*countries), out: connector.TypeString}, nil
	case "bool":
		return normOp{name: name, conv: normBool, out: connector.TypeBool}, nil
	case "timestamp", "date":
		layouts, err := stringList(arg, path)
		if err != nil || len(layouts) == 0 {
			return normOp{}, errorf(path, "expected a list of Go time layouts such as [\"2006-01-02 15:04:05\", \"02/01/2006\"]")
		}
		typ := connector.TypeTimestamp
		if name == "date" {
			typ = connector.TypeDate
		}
		return normOp{name: name, conv: parseLayouts(layouts, typ), out: typ}, nil
	case "phone":
		region := ""
		switch a := arg.(type) {
		case nil:
		case map[string]any:
			for k, v := range a {
				if k != "region" {
					return normOp{}, errorf(path+"."+k, "unknown setting (known: region)")
				}
				region, _ = v.(string)
				region = strings.ToUpper(region)
				if !phonenumbers.GetSupportedRegions()[region] {
					return normOp{}, errorf(path+".region", "unknown region %q (expected an ISO 3166 alpha-2 code such as US)", v)
				}
			}
		default:
			return normOp{}, errorf(path, "expected {region: US}")
		}
		return normOp{name: name, conv: phoneE164(region), out: connector.TypeString}, nil
	}
	return normOp{}, errorf(path, "unknown operation %q (known: %s)", name, strings.Join(normOpNames, ", "))
}

// collapseSpace turns every run of white space into one space and trims
// the ends, copying only when something changes.
func collapseSpace(s string) string {
	clean := true
	prevSpace := true
	for _, r := range s {
		sp := unicode.IsSpace(r)
		if sp && (prevSpace || r != ' ') {
			clean = false
			break
		}
		prevSpace = sp
	}
	if clean && !prevSpace {
		return s
	}
	return strings.Join(strings.Fields(s), " ")
}

func normBool(v any) (any, error) {
	switch x := v.(type) {
	case bool:
		return x, nil
	case int64:
		if x == 0 || x == 1 {
			return x == 1, nil
		}
	case string:
		b, err := connector.ParseBool(x)
		if err == nil {
			return b, nil
		}
	}
	return nil, fmt.Errorf("%s is not a boolean (expected yes/no, y/n, true/false, 1/0)", quoteValue(v))
}

func parseLayouts(layouts []string, typ connector.Type) func(any) (any, error) {
	return func(v any) (any, error) {
		switch x := v.(type) {
		case time.Time:
			return connector.Convert(typ, x)
		case string:
			s := strings.TrimSpace(x)
			for _, l := range layouts {
				if t, err := time.ParseInLocation(l, s, time.UTC); err == nil {
					return connector.Convert(typ, t)
				}
			}
		}
		return nil, fmt.Errorf("%s matches none of the layouts %q", quoteValue(v), layouts)
	}
}

func phoneE164(region string) func(any) (any, error) {
	return func(v any) (any, error) {
		s, ok := v.(string)
		if !ok {
			s = connector.FormatValue(v)
		}
		num, err := phonenumbers.Parse(s, region)
		if err != nil || !phonenumbers.IsPossibleNumber(num) {
			return nil, fmt.Errorf("%s is not a phone number", quoteValue(v))
		}
		return phonenumbers.Format(num, phonenumbers.E164), nil
	}
}

//go:embed countries.tsv
var countriesTSV string

// countryTable maps every spelling in countries.tsv (alpha-2, alpha-3,
// names and common aliases), folded by countryKey, to its alpha-2 code.
func countryTable() map[string]string {
	t := make(map[string]string, 1024)
	for line := range strings.SplitSeq(countriesTSV, "\n") {
		cols := strings.Split(line, "\t")
		if len(cols) < 3 {
			continue
		}
		for _, c := range cols {
			t[countryKey(c)] = cols[0]
		}
	}
	return t
}

// countryKey folds case, dots and spacing so "u.s.a.", "USA" and
// " usa " meet.
func countryKey(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	s = strings.ReplaceAll(s, ".", "")
	return collapseSpace(s)
}

func countryCode(table map[string]string) func(any) (any, error) {
	return func(v any) (any, error) {
		s, ok := v.(string)
		if ok {
			if len(s) == 2 && s[0] >= 'A' && s[0] <= 'Z' && s[1] >= 'A' && s[1] <= 'Z' {
				if c, ok := table[strings.ToLower(s)]; ok && c == s {
					return s, nil
				}
			}
			if c, ok := table[countryKey(s)]; ok {
				return c, nil
			}
		}
		return nil, fmt.Errorf("%s is not a known country name or ISO 3166 code", quoteValue(v))
	}
}

// quoteValue shows a value in a reason, quoted when it is text.
func quoteValue(v any) string {
	if s, ok := v.(string); ok {
		if len(s) > 200 {
			s = s[:200] + "…"
		}
		return fmt.Sprintf("%q", s)
	}
	return connector.FormatValue(v)
}

func (n *normalize) Name() string { return "normalize" }

func (n *normalize) plan(in *connector.Schema) (*normPlan, error) {
	p := &normPlan{out: in.Clone()}
	for i, field := range n.fields {
		c := in.Index(field)
		if c < 0 {
			return nil, fmt.Errorf("field %q is not in the stream (fields: %v)", field, in.Names())
		}
		typ := in.Fields[c].Type
		for _, op := range n.ops[i] {
			if op.text != nil {
				typ = connector.TypeString
			} else {
				typ = op.out
			}
		}
		p.out.Fields[c].Type = typ
		p.cols = append(p.cols, c)
	}
	return p, nil
}

func (n *normalize) Apply(_ context.Context, b *connector.Batch) (*connector.Batch, Result, error) {
	p, err := n.cache.get(b.Schema, n.plan)
	if err != nil {
		return nil, Result{}, err
	}
	var res Result
	// New values wait here until the whole row succeeded, so a rejected
	// row is quarantined as it came in.
	vals := make([]any, len(p.cols))
	kept := 0
	for r, row := range b.Rows {
		bad := ""
		for i, c := range p.cols {
			v, err := n.apply(n.ops[i], row[c])
			if err != nil {
				bad = fmt.Sprintf("normalize: field %q: %v", n.fields[i], err)
				break
			}
			vals[i] = v
		}
		if bad != "" {
			res.Rejects = append(res.Rejects, reject(b, r, bad))
			continue
		}
		for i, c := range p.cols {
			row[c] = vals[i]
		}
		keepRow(b, kept, r, row)
		kept++
	}
	truncate(b, kept)
	b.Schema = p.out
	return b, res, nil
}

// apply runs ops over one value. Runs of text operations work on the
// string itself and box it again only if it changed.
func (n *normalize) apply(ops []normOp, v any) (any, error) {
	for i := 0; i < len(ops) && v != nil; {
		if ops[i].conv != nil {
			if s, ok := v.(string); ok && strings.TrimSpace(s) == "" {
				// A blank is no value, not a bad date or country.
				return nil, nil
			}
			out, err := ops[i].conv(v)
			if err != nil {
				return nil, err
			}
			v = out
			i++
			continue
		}
		s, ok := v.(string)
		if !ok {
			s = connector.FormatValue(v)
		} else if !utf8.ValidString(s) {
			return nil, fmt.Errorf("%s is not valid UTF-8", quoteValue(s))
		}
		orig := s
		for ; i < len(ops) && ops[i].text != nil; i++ {
			s = ops[i].text(s)
		}
		if !ok || s != orig {
			v = s
		}
	}
	return v, nil
}

// Lineage of normalize: each normalized field comes from itself.
func (n *normalize) Lineage(in []string) ([]string, map[string][]string) {
	from := map[string][]string{}
	for _, f := range n.fields {
		if slices.Contains(in, f) {
			from[f] = []string{f}
		}
	}
	return in, from
}
