package sqlsource

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tributary-data/tributary/connector"
)

// Convert turns a value scanned from a database/sql driver into the SDK
// type t. Drivers hand back []byte for most text-protocol values and reuse
// that memory on the next row, so byte values are always copied.
func Convert(t connector.Type, v any) (any, error) {
	switch x := v.(type) {
	case nil:
		return nil, nil
	case []byte:
		switch t {
		case connector.TypeBytes:
			return bytes.Clone(x), nil
		case connector.TypeString:
			if !utf8.Valid(x) {
				return nil, errors.New("invalid UTF-8")
			}
			return string(x), nil
		case connector.TypeDecimal:
			return parseDecimal(string(x))
		case connector.TypeJSON:
			return decodeJSON(x)
		}
		return connector.ParseValue(t, string(x))
	case string:
		switch t {
		case connector.TypeBytes:
			return []byte(x), nil
		case connector.TypeJSON:
			return decodeJSON([]byte(x))
		case connector.TypeDecimal:
			return parseDecimal(x)
		}
		return connector.ParseValue(t, x)
	case float32:
		return connector.Convert(t, float64(x))
	case int32:
		return connector.Convert(t, int64(x))
	case int:
		return connector.Convert(t, int64(x))
	case uint64:
		if x > 1<<63-1 {
			return nil, fmt.Errorf("%d does not fit in int64", x)
		}
		return connector.Convert(t, int64(x))
	case int64:
		switch t {
		case connector.TypeString:
			return connector.FormatValue(x), nil
		case connector.TypeFloat64:
			return float64(x), nil
		}
	case time.Time:
		if t == connector.TypeString {
			return x.UTC().Format(time.RFC3339Nano), nil
		}
	case bool:
		if t == connector.TypeInt64 {
			if x {
				return int64(1), nil
			}
			return int64(0), nil
		}
	}
	return connector.Convert(t, v)
}

// parseDecimal parses a decimal as a database prints it. Columns with a
// wide declared scale print trailing zeros ("12.500000000000000000") that
// would count against the 18 significant digits of a Decimal; they are
// dropped only when the value would not fit otherwise, so the value stays
// exact either way.
func parseDecimal(s string) (any, error) {
	s = strings.TrimSpace(s)
	d, err := connector.ParseDecimal(s)
	if errors.Is(err, connector.ErrDecimalRange) && strings.Contains(s, ".") && !strings.ContainsAny(s, "eE") {
		d, err = connector.ParseDecimal(strings.TrimSuffix(strings.TrimRight(s, "0"), "."))
	}
	if errors.Is(err, connector.ErrDecimalRange) {
		return nil, fmt.Errorf("%s: %w", s, err)
	}
	if err != nil {
		return nil, fmt.Errorf("not a decimal: %q", s)
	}
	return d, nil
}

func decodeJSON(b []byte) (any, error) {
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("not JSON: %w", err)
	}
	return out, nil
}

// rawText renders a scanned value for the Raw field of a reject.
func rawText(v any) string {
	switch x := v.(type) {
	case []byte:
		if utf8.Valid(x) {
			return string(x)
		}
		return connector.FormatValue(x)
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano)
	case float32:
		return connector.FormatValue(float64(x))
	}
	return connector.FormatValue(v)
}
