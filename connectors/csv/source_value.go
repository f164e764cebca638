package csv

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/tributary-data/tributary/connector"
)

// converter turns the bytes of one field into the Go value of its type.
// The bytes live in the read buffer: a converter copies what it keeps.
type converter func(b []byte) (any, error)

func converterFor(t connector.Type, bx *boxer) converter {
	switch t {
	case connector.TypeString:
		return func(b []byte) (any, error) {
			if !utf8.Valid(b) {
				return nil, errors.New("invalid UTF-8")
			}
			return bx.string(b), nil
		}
	case connector.TypeInt64:
		return func(b []byte) (any, error) {
			if v, ok := parseInt(trimSpace(b)); ok {
				return bx.int64(v), nil
			}
			return nil, fmt.Errorf("not an integer: %s", quoteField(b))
		}
	case connector.TypeFloat64:
		return func(b []byte) (any, error) {
			v, err := parseFloat(b)
			if err != nil {
				return nil, err
			}
			return bx.float64(v), nil
		}
	case connector.TypeDecimal:
		return func(b []byte) (any, error) {
			v, err := parseDecimal(b)
			if err != nil {
				return nil, err
			}
			return bx.decimal(v), nil
		}
	case connector.TypeBool:
		return convBool
	case connector.TypeTimestamp:
		return func(b []byte) (any, error) {
			if t, ok := parseTimestamp(trimSpace(b)); ok {
				return bx.time(t), nil
			}
			return convTimestamp(b)
		}
	case connector.TypeDate:
		return convDate
	}
	return func(b []byte) (any, error) {
		if !utf8.Valid(b) {
			return nil, errors.New("invalid UTF-8")
		}
		return connector.ParseValue(t, string(b))
	}
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// quoteField renders a bad value for an error message, valid UTF-8 or not.
func quoteField(b []byte) string {
	if len(b) > 64 {
		b = b[:64]
	}
	return strconv.Quote(string(b))
}

func parseInt(b []byte) (int64, bool) {
	if len(b) == 0 {
		return 0, false
	}
	neg := false
	switch b[0] {
	case '-':
		neg = true
		b = b[1:]
	case '+':
		b = b[1:]
	}
	if len(b) == 0 || len(b) > 19 {
		return 0, false
	}
	var u uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		u = u*10 + uint64(c-'0')
	}
	if len(b) == 19 && u > 1<<63 {
		return 0, false
	}
	if neg {
		return -int64(u), true
	}
	if u > 1<<63-1 {
		return 0, false
	}
	return int64(u), true
}

// exact10 holds the powers of ten a float64 represents exactly.
var exact10 = [...]float64{1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22}

// fastFloat reads plain decimals of up to 15 digits ("611.636", "-3"): the
// digits and the power of ten are both exact in a float64, so one division
// rounds correctly (Clinger's fast path) without strconv's general parser.
func fastFloat(b []byte) (float64, bool) {
	neg := false
	if len(b) > 0 && (b[0] == '-' || b[0] == '+') {
		neg = b[0] == '-'
		b = b[1:]
	}
	if len(b) == 0 || len(b) > 16 {
		return 0, false
	}
	var m uint64
	digits, frac, point := 0, 0, false
	for _, c := range b {
		switch {
		case c >= '0' && c <= '9':
			m = m*10 + uint64(c-'0')
			digits++
			if point {
				frac++
			}
		case c == '.' && !point:
			point = true
		default:
			return 0, false
		}
	}
	if digits == 0 || digits > 15 {
		return 0, false
	}
	f := float64(m) / exact10[frac]
	if neg {
		f = -f
	}
	return f, true
}

func parseFloat(b []byte) (float64, error) {
	t := trimSpace(b)
	if f, ok := fastFloat(t); ok {
		return f, nil
	}
	// The string view lives only for the call; the error, which would
	// keep it, is dropped.
	v, err := strconv.ParseFloat(unsafe.String(unsafe.SliceData(t), len(t)), 64)
	if err != nil || len(t) == 0 {
		return 0, fmt.Errorf("not a number: %s", quoteField(b))
	}
	return v, nil
}

func parseDecimal(b []byte) (connector.Decimal, error) {
	d, err := connector.ParseDecimalBytes(trimSpace(b))
	if errors.Is(err, connector.ErrDecimalRange) {
		return d, fmt.Errorf("%s: %w", quoteField(b), err)
	}
	if err != nil {
		return d, fmt.Errorf("not a decimal: %s", quoteField(b))
	}
	return d, nil
}

var (
	trueWords  = [][]byte{[]byte("true"), []byte("t"), []byte("yes"), []byte("y"), []byte("1"), []byte("on")}
	falseWords = [][]byte{[]byte("false"), []byte("f"), []byte("no"), []byte("n"), []byte("0"), []byte("off")}
)

func convBool(b []byte) (any, error) {
	switch string(b) {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	t := trimSpace(b)
	for _, w := range trueWords {
		if bytes.EqualFold(t, w) {
			return true, nil
		}
	}
	for _, w := range falseWords {
		if bytes.EqualFold(t, w) {
			return false, nil
		}
	}
	return nil, fmt.Errorf("not a boolean: %s", quoteField(b))
}

func convTimestamp(b []byte) (any, error) {
	if t, ok := parseTimestamp(trimSpace(b)); ok {
		return t, nil
	}
	if !utf8.Valid(b) {
		return nil, fmt.Errorf("not a timestamp: %s", quoteField(b))
	}
	t, err := connector.ParseTimestamp(string(b))
	if err != nil {
		return nil, err
	}
	return t, nil
}

func convDate(b []byte) (any, error) {
	if t, ok := parseTimestamp(trimSpace(b)); ok {
		y, m, d := t.Date()
		return time.Date(y, m, d, 0, 0, 0, 0, time.UTC), nil
	}
	if !utf8.Valid(b) {
		return nil, fmt.Errorf("not a date: %s", quoteField(b))
	}
	return connector.ParseValue(connector.TypeDate, string(b))
}

// num parses a fixed run of ASCII digits, -1 when there is anything else.
func num(b []byte) int {
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return -1
		}
		n = n*10 + int(c-'0')
	}
	return n
}

// parseTimestamp reads the shapes that make up nearly every file,
// "2006-01-02", "2006-01-02T15:04:05" or with a space, an optional fraction
// and an optional Z or ±hh[:mm] zone, without time.Parse. Anything else
// reports false and goes to the general parser.
func parseTimestamp(b []byte) (time.Time, bool) {
	n := len(b)
	if n < 10 || b[4] != '-' || b[7] != '-' {
		return time.Time{}, false
	}
	y, mo, d := num(b[0:4]), num(b[5:7]), num(b[8:10])
	if y < 1 || mo < 1 || mo > 12 || d < 1 || d > daysIn(mo, y) {
		return time.Time{}, false
	}
	if n == 10 {
		return time.Unix(daysFromCivil(y, mo, d)*86400, 0).UTC(), true
	}
	if n < 19 || (b[10] != 'T' && b[10] != ' ') || b[13] != ':' || b[16] != ':' {
		return time.Time{}, false
	}
	h, mi, s := num(b[11:13]), num(b[14:16]), num(b[17:19])
	if h < 0 || h > 23 || mi < 0 || mi > 59 || s < 0 || s > 59 {
		return time.Time{}, false
	}
	i, ns := 19, 0
	if i < n && b[i] == '.' {
		i++
		k := 0
		for ; i < n && b[i] >= '0' && b[i] <= '9'; i++ {
			if k < 9 {
				ns = ns*10 + int(b[i]-'0')
				k++
			}
		}
		if k == 0 {
			return time.Time{}, false
		}
		for ; k < 9; k++ {
			ns *= 10
		}
	}
	off := 0
	if i < n {
		switch b[i] {
		case 'Z':
			i++
		case '+', '-':
			sign := 1
			if b[i] == '-' {
				sign = -1
			}
			i++
			z := b[i:]
			var oh, om int
			switch {
			case len(z) == 2:
				oh, om = num(z), 0
			case len(z) == 4:
				oh, om = num(z[:2]), num(z[2:])
			case len(z) == 5 && z[2] == ':':
				oh, om = num(z[:2]), num(z[3:])
			default:
				return time.Time{}, false
			}
			if oh < 0 || om < 0 || oh > 23 || om > 59 {
				return time.Time{}, false
			}
			off = sign * (oh*3600 + om*60)
			i = n
		default:
			return time.Time{}, false
		}
	}
	if i != n {
		return time.Time{}, false
	}
	secs := daysFromCivil(y, mo, d)*86400 + int64(h*3600+mi*60+s) - int64(off)
	return time.Unix(secs, int64(ns)).UTC(), true
}

// daysFromCivil counts days from 1970-01-01 to a proleptic Gregorian date
// (Howard Hinnant's algorithm), cheaper than time.Date's normalisation.
func daysFromCivil(y, m, d int) int64 {
	if m <= 2 {
		y--
	}
	era := y / 400
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return int64(era)*146097 + int64(doe) - 719468
}

func daysIn(m, y int) int {
	switch m {
	case 2:
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}
