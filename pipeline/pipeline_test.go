package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/tributary-data/tributary/connector"
)

type testConfig struct {
	Path  string `json:"path" jsonschema:"required"`
	Limit int    `json:"limit,omitempty"`
	Token string `json:"token,omitempty" secret:"true"`
}

// testStream is the connector's own per-stream settings.
type testStream struct {
	Pattern string `json:"pattern,omitempty"`
}

func init() {
	spec := connector.NewSpec[testConfig, testStream]("spectest", "test connector for spec validation")
	connector.RegisterSource(spec, func(context.Context, json.RawMessage) (connector.Source, error) {
		return nil, errors.New("not for running")
	})
	connector.RegisterDestination(spec, func(context.Context, json.RawMessage) (connector.Destination, error) {
		return nil, errors.New("not for running")
	})
}

func env(m map[string]string) LookupEnv {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

const good = `version: 1
name: people
source:
  connector: spectest
  config:
    path: ./data/people*.csv
  streams:
    - name: people
      sync_mode: incremental_dedup
      primary_key: [id]
      cursor_field: updated_at
      schema: {id: int64, amount: decimal}
      pattern: extra-connector-setting
destination:
  connector: spectest
  config:
    path: ${OUT}
    token: ${TOKEN}
transforms:
  - rename: {name: full_name}
  - cast: {amount: {type: decimal, scale: 2}}
options:
  max_quarantine_ratio: 0.05
`

func TestParseGood(t *testing.T) {
	s, err := Parse([]byte(good), env(map[string]string{"OUT": "/tmp/out", "TOKEN": "0042"}))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Validate(); err != nil {
		t.Fatalf("validate: %v", err)
	}
	if got := s.Destination.Config["path"]; got != "/tmp/out" {
		t.Errorf("interpolated path = %v", got)
	}
	// A substituted value that looks like a number stays what it was
	// written as in the environment, not an octal or float.
	if got := s.Destination.Config["token"]; got != "0042" {
		t.Errorf("token = %#v, want string 0042", got)
	}
	st := s.ConnectorStreams()[0]
	if st.Config["pattern"] != "extra-connector-setting" || st.Schema["amount"] != connector.TypeDecimal {
		t.Errorf("stream = %+v", st)
	}
	if len(s.Transforms) != 2 || s.Transforms[1].Name != "cast" || s.Transforms[1].Line != 21 {
		t.Errorf("transforms = %+v", s.Transforms)
	}
	// The same document as JSON is the same spec.
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	s2, err := Parse(b, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s2.Validate(); err != nil {
		t.Fatal(err)
	}
	if s2.Source.Streams[0].Config["pattern"] != "extra-connector-setting" || *s2.Options.MaxQuarantineRatio != 0.05 {
		t.Errorf("JSON round trip lost data: %+v", s2.Source.Streams[0])
	}
}

func TestErrors(t *testing.T) {
	cases := []struct {
		name string
		edit func(string) string
		env  map[string]string
		want []string
	}{
		{"missing env", func(s string) string { return s }, map[string]string{"OUT": "x"},
			[]string{"line 18: destination.config.token: environment variable TOKEN is not set"}},
		{"bad cast type", func(s string) string {
			return strings.Replace(s, "{amount: {type: decimal, scale: 2}}", "{amount: decmal}", 1)
		}, nil, []string{`line 21: transforms[1].cast.amount: unknown type "decmal"`}},
		{"unknown step", func(s string) string { return strings.Replace(s, "- rename:", "- renam:", 1) }, nil,
			[]string{`line 20: transforms[0]: unknown step "renam"`}},
		{"bad schema override and mode", func(s string) string {
			s = strings.Replace(s, "amount: decimal}", "amount: money}", 1)
			return strings.Replace(s, "incremental_dedup", "incremental", 1)
		}, nil, []string{`source.streams[0].sync_mode: unknown sync mode "incremental"`, `source.streams[0].schema.amount: unknown type "money"`}},
		{"config checked against connector spec", func(s string) string {
			return strings.Replace(s, "path: ./data/people*.csv", "paht: ./data/people*.csv", 1)
		}, nil, []string{"source.config", "paht"}},
		{"stream setting checked against connector spec", func(s string) string {
			return strings.Replace(s, "pattern: extra-connector-setting", "patern: extra-connector-setting", 1)
		}, nil, []string{"source.streams[0]: ", "patern"}},
		{"unknown option", func(s string) string { return strings.Replace(s, "max_quarantine_ratio", "max_quarantine", 1) }, nil,
			[]string{"line 23: options.max_quarantine: unknown field"}},
		{"unknown connector", func(s string) string {
			return strings.Replace(s, "connector: spectest\n  config:\n    path: ./", "connector: nope\n  config:\n    path: ./", 1)
		}, nil,
			[]string{`source.connector: unknown source connector "nope"`}},
		{"bad check", func(s string) string { return s + "checks:\n  - {check: null_ratio, field: email, max: lots}\n" }, nil,
			[]string{"checks[0].max: "}},
		{"dedup needs key", func(s string) string { return strings.Replace(s, "primary_key: [id]", "primary_key: []", 1) }, nil,
			[]string{"source.streams[0].primary_key: is required for incremental_dedup"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := c.env
			if e == nil {
				e = map[string]string{"OUT": "x", "TOKEN": "y"}
			}
			s, err := Parse([]byte(c.edit(good)), env(e))
			if err == nil {
				err = s.Validate()
			}
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\ndoes not contain %q", err, w)
				}
			}
		})
	}
}

type embeddingConfig struct {
	testConfig
	Extra string `json:"extra,omitempty"`
}

func TestSpecSecretsMarked(t *testing.T) {
	sp := connector.NewSpec[testConfig, struct{}]("x", "")
	if len(sp.Secrets) != 1 || sp.Secrets[0] != "token" {
		t.Fatalf("secrets = %v", sp.Secrets)
	}
	if e := connector.NewSpec[embeddingConfig, struct{}]("y", ""); len(e.Secrets) != 1 || e.Secrets[0] != "token" {
		t.Errorf("secrets of an embedded config = %v", e.Secrets)
	}
	var doc map[string]any
	if err := json.Unmarshal(sp.Config, &doc); err != nil {
		t.Fatal(err)
	}
	tok := doc["properties"].(map[string]any)["token"].(map[string]any)
	if tok["x-secret"] != true || tok["writeOnly"] != true {
		t.Errorf("token schema = %v", tok)
	}
}
