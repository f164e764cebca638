package transform

import (
	"context"
	"fmt"

	"github.com/expr-lang/expr"

	"github.com/tributary-data/tributary/connector"
)

var (
	_ Step     = (*filter)(nil)
	_ Lineager = (*filter)(nil)
)

func init() { Register("filter", newFilter) }

// filter keeps the rows for which an expression is true. Rows it removes
// are counted as filtered, not quarantined: leaving them out is the point.
// A row the expression cannot be evaluated on (a null in arithmetic, a
// type error) is quarantined instead, since nobody chose to drop it.
type filter struct {
	e     exprSource
	cache schemaCache[*program]
}

func newFilter(args any) (Step, error) {
	src, ok := args.(string)
	if m, isMap := args.(map[string]any); isMap && len(m) == 1 {
		src, ok = m["expr"].(string)
		if !ok {
			return nil, errorf("expr", "expected an expression")
		}
	}
	if !ok {
		return nil, errorf("", "expected an expression such as 'amount > 0'")
	}
	e, err := parseExpr(src)
	if err != nil {
		return nil, errorf("", "%v", err)
	}
	return &filter{e: e}, nil
}

func (f *filter) Name() string { return "filter" }

func (f *filter) Apply(_ context.Context, b *connector.Batch) (*connector.Batch, Result, error) {
	p, err := f.cache.get(b.Schema, func(in *connector.Schema) (*program, error) {
		return f.e.compile(in, nil, expr.AsBool())
	})
	if err != nil {
		return nil, Result{}, err
	}
	var res Result
	kept := 0
	for r, row := range b.Rows {
		v, err := p.run(row)
		if err != nil {
			res.Rejects = append(res.Rejects, reject(b, r, fmt.Sprintf("filter: %v", err)))
			continue
		}
		if keep, _ := v.(bool); !keep {
			res.Filtered++
			continue
		}
		keepRow(b, kept, r, row)
		kept++
	}
	truncate(b, kept)
	return b, res, nil
}

// Lineage of filter: fields pass through unchanged.
func (f *filter) Lineage(in []string) ([]string, map[string][]string) { return in, nil }
