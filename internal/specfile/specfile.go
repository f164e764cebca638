package specfile

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/aymanbagabas/go-udiff"
	"gopkg.in/yaml.v3"
)

// ToJSON converts a YAML (or JSON) document to compact JSON, keeping the
// order of mapping keys as written.
func ToJSON(doc []byte) ([]byte, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(doc, &root); err != nil {
		return nil, fmt.Errorf("parse: %w", err)
	}
	if root.Kind == 0 || len(root.Content) == 0 {
		return nil, errors.New("parse: empty document")
	}
	var b bytes.Buffer
	if err := writeJSON(&b, root.Content[0], ""); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func writeJSON(b *bytes.Buffer, n *yaml.Node, path string) error {
	switch n.Kind {
	case yaml.AliasNode:
		return writeJSON(b, n.Alias, path)
	case yaml.MappingNode:
		b.WriteByte('{')
		for i := 0; i+1 < len(n.Content); i += 2 {
			if i > 0 {
				b.WriteByte(',')
			}
			k := n.Content[i]
			if k.Kind != yaml.ScalarNode {
				return fmt.Errorf("%s (line %d): mapping keys must be plain values", orRoot(path), k.Line)
			}
			if k.Tag == "!!merge" {
				return fmt.Errorf("%s (line %d): merge keys (<<) are not supported", orRoot(path), k.Line)
			}
			key, _ := json.Marshal(k.Value)
			b.Write(key)
			b.WriteByte(':')
			if err := writeJSON(b, n.Content[i+1], join(path, k.Value)); err != nil {
				return err
			}
		}
		b.WriteByte('}')
	case yaml.SequenceNode:
		b.WriteByte('[')
		for i, c := range n.Content {
			if i > 0 {
				b.WriteByte(',')
			}
			if err := writeJSON(b, c, path+"["+strconv.Itoa(i)+"]"); err != nil {
				return err
			}
		}
		b.WriteByte(']')
	case yaml.ScalarNode:
		var v any
		if err := n.Decode(&v); err != nil {
			return fmt.Errorf("%s (line %d): %w", orRoot(path), n.Line, err)
		}
		switch x := v.(type) {
		case float64:
			if x != x || x > 1.7976931348623157e308 || x < -1.7976931348623157e308 {
				return fmt.Errorf("%s (line %d): %s has no JSON form", orRoot(path), n.Line, n.Value)
			}
		case int, int64, uint64, bool, string, nil:
		default:
			// Timestamps and binary: keep the text as written.
			v = n.Value
		}
		enc, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("%s (line %d): %w", orRoot(path), n.Line, err)
		}
		b.Write(enc)
	default:
		return fmt.Errorf("%s (line %d): unexpected YAML node", orRoot(path), n.Line)
	}
	return nil
}

func orRoot(path string) string {
	if path == "" {
		return "document"
	}
	return path
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// ToYAML converts a JSON document to block-style YAML with two-space
// indents, keeping the order of object keys. Strings that would read back
// as another type ("5432", "true") stay quoted.
func ToYAML(doc []byte) ([]byte, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(doc, &root); err != nil {
		return nil, fmt.Errorf("parse: %w", err)
	}
	if root.Kind == 0 {
		return nil, errors.New("parse: empty document")
	}
	plain(&root)
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(&root); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// plain drops the flow and quoting styles JSON syntax gave the nodes; the
// encoder quotes again only what needs it.
func plain(n *yaml.Node) {
	n.Style = 0
	for _, c := range n.Content {
		plain(c)
	}
}

// Change is one difference between two documents at a JSON path such as
// source.streams[0].sync_mode.
type Change struct {
	Path string `json:"path"`
	// Op is added, removed or changed.
	Op  string `json:"op" enum:"added,removed,changed"`
	Old any    `json:"old,omitempty"`
	New any    `json:"new,omitempty"`
}

// Changes lists the differences from document a to document b (both JSON):
// objects key by key in sorted order, arrays index by index.
func Changes(a, b []byte) ([]Change, error) {
	var va, vb any
	if err := json.Unmarshal(a, &va); err != nil {
		return nil, fmt.Errorf("old document: %w", err)
	}
	if err := json.Unmarshal(b, &vb); err != nil {
		return nil, fmt.Errorf("new document: %w", err)
	}
	out := []Change{}
	compare("", va, vb, &out)
	return out, nil
}

func compare(path string, a, b any, out *[]Change) {
	ma, aObj := a.(map[string]any)
	mb, bObj := b.(map[string]any)
	if aObj && bObj {
		keys := make([]string, 0, len(ma)+len(mb))
		for k := range ma {
			keys = append(keys, k)
		}
		for k := range mb {
			if _, ok := ma[k]; !ok {
				keys = append(keys, k)
			}
		}
		slices.Sort(keys)
		for _, k := range keys {
			va, inA := ma[k]
			vb, inB := mb[k]
			p := join(path, k)
			switch {
			case !inA:
				*out = append(*out, Change{Path: p, Op: "added", New: vb})
			case !inB:
				*out = append(*out, Change{Path: p, Op: "removed", Old: va})
			default:
				compare(p, va, vb, out)
			}
		}
		return
	}
	sa, aArr := a.([]any)
	sb, bArr := b.([]any)
	if aArr && bArr {
		for i := 0; i < max(len(sa), len(sb)); i++ {
			p := path + "[" + strconv.Itoa(i) + "]"
			switch {
			case i >= len(sa):
				*out = append(*out, Change{Path: p, Op: "added", New: sb[i]})
			case i >= len(sb):
				*out = append(*out, Change{Path: p, Op: "removed", Old: sa[i]})
			default:
				compare(p, sa[i], sb[i], out)
			}
		}
		return
	}
	if !reflect.DeepEqual(a, b) {
		*out = append(*out, Change{Path: orRoot(path), Op: "changed", Old: a, New: b})
	}
}

// Unified is a unified diff of the YAML forms of two JSON documents; empty
// when they are equal.
func Unified(fromLabel, toLabel string, a, b []byte) (string, error) {
	ya, err := ToYAML(a)
	if err != nil {
		return "", fmt.Errorf("old document: %w", err)
	}
	yb, err := ToYAML(b)
	if err != nil {
		return "", fmt.Errorf("new document: %w", err)
	}
	return udiff.Unified(fromLabel, toLabel, string(ya), string(yb)), nil
}

// Summary is a one-line-per-change text of changes, for plans.
func Summary(changes []Change) string {
	var b strings.Builder
	for _, c := range changes {
		switch c.Op {
		case "added":
			fmt.Fprintf(&b, "+ %s: %s\n", c.Path, short(c.New))
		case "removed":
			fmt.Fprintf(&b, "- %s: %s\n", c.Path, short(c.Old))
		default:
			fmt.Fprintf(&b, "~ %s: %s -> %s\n", c.Path, short(c.Old), short(c.New))
		}
	}
	return b.String()
}

func short(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	if len(b) > 60 {
		return string(b[:57]) + "..."
	}
	return string(b)
}
