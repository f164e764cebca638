package pipeline

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// LookupEnv resolves ${NAME} references; os.LookupEnv by default.
type LookupEnv func(name string) (string, bool)

// Load reads and parses a pipeline file.
func Load(path string, env LookupEnv) (*Spec, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read pipeline: %w", err)
	}
	s, err := Parse(b, env)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

// Parse reads a pipeline document, YAML or JSON (JSON is read as the YAML it
// also is, so both forms share one decoder, one set of line numbers and one
// interpolation). ${NAME} is replaced in every string value; $${ writes a
// literal ${. A reference to an unset variable is an error naming it and
// where it is.
func Parse(data []byte, env LookupEnv) (*Spec, error) {
	if env == nil {
		env = os.LookupEnv
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, fmt.Errorf("parse: %w", err)
	}
	if root.Kind == 0 {
		return nil, errors.New("parse: empty document")
	}
	idx := lineIndex{}
	var errs Errors
	walk(&root, "", idx, func(n *yaml.Node, path string) {
		if n.Kind != yaml.ScalarNode || !strings.Contains(n.Value, "${") {
			return
		}
		v, missing := interpolate(n.Value, env)
		for _, m := range missing {
			errs = append(errs, FieldError{Path: path, Line: n.Line, Msg: fmt.Sprintf("environment variable %s is not set", m)})
		}
		if v != n.Value {
			n.Value = v
			// A substituted value is data, never YAML syntax: it stays a string
			// unless it is plainly a number or a boolean ("5432", "true"), so
			// `port: ${PORT}` works and a secret like "0042" is not mangled.
			n.Style = 0
			n.Tag = "!!str"
			if plainScalar.MatchString(v) {
				n.Tag = ""
			}
		}
	})
	if len(errs) > 0 {
		return nil, errs
	}
	errs = append(errs, unknownKeys(&root, idx)...)
	if len(errs) > 0 {
		return nil, errs
	}
	var s Spec
	if err := root.Decode(&s); err != nil {
		return nil, fmt.Errorf("parse: %w", err)
	}
	s.lines = idx
	return &s, nil
}

// knownKeys lists the keys each fixed part of the document may hold;
// yaml.v3 cannot refuse unknown fields when decoding from a node, and a
// misspelt option must not be ignored silently.
var knownKeys = map[string][]string{
	"":            {"version", "name", "description", "source", "destination", "transforms", "checks", "options", "schedule", "depends_on"},
	"source":      {"connector", "connection", "config", "streams"},
	"destination": {"connector", "connection", "config"},
	"options":     {"batch_size", "max_quarantine_ratio", "schema_policy", "commit_rows", "commit_interval", "state_file", "profile", "late_after", "retries", "retry_backoff", "timeout"},
}

func unknownKeys(root *yaml.Node, idx lineIndex) Errors {
	var errs Errors
	walk(root, "", lineIndex{}, func(n *yaml.Node, path string) {
		keys, ok := knownKeys[path]
		if !ok || n.Kind != yaml.MappingNode {
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i].Value
			if !slices.Contains(keys, k) {
				p := k
				if path != "" {
					p = path + "." + k
				}
				errs = append(errs, FieldError{Path: p, Line: n.Content[i].Line, Msg: fmt.Sprintf("unknown field (known: %s)", strings.Join(keys, ", "))})
			}
		}
	})
	return errs
}

var plainScalar = regexp.MustCompile(`^(true|false|-?(0|[1-9][0-9]*)(\.[0-9]+)?)$`)

var envRef = regexp.MustCompile(`\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

func interpolate(s string, env LookupEnv) (string, []string) {
	var missing []string
	out := envRef.ReplaceAllStringFunc(s, func(m string) string {
		if m == "$${" {
			return "${"
		}
		name := m[2 : len(m)-1]
		v, ok := env(name)
		if !ok {
			missing = append(missing, name)
		}
		return v
	})
	return out, missing
}

// lineIndex maps a spec path ("source.streams[0].name") to its line.
type lineIndex map[string]int

// Line returns the line of path in the file, or of its nearest parent.
func (l lineIndex) Line(path string) int {
	for path != "" {
		if n, ok := l[path]; ok {
			return n
		}
		i := strings.LastIndexAny(path, ".[")
		if i < 0 {
			break
		}
		path = path[:i]
	}
	return 0
}

func walk(n *yaml.Node, path string, idx lineIndex, visit func(*yaml.Node, string)) {
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			walk(c, path, idx, visit)
		}
		return
	case yaml.MappingNode:
		// A key's own line wins over the line its value starts on.
		if _, ok := idx[path]; !ok {
			idx[path] = n.Line
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			p := k.Value
			if path != "" {
				p = path + "." + k.Value
			}
			idx[p] = k.Line
			walk(v, p, idx, visit)
		}
	case yaml.SequenceNode:
		if _, ok := idx[path]; !ok {
			idx[path] = n.Line
		}
		for i, c := range n.Content {
			p := fmt.Sprintf("%s[%d]", path, i)
			idx[p] = c.Line
			walk(c, p, idx, visit)
		}
	case yaml.AliasNode:
		if n.Alias != nil {
			walk(n.Alias, path, idx, visit)
		}
	}
	visit(n, path)
}
