package connector

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// TimestampLayouts are the text forms [ParseValue] accepts for timestamps,
// tried in order. Values without a zone are taken as UTC.
var TimestampLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999-07",
	"2006-01-02 15:04:05.999999999",
	"2006-01-02T15:04",
	"2006-01-02 15:04",
	"2006-01-02",
}

// ParseValue converts the text s into a value of type t. The empty string is
// not special here; callers decide whether it means null.
func ParseValue(t Type, s string) (any, error) {
	switch t {
	case TypeString:
		if !utf8.ValidString(s) {
			return nil, errors.New("invalid UTF-8")
		}
		return s, nil
	case TypeInt64:
		v, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("not an integer: %q", s)
		}
		return v, nil
	case TypeFloat64:
		v, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil {
			return nil, fmt.Errorf("not a number: %q", s)
		}
		return v, nil
	case TypeDecimal:
		v, err := ParseDecimal(strings.TrimSpace(s))
		if errors.Is(err, ErrDecimalRange) {
			return nil, fmt.Errorf("%q: %w", s, err)
		}
		if err != nil {
			return nil, fmt.Errorf("not a decimal: %q", s)
		}
		return v, nil
	case TypeBool:
		return ParseBool(s)
	case TypeTimestamp:
		return ParseTimestamp(s)
	case TypeDate:
		ts, err := ParseTimestamp(s)
		if err != nil {
			return nil, fmt.Errorf("not a date: %q", s)
		}
		y, m, d := ts.Date()
		return time.Date(y, m, d, 0, 0, 0, 0, time.UTC), nil
	case TypeBytes:
		if b, err := base64.StdEncoding.DecodeString(s); err == nil {
			return b, nil
		}
		return []byte(s), nil
	case TypeJSON:
		var v any
		if err := json.Unmarshal([]byte(s), &v); err != nil {
			return nil, fmt.Errorf("not JSON: %w", err)
		}
		return v, nil
	}
	return nil, fmt.Errorf("unknown type %q", t)
}

// ParseBool accepts true/false, yes/no, y/n, t/f, on/off and 1/0 in any case.
func ParseBool(s string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "true", "t", "yes", "y", "1", "on":
		return true, nil
	case "false", "f", "no", "n", "0", "off":
		return false, nil
	}
	return false, fmt.Errorf("not a boolean: %q", s)
}

// ParseTimestamp parses s with [TimestampLayouts] and returns it in UTC.
func ParseTimestamp(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	// The common RFC 3339 shapes first, without walking the list.
	if len(s) >= 19 {
		if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
			return t.UTC(), nil
		}
	}
	for _, l := range TimestampLayouts {
		if t, err := time.ParseInLocation(l, s, time.UTC); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("not a timestamp: %q", s)
}

// Convert turns a value decoded from JSON, XML attributes, a driver or an
// expression into type t. Strings are parsed as [ParseValue] does.
func Convert(t Type, v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	if s, ok := v.(string); ok {
		return ParseValue(t, s)
	}
	switch t {
	case TypeString:
		switch x := v.(type) {
		case []byte:
			return string(x), nil
		case time.Time:
			return x.UTC().Format(time.RFC3339Nano), nil
		case map[string]any, []any:
			b, err := json.Marshal(x)
			return string(b), err
		}
		return FormatValue(v), nil
	case TypeInt64:
		switch x := v.(type) {
		case int64:
			return x, nil
		case int:
			return int64(x), nil
		case int32:
			return int64(x), nil
		case float64:
			if x != math.Trunc(x) || math.Abs(x) > 1<<53 {
				return nil, fmt.Errorf("not an integer: %v", x)
			}
			return int64(x), nil
		case json.Number:
			return strconv.ParseInt(string(x), 10, 64)
		case Decimal:
			d, err := x.Rescale(0)
			if err != nil || d.Cmp(x) != 0 {
				return nil, fmt.Errorf("not an integer: %s", x)
			}
			return d.Unscaled, nil
		case bool:
			if x {
				return int64(1), nil
			}
			return int64(0), nil
		}
	case TypeFloat64:
		switch x := v.(type) {
		case float64:
			return x, nil
		case float32:
			return float64(x), nil
		case int64:
			return float64(x), nil
		case int:
			return float64(x), nil
		case json.Number:
			return x.Float64()
		case Decimal:
			return x.Float64(), nil
		}
	case TypeDecimal:
		switch x := v.(type) {
		case Decimal:
			return x, nil
		case int64:
			return Decimal{Unscaled: x}, nil
		case int:
			return Decimal{Unscaled: int64(x)}, nil
		case float64:
			return ParseDecimal(strconv.FormatFloat(x, 'f', -1, 64))
		case json.Number:
			return ParseDecimal(string(x))
		}
	case TypeBool:
		switch x := v.(type) {
		case bool:
			return x, nil
		case int64:
			return x != 0, nil
		case float64:
			return x != 0, nil
		}
	case TypeTimestamp, TypeDate:
		switch x := v.(type) {
		case time.Time:
			x = x.UTC()
			if t == TypeDate {
				y, m, d := x.Date()
				x = time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
			}
			return x, nil
		case int64:
			return time.Unix(x, 0).UTC(), nil
		case float64:
			return time.UnixMicro(int64(x * 1e6)).UTC(), nil
		}
	case TypeBytes:
		if b, ok := v.([]byte); ok {
			return b, nil
		}
	case TypeJSON:
		if b, ok := v.([]byte); ok {
			var out any
			err := json.Unmarshal(b, &out)
			return out, err
		}
		return v, nil
	}
	return nil, fmt.Errorf("cannot convert %T to %s", v, t)
}

// FormatValue renders a value as text: the form CSV files and error
// messages use. Timestamps are RFC 3339 in UTC, dates YYYY-MM-DD, bytes
// base64, json compact JSON; nil is the empty string.
func FormatValue(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	case Decimal:
		return x.String()
	case time.Time:
		if x.Hour() == 0 && x.Minute() == 0 && x.Second() == 0 && x.Nanosecond() == 0 && x.Location() == time.UTC {
			// Ambiguous between a date and a midnight timestamp; RFC 3339
			// keeps both readable and round-trips through ParseValue.
			return x.Format(time.RFC3339Nano)
		}
		return x.UTC().Format(time.RFC3339Nano)
	case []byte:
		return base64.StdEncoding.EncodeToString(x)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// InferType guesses the narrowest type that every non-empty sample parses
// as, the way a reader of a CSV file would: integers, then decimals (when
// every sample has few fraction digits), floats, booleans, timestamps, and
// strings otherwise.
func InferType(samples []string) Type {
	candidates := []Type{TypeInt64, TypeDecimal, TypeFloat64, TypeBool, TypeTimestamp}
	seen := false
	for _, s := range samples {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		seen = true
		kept := candidates[:0]
		for _, c := range candidates {
			if inferable(c, s) {
				kept = append(kept, c)
			}
		}
		candidates = kept
		if len(candidates) == 0 {
			return TypeString
		}
	}
	if !seen {
		return TypeString
	}
	return candidates[0]
}

func inferable(t Type, s string) bool {
	switch t {
	case TypeInt64:
		_, err := strconv.ParseInt(s, 10, 64)
		return err == nil
	case TypeDecimal:
		// Exact decimals for plain fixed-point literals ("12.50"), which is
		// what money looks like; exponents and long fractions are floats.
		if strings.ContainsAny(s, "eE") {
			return false
		}
		_, err := ParseDecimal(s)
		return err == nil
	case TypeFloat64:
		_, err := strconv.ParseFloat(s, 64)
		return err == nil
	case TypeBool:
		switch strings.ToLower(s) {
		case "true", "false":
			return true
		}
		return false
	case TypeTimestamp:
		if len(s) < 10 || s[4] != '-' {
			return false
		}
		_, err := ParseTimestamp(s)
		return err == nil
	}
	return false
}
