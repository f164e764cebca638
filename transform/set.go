package transform

import (
	"context"
	"fmt"
	"slices"

	"github.com/tributary-data/tributary/connector"
)

var (
	_ Step     = (*set)(nil)
	_ Lineager = (*set)(nil)
)

func init() { Register("set", newSet) }

// set computes fields from expressions: new ones are appended, existing
// ones replaced. Fields are computed in the order of their names, each
// seeing the row as it was before the step, so the result never depends on
// map order.
type set struct {
	fields  []string
	exprs   []exprSource
	types   []connector.Type // "" to infer from the expression
	lookups map[string]any
	cache   schemaCache[*setPlan]
}

type setPlan struct {
	out   *connector.Schema
	progs []*program
	cols  []int // output position of each computed field
	types []connector.Type
	grow  int // fields appended to each row
}

func newSet(args any) (Step, error) {
	m, ok := args.(map[string]any)
	if !ok || len(m) == 0 {
		return nil, errorf("", "expected a map of field: expression")
	}
	s := &set{}
	var errs Errors
	if l, ok := m["lookups"].(map[string]any); ok && l["expr"] == nil {
		s.lookups = map[string]any{}
		for name, t := range l {
			tbl, ok := t.(map[string]any)
			if !ok {
				errs = append(errs, errorf("lookups."+name, "expected a map of key: value"))
				continue
			}
			s.lookups[name] = tbl
		}
	}
	names := make([]string, 0, len(m))
	for k := range m {
		if k == "lookups" && s.lookups != nil {
			continue
		}
		names = append(names, k)
	}
	slices.Sort(names)
	for _, field := range names {
		src, typ, err := exprSetting(m[field], field)
		if err != nil {
			errs = append(errs, err.(*Error))
			continue
		}
		e, err := parseExpr(src)
		if err != nil {
			errs = append(errs, errorf(field, "%v", err))
			continue
		}
		s.fields = append(s.fields, field)
		s.exprs = append(s.exprs, e)
		s.types = append(s.types, typ)
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return s, nil
}

// exprSetting reads `expression` or `{expr: expression, type: decimal}`.
func exprSetting(v any, path string) (string, connector.Type, error) {
	switch x := v.(type) {
	case string:
		return x, "", nil
	case map[string]any:
		var typ connector.Type
		src, ok := x["expr"].(string)
		if !ok {
			return "", "", errorf(path+".expr", "expected an expression")
		}
		for k, o := range x {
			switch k {
			case "expr":
			case "type":
				name, _ := o.(string)
				t, err := connector.ParseType(name)
				if err != nil {
					return "", "", errorf(path+".type", "unknown type %q (known: %v)", name, connector.Types)
				}
				typ = t
			default:
				return "", "", errorf(path+"."+k, "unknown setting (known: expr, type)")
			}
		}
		return src, typ, nil
	}
	return "", "", errorf(path, "expected an expression or {expr: ..., type: ...}")
}

func (s *set) Name() string { return "set" }

func (s *set) plan(in *connector.Schema) (*setPlan, error) {
	p := &setPlan{out: in.Clone()}
	for i, field := range s.fields {
		prog, err := s.exprs[i].compile(in, s.lookups)
		if err != nil {
			return nil, fmt.Errorf("field %q: %w", field, err)
		}
		typ := s.types[i]
		if typ == "" {
			typ = resultType(prog.prog)
		}
		col := p.out.Index(field)
		if col < 0 {
			col = len(p.out.Fields)
			p.out.Fields = append(p.out.Fields, connector.Field{Name: field, Type: typ, Nullable: true})
			p.grow++
		} else {
			p.out.Fields[col].Type = typ
			p.out.Fields[col].Nullable = true
		}
		p.progs = append(p.progs, prog)
		p.cols = append(p.cols, col)
		p.types = append(p.types, typ)
	}
	return p, nil
}

func (s *set) Apply(_ context.Context, b *connector.Batch) (*connector.Batch, Result, error) {
	p, err := s.cache.get(b.Schema, s.plan)
	if err != nil {
		return nil, Result{}, err
	}
	var res Result
	vals := make([]any, len(p.progs))
	// New fields widen every row: one slab per batch instead of one
	// allocation per row.
	var slab []any
	w := len(p.out.Fields)
	if p.grow > 0 {
		slab = make([]any, len(b.Rows)*w)
	}
	kept := 0
	for r, row := range b.Rows {
		bad := ""
		for i, prog := range p.progs {
			v, err := prog.run(row)
			if err == nil {
				v, err = fromExpr(v, p.types[i])
			}
			if err != nil {
				bad = fmt.Sprintf("set: field %q: %v", s.fields[i], err)
				break
			}
			vals[i] = v
		}
		if bad != "" {
			res.Rejects = append(res.Rejects, reject(b, r, bad))
			continue
		}
		if p.grow > 0 {
			wide := slab[:w:w]
			slab = slab[w:]
			copy(wide, row)
			row = wide
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

// keepRow moves row r to position k while a step compacts a batch in place.
func keepRow(b *connector.Batch, k, r int, row []any) {
	b.Rows[k] = row
	if r < len(b.Origins) && k < len(b.Origins) {
		b.Origins[k] = b.Origins[r]
	}
}

// truncate ends a batch compacted by keepRow after n rows.
func truncate(b *connector.Batch, n int) {
	clear(b.Rows[n:])
	b.Rows = b.Rows[:n]
	if len(b.Origins) > n {
		b.Origins = b.Origins[:n]
	}
}

// Lineage of set: each computed field comes from the fields its
// expression reads.
func (s *set) Lineage(in []string) ([]string, map[string][]string) {
	out := slices.Clone(in)
	from := map[string][]string{}
	for i, f := range s.fields {
		if !slices.Contains(out, f) {
			out = append(out, f)
		}
		src := []string{}
		for _, v := range in {
			if s.exprs[i].allFields || slices.Contains(s.exprs[i].vars, v) {
				src = append(src, v)
			}
		}
		from[f] = src
	}
	return out, from
}
