package quality

import (
	"hash/maphash"
	"math"
	"math/bits"
	"time"

	"github.com/tributary-data/tributary/connector"
)

// hllPrecision gives 4096 one-byte registers per column: a standard error
// of about 1.6% in 4 KiB, whatever the number of rows.
const (
	hllPrecision = 12
	hllRegisters = 1 << hllPrecision
)

// hll is a HyperLogLog distinct counter over 64-bit hashes.
type hll struct {
	reg [hllRegisters]uint8
}

func (h *hll) add(x uint64) {
	i := x >> (64 - hllPrecision)
	// The remaining bits, with a guard bit so a run of zeros ends.
	rho := uint8(bits.LeadingZeros64(x<<hllPrecision|1<<(hllPrecision-1)) + 1)
	if rho > h.reg[i] {
		h.reg[i] = rho
	}
}

// estimate uses linear counting while registers are still empty, where it
// is more accurate than the raw estimate, as in the original paper.
func (h *hll) estimate() uint64 {
	const m = float64(hllRegisters)
	sum, zeros := 0.0, 0
	for _, r := range h.reg {
		sum += math.Ldexp(1, -int(r))
		if r == 0 {
			zeros++
		}
	}
	alpha := 0.7213 / (1 + 1.079/m)
	e := alpha * m * m / sum
	if e <= 2.5*m && zeros > 0 {
		e = m * math.Log(m/float64(zeros))
	}
	return uint64(math.Round(e))
}

// Heavy hitters: a count-min sketch estimates each value's frequency and
// admits values into a short list, which then counts them exactly. A
// value whose estimate cannot enter the list costs two counter increments
// and no comparison of values, so a column of unique ids stays cheap.
const (
	cmsWidth = 2048
	cmsMask  = cmsWidth - 1
	topKeep  = 16 // tracked; the profile shows the first topShown
	topShown = 5
)

type heavyHitters struct {
	cms     [2][cmsWidth]uint32
	top     []topEntry
	minimum uint32 // smallest estimate in top once it is full
	total   uint64 // values counted
}

// topEntry counts a tracked value: hits since it was admitted (adds of
// it, each of its weight), plus base, what the sketch said it had before
// (an upper bound).
type topEntry struct {
	hash  uint64
	value any
	hits  uint32
	base  uint32
	adds  uint32 // times it was added since admitted
}

func (e *topEntry) estimate() uint32 { return e.hits + e.base }

// add counts a value with hash x as w occurrences (w > 1 when only a
// sample of the values is counted); the value is only kept (cloned) when
// it enters the list.
func (hh *heavyHitters) add(x uint64, v any, w uint32) {
	hh.total += uint64(w)
	a, b := &hh.cms[0][x&cmsMask], &hh.cms[1][(x>>16)&cmsMask]
	*a += w
	*b += w
	est := min(*a, *b)
	full := len(hh.top) == topKeep
	// A tracked value's estimate never falls below its entry's, so a value
	// estimated under the list's minimum is not in it.
	if full && est < hh.minimum {
		return
	}
	for i := range hh.top {
		if e := &hh.top[i]; e.hash == x {
			e.hits += w
			e.adds++
			if e.estimate()-w == hh.minimum {
				hh.refreshMin()
			}
			return
		}
	}
	if !full {
		hh.top = append(hh.top, topEntry{hash: x, value: cloneValue(v), hits: w, base: est - w, adds: 1})
		hh.refreshMin()
		return
	}
	// Every counter holds about total/width of other values' counts: an
	// estimate within twice that is noise, not a frequent value, and
	// admitting it would only churn the list.
	if est <= hh.minimum || uint64(est)*cmsWidth <= 2*hh.total {
		return
	}
	low := 0
	for i := range hh.top {
		if hh.top[i].estimate() < hh.top[low].estimate() {
			low = i
		}
	}
	hh.top[low] = topEntry{hash: x, value: cloneValue(v), hits: w, base: est - w, adds: 1}
	hh.refreshMin()
}

func (hh *heavyHitters) refreshMin() {
	if len(hh.top) < topKeep {
		hh.minimum = 0
		return
	}
	m := hh.top[0].estimate()
	for _, e := range hh.top[1:] {
		m = min(m, e.estimate())
	}
	hh.minimum = m
}

// mix64 is the splitmix64 finalizer: it spreads integers over all 64 bits
// so the sketches can take their indexes from any of them.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// hashValue hashes a row value so equal values hash alike within a run;
// ok is false for nil and json values, which are not counted as distinct.
func hashValue(seed maphash.Seed, v any) (uint64, bool) {
	switch x := v.(type) {
	case string:
		return maphash.String(seed, x), true
	case int64:
		return mix64(uint64(x)), true
	case float64:
		return hashFloat(x), true
	case connector.Decimal:
		return hashDecimal(x), true
	case bool:
		if x {
			return mix64(1), true
		}
		return mix64(0), true
	case time.Time:
		return hashTime(x), true
	case []byte:
		return maphash.Bytes(seed, x), true
	}
	return 0, false
}

// hashDecimal hashes a decimal by its value: 1.50 and 1.5 hash alike.
func hashDecimal(x connector.Decimal) uint64 {
	for x.Scale > 0 && x.Unscaled%10 == 0 {
		x.Unscaled /= 10
		x.Scale--
	}
	return mix64(uint64(x.Unscaled)*31 + uint64(x.Scale))
}

func hashTime(x time.Time) uint64 { return mix64(uint64(x.UnixNano())) }

func hashFloat(x float64) uint64 {
	if x == math.Trunc(x) && math.Abs(x) < 1<<63 {
		return mix64(uint64(int64(x))) // 3.0 counts as 3
	}
	return mix64(math.Float64bits(x) ^ 0x5bd1e995)
}
