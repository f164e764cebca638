package jsonl

import (
	"bytes"
	"encoding/json"
	"strconv"

	"github.com/tributary-data/tributary/connector"
	"github.com/tributary-data/tributary/connectors/filesource"
)

// fastDecoder turns the common record straight into a row: every key
// already in the schema, every value converting to its field's type as it
// is. It scans the line once, without encoding/json's reflection and
// per-record map, and shares one string per line among the row's text
// values. Anything else (a new key, a value that would widen a type,
// invalid JSON, an escaped key) is declined and goes to the general path,
// which alone decides about schema growth and reject reasons; so the fast
// path never changes what a record becomes, only how quickly.
type fastDecoder struct {
	schema *connector.Schema
	types  []connector.Type
	names  [][]byte
	index  map[string]int
	// order[k] is the column of the k-th key of the last record: lines
	// usually list their keys in the same order, so a byte comparison
	// finds the column without hashing the key.
	order []int
	vals  []any
	set   []bool
}

func (d *fastDecoder) reset(s *connector.Schema) {
	d.schema = s
	d.types = d.types[:0]
	d.names = d.names[:0]
	d.index = make(map[string]int, len(s.Fields))
	for i, f := range s.Fields {
		d.types = append(d.types, f.Type)
		d.names = append(d.names, []byte(f.Name))
		d.index[f.Name] = i
	}
	d.order = d.order[:0]
	d.vals = make([]any, len(s.Fields))
	d.set = make([]bool, len(s.Fields))
}

// decode returns the row of line under schema s, or false to decline.
// line is valid UTF-8 without surrounding white space.
func (d *fastDecoder) decode(line []byte, s *connector.Schema, alloc filesource.Alloc) ([]any, bool) {
	if d.schema != s {
		d.reset(s)
	}
	vals := d.vals
	clear(vals)
	clear(d.set)
	// The row's text values are cut from one copy of the line.
	var text string
	i := skipSpace(line, 0)
	if i >= len(line) || line[i] != '{' {
		return nil, false
	}
	i = skipSpace(line, i+1)
	if i < len(line) && line[i] == '}' {
		i++
	} else {
		for k := 0; ; k++ {
			// Key.
			if i >= len(line) || line[i] != '"' {
				return nil, false
			}
			end, escaped, ok := scanString(line, i+1)
			if !ok || escaped {
				return nil, false
			}
			key := line[i+1 : end]
			col := -1
			if k < len(d.order) && bytes.Equal(d.names[d.order[k]], key) {
				col = d.order[k]
			} else if c, ok := d.index[string(key)]; ok {
				col = c
				if k < len(d.order) {
					d.order[k] = c
				} else if k == len(d.order) {
					d.order = append(d.order, c)
				}
			}
			i = skipSpace(line, end+1)
			if i >= len(line) || line[i] != ':' {
				return nil, false
			}
			i = skipSpace(line, i+1)
			if i >= len(line) {
				return nil, false
			}
			// Value.
			var v any
			switch c := line[i]; {
			case c == '"':
				end, escaped, ok := scanString(line, i+1)
				if !ok {
					return nil, false
				}
				var str string
				if escaped {
					if err := json.Unmarshal(line[i:end+1], &str); err != nil {
						return nil, false
					}
				} else {
					if text == "" {
						text = string(line)
					}
					str = text[i+1 : end]
				}
				i = end + 1
				if col < 0 {
					return nil, false
				}
				switch t := d.types[col]; t {
				case connector.TypeString, connector.TypeJSON:
					v = str
				default:
					x, err := connector.ParseValue(t, str)
					if err != nil {
						return nil, false
					}
					v = x
				}
			case c == '-' || c >= '0' && c <= '9':
				end, ok := scanNumber(line, i)
				if !ok {
					return nil, false
				}
				num := line[i:end]
				if col < 0 {
					return nil, false
				}
				switch d.types[col] {
				case connector.TypeInt64:
					n, err := strconv.ParseInt(string(num), 10, 64)
					if err != nil {
						return nil, false
					}
					v = n
				case connector.TypeFloat64:
					f, err := strconv.ParseFloat(string(num), 64)
					if err != nil {
						return nil, false
					}
					v = f
				case connector.TypeDecimal:
					x, err := connector.ParseDecimal(string(num))
					if err != nil {
						return nil, false
					}
					v = x
				case connector.TypeString:
					if text == "" {
						text = string(line)
					}
					v = text[i:end]
				case connector.TypeJSON:
					v = filesource.JSONValue(json.Number(num))
				default:
					return nil, false
				}
				i = end
			case c == 't' || c == 'f':
				b := c == 't'
				lit := "false"
				if b {
					lit = "true"
				}
				if !bytes.HasPrefix(line[i:], []byte(lit)) {
					return nil, false
				}
				i += len(lit)
				if col < 0 {
					return nil, false
				}
				switch d.types[col] {
				case connector.TypeBool, connector.TypeJSON:
					v = b
				case connector.TypeString:
					v = lit
				default:
					return nil, false
				}
			case c == 'n':
				if !bytes.HasPrefix(line[i:], []byte("null")) {
					return nil, false
				}
				i += 4
				// A null under a key never seen adds no field.
			case c == '{' || c == '[':
				end, ok := skipComposite(line, i)
				if !ok || col < 0 || d.types[col] != connector.TypeJSON {
					return nil, false
				}
				dec := json.NewDecoder(bytes.NewReader(line[i:end]))
				dec.UseNumber()
				var x any
				if err := dec.Decode(&x); err != nil {
					return nil, false
				}
				v = filesource.JSONValue(x)
				i = end
			default:
				return nil, false
			}
			if col >= 0 {
				// A later duplicate key replaces the earlier value.
				vals[col] = v
				d.set[col] = true
			}
			i = skipSpace(line, i)
			if i >= len(line) {
				return nil, false
			}
			if line[i] == '}' {
				i++
				break
			}
			if line[i] != ',' {
				return nil, false
			}
			i = skipSpace(line, i+1)
		}
	}
	if skipSpace(line, i) != len(line) {
		return nil, false
	}
	row := alloc(s)
	for c, ok := range d.set {
		if ok {
			row[c] = vals[c]
		}
	}
	return row, true
}

func skipSpace(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// stringStop marks the bytes a string scan must look at: the closing
// quote, escapes and the control characters JSON forbids in strings.
var stringStop = func() (t [256]bool) {
	for c := range 0x20 {
		t[c] = true
	}
	t['"'], t['\\'] = true, true
	return t
}()

// scanString finds the closing quote of a string whose text starts at i,
// and whether the text holds escapes. Control characters are invalid.
func scanString(b []byte, i int) (end int, escaped, ok bool) {
	for {
		for i < len(b) && !stringStop[b[i]] {
			i++
		}
		if i >= len(b) {
			return 0, false, false
		}
		switch b[i] {
		case '"':
			return i, escaped, true
		case '\\':
			escaped = true
			i += 2
		default:
			return 0, false, false
		}
	}
}

// scanNumber checks the JSON number grammar from i and returns its end.
func scanNumber(b []byte, i int) (int, bool) {
	if i < len(b) && b[i] == '-' {
		i++
	}
	digits := func() bool {
		start := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		return i > start
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case !digits():
		return 0, false
	}
	if i < len(b) && b[i] == '.' {
		i++
		if !digits() {
			return 0, false
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if !digits() {
			return 0, false
		}
	}
	return i, true
}

// skipComposite finds the end of the object or array starting at i by
// its brackets; encoding/json then validates and decodes just that slice.
func skipComposite(b []byte, i int) (int, bool) {
	depth := 0
	for i < len(b) {
		switch b[i] {
		case '"':
			end, _, ok := scanString(b, i+1)
			if !ok {
				return 0, false
			}
			i = end
		case '{', '[':
			depth++
		case '}', ']':
			depth--
			if depth == 0 {
				return i + 1, true
			}
		}
		i++
	}
	return 0, false
}
