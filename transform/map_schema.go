package transform

import (
	"context"
	"fmt"
	"slices"
	"sort"

	"github.com/tributary-data/tributary/connector"
)

var (
	_ Step     = (*mapSchema)(nil)
	_ Lineager = (*mapSchema)(nil)
)

func init() { Register("map_schema", newMapSchema) }

// mapSchema maps differently named source fields onto one target schema:
// each target takes the first of its candidate fields that the stream has
// and that is not null in the row, else its default. It is what the
// visual schema mapper stores, so files from several systems land in one
// table.
type mapSchema struct {
	targets      []mapTarget
	dropUnmapped bool
	cache        schemaCache[*mapPlan]
}

type mapTarget struct {
	name    string
	sources []string
	def     any
	typ     connector.Type // "" to take the sources' type
}

type mapPlan struct {
	out   *connector.Schema
	srcs  [][]int // per target, input positions of its present sources
	types []connector.Type
	defs  []any // defaults converted to the target type
	rest  []int // unmapped input positions kept after the targets
}

func newMapSchema(args any) (Step, error) {
	m, ok := args.(map[string]any)
	if !ok {
		return nil, errorf("", "expected {fields: {target: [sources]}, defaults: {...}, types: {...}, drop_unmapped: bool}")
	}
	s := &mapSchema{}
	var errs Errors
	index := map[string]int{}
	addTarget := func(name string) *mapTarget {
		if i, ok := index[name]; ok {
			return &s.targets[i]
		}
		index[name] = len(s.targets)
		s.targets = append(s.targets, mapTarget{name: name})
		return &s.targets[len(s.targets)-1]
	}
	readSources := func(target string, v any, path string) {
		srcs, err := stringList(v, path)
		if err != nil || len(srcs) == 0 {
			errs = append(errs, errorf(path, "expected a source field name or a list of them"))
			return
		}
		addTarget(target).sources = srcs
	}
	for k := range m {
		switch k {
		case "fields", "defaults", "types", "drop_unmapped":
		default:
			errs = append(errs, errorf(k, "unknown setting (known: fields, defaults, types, drop_unmapped)"))
		}
	}
	// A map of fields loses its order once decoded, so targets come out
	// sorted; a list of one-key maps keeps the order written.
	switch f := m["fields"].(type) {
	case map[string]any:
		for _, t := range sortedKeys(f) {
			readSources(t, f[t], "fields."+t)
		}
	case []any:
		for i, item := range f {
			one, ok := item.(map[string]any)
			if !ok || len(one) != 1 {
				errs = append(errs, errorf(fmt.Sprintf("fields[%d]", i), "expected {target: [sources]}"))
				continue
			}
			for t, v := range one {
				readSources(t, v, fmt.Sprintf("fields[%d].%s", i, t))
			}
		}
	case nil:
		if m["defaults"] == nil {
			errs = append(errs, errorf("fields", "expected a map of target: [source fields]"))
		}
	default:
		errs = append(errs, errorf("fields", "expected a map of target: [source fields]"))
	}
	if d, ok := m["defaults"].(map[string]any); ok {
		for _, t := range sortedKeys(d) {
			addTarget(t).def = d[t]
		}
	} else if m["defaults"] != nil {
		errs = append(errs, errorf("defaults", "expected a map of target: default value"))
	}
	if ts, ok := m["types"].(map[string]any); ok {
		for _, t := range sortedKeys(ts) {
			i, known := index[t]
			name, _ := ts[t].(string)
			typ, err := connector.ParseType(name)
			switch {
			case err != nil:
				errs = append(errs, errorf("types."+t, "unknown type %q (known: %v)", name, connector.Types))
			case !known:
				errs = append(errs, errorf("types."+t, "%q is not a target in fields or defaults", t))
			default:
				s.targets[i].typ = typ
			}
		}
	} else if m["types"] != nil {
		errs = append(errs, errorf("types", "expected a map of target: type"))
	}
	if d, ok := m["drop_unmapped"]; ok {
		b, ok := d.(bool)
		if !ok {
			errs = append(errs, errorf("drop_unmapped", "expected true or false"))
		}
		s.dropUnmapped = b
	}
	for i := range s.targets {
		t := &s.targets[i]
		if t.sources == nil {
			t.sources = []string{t.name}
		}
		if t.def != nil && t.typ != "" {
			if _, err := connector.Convert(t.typ, t.def); err != nil {
				errs = append(errs, errorf("defaults."+t.name, "%v is not a %s", t.def, t.typ))
			}
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return s, nil
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func (s *mapSchema) Name() string { return "map_schema" }

func (s *mapSchema) plan(in *connector.Schema) (*mapPlan, error) {
	p := &mapPlan{out: &connector.Schema{}}
	used := make([]bool, len(in.Fields))
	for _, t := range s.targets {
		var cols []int
		typ := t.typ
		nullable := t.def == nil
		inferred := connector.Type("")
		for _, src := range t.sources {
			c := in.Index(src)
			if c < 0 {
				continue
			}
			cols = append(cols, c)
			used[c] = true
			ft := in.Fields[c].Type
			if inferred == "" {
				inferred = ft
			} else if w, ok := connector.Widen(inferred, ft); ok {
				inferred = w
			} else {
				inferred = connector.TypeString
			}
			nullable = nullable || in.Fields[c].Nullable
		}
		if typ == "" {
			typ = inferred
		}
		if typ == "" {
			typ = defaultType(t.def)
		}
		def, err := connector.Convert(typ, t.def)
		if err != nil {
			return nil, fmt.Errorf("default of %q: %v is not a %s", t.name, t.def, typ)
		}
		p.out.Fields = append(p.out.Fields, connector.Field{Name: t.name, Type: typ, Nullable: nullable || len(cols) == 0 && def == nil})
		p.srcs = append(p.srcs, cols)
		p.types = append(p.types, typ)
		p.defs = append(p.defs, def)
	}
	if !s.dropUnmapped {
		for c, f := range in.Fields {
			if used[c] || slices.ContainsFunc(s.targets, func(t mapTarget) bool { return t.name == f.Name }) {
				continue
			}
			p.rest = append(p.rest, c)
			p.out.Fields = append(p.out.Fields, f)
		}
	}
	return p, nil
}

// defaultType is the field type of a target known only by its default.
func defaultType(v any) connector.Type {
	switch v.(type) {
	case bool:
		return connector.TypeBool
	case int, int64:
		return connector.TypeInt64
	case float64:
		return connector.TypeFloat64
	case string, nil:
		return connector.TypeString
	}
	return connector.TypeJSON
}

func (s *mapSchema) Apply(_ context.Context, b *connector.Batch) (*connector.Batch, Result, error) {
	p, err := s.cache.get(b.Schema, s.plan)
	if err != nil {
		return nil, Result{}, err
	}
	var res Result
	w := len(p.out.Fields)
	// Rows are rebuilt in a slab per batch: the output is a different
	// shape and may be wider than the input.
	slab := make([]any, len(b.Rows)*w)
	kept := 0
	for r, row := range b.Rows {
		out := slab[:w:w]
		bad := ""
		for i, cols := range p.srcs {
			var v any
			var from int
			for _, c := range cols {
				if row[c] != nil {
					v, from = row[c], c
					break
				}
			}
			if v == nil {
				out[i] = p.defs[i]
				continue
			}
			if b.Schema.Fields[from].Type != p.types[i] {
				cv, err := connector.Convert(p.types[i], v)
				if err != nil {
					bad = fmt.Sprintf("map_schema: field %q from %q: %v", s.targets[i].name, b.Schema.Fields[from].Name, err)
					break
				}
				v = cv
			}
			out[i] = v
		}
		if bad != "" {
			clear(out)
			res.Rejects = append(res.Rejects, reject(b, r, bad))
			continue
		}
		slab = slab[w:]
		for j, c := range p.rest {
			out[len(p.srcs)+j] = row[c]
		}
		keepRow(b, kept, r, out)
		kept++
	}
	truncate(b, kept)
	b.Schema = p.out
	return b, res, nil
}

// Lineage of map_schema: each target comes from its candidate fields.
func (s *mapSchema) Lineage(in []string) ([]string, map[string][]string) {
	var out []string
	from := map[string][]string{}
	used := map[string]bool{}
	for _, t := range s.targets {
		out = append(out, t.name)
		src := []string{}
		for _, f := range t.sources {
			if slices.Contains(in, f) {
				src = append(src, f)
				used[f] = true
			}
		}
		from[t.name] = src
	}
	if !s.dropUnmapped {
		for _, f := range in {
			if !used[f] && !slices.Contains(out, f) {
				out = append(out, f)
			}
		}
	}
	return out, from
}
