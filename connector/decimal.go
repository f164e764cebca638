package connector

import (
	"errors"
	"math"
	"strconv"
)

// Decimal is an exact decimal number: Unscaled × 10^-Scale. It holds up to
// 18 significant digits in an int64, which covers money and most measured
// quantities without the allocation cost of math/big on the load path.
// Values that do not fit are rejected by [ParseDecimal] with
// [ErrDecimalRange] rather than rounded.
type Decimal struct {
	Unscaled int64
	Scale    int32
}

// ErrDecimalRange reports a decimal with more significant digits than a
// [Decimal] holds.
var ErrDecimalRange = errors.New("decimal out of range (more than 18 significant digits)")

var pow10 = [...]int64{1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18}

// ParseDecimal parses a plain decimal literal such as "-12.50", "+3", ".5"
// or "1e3". It never goes through a float, so "0.1" stays exactly 0.1.
func ParseDecimal(s string) (Decimal, error) { return parseDecimal(s) }

// ParseDecimalBytes is [ParseDecimal] for a byte slice, without converting it
// to a string first.
func ParseDecimalBytes(b []byte) (Decimal, error) { return parseDecimal(b) }

func parseDecimal[T string | []byte](s T) (Decimal, error) {
	n := len(s)
	if n == 0 {
		return Decimal{}, errors.New("empty decimal")
	}
	i := 0
	neg := false
	switch s[0] {
	case '-':
		neg = true
		i++
	case '+':
		i++
	}
	var coef uint64
	var scale int32
	digits, sig := 0, 0
	// Zeros after the point are held back until a non-zero digit follows,
	// so trailing zeros that do not fit ("12.500000000000000000") are
	// dropped instead of making an exact value out of range.
	zeros := 0
	seenPoint := false
	for ; i < n; i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			digits++
			if coef == 0 && c == '0' {
				if seenPoint {
					scale++
				}
				continue
			}
			if seenPoint && c == '0' {
				zeros++
				continue
			}
			for ; zeros > 0; zeros-- {
				if sig++; sig > 18 {
					return Decimal{}, ErrDecimalRange
				}
				coef *= 10
				scale++
			}
			sig++
			if sig > 18 {
				return Decimal{}, ErrDecimalRange
			}
			coef = coef*10 + uint64(c-'0')
			if seenPoint {
				scale++
			}
		case c == '.' && !seenPoint:
			seenPoint = true
		case (c == 'e' || c == 'E') && digits > 0:
			exp, err := strconv.Atoi(string(s[i+1:]))
			if err != nil {
				return Decimal{}, errors.New("invalid decimal exponent")
			}
			scale -= int32(exp)
			i = n
		default:
			return Decimal{}, errors.New("invalid decimal syntax")
		}
	}
	// Keep the trailing zeros that fit: "12.50" stays at scale 2.
	for ; zeros > 0 && sig < 18; zeros-- {
		sig++
		coef *= 10
		scale++
	}
	if digits == 0 {
		return Decimal{}, errors.New("invalid decimal syntax")
	}
	d := Decimal{Unscaled: int64(coef), Scale: scale}
	if neg {
		d.Unscaled = -d.Unscaled
	}
	if d.Scale < 0 {
		return d.Rescale(0)
	}
	return d, nil
}

// Rescale returns d with exactly scale digits after the point. Growing the
// scale is exact; shrinking it rounds half away from zero. It fails when the
// result does not fit.
func (d Decimal) Rescale(scale int32) (Decimal, error) {
	switch {
	case scale == d.Scale:
		return d, nil
	case scale > d.Scale:
		diff := scale - d.Scale
		if diff > 18 {
			if d.Unscaled == 0 {
				return Decimal{0, scale}, nil
			}
			return Decimal{}, ErrDecimalRange
		}
		p := pow10[diff]
		v := d.Unscaled * p
		if v/p != d.Unscaled {
			return Decimal{}, ErrDecimalRange
		}
		return Decimal{v, scale}, nil
	default:
		diff := d.Scale - scale
		if diff > 18 {
			return Decimal{0, scale}, nil
		}
		p := pow10[diff]
		q, r := d.Unscaled/p, d.Unscaled%p
		if r < 0 {
			r = -r
		}
		if r*2 >= p {
			if d.Unscaled < 0 {
				q--
			} else {
				q++
			}
		}
		return Decimal{q, scale}, nil
	}
}

// Float64 returns the nearest float64; for expressions and statistics, never
// for loading.
func (d Decimal) Float64() float64 {
	return float64(d.Unscaled) / math.Pow10(int(d.Scale))
}

// DecimalFromFloat converts f to a decimal with the given scale.
func DecimalFromFloat(f float64, scale int32) (Decimal, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return Decimal{}, errors.New("not a finite number")
	}
	return ParseDecimal(strconv.FormatFloat(f, 'f', int(scale), 64))
}

// String formats d as a plain decimal literal with exactly Scale digits after
// the point.
func (d Decimal) String() string { return string(d.Append(nil)) }

// Append appends the text form of d to b.
func (d Decimal) Append(b []byte) []byte {
	u := d.Unscaled
	if u < 0 {
		b = append(b, '-')
	}
	var abs uint64
	if u < 0 {
		abs = uint64(-u)
	} else {
		abs = uint64(u)
	}
	var tmp [24]byte
	digits := strconv.AppendUint(tmp[:0], abs, 10)
	if d.Scale <= 0 {
		b = append(b, digits...)
		for i := int32(0); i < -d.Scale; i++ {
			b = append(b, '0')
		}
		return b
	}
	sc := int(d.Scale)
	if len(digits) <= sc {
		b = append(b, '0', '.')
		for i := len(digits); i < sc; i++ {
			b = append(b, '0')
		}
		return append(b, digits...)
	}
	b = append(b, digits[:len(digits)-sc]...)
	b = append(b, '.')
	return append(b, digits[len(digits)-sc:]...)
}

// Cmp compares two decimals numerically: -1, 0 or +1.
func (d Decimal) Cmp(o Decimal) int {
	a, b := d, o
	if a.Scale != b.Scale {
		s := max(a.Scale, b.Scale)
		var err1, err2 error
		a, err1 = a.Rescale(s)
		b, err2 = b.Rescale(s)
		if err1 != nil || err2 != nil {
			return cmpFloat(d.Float64(), o.Float64())
		}
	}
	switch {
	case a.Unscaled < b.Unscaled:
		return -1
	case a.Unscaled > b.Unscaled:
		return 1
	}
	return 0
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// MarshalJSON writes d as a JSON number, exactly.
func (d Decimal) MarshalJSON() ([]byte, error) { return d.Append(nil), nil }

// UnmarshalJSON reads a JSON number or string.
func (d *Decimal) UnmarshalJSON(b []byte) error {
	if len(b) >= 2 && b[0] == '"' {
		b = b[1 : len(b)-1]
	}
	v, err := ParseDecimalBytes(b)
	if err != nil {
		return err
	}
	*d = v
	return nil
}
