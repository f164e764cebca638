package filesource

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tributary-data/tributary/connector"
)

// KV is one field of a record whose fields are named (a JSON object, a
// flattened XML element), in the order the record holds them.
type KV struct {
	Key   string
	Value any
}

// Objects turns records of named fields into positional rows. The schema
// starts as inferred from a sample and grows while reading: a field never
// seen before is appended, an integer field meeting a fraction becomes a
// float, a date meeting a time of day a timestamp. Each change makes a new
// *Schema, which starts a new batch.
type Objects struct {
	schema    *connector.Schema
	index     map[string]int
	overrides map[string]connector.Type
	vals      []any
	// Text says values are text to be typed by their looks (XML), not
	// JSON values typed by their kind.
	Text bool
}

// NewObjects starts from schema (which it never modifies).
func NewObjects(schema *connector.Schema, overrides map[string]connector.Type, text bool) *Objects {
	o := &Objects{schema: schema, index: map[string]int{}, overrides: overrides, Text: text}
	for i, f := range schema.Fields {
		o.index[f.Name] = i
	}
	return o
}

// Schema returns the current schema.
func (o *Objects) Schema() *connector.Schema { return o.schema }

// Row converts one record into a row allocated with alloc, or explains why
// it cannot.
func (o *Objects) Row(rec []KV, alloc Alloc) ([]any, string) {
	// Values are converted before the row is allocated, since a record
	// may change the schema the row must have.
	vals := o.vals[:0]
	for _, kv := range rec {
		if kv.Value == nil {
			vals = append(vals, nil)
			continue
		}
		i, ok := o.index[kv.Key]
		if !ok {
			t := o.natural(kv.Value)
			if ot, ok := o.overrides[kv.Key]; ok {
				t = ot
			}
			o.grow(kv.Key, t)
			i = len(o.schema.Fields) - 1
		}
		f := o.schema.Fields[i]
		v, err := ConvertValue(f.Type, kv.Value)
		if err != nil {
			if _, fixed := o.overrides[f.Name]; !fixed {
				if w, ok := connector.Widen(f.Type, o.natural(kv.Value)); ok && w != f.Type && w != connector.TypeString {
					if v2, err2 := ConvertValue(w, kv.Value); err2 == nil {
						o.retype(i, w)
						v, err = v2, nil
					}
				}
			}
		}
		if err != nil {
			o.vals = vals
			return nil, fmt.Sprintf("field %q: %v", kv.Key, err)
		}
		vals = append(vals, v)
	}
	o.vals = vals
	row := alloc(o.schema)
	for j, kv := range rec {
		if vals[j] != nil {
			row[o.index[kv.Key]] = vals[j]
		}
	}
	return row, ""
}

func (o *Objects) grow(name string, t connector.Type) {
	s := o.schema.Clone()
	s.Fields = append(s.Fields, connector.Field{Name: name, Type: t, Nullable: true})
	o.index[name] = len(s.Fields) - 1
	o.schema = s
}

func (o *Objects) retype(i int, t connector.Type) {
	s := o.schema.Clone()
	s.Fields[i].Type = t
	o.schema = s
}

func (o *Objects) natural(v any) connector.Type {
	if _, ok := v.(string); ok && o.Text {
		return connector.TypeString
	}
	return NaturalType(v)
}

// NaturalType is the type a JSON value suggests: integral numbers int64,
// other numbers float64, RFC 3339 strings timestamp, objects and arrays
// json.
func NaturalType(v any) connector.Type {
	switch x := v.(type) {
	case json.Number:
		if _, err := strconv.ParseInt(string(x), 10, 64); err == nil {
			return connector.TypeInt64
		}
		return connector.TypeFloat64
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1<<53 {
			return connector.TypeInt64
		}
		return connector.TypeFloat64
	case int64:
		return connector.TypeInt64
	case bool:
		return connector.TypeBool
	case string:
		if looksRFC3339(x) {
			return connector.TypeTimestamp
		}
		return connector.TypeString
	case nil:
		return ""
	}
	return connector.TypeJSON
}

func looksRFC3339(s string) bool {
	if len(s) < 20 || s[4] != '-' || s[10] != 'T' && s[10] != 't' && s[10] != ' ' {
		return false
	}
	_, err := time.Parse(time.RFC3339Nano, strings.Replace(s, " ", "T", 1))
	return err == nil
}

// InferObjects infers a schema from sample records: fields in order of
// first appearance, each typed by what all its non-null values have in
// common (text values by their looks when text is set), then overrides.
func InferObjects(sample [][]KV, overrides map[string]connector.Type, text bool) *connector.Schema {
	var names []string
	types := map[string]connector.Type{}
	texts := map[string][]string{}
	for _, rec := range sample {
		for _, kv := range rec {
			if _, seen := types[kv.Key]; !seen {
				names = append(names, kv.Key)
				types[kv.Key] = ""
			}
			if kv.Value == nil {
				continue
			}
			if s, ok := kv.Value.(string); ok && text {
				texts[kv.Key] = append(texts[kv.Key], s)
				continue
			}
			types[kv.Key] = mergeTypes(types[kv.Key], NaturalType(kv.Value))
		}
	}
	fields := make([]connector.Field, len(names))
	for i, n := range names {
		t := types[n]
		if vs := texts[n]; len(vs) > 0 {
			t = mergeTypes(t, connector.InferType(vs))
		}
		if t == "" {
			t = connector.TypeString
		}
		if ot, ok := overrides[n]; ok {
			t = ot
		}
		fields[i] = connector.Field{Name: n, Type: t, Nullable: true}
	}
	return connector.NewSchema(fields...)
}

func mergeTypes(a, b connector.Type) connector.Type {
	switch {
	case a == "":
		return b
	case b == "" || a == b:
		return a
	}
	if w, ok := connector.Widen(a, b); ok {
		return w
	}
	if a == connector.TypeJSON || b == connector.TypeJSON {
		return connector.TypeJSON
	}
	return connector.TypeString
}

// ConvertValue converts a decoded JSON value (numbers as json.Number) or a
// text value to type t, failing on any loss.
func ConvertValue(t connector.Type, v any) (any, error) {
	switch x := v.(type) {
	case nil:
		return nil, nil
	case json.Number:
		s := string(x)
		switch t {
		case connector.TypeInt64:
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("not an integer: %s", s)
			}
			return n, nil
		case connector.TypeFloat64:
			f, err := strconv.ParseFloat(s, 64)
			if err != nil {
				return nil, fmt.Errorf("not a number: %s", s)
			}
			return f, nil
		case connector.TypeDecimal:
			return connector.ParseValue(t, s)
		case connector.TypeString:
			return s, nil
		case connector.TypeJSON:
			return JSONValue(x), nil
		}
		return nil, fmt.Errorf("number %s is not a %s", s, t)
	case string:
		if t == connector.TypeJSON {
			return x, nil
		}
		if !utf8.ValidString(x) {
			return nil, errors.New("invalid UTF-8")
		}
		return connector.ParseValue(t, x)
	case bool:
		switch t {
		case connector.TypeBool:
			return x, nil
		case connector.TypeString:
			return strconv.FormatBool(x), nil
		case connector.TypeJSON:
			return x, nil
		}
		return nil, fmt.Errorf("boolean %t is not a %s", x, t)
	case map[string]any, []any:
		switch t {
		case connector.TypeJSON:
			return JSONValue(x), nil
		case connector.TypeString:
			b, err := json.Marshal(x)
			return string(b), err
		}
		if _, ok := x.([]any); ok {
			return nil, fmt.Errorf("array is not a %s", t)
		}
		return nil, fmt.Errorf("object is not a %s", t)
	}
	return connector.Convert(t, v)
}

// JSONValue turns the json.Number values of a decoded JSON value into
// float64, as plain encoding/json decoding gives them, except integers a
// float64 cannot hold exactly, which stay json.Number to keep their digits.
func JSONValue(v any) any {
	switch x := v.(type) {
	case json.Number:
		f, err := strconv.ParseFloat(string(x), 64)
		if err != nil {
			return x
		}
		if n, err := strconv.ParseInt(string(x), 10, 64); err == nil && (n > 1<<53 || n < -(1<<53)) {
			return x
		}
		return f
	case map[string]any:
		for k, e := range x {
			x[k] = JSONValue(e)
		}
	case []any:
		for i, e := range x {
			x[i] = JSONValue(e)
		}
	}
	return v
}

// DecodeRecord decodes one JSON object into fields. Key order only
// matters for fields the schema does not hold yet (it decides where they
// are appended), so the common record, all of whose keys are known, is
// decoded into a map in one pass and the ordered, slower decoding is kept
// for records bringing new keys.
func (o *Objects) DecodeRecord(data []byte, into []KV) ([]KV, error) {
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil || m == nil {
		// Let the ordered decoder name the problem.
		return DecodeObject(data, into)
	}
	if len(bytes.TrimSpace(data[dec.InputOffset():])) > 0 {
		return into, errors.New("invalid JSON: data after the object")
	}
	out := into[:0]
	for k, v := range m {
		if _, ok := o.index[k]; !ok {
			return DecodeObject(data, into)
		}
		out = append(out, KV{Key: k, Value: v})
	}
	return out, nil
}

// DecodeObject decodes one JSON object keeping its keys in order (a later
// duplicate key replaces the earlier value), numbers as json.Number.
func DecodeObject(data []byte, into []KV) ([]KV, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	// A record cut short reads as the end of input, which is what it is.
	invalid := func(err error) error {
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return errors.New("invalid JSON: unexpected end of JSON input")
		}
		return fmt.Errorf("invalid JSON: %w", err)
	}
	tok, err := dec.Token()
	if err != nil {
		return into, invalid(err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return into, fmt.Errorf("not a JSON object: %s", kindOf(tok))
	}
	out := into[:0]
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return into, invalid(err)
		}
		key, _ := tok.(string)
		var v any
		if err := dec.Decode(&v); err != nil {
			return into, invalid(err)
		}
		dup := false
		for i := range out {
			if out[i].Key == key {
				out[i].Value, dup = v, true
			}
		}
		if !dup {
			out = append(out, KV{Key: key, Value: v})
		}
	}
	if _, err := dec.Token(); err != nil {
		return into, invalid(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return into, errors.New("invalid JSON: data after the object")
	}
	return out, nil
}

func kindOf(tok json.Token) string {
	switch tok.(type) {
	case json.Delim:
		return "array"
	case string:
		return "string"
	case json.Number, float64:
		return "number"
	case bool:
		return "boolean"
	}
	return "null"
}
