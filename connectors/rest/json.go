package rest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"

	"github.com/ohler55/ojg/jp"

	"github.com/tributary-data/tributary/connectors/filesource"
)

// object is a JSON object that remembers its key order, so a stream's
// fields come in the order the API writes them. It implements jp.Keyed for
// the record and cursor selectors.
type object struct {
	keys []string
	vals map[string]any
}

var _ jp.Keyed = (*object)(nil)

func (o *object) ValueForKey(k string) (any, bool) { v, ok := o.vals[k]; return v, ok }

func (o *object) SetValueForKey(k string, v any) {
	if _, ok := o.vals[k]; !ok {
		o.keys = append(o.keys, k)
	}
	o.vals[k] = v
}

func (o *object) RemoveValueForKey(k string) {
	if _, ok := o.vals[k]; !ok {
		return
	}
	delete(o.vals, k)
	for i, x := range o.keys {
		if x == k {
			o.keys = append(o.keys[:i], o.keys[i+1:]...)
			break
		}
	}
}

func (o *object) Keys() []string { return o.keys }

// field returns a field of a decoded record, ordered or not.
func field(r any, name string) (any, bool) {
	switch x := r.(type) {
	case *object:
		v, ok := x.vals[name]
		return v, ok
	case map[string]any:
		v, ok := x[name]
		return v, ok
	}
	return nil, false
}

// kvs returns the object's fields in order, nested values made plain.
func (o *object) kvs() []filesource.KV {
	out := make([]filesource.KV, len(o.keys))
	for i, k := range o.keys {
		out[i] = filesource.KV{Key: k, Value: plain(o.vals[k])}
	}
	return out
}

// plain turns objects into maps, as the json type holds them.
func plain(v any) any {
	switch x := v.(type) {
	case *object:
		m := make(map[string]any, len(x.keys))
		for _, k := range x.keys {
			m[k] = plain(x.vals[k])
		}
		return m
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = plain(e)
		}
		return out
	}
	return v
}

var htmlTitle = regexp.MustCompile(`(?is)<title[^>]*>(.*?)</title>`)

// decodeBody decodes a JSON response body, numbers as json.Number. With
// ordered, objects keep their key order (*object); without, they are maps,
// which decode several times faster. Its errors say what came instead of
// JSON.
func decodeBody(body []byte, contentType string, ordered bool) (any, error) {
	t := bytes.TrimSpace(body)
	if len(t) == 0 {
		return nil, errors.New("empty response body, expected JSON")
	}
	if t[0] == '<' || strings.Contains(contentType, "html") {
		msg := "response is an HTML page, not JSON"
		if m := htmlTitle.FindSubmatch(t); m != nil {
			msg += fmt.Sprintf(" (title %q)", strings.TrimSpace(string(m[1])))
		}
		return nil, errors.New(msg)
	}
	dec := json.NewDecoder(bytes.NewReader(t))
	dec.UseNumber()
	var v any
	var err error
	if ordered {
		v, err = decodeValue(dec)
	} else {
		err = dec.Decode(&v)
	}
	if err != nil {
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return nil, fmt.Errorf("response is not valid JSON: it ends early after %d bytes (truncated?)", len(t))
		}
		return nil, fmt.Errorf("response is not valid JSON: %w (starts %q)", err, snippet(t, 60))
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("response is not valid JSON: data after the value at byte %d", dec.InputOffset())
	}
	return v, nil
}

func decodeValue(dec *json.Decoder) (any, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch d := tok.(type) {
	case json.Delim:
		switch d {
		case '{':
			o := &object{vals: map[string]any{}}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, err
				}
				k, _ := kt.(string)
				v, err := decodeValue(dec)
				if err != nil {
					return nil, err
				}
				o.SetValueForKey(k, v)
			}
			if _, err := dec.Token(); err != nil {
				return nil, err
			}
			return o, nil
		case '[':
			a := []any{}
			for dec.More() {
				v, err := decodeValue(dec)
				if err != nil {
					return nil, err
				}
				a = append(a, v)
			}
			if _, err := dec.Token(); err != nil {
				return nil, err
			}
			return a, nil
		}
		return nil, fmt.Errorf("unexpected %q", d)
	}
	return tok, nil
}

func snippet(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "…"
	}
	return string(b)
}

// selectRecords applies the records selector; without one, an array body
// is the records and an object body's "data" array is.
func selectRecords(x jp.Expr, doc any) ([]any, error) {
	if x == nil {
		switch d := doc.(type) {
		case []any:
			return d, nil
		case *object:
			if v, ok := d.vals["data"].([]any); ok {
				return v, nil
			}
		case map[string]any:
			if v, ok := d["data"].([]any); ok {
				return v, nil
			}
		}
		return nil, errors.New("the response is neither an array nor an object with a \"data\" array: set the stream's records selector")
	}
	got := x.Get(doc)
	// A selector naming an array ($.data) yields the array itself; one
	// with a wildcard ($.data[*]) yields its elements.
	if len(got) == 1 {
		if a, ok := got[0].([]any); ok {
			return a, nil
		}
	}
	return got, nil
}

// selectOne returns the first value the expression selects, nil if none.
func selectOne(x jp.Expr, doc any) any {
	got := x.Get(doc)
	if len(got) == 0 {
		return nil
	}
	return got[0]
}
