package singer

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/tributary-data/tributary/connector"
)

// jsonSchema is the part of JSON Schema that Singer taps use to describe
// records.
type jsonSchema struct {
	Type       json.RawMessage `json:"type,omitempty"`
	Format     string          `json:"format,omitempty"`
	Properties json.RawMessage `json:"properties,omitempty"`
	Required   []string        `json:"required,omitempty"`
	AnyOf      []jsonSchema    `json:"anyOf,omitempty"`
	OneOf      []jsonSchema    `json:"oneOf,omitempty"`
	MultipleOf *json.Number    `json:"multipleOf,omitempty"`
}

// kind is a JSON value kind a field accepts, as a bit set.
type kind uint8

const (
	kNull kind = 1 << iota
	kBool
	kInteger
	kNumber
	kString
	kObject
	kArray
	kAny = kBool | kInteger | kNumber | kString | kObject | kArray | kNull
)

var kindNames = map[string]kind{
	"null": kNull, "boolean": kBool, "integer": kInteger, "number": kNumber,
	"string": kString, "object": kObject, "array": kArray,
}

func (k kind) String() string {
	var names []string
	for _, n := range []string{"null", "boolean", "integer", "number", "string", "object", "array"} {
		if k&kindNames[n] != 0 {
			names = append(names, n)
		}
	}
	return strings.Join(names, " or ")
}

// field is one property of a stream's schema with what it accepts.
type field struct {
	connector.Field
	kinds  kind
	format string
}

// streamSchema is a Singer stream's schema mapped to connector types.
type streamSchema struct {
	fields []field
	index  map[string]int
	schema *connector.Schema
}

// parseSchema maps a Singer JSON Schema to a connector schema, keeping the
// order of the properties as the tap wrote them. overrides come from the
// pipeline and replace a field's inferred type.
func parseSchema(raw json.RawMessage, overrides map[string]connector.Type) (*streamSchema, error) {
	var js jsonSchema
	if err := json.Unmarshal(raw, &js); err != nil {
		return nil, fmt.Errorf("schema: %w", err)
	}
	names, props, err := orderedProperties(js.Properties)
	if err != nil {
		return nil, fmt.Errorf("schema properties: %w", err)
	}
	ss := &streamSchema{index: map[string]int{}}
	for i, name := range names {
		var p jsonSchema
		if err := json.Unmarshal(props[i], &p); err != nil {
			return nil, fmt.Errorf("schema property %q: %w", name, err)
		}
		f, err := fieldOf(name, &p, slices.Contains(js.Required, name))
		if err != nil {
			return nil, fmt.Errorf("schema property %q: %w", name, err)
		}
		if t, ok := overrides[name]; ok {
			f.Type = t
		}
		ss.add(f)
	}
	return ss, nil
}

func (ss *streamSchema) add(f field) {
	ss.index[f.Name] = len(ss.fields)
	ss.fields = append(ss.fields, f)
	s := &connector.Schema{Fields: make([]connector.Field, len(ss.fields))}
	for i, f := range ss.fields {
		s.Fields[i] = f.Field
	}
	ss.schema = s
}

// orderedProperties returns the keys and values of a JSON object in the
// order they were written.
func orderedProperties(raw json.RawMessage) ([]string, []json.RawMessage, error) {
	if len(bytes.TrimSpace(raw)) == 0 || string(bytes.TrimSpace(raw)) == "null" {
		return nil, nil, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	tok, err := dec.Token()
	if err != nil {
		return nil, nil, err
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, nil, fmt.Errorf("not an object")
	}
	var names []string
	var values []json.RawMessage
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, nil, err
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, nil, err
		}
		names = append(names, tok.(string))
		values = append(values, v)
	}
	return names, values, nil
}

// kindsOf collects the JSON kinds and format a schema node allows,
// following anyOf and oneOf.
func kindsOf(s *jsonSchema) (kind, string, bool, error) {
	var k kind
	format := s.Format
	decimal := s.MultipleOf != nil
	if len(s.Type) > 0 {
		var types []string
		if s.Type[0] == '"' {
			var one string
			if err := json.Unmarshal(s.Type, &one); err != nil {
				return 0, "", false, err
			}
			types = []string{one}
		} else if err := json.Unmarshal(s.Type, &types); err != nil {
			return 0, "", false, fmt.Errorf("type: %w", err)
		}
		for _, t := range types {
			bit, ok := kindNames[t]
			if !ok {
				return 0, "", false, fmt.Errorf("unknown type %q", t)
			}
			k |= bit
		}
	}
	for _, sub := range append(append([]jsonSchema(nil), s.AnyOf...), s.OneOf...) {
		sk, sf, sd, err := kindsOf(&sub)
		if err != nil {
			return 0, "", false, err
		}
		k |= sk
		if format == "" {
			format = sf
		}
		decimal = decimal || sd
	}
	if len(s.Type) == 0 && len(s.AnyOf) == 0 && len(s.OneOf) == 0 {
		k = kAny
	}
	return k, format, decimal, nil
}

func fieldOf(name string, s *jsonSchema, required bool) (field, error) {
	k, format, decimal, err := kindsOf(s)
	if err != nil {
		return field{}, err
	}
	f := field{kinds: k, format: format}
	f.Name = name
	// A property a record may leave out reads as null, so only a required
	// property that does not allow null is NOT NULL.
	f.Nullable = k&kNull != 0 || !required
	switch k &^ kNull {
	case kInteger:
		f.Type = connector.TypeInt64
	case kNumber, kNumber | kInteger:
		f.Type = connector.TypeFloat64
		if decimal {
			f.Type = connector.TypeDecimal
		}
	case kBool:
		f.Type = connector.TypeBool
	case kString:
		switch format {
		case "date-time":
			f.Type = connector.TypeTimestamp
		case "date":
			f.Type = connector.TypeDate
		default:
			f.Type = connector.TypeString
		}
	case kBool | kInteger, kBool | kNumber, kString | kInteger, kString | kNumber, kString | kInteger | kNumber, kString | kBool:
		f.Type = connector.TypeString
	default:
		f.Type = connector.TypeJSON
	}
	return f, nil
}

// valueKind is the JSON kind of a value decoded with UseNumber.
func valueKind(v any) kind {
	switch x := v.(type) {
	case nil:
		return kNull
	case bool:
		return kBool
	case json.Number:
		if !strings.ContainsAny(string(x), ".eE") {
			return kInteger
		}
		if f, err := x.Float64(); err == nil && f == float64(int64(f)) && !strings.ContainsAny(string(x), "eE") {
			// 3.0 is an integer to JSON Schema.
			return kInteger
		}
		return kNumber
	case string:
		return kString
	case map[string]any:
		return kObject
	case []any:
		return kArray
	}
	return 0
}

// value checks v against the field's declared schema and converts it to the
// field's type.
func (f *field) value(v any) (any, error) {
	vk := valueKind(v)
	accepted := f.kinds
	if accepted&kNumber != 0 {
		accepted |= kInteger // every integer is a number
	}
	if vk == kNull {
		if !f.Nullable {
			return nil, fmt.Errorf("field %q: null, but the schema does not allow null", f.Name)
		}
		return nil, nil
	}
	if accepted&vk == 0 {
		return nil, fmt.Errorf("field %q: %s value %s, but the schema declares %s", f.Name, vk, short(v), f.kinds&^kNull)
	}
	if f.Type == connector.TypeJSON {
		return plainJSON(v), nil
	}
	if f.Type == connector.TypeString && vk != kString {
		if vk == kObject || vk == kArray {
			b, _ := json.Marshal(v)
			return string(b), nil
		}
		return connector.FormatValue(plainJSON(v)), nil
	}
	if n, ok := v.(json.Number); ok && f.Type == connector.TypeInt64 && vk == kInteger && strings.ContainsAny(string(n), ".eE") {
		// 3.0 is an integer to JSON Schema; Convert checks the float is whole.
		v, _ = n.Float64()
	}
	out, err := connector.Convert(f.Type, v)
	if err != nil {
		return nil, fmt.Errorf("field %q: %w", f.Name, err)
	}
	return out, nil
}

// plainJSON turns the json.Numbers of a decoded value into float64 or
// int64, the forms the SDK's json type holds.
func plainJSON(v any) any {
	switch x := v.(type) {
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i
		}
		f, _ := x.Float64()
		return f
	case map[string]any:
		for k, e := range x {
			x[k] = plainJSON(e)
		}
	case []any:
		for i, e := range x {
			x[i] = plainJSON(e)
		}
	}
	return v
}

func short(v any) string {
	b, _ := json.Marshal(v)
	if len(b) > 60 {
		return string(b[:57]) + "..."
	}
	return string(b)
}

// toJSONSchema describes a connector schema as a Singer JSON Schema.
func toJSONSchema(s *connector.Schema) map[string]any {
	props := make(map[string]any, len(s.Fields))
	for _, f := range s.Fields {
		var p map[string]any
		switch f.Type {
		case connector.TypeBool:
			p = map[string]any{"type": "boolean"}
		case connector.TypeInt64:
			p = map[string]any{"type": "integer"}
		case connector.TypeFloat64, connector.TypeDecimal:
			p = map[string]any{"type": "number"}
		case connector.TypeString:
			p = map[string]any{"type": "string"}
		case connector.TypeBytes:
			p = map[string]any{"type": "string", "contentEncoding": "base64"}
		case connector.TypeDate:
			p = map[string]any{"type": "string", "format": "date"}
		case connector.TypeTimestamp:
			p = map[string]any{"type": "string", "format": "date-time"}
		default:
			p = map[string]any{"type": []string{"object", "array", "string", "number", "integer", "boolean"}}
		}
		if f.Nullable {
			switch t := p["type"].(type) {
			case string:
				p["type"] = []string{t, "null"}
			case []string:
				p["type"] = append(t, "null")
			}
		}
		props[f.Name] = p
	}
	return map[string]any{"type": "object", "properties": props}
}
