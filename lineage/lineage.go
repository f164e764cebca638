package lineage

import (
	"context"
	"fmt"
	"slices"

	"github.com/tributary-data/tributary/connector"
	"github.com/tributary-data/tributary/pipeline"
	"github.com/tributary-data/tributary/transform"
)

// Stream is the lineage of one stream: its source schema and the columns
// it loads into the destination.
type Stream struct {
	Stream  string            `json:"stream"`
	Source  *connector.Schema `json:"source"`
	Columns []Column          `json:"columns"`
}

// Column is one destination column and where it comes from.
type Column struct {
	Name string `json:"name"`
	// Type is the column's type when the steps could plan it on the
	// source schema, empty otherwise.
	Type connector.Type `json:"type,omitempty"`
	// Sources are the source columns the values are computed from, in
	// source order; empty for a column computed from constants.
	Sources []string `json:"sources"`
	// Steps are the steps that changed or computed the column, in order
	// (a rename, a set, a normalize); steps that only carry it along are
	// not listed.
	Steps []string `json:"steps,omitempty"`
}

// Columns works out the lineage of every stream of spec from the source
// schemas (as discovered, by stream name). A step implementing
// [transform.Lineager] says how its output fields derive from its input;
// any other step is taken to pass fields through unchanged.
func Columns(spec *pipeline.Spec, sourceSchemas map[string]*connector.Schema) ([]Stream, error) {
	var out []Stream
	for _, st := range spec.Source.Streams {
		src := sourceSchemas[st.Name]
		if src == nil {
			return nil, fmt.Errorf("stream %s: no source schema", st.Name)
		}
		chain, err := spec.Steps(st.Name)
		if err != nil {
			return nil, fmt.Errorf("stream %s: %w", st.Name, err)
		}
		out = append(out, streamLineage(st.Name, src, chain))
	}
	return out, nil
}

// origin is what is known about one field at some point of the chain.
type origin struct {
	sources []string
	steps   []int // positions in the chain, so a step kind used twice shows twice
}

func streamLineage(stream string, src *connector.Schema, chain transform.Chain) Stream {
	names := src.Names()
	known := map[string]origin{}
	for _, n := range names {
		known[n] = origin{sources: []string{n}}
	}
	for pos, step := range chain {
		l, ok := step.(transform.Lineager)
		if !ok {
			continue
		}
		out, from := l.Lineage(slices.Clone(names))
		next := make(map[string]origin, len(out))
		for _, o := range out {
			ins, computed := from[o]
			if !computed {
				next[o] = known[o]
				continue
			}
			var og origin
			for _, in := range ins {
				for _, s := range known[in].sources {
					if !slices.Contains(og.sources, s) {
						og.sources = append(og.sources, s)
					}
				}
				for _, s := range known[in].steps {
					if !slices.Contains(og.steps, s) {
						og.steps = append(og.steps, s)
					}
				}
			}
			og.steps = append(og.steps, pos)
			slices.Sort(og.steps)
			next[o] = og
		}
		names, known = out, next
	}
	types := plannedTypes(stream, src, chain)
	srcOrder := map[string]int{}
	for i, n := range src.Names() {
		srcOrder[n] = i
	}
	ls := Stream{Stream: stream, Source: src}
	for _, n := range names {
		og := known[n]
		sources := slices.Clone(og.sources)
		if sources == nil {
			sources = []string{}
		}
		slices.SortFunc(sources, func(a, b string) int { return srcOrder[a] - srcOrder[b] })
		var steps []string
		for _, pos := range og.steps {
			steps = append(steps, chain[pos].Name())
		}
		ls.Columns = append(ls.Columns, Column{Name: n, Type: types[n], Sources: sources, Steps: steps})
	}
	return ls
}

// plannedTypes runs the steps over an empty batch of the source schema:
// steps plan their output schema without rows to work on, which gives the
// destination types. A step that cannot plan leaves the types unknown
// from there on.
func plannedTypes(stream string, src *connector.Schema, chain transform.Chain) map[string]connector.Type {
	b := connector.NewBatch(stream, src, 0)
	ctx := context.Background()
	for _, step := range chain {
		out, _, err := step.Apply(ctx, b)
		if err != nil || out == nil || out.Schema == nil {
			return nil
		}
		b = out
	}
	types := map[string]connector.Type{}
	for _, f := range b.Schema.Fields {
		types[f.Name] = f.Type
	}
	return types
}
