package filesink

import (
	"fmt"

	"github.com/tributary-data/tributary/connector"
)

// plan says how the rows of one batch schema map onto the stream schema.
type plan struct {
	identity bool             // rows go through untouched
	src      []int            // per stream column, the batch column or -1
	conv     []connector.Type // per stream column, the type to convert to, or ""
}

// conform returns b's rows laid out in the stream schema, evolving it under
// the load's policy first. A schema change ends the open part, so every part
// has one schema.
func (w *writer) conform(b *connector.Batch) ([][]any, error) {
	if w.in == nil || !w.in.Equal(b.Schema) {
		next, err := evolve(w.schema, b.Schema, w.load.SchemaPolicy)
		if err != nil {
			return nil, err
		}
		if !next.Equal(w.schema) {
			if err := w.finishPart(); err != nil {
				return nil, err
			}
			w.schema = next
		}
		w.plan = makePlan(w.schema, b.Schema)
		w.in = b.Schema.Clone()
	}
	if w.plan.identity {
		return b.Rows, nil
	}
	return w.remap(b)
}

// evolve returns the schema that holds both cur and the incoming schema in
// under policy, or an error naming the column the policy refuses.
func evolve(cur, in *connector.Schema, policy connector.SchemaPolicy) (*connector.Schema, error) {
	next := cur.Clone()
	for _, f := range in.Fields {
		j := next.Index(f.Name)
		if j < 0 {
			switch policy {
			case connector.SchemaEvolve:
				f.Nullable = true // earlier rows have no value
				next.Fields = append(next.Fields, f)
			case connector.SchemaDiscard:
			default:
				return nil, fmt.Errorf("column %q is not in the destination schema (schema_policy %s)", f.Name, policy)
			}
			continue
		}
		c := &next.Fields[j]
		if c.Type != f.Type {
			wide, ok := connector.Widen(c.Type, f.Type)
			switch {
			case ok && wide == c.Type:
				// The column already holds these values.
			case policy == connector.SchemaEvolve && ok:
				c.Type = wide
			case policy == connector.SchemaEvolve:
				return nil, fmt.Errorf("column %q cannot change type from %s to %s", f.Name, c.Type, f.Type)
			case policy == connector.SchemaDiscard:
				// Keep the column's type; values convert or fail.
			default:
				return nil, fmt.Errorf("column %q changes type from %s to %s (schema_policy %s)", f.Name, c.Type, f.Type, policy)
			}
		}
		if f.Nullable {
			c.Nullable = true
		}
	}
	return next, nil
}

func makePlan(out, in *connector.Schema) plan {
	p := plan{
		identity: len(out.Fields) == len(in.Fields),
		src:      make([]int, len(out.Fields)),
		conv:     make([]connector.Type, len(out.Fields)),
	}
	for j, f := range out.Fields {
		i := in.Index(f.Name)
		p.src[j] = i
		if i != j {
			p.identity = false
		}
		if i >= 0 && in.Fields[i].Type != f.Type {
			p.conv[j] = f.Type
			p.identity = false
		}
	}
	return p
}

func (w *writer) remap(b *connector.Batch) ([][]any, error) {
	width := len(w.schema.Fields)
	w.rows = w.rows[:0]
	if need := width * b.Len(); cap(w.slab) < need {
		w.slab = make([]any, need)
	}
	slab := w.slab[:width*b.Len()]
	for r, row := range b.Rows {
		out := slab[r*width : (r+1)*width : (r+1)*width]
		for j, i := range w.plan.src {
			if i < 0 || i >= len(row) {
				out[j] = nil
				continue
			}
			v := row[i]
			if t := w.plan.conv[j]; t != "" && v != nil {
				c, err := connector.Convert(t, v)
				if err != nil {
					return nil, fmt.Errorf("column %q at %s: %w", w.schema.Fields[j].Name, b.Origin(r), err)
				}
				v = c
			}
			out[j] = v
		}
		w.rows = append(w.rows, out)
	}
	return w.rows, nil
}
