package connector

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"sort"

	"github.com/invopop/jsonschema"
)

// Spec describes a connector's configuration as JSON Schema. Fields tagged
// `secret:"true"` are marked `"x-secret": true` and `"writeOnly": true`, so
// the platform encrypts them and never shows them back.
type Spec struct {
	Name        string          `json:"name"`
	Description string          `json:"description"`
	Config      json.RawMessage `json:"config"`
	// Stream is the schema of the connector's own per-stream settings.
	Stream json.RawMessage `json:"stream,omitempty"`
	// Secrets lists the top-level config properties that hold secrets.
	Secrets []string `json:"secrets,omitempty"`
}

// NewSpec builds a spec from the Go config type C (and per-stream settings
// type S, or struct{} when the connector has none), reading `json`,
// `jsonschema` and `secret` struct tags.
func NewSpec[C, S any](name, description string) Spec {
	sp := Spec{Name: name, Description: description}
	sp.Config, sp.Secrets = reflectSchema(reflect.TypeFor[C]())
	if t := reflect.TypeFor[S](); t.NumField() > 0 {
		sp.Stream, _ = reflectSchema(t)
	}
	return sp
}

func reflectSchema(t reflect.Type) (json.RawMessage, []string) {
	r := &jsonschema.Reflector{
		DoNotReference:             true,
		ExpandedStruct:             true,
		AllowAdditionalProperties:  false,
		RequiredFromJSONSchemaTags: true,
	}
	s := r.ReflectFromType(t)
	s.Version = ""
	s.ID = ""
	var secrets []string
	for _, f := range reflect.VisibleFields(t) {
		// VisibleFields includes the fields of embedded structs, so a
		// shared config struct embedded in several connectors keeps its
		// secret marks.
		if f.Anonymous || f.Tag.Get("secret") != "true" {
			continue
		}
		name := jsonName(f)
		if p, ok := s.Properties.Get(name); ok {
			p.WriteOnly = true
			if p.Extras == nil {
				p.Extras = map[string]any{}
			}
			p.Extras["x-secret"] = true
			secrets = append(secrets, name)
		}
	}
	sort.Strings(secrets)
	b, err := json.Marshal(s)
	if err != nil {
		panic(fmt.Sprintf("connector: spec of %s: %v", t, err))
	}
	return b, secrets
}

func jsonName(f reflect.StructField) string {
	tag := f.Tag.Get("json")
	if tag == "" {
		return f.Name
	}
	if i := bytes.IndexByte([]byte(tag), ','); i >= 0 {
		tag = tag[:i]
	}
	return tag
}

// DecodeConfig decodes a connector config into v, refusing unknown fields so
// a typo in a pipeline file is an error, not a silently ignored setting.
func DecodeConfig(raw any, v any) error {
	var b []byte
	switch r := raw.(type) {
	case nil:
		b = []byte("{}")
	case json.RawMessage:
		b = r
	case []byte:
		b = r
	default:
		var err error
		if b, err = json.Marshal(r); err != nil {
			return fmt.Errorf("encode config: %w", err)
		}
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	return nil
}
