package quality

import (
	"hash/maphash"
	"math"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/tributary-data/tributary/connector"
)

// ColumnProfile describes one column of a stream as loaded by a run.
// Distinct and Top are estimates from bounded-memory sketches; everything
// else is exact.
type ColumnProfile struct {
	Name      string         `json:"name"`
	Type      connector.Type `json:"type"` // of the newest batch
	Count     int64          `json:"count"`
	Nulls     int64          `json:"nulls"`
	NullRatio float64        `json:"null_ratio"`
	// Distinct is a HyperLogLog estimate, within about 2%.
	Distinct uint64 `json:"distinct"`
	// Min and Max are set for numbers, strings, dates and timestamps.
	Min  any      `json:"min,omitempty"`
	Max  any      `json:"max,omitempty"`
	Mean *float64 `json:"mean,omitempty"`
	// Length statistics of strings, in characters.
	MinLength  *int     `json:"min_length,omitempty"`
	MaxLength  *int     `json:"max_length,omitempty"`
	MeanLength *float64 `json:"mean_length,omitempty"`
	// Top holds up to five most frequent values with estimated counts,
	// most frequent first.
	Top []ValueCount `json:"top,omitempty"`
}

// ValueCount is a value and about how often it occurred.
type ValueCount struct {
	Value any   `json:"value"`
	Count int64 `json:"count"`
}

// Profiler builds column profiles from the batches of one stream. Batches
// may change schema along the way: columns are matched by name. It is safe
// for concurrent use, though one goroutine usually feeds it.
type Profiler struct {
	mu      sync.Mutex
	seed    maphash.Seed
	cols    []*columnStats
	byName  map[string]*columnStats
	schema  *connector.Schema // of the last batch, with its columns:
	current []*columnStats
}

// NewProfiler returns an empty profiler.
func NewProfiler() *Profiler {
	return &Profiler{seed: maphash.MakeSeed(), byName: map[string]*columnStats{}}
}

type columnStats struct {
	name  string
	typ   connector.Type
	count int64
	nulls int64

	distinct hll
	top      heavyHitters

	// numbers: exact per kind, combined as float64 when kinds mix.
	kinds      uint8 // kindInt | kindFloat | kindDecimal
	minI, maxI int64
	minF, maxF float64
	minD, maxD connector.Decimal
	sum        float64
	numbers    int64

	strs       int64
	minS, maxS string
	lenMin     int
	lenMax     int
	lenSum     int64

	times      int64
	minT, maxT time.Time
}

const (
	kindInt uint8 = 1 << iota
	kindFloat
	kindDecimal
)

// Observe adds a batch to the profile.
func (p *Profiler) Observe(b *connector.Batch) {
	if b == nil || b.Len() == 0 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if b.Schema != p.schema {
		p.schema = b.Schema
		p.current = p.current[:0]
		for _, f := range b.Schema.Fields {
			c := p.byName[f.Name]
			if c == nil {
				c = &columnStats{name: f.Name}
				p.byName[f.Name] = c
				p.cols = append(p.cols, c)
			}
			c.typ = f.Type
			p.current = append(p.current, c)
		}
	}
	for j, c := range p.current {
		c.observe(p.seed, b.Rows, j)
	}
}

func (c *columnStats) observe(seed maphash.Seed, rows [][]any, j int) {
	c.count += int64(len(rows))
	for _, row := range rows {
		v := row[j]
		if v == nil {
			c.nulls++
			continue
		}
		h, ok := hashValue(seed, v)
		if ok {
			c.distinct.add(h)
			c.top.add(h, v, cloneValue)
		}
		switch x := v.(type) {
		case string:
			c.observeString(x)
		case int64:
			c.observeNumber(float64(x))
			if c.kinds&kindInt == 0 || x < c.minI {
				c.minI = x
			}
			if c.kinds&kindInt == 0 || x > c.maxI {
				c.maxI = x
			}
			c.kinds |= kindInt
		case float64:
			if math.IsNaN(x) {
				continue
			}
			c.observeNumber(x)
			c.kinds |= kindFloat
		case connector.Decimal:
			c.observeNumber(x.Float64())
			if c.kinds&kindDecimal == 0 || x.Cmp(c.minD) < 0 {
				c.minD = x
			}
			if c.kinds&kindDecimal == 0 || x.Cmp(c.maxD) > 0 {
				c.maxD = x
			}
			c.kinds |= kindDecimal
		case time.Time:
			if c.times == 0 || x.Before(c.minT) {
				c.minT = x
			}
			if c.times == 0 || x.After(c.maxT) {
				c.maxT = x
			}
			c.times++
		}
	}
}

func (c *columnStats) observeNumber(f float64) {
	if c.numbers == 0 || f < c.minF {
		c.minF = f
	}
	if c.numbers == 0 || f > c.maxF {
		c.maxF = f
	}
	c.sum += f
	c.numbers++
}

func (c *columnStats) observeString(s string) {
	n := len(s)
	if !isASCII(s) {
		n = utf8.RuneCountInString(s)
	}
	if c.strs == 0 {
		// Clone, so a profile never pins a source's read buffer.
		c.minS, c.maxS = strings.Clone(s), strings.Clone(s)
		c.lenMin, c.lenMax = n, n
	} else {
		if s < c.minS {
			c.minS = strings.Clone(s)
		} else if s > c.maxS {
			c.maxS = strings.Clone(s)
		}
		c.lenMin, c.lenMax = min(c.lenMin, n), max(c.lenMax, n)
	}
	c.lenSum += int64(n)
	c.strs++
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

func cloneValue(v any) any {
	switch x := v.(type) {
	case string:
		return strings.Clone(x)
	case []byte:
		return slices.Clone(x)
	}
	return v
}

// Profile returns the profile of every column seen, in the order columns
// first appeared.
func (p *Profiler) Profile() []ColumnProfile {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]ColumnProfile, 0, len(p.cols))
	for _, c := range p.cols {
		out = append(out, c.profile())
	}
	return out
}

func (c *columnStats) profile() ColumnProfile {
	cp := ColumnProfile{Name: c.name, Type: c.typ, Count: c.count, Nulls: c.nulls}
	if c.count > 0 {
		cp.NullRatio = float64(c.nulls) / float64(c.count)
	}
	cp.Distinct = c.distinct.estimate()
	// The estimate can exceed what was seen by its error: never report
	// more distinct values than values.
	cp.Distinct = min(cp.Distinct, uint64(c.count-c.nulls))
	switch {
	case c.numbers > 0:
		switch c.kinds {
		case kindInt:
			cp.Min, cp.Max = c.minI, c.maxI
		case kindDecimal:
			cp.Min, cp.Max = c.minD, c.maxD
		default:
			cp.Min, cp.Max = c.minF, c.maxF
		}
		mean := c.sum / float64(c.numbers)
		cp.Mean = &mean
	case c.times > 0:
		cp.Min, cp.Max = c.minT, c.maxT
	case c.strs > 0:
		cp.Min, cp.Max = c.minS, c.maxS
	}
	if c.strs > 0 {
		lo, hi := c.lenMin, c.lenMax
		mean := float64(c.lenSum) / float64(c.strs)
		cp.MinLength, cp.MaxLength, cp.MeanLength = &lo, &hi, &mean
	}
	top := slices.Clone(c.top.top)
	slices.SortFunc(top, func(a, b topEntry) int {
		if a.estimate() != b.estimate() {
			return int(b.estimate()) - int(a.estimate())
		}
		return strings.Compare(connector.FormatValue(a.value), connector.FormatValue(b.value))
	})
	for _, e := range top {
		if len(cp.Top) == topShown {
			break
		}
		// A value not seen again since it was tracked is no frequent
		// value: with unique data the list only holds arbitrary rows.
		if e.hits < 2 {
			continue
		}
		cp.Top = append(cp.Top, ValueCount{Value: e.value, Count: int64(e.estimate())})
	}
	return cp
}
