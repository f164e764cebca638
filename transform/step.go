package transform

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/tributary-data/tributary/connector"
)

// Step transforms batches.
type Step interface {
	// Name is the step's key in the pipeline file ("rename", "cast").
	Name() string
	// Apply transforms b. It returns the output batch (which may be b
	// itself, changed in place), the rows it refused and the number of rows
	// it filtered out on purpose.
	Apply(ctx context.Context, b *connector.Batch) (*connector.Batch, Result, error)
}

// Result is what a step did besides producing rows. Every input row is
// either in the output batch, rejected, filtered or deduplicated.
type Result struct {
	Rejects  []connector.Reject
	Filtered int
	// Deduplicated counts rows merged into another row; Merges lists them.
	Deduplicated int
	Merges       []Merge
}

// Merge records a row merged away by a dedup step, for the run result.
type Merge struct {
	Stream  string  `json:"stream"`
	Kept    string  `json:"kept"`    // origin of the surviving row
	Dropped string  `json:"dropped"` // origin of the merged-away row
	Method  string  `json:"method"`  // "exact", "jaro_winkler", "levenshtein"
	Score   float64 `json:"score,omitempty"`
}

// Lineager is implemented by steps that know where their output fields
// come from; lineage is computed from it without reading any data.
type Lineager interface {
	// Lineage returns the output field names for the input field names in,
	// and for each output field the input fields it is computed from. An
	// output field absent from the map passes through unchanged.
	Lineage(in []string) (out []string, from map[string][]string)
}

// Flusher is implemented by steps that hold rows back until the stream
// ends (a dedup keeping the last or most complete row); the engine calls
// Flush once after the last batch of a stream.
type Flusher interface {
	Flush(ctx context.Context) (*connector.Batch, Result, error)
}

// Error is a problem in a step's settings at Path, relative to the step's
// own settings ("amount" in `cast: {amount: decmal}`).
type Error struct {
	Path string
	Msg  string
}

func (e *Error) Error() string {
	if e.Path == "" {
		return e.Msg
	}
	return e.Path + ": " + e.Msg
}

// Errors collects every problem of one step's settings.
type Errors []*Error

func (es Errors) Error() string {
	s := make([]string, len(es))
	for i, e := range es {
		s[i] = e.Error()
	}
	return strings.Join(s, "; ")
}

func errorf(path, format string, args ...any) *Error {
	return &Error{Path: path, Msg: fmt.Sprintf(format, args...)}
}

// Builder makes a step from its settings as decoded from YAML or JSON.
type Builder func(args any) (Step, error)

var builders = map[string]Builder{}

// Register adds a step kind. Step kinds register from init functions of
// this package; the map is not guarded because it is only written then.
func Register(name string, b Builder) {
	if _, dup := builders[name]; dup {
		panic("transform: step registered twice: " + name)
	}
	builders[name] = b
}

// Names lists the registered step kinds.
func Names() []string {
	out := make([]string, 0, len(builders))
	for n := range builders {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Build makes the step called name. Errors are [Errors] or a single [*Error]
// with paths relative to the step's settings.
func Build(name string, args any) (Step, error) {
	b, ok := builders[name]
	if !ok {
		return nil, &Error{Msg: fmt.Sprintf("unknown step %q (known: %s)", name, strings.Join(Names(), ", "))}
	}
	return b(args)
}

// Chain applies steps in order, keeping rejects and filtered counts.
type Chain []Step

// Apply runs every step over b.
func (c Chain) Apply(ctx context.Context, b *connector.Batch) (*connector.Batch, Result, error) {
	var total Result
	for _, s := range c {
		out, r, err := s.Apply(ctx, b)
		if err != nil {
			return nil, total, fmt.Errorf("step %s: %w", s.Name(), err)
		}
		for i := range r.Rejects {
			if r.Rejects[i].Step == "" {
				r.Rejects[i].Step = s.Name()
			}
		}
		total = total.add(r)
		b = out
		if b.Len() == 0 {
			break
		}
	}
	return b, total, nil
}

// schemaCache remembers a step's output schema for the last input schema,
// so a step plans its work once per schema rather than once per batch.
type schemaCache[P any] struct {
	in   *connector.Schema
	plan P
	err  error
}

func (c *schemaCache[P]) get(in *connector.Schema, build func(*connector.Schema) (P, error)) (P, error) {
	if c.in != in || c.in == nil {
		c.in = in
		c.plan, c.err = build(in)
	}
	return c.plan, c.err
}

// stringList reads a list of names from `[a, b]` or `a`.
func stringList(args any, path string) ([]string, error) {
	switch v := args.(type) {
	case string:
		return []string{v}, nil
	case []any:
		out := make([]string, 0, len(v))
		for i, x := range v {
			s, ok := x.(string)
			if !ok || s == "" {
				return nil, errorf(fmt.Sprintf("%s[%d]", path, i), "expected a field name, got %v", x)
			}
			out = append(out, s)
		}
		return out, nil
	case []string:
		return v, nil
	}
	return nil, errorf(path, "expected a list of field names")
}

// reject builds a reject for row i of b with the row's values as the raw
// record, since after parsing the original text is gone.
func reject(b *connector.Batch, i int, reason string) connector.Reject {
	return connector.Reject{Stream: b.Stream, Origin: b.Origin(i), Raw: RowJSON(b.Schema, b.Rows[i]), Reason: reason}
}

// Flush ends a stream: every step that holds rows back releases them, and
// they pass through the steps after it.
func (c Chain) Flush(ctx context.Context) ([]*connector.Batch, Result, error) {
	var out []*connector.Batch
	var total Result
	for i, s := range c {
		f, ok := s.(Flusher)
		if !ok {
			continue
		}
		b, r, err := f.Flush(ctx)
		if err != nil {
			return nil, total, fmt.Errorf("step %s: %w", s.Name(), err)
		}
		total = total.add(r)
		if b == nil || b.Len() == 0 {
			continue
		}
		b, r, err = c[i+1:].Apply(ctx, b)
		if err != nil {
			return nil, total, err
		}
		total = total.add(r)
		if b.Len() > 0 {
			out = append(out, b)
		}
	}
	return out, total, nil
}

func (r Result) add(o Result) Result {
	r.Rejects = append(r.Rejects, o.Rejects...)
	r.Filtered += o.Filtered
	r.Deduplicated += o.Deduplicated
	r.Merges = append(r.Merges, o.Merges...)
	return r
}
