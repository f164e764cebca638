package transform

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/tributary-data/tributary/connector"
)

func init() { Register("cast", newCast) }

// cast converts fields to another type. A value that does not convert
// quarantines its row with the field and the value in the reason.
type cast struct {
	targets map[string]castTarget
	cache   schemaCache[castPlan]
}

type castTarget struct {
	typ    connector.Type
	scale  int32 // decimals: digits after the point, -1 to keep
	format string
}

type castPlan struct {
	out  *connector.Schema
	cols []int
	tgts []castTarget
}

func newCast(args any) (Step, error) {
	m, ok := args.(map[string]any)
	if !ok || len(m) == 0 {
		return nil, errorf("", "expected a map of field: type")
	}
	c := &cast{targets: map[string]castTarget{}}
	var errs Errors
	for field, v := range m {
		t := castTarget{scale: -1}
		var typeName any = v
		if opts, ok := v.(map[string]any); ok {
			typeName = opts["type"]
			for k, o := range opts {
				switch k {
				case "type":
				case "scale":
					n, ok := toInt(o)
					if !ok || n < 0 || n > 18 {
						errs = append(errs, errorf(field+".scale", "must be an integer between 0 and 18"))
					}
					t.scale = int32(n)
				case "format":
					f, ok := o.(string)
					if !ok || f == "" {
						errs = append(errs, errorf(field+".format", "must be a Go time layout such as \"2006-01-02\""))
					}
					t.format = f
				default:
					errs = append(errs, errorf(field+"."+k, "unknown setting (known: type, scale, format)"))
				}
			}
		}
		name, _ := typeName.(string)
		typ, err := connector.ParseType(name)
		if err != nil {
			errs = append(errs, errorf(field, "unknown type %q (known: %v)", name, connector.Types))
			continue
		}
		t.typ = typ
		c.targets[field] = t
	}
	if len(errs) > 0 {
		slices.SortFunc(errs, func(a, b *Error) int { return cmpString(a.Path, b.Path) })
		return nil, errs
	}
	return c, nil
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func toInt(v any) (int, bool) {
	switch n := v.(type) {
	case int:
		return n, true
	case int64:
		return int(n), true
	case float64:
		return int(n), n == float64(int(n))
	}
	return 0, false
}

func (c *cast) Name() string { return "cast" }

func (c *cast) plan(in *connector.Schema) (castPlan, error) {
	p := castPlan{out: in.Clone()}
	fields := make([]string, 0, len(c.targets))
	for f := range c.targets {
		fields = append(fields, f)
	}
	// Columns in schema order, so the reason a row names is stable.
	slices.SortFunc(fields, func(a, b string) int { return in.Index(a) - in.Index(b) })
	for _, field := range fields {
		t := c.targets[field]
		i := in.Index(field)
		if i < 0 {
			return p, fmt.Errorf("field %q is not in the stream (fields: %v)", field, in.Names())
		}
		p.out.Fields[i].Type = t.typ
		p.cols = append(p.cols, i)
		p.tgts = append(p.tgts, t)
	}
	return p, nil
}

func (c *cast) Apply(_ context.Context, b *connector.Batch) (*connector.Batch, Result, error) {
	p, err := c.cache.get(b.Schema, c.plan)
	if err != nil {
		return nil, Result{}, err
	}
	var res Result
	kept := b.Rows[:0]
	var origins []int64
	for r, row := range b.Rows {
		bad := ""
		for k, col := range p.cols {
			v, err := castValue(row[col], p.tgts[k])
			if err != nil {
				bad = fmt.Sprintf("field %q: %v", b.Schema.Fields[col].Name, err)
				break
			}
			row[col] = v
		}
		if bad != "" {
			res.Rejects = append(res.Rejects, reject(b, r, bad))
			continue
		}
		kept = append(kept, row)
		if r < len(b.Origins) {
			origins = append(origins, b.Origins[r])
		}
	}
	b.Rows = kept
	if b.Origins != nil {
		b.Origins = origins
	}
	b.Schema = p.out
	return b, res, nil
}

func castValue(v any, t castTarget) (any, error) {
	if v == nil {
		return nil, nil
	}
	if s, ok := v.(string); ok && t.format != "" && (t.typ == connector.TypeTimestamp || t.typ == connector.TypeDate) {
		ts, err := time.ParseInLocation(t.format, s, time.UTC)
		if err != nil {
			return nil, fmt.Errorf("%q does not match layout %q", s, t.format)
		}
		return connector.Convert(t.typ, ts)
	}
	out, err := connector.Convert(t.typ, v)
	if err != nil {
		return nil, err
	}
	if d, ok := out.(connector.Decimal); ok && t.scale >= 0 {
		return d.Rescale(t.scale)
	}
	return out, nil
}
