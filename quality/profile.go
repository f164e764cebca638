package quality

import (
	"cmp"
	"hash/maphash"
	"math"
	"math/rand/v2"
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

	rows   int64 // observed
	sample int64 // the next row whose top values are counted
	rng    *rand.Rand
}

// NewProfiler returns an empty profiler.
func NewProfiler() *Profiler {
	return &Profiler{
		seed:   maphash.MakeSeed(),
		byName: map[string]*columnStats{},
		sample: topWarmup,
		rng:    rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64())),
	}
}

type columnStats struct {
	name  string
	typ   connector.Type
	fast  uint8 // fast path of typ
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
	minK, maxK uint64 // prefix8 of minS and maxS
	lenMin     int
	lenMax     int
	lenSum     int64

	times      int64
	minT, maxT time.Time

	trues, falses int64
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
			c.typ, c.fast = f.Type, fastPath(f.Type)
			p.current = append(p.current, c)
		}
	}
	p.observeRows(b.Rows)
}

// Observe walks the rows once, row by row: a source builds its values in
// row order, so this order reads memory almost sequentially, where one pass
// per column would fetch every row again for each column. Each column's
// declared type picks its fast path, one type assertion per value instead
// of a type switch; values of another type (or nil) take the general path,
// with the same result.
//
// Top values are counted on every row of the first topWarmup rows, then on
// a random sample of about one row in topStride, each sampled value
// counting topStride times: the frequent values of a large stream show as
// clearly in the sample, at an eighth of the cost. Random gaps, not every
// n-th row, so periodic data cannot alias with the sample.
func (p *Profiler) observeRows(rows [][]any) {
	seed, cols := p.seed, p.current
	for _, c := range cols {
		c.count += int64(len(rows))
	}
	for _, row := range rows {
		row = row[:len(cols)]
		w := uint32(1)
		if p.rows >= topWarmup {
			w = 0
			if p.rows == p.sample {
				w = topStride
				p.sample += 1 + int64(p.rng.IntN(2*topStride-1))
			}
		}
		p.rows++
		for j, c := range cols {
			v := row[j]
			switch c.fast {
			case fastString:
				if x, ok := v.(string); ok {
					h := maphash.String(seed, x)
					c.distinct.add(h)
					if w != 0 {
						c.top.add(h, v, w)
					}
					c.observeString(x)
					continue
				}
			case fastInt:
				if x, ok := v.(int64); ok {
					h := mix64(uint64(x))
					c.distinct.add(h)
					if w != 0 {
						c.top.add(h, v, w)
					}
					c.observeInt(x)
					continue
				}
			case fastDecimal:
				if x, ok := v.(connector.Decimal); ok {
					h := hashDecimal(x)
					c.distinct.add(h)
					if w != 0 {
						c.top.add(h, v, w)
					}
					c.observeDecimal(x)
					continue
				}
			case fastTime:
				if x, ok := v.(time.Time); ok {
					h := hashTime(x)
					c.distinct.add(h)
					if w != 0 {
						c.top.add(h, v, w)
					}
					c.observeTime(x)
					continue
				}
			case fastFloat:
				if x, ok := v.(float64); ok && !math.IsNaN(x) {
					h := hashFloat(x)
					c.distinct.add(h)
					if w != 0 {
						c.top.add(h, v, w)
					}
					c.observeNumber(x)
					c.kinds |= kindFloat
					continue
				}
			case fastBool:
				if x, ok := v.(bool); ok {
					c.observeBool(x)
					continue
				}
			}
			c.observeValue(seed, v, w)
		}
	}
}

const (
	topWarmup = 1 << 16
	topStride = 8
)

// The fast paths of [observeRows], by declared column type.
const (
	fastNone uint8 = iota
	fastString
	fastInt
	fastDecimal
	fastTime
	fastBool
	fastFloat
)

func fastPath(t connector.Type) uint8 {
	switch t {
	case connector.TypeString:
		return fastString
	case connector.TypeInt64:
		return fastInt
	case connector.TypeDecimal:
		return fastDecimal
	case connector.TypeTimestamp, connector.TypeDate:
		return fastTime
	case connector.TypeBool:
		return fastBool
	case connector.TypeFloat64:
		return fastFloat
	}
	return fastNone
}

// observeValue adds one value of any type.
func (c *columnStats) observeValue(seed maphash.Seed, v any, w uint32) {
	if v == nil {
		c.nulls++
		return
	}
	if x, ok := v.(bool); ok {
		c.observeBool(x)
		return
	}
	if h, ok := hashValue(seed, v); ok {
		c.distinct.add(h)
		if w != 0 {
			c.top.add(h, v, w)
		}
	}
	switch x := v.(type) {
	case string:
		c.observeString(x)
	case int64:
		c.observeInt(x)
	case float64:
		if !math.IsNaN(x) {
			c.observeNumber(x)
			c.kinds |= kindFloat
		}
	case connector.Decimal:
		c.observeDecimal(x)
	case time.Time:
		c.observeTime(x)
	}
}

// observeBool counts booleans exactly: two values need no sketch.
func (c *columnStats) observeBool(x bool) {
	if x {
		c.trues++
	} else {
		c.falses++
	}
}

func (c *columnStats) observeInt(x int64) {
	c.observeNumber(float64(x))
	if c.kinds&kindInt == 0 {
		c.minI, c.maxI = x, x
	} else if x < c.minI {
		c.minI = x
	} else if x > c.maxI {
		c.maxI = x
	}
	c.kinds |= kindInt
}

func (c *columnStats) observeDecimal(x connector.Decimal) {
	c.observeNumber(x.Float64())
	if c.kinds&kindDecimal == 0 {
		c.minD, c.maxD = x, x
	} else if x.Cmp(c.minD) < 0 {
		c.minD = x
	} else if x.Cmp(c.maxD) > 0 {
		c.maxD = x
	}
	c.kinds |= kindDecimal
}

func (c *columnStats) observeTime(x time.Time) {
	if c.times == 0 {
		c.minT, c.maxT = x, x
	} else if x.Before(c.minT) {
		c.minT = x
	} else if x.After(c.maxT) {
		c.maxT = x
	}
	c.times++
}

func (c *columnStats) observeNumber(f float64) {
	if c.numbers == 0 {
		c.minF, c.maxF = f, f
	} else if f < c.minF {
		c.minF = f
	} else if f > c.maxF {
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
	// Compare the first eight bytes as one integer, and whole strings
	// only when those are equal: most values differ from the bounds early.
	k := prefix8(s)
	switch {
	case c.strs == 0:
		// Clone, so a profile never pins a source's read buffer.
		c.minS, c.maxS = strings.Clone(s), strings.Clone(s)
		c.minK, c.maxK = k, k
		c.lenMin, c.lenMax = n, n
	case k < c.minK || k == c.minK && s < c.minS:
		c.minS, c.minK = strings.Clone(s), k
	case k > c.maxK || k == c.maxK && s > c.maxS:
		c.maxS, c.maxK = strings.Clone(s), k
	}
	if c.strs > 0 {
		c.lenMin, c.lenMax = min(c.lenMin, n), max(c.lenMax, n)
	}
	c.lenSum += int64(n)
	c.strs++
}

// prefix8 is the first eight bytes of s, big-endian, zero-padded: when the
// prefixes of two strings differ, they order the strings.
func prefix8(s string) uint64 {
	if len(s) >= 8 {
		return uint64(s[0])<<56 | uint64(s[1])<<48 | uint64(s[2])<<40 | uint64(s[3])<<32 |
			uint64(s[4])<<24 | uint64(s[5])<<16 | uint64(s[6])<<8 | uint64(s[7])
	}
	var k uint64
	for i := 0; i < len(s); i++ {
		k |= uint64(s[i]) << (56 - 8*i)
	}
	return k
}

// isASCII checks eight bytes at a time: most text columns are ASCII, and
// then a string's length is its length in characters.
func isASCII(s string) bool {
	for len(s) >= 8 {
		x := uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
			uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
		if x&0x8080808080808080 != 0 {
			return false
		}
		s = s[8:]
	}
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
	for _, n := range []int64{c.trues, c.falses} {
		if n > 0 {
			cp.Distinct++
		}
	}
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
	// A value not counted again since it was tracked is no frequent value:
	// with unique data the list would only hold arbitrary rows.
	var top []ValueCount
	for _, e := range c.top.top {
		if e.adds >= 2 {
			top = append(top, ValueCount{Value: e.value, Count: int64(e.estimate())})
		}
	}
	if c.trues >= 2 {
		top = append(top, ValueCount{Value: true, Count: c.trues})
	}
	if c.falses >= 2 {
		top = append(top, ValueCount{Value: false, Count: c.falses})
	}
	slices.SortFunc(top, func(a, b ValueCount) int {
		if a.Count != b.Count {
			return cmp.Compare(b.Count, a.Count)
		}
		return strings.Compare(connector.FormatValue(a.Value), connector.FormatValue(b.Value))
	})
	if len(top) > topShown {
		top = top[:topShown]
	}
	cp.Top = top
	return cp
}
