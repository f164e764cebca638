package connector

import (
	"fmt"
	"strings"
)

// Type is the logical type of a field. Every value in a [Batch] row holds the
// Go type listed for its field's Type, or nil.
type Type string

// The types a schema field can have, with the Go type a row holds for each.
const (
	TypeBool      Type = "bool"      // bool
	TypeInt64     Type = "int64"     // int64
	TypeFloat64   Type = "float64"   // float64
	TypeDecimal   Type = "decimal"   // Decimal
	TypeString    Type = "string"    // string
	TypeBytes     Type = "bytes"     // []byte
	TypeDate      Type = "date"      // time.Time at midnight UTC
	TypeTimestamp Type = "timestamp" // time.Time in UTC
	TypeJSON      Type = "json"      // any, as decoded by encoding/json
)

// Types lists every valid [Type] in a stable order.
var Types = []Type{TypeBool, TypeInt64, TypeFloat64, TypeDecimal, TypeString, TypeBytes, TypeDate, TypeTimestamp, TypeJSON}

// ParseType returns the Type named s. It accepts a few common aliases
// ("int", "integer", "float", "double", "numeric", "text", "datetime") so
// hand-written pipeline files read naturally.
func ParseType(s string) (Type, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "bool", "boolean":
		return TypeBool, nil
	case "int64", "int", "integer", "bigint", "long":
		return TypeInt64, nil
	case "float64", "float", "double", "real", "number":
		return TypeFloat64, nil
	case "decimal", "numeric":
		return TypeDecimal, nil
	case "string", "text", "varchar":
		return TypeString, nil
	case "bytes", "binary", "blob":
		return TypeBytes, nil
	case "date":
		return TypeDate, nil
	case "timestamp", "datetime", "timestamptz":
		return TypeTimestamp, nil
	case "json", "object", "array":
		return TypeJSON, nil
	}
	return "", fmt.Errorf("unknown type %q", s)
}

// Field is one column of a [Schema].
type Field struct {
	Name     string `json:"name" yaml:"name"`
	Type     Type   `json:"type" yaml:"type"`
	Nullable bool   `json:"nullable" yaml:"nullable"`
}

// Schema is the ordered list of fields of a stream. Rows of a [Batch] are
// positional: value i belongs to Fields[i].
type Schema struct {
	Fields []Field `json:"fields" yaml:"fields"`
}

// NewSchema returns a schema holding fields.
func NewSchema(fields ...Field) *Schema { return &Schema{Fields: fields} }

// Index returns the position of the field called name, or -1.
func (s *Schema) Index(name string) int {
	for i, f := range s.Fields {
		if f.Name == name {
			return i
		}
	}
	return -1
}

// Names returns the field names in order.
func (s *Schema) Names() []string {
	out := make([]string, len(s.Fields))
	for i, f := range s.Fields {
		out[i] = f.Name
	}
	return out
}

// Clone returns a deep copy that can be changed without affecting s.
func (s *Schema) Clone() *Schema {
	return &Schema{Fields: append([]Field(nil), s.Fields...)}
}

// Equal reports whether both schemas have the same fields in the same order.
func (s *Schema) Equal(o *Schema) bool {
	if s == o {
		return true
	}
	if s == nil || o == nil || len(s.Fields) != len(o.Fields) {
		return false
	}
	for i := range s.Fields {
		if s.Fields[i] != o.Fields[i] {
			return false
		}
	}
	return true
}

// Widen returns the narrowest type that can hold values of both a and b
// without loss, and whether such a widening exists. Destinations use it to
// evolve a column when a stream's type changes.
func Widen(a, b Type) (Type, bool) {
	if a == b {
		return a, true
	}
	rank := map[Type]int{TypeBool: 0, TypeInt64: 1, TypeFloat64: 2, TypeDecimal: 3}
	ra, okA := rank[a]
	rb, okB := rank[b]
	switch {
	case okA && okB && a != TypeBool && b != TypeBool:
		if ra > rb {
			return a, true
		}
		return b, true
	case (a == TypeDate && b == TypeTimestamp) || (a == TypeTimestamp && b == TypeDate):
		return TypeTimestamp, true
	case a == TypeString || b == TypeString:
		// Every type has a lossless text form.
		return TypeString, a != TypeBytes && b != TypeBytes && a != TypeJSON && b != TypeJSON
	}
	return "", false
}
