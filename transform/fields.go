package transform

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/tributary-data/tributary/connector"
)

func init() {
	Register("select", func(args any) (Step, error) {
		f, err := stringList(args, "")
		if err != nil {
			return nil, err
		}
		return &project{name: "select", fields: f, keep: true}, nil
	})
	Register("drop", func(args any) (Step, error) {
		f, err := stringList(args, "")
		if err != nil {
			return nil, err
		}
		return &project{name: "drop", fields: f}, nil
	})
	Register("rename", newRename)
}

// project keeps (select) or removes (drop) fields.
type project struct {
	name   string
	fields []string
	keep   bool
	cache  schemaCache[projectPlan]
}

type projectPlan struct {
	out *connector.Schema
	idx []int // input positions, in output order
}

func (p *project) Name() string { return p.name }

func (p *project) plan(in *connector.Schema) (projectPlan, error) {
	var pl projectPlan
	pl.out = &connector.Schema{}
	if p.keep {
		for _, f := range p.fields {
			i := in.Index(f)
			if i < 0 {
				return pl, fmt.Errorf("field %q is not in the stream (fields: %v)", f, in.Names())
			}
			pl.idx = append(pl.idx, i)
			pl.out.Fields = append(pl.out.Fields, in.Fields[i])
		}
		return pl, nil
	}
	for i, f := range in.Fields {
		if !slices.Contains(p.fields, f.Name) {
			pl.idx = append(pl.idx, i)
			pl.out.Fields = append(pl.out.Fields, f)
		}
	}
	return pl, nil
}

func (p *project) Apply(_ context.Context, b *connector.Batch) (*connector.Batch, Result, error) {
	pl, err := p.cache.get(b.Schema, p.plan)
	if err != nil {
		return nil, Result{}, err
	}
	inOrder := slices.IsSorted(pl.idx)
	for r, row := range b.Rows {
		if inOrder {
			// Output position j never exceeds input position i, so the row
			// can be compacted in place without a new allocation.
			for j, i := range pl.idx {
				row[j] = row[i]
			}
			b.Rows[r] = row[:len(pl.idx):len(pl.idx)]
			continue
		}
		out := make([]any, len(pl.idx))
		for j, i := range pl.idx {
			out[j] = row[i]
		}
		b.Rows[r] = out
	}
	b.Schema = pl.out
	return b, Result{}, nil
}

// rename changes field names.
type rename struct {
	to    map[string]string
	cache schemaCache[*connector.Schema]
}

func newRename(args any) (Step, error) {
	m, ok := args.(map[string]any)
	if !ok || len(m) == 0 {
		return nil, errorf("", "expected a map of old name: new name")
	}
	r := &rename{to: map[string]string{}}
	var errs Errors
	for k, v := range m {
		s, ok := v.(string)
		if !ok || s == "" {
			errs = append(errs, errorf(k, "new name must be a non-empty string"))
			continue
		}
		r.to[k] = s
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return r, nil
}

func (r *rename) Name() string { return "rename" }

func (r *rename) Apply(_ context.Context, b *connector.Batch) (*connector.Batch, Result, error) {
	s, err := r.cache.get(b.Schema, func(in *connector.Schema) (*connector.Schema, error) {
		out := in.Clone()
		for old, nw := range r.to {
			i := in.Index(old)
			if i < 0 {
				return nil, fmt.Errorf("field %q is not in the stream (fields: %v)", old, in.Names())
			}
			out.Fields[i].Name = nw
		}
		seen := map[string]bool{}
		for _, f := range out.Fields {
			if seen[f.Name] {
				return nil, fmt.Errorf("renaming gives two fields called %q", f.Name)
			}
			seen[f.Name] = true
		}
		return out, nil
	})
	if err != nil {
		return nil, Result{}, err
	}
	b.Schema = s
	return b, Result{}, nil
}

// RowJSON renders a row as a JSON object, for quarantine records and
// previews.
func RowJSON(s *connector.Schema, row []any) string {
	m := make(map[string]any, len(row))
	for i, f := range s.Fields {
		if i < len(row) {
			m[f.Name] = row[i]
		}
	}
	b, err := json.Marshal(m)
	if err != nil {
		return fmt.Sprint(row)
	}
	return string(b)
}

// Lineage of select and drop: the kept fields, unchanged.
func (p *project) Lineage(in []string) ([]string, map[string][]string) {
	var out []string
	if p.keep {
		for _, f := range p.fields {
			if slices.Contains(in, f) {
				out = append(out, f)
			}
		}
		return out, nil
	}
	for _, f := range in {
		if !slices.Contains(p.fields, f) {
			out = append(out, f)
		}
	}
	return out, nil
}

// Lineage of rename: each new name comes from its old one.
func (r *rename) Lineage(in []string) ([]string, map[string][]string) {
	out := make([]string, len(in))
	from := map[string][]string{}
	for i, f := range in {
		out[i] = f
		if n, ok := r.to[f]; ok {
			out[i] = n
			from[n] = []string{f}
		}
	}
	return out, from
}
