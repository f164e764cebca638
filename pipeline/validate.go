package pipeline

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/tributary-data/tributary/connector"
	"github.com/tributary-data/tributary/quality"
	"github.com/tributary-data/tributary/transform"
)

// Validate checks everything that can be checked without connecting
// anywhere and returns all problems as [Errors], each with its path and,
// for parsed files, its line.
func (s *Spec) Validate() error {
	var errs Errors
	add := func(path, format string, args ...any) {
		errs = append(errs, FieldError{Path: path, Line: s.lines.Line(path), Msg: fmt.Sprintf(format, args...)})
	}
	if s.Version != 1 {
		add("version", "must be 1")
	}
	if strings.TrimSpace(s.Name) == "" {
		add("name", "is required")
	}
	s.validateEnd("source", s.Source.Connector, s.Source.Connection, s.Source.Config, true, add)
	s.validateEnd("destination", s.Destination.Connector, s.Destination.Connection, s.Destination.Config, false, add)

	if len(s.Source.Streams) == 0 {
		add("source.streams", "select at least one stream")
	}
	seen := map[string]bool{}
	for i, st := range s.Source.Streams {
		p := fmt.Sprintf("source.streams[%d]", i)
		if st.Name == "" {
			add(p+".name", "is required")
		} else if seen[st.Name] {
			add(p+".name", "stream %q is listed twice", st.Name)
		}
		seen[st.Name] = true
		mode := connector.SyncMode(st.SyncMode)
		if st.SyncMode != "" && !slices.Contains(connector.SyncModes, mode) {
			add(p+".sync_mode", "unknown sync mode %q (known: %v)", st.SyncMode, connector.SyncModes)
		}
		if mode == connector.IncrementalDedup && len(st.PrimaryKey) == 0 {
			add(p+".primary_key", "is required for incremental_dedup")
		}
		for _, f := range sortedKeys(st.Schema) {
			if _, err := connector.ParseType(st.Schema[f]); err != nil {
				add(p+".schema."+f, "unknown type %q (known: %v)", st.Schema[f], connector.Types)
			}
		}
		s.validateStreamSettings(p, st, add)
		s.validateSteps(p+".transforms", st.Transforms, add)
		validateChecks(p+".checks", st.Checks, add)
	}
	s.validateSteps("transforms", s.Transforms, add)
	validateChecks("checks", s.Checks, add)

	o := s.Options
	if o.BatchSize < 0 {
		add("options.batch_size", "must be positive")
	}
	if r := o.MaxQuarantineRatio; r != nil && (*r < 0 || *r > 1 || math.IsNaN(*r)) {
		add("options.max_quarantine_ratio", "must be between 0 and 1")
	}
	if o.SchemaPolicy != "" && !slices.Contains([]connector.SchemaPolicy{connector.SchemaEvolve, connector.SchemaFreeze, connector.SchemaDiscard}, connector.SchemaPolicy(o.SchemaPolicy)) {
		add("options.schema_policy", "unknown policy %q (known: evolve, freeze, discard)", o.SchemaPolicy)
	}
	if o.CommitInterval != "" {
		if d, err := time.ParseDuration(o.CommitInterval); err != nil || d <= 0 {
			add("options.commit_interval", "must be a positive duration such as \"5s\"")
		}
	}
	if o.Retries < 0 {
		add("options.retries", "must be 0 or more")
	}
	for _, d := range []struct{ key, value string }{{"retry_backoff", o.RetryBackoff}, {"timeout", o.Timeout}} {
		if v, err := time.ParseDuration(d.value); d.value != "" && (err != nil || v <= 0) {
			add("options."+d.key, "must be a positive duration such as \"30s\"")
		}
	}
	s.validateSchedule(add)
	for i, d := range s.DependsOn {
		if strings.TrimSpace(d) == "" {
			add(fmt.Sprintf("depends_on[%d]", i), "must name a pipeline")
		} else if d == s.Name {
			add(fmt.Sprintf("depends_on[%d]", i), "a pipeline cannot depend on itself")
		}
	}
	if len(errs) == 0 {
		return nil
	}
	sort.SliceStable(errs, func(a, b int) bool { return errs[a].Line < errs[b].Line })
	return errs
}

func (s *Spec) validateEnd(path, name, conn string, cfg map[string]any, source bool, add func(string, string, ...any)) {
	switch {
	case name == "" && conn == "":
		add(path+".connector", "is required")
		return
	case name != "" && conn != "":
		add(path+".connection", "give either a connector or a stored connection, not both")
		return
	case name == "":
		return // a stored connection is checked by the server that stores it
	}
	info, ok := connector.Lookup(name)
	var spec *connector.Spec
	if ok && source {
		spec = info.Source
	} else if ok {
		spec = info.Destination
	}
	if spec == nil {
		kind := "destination"
		if source {
			kind = "source"
		}
		add(path+".connector", "unknown %s connector %q (see `tributary connectors`)", kind, name)
		return
	}
	for _, e := range validateConfig(spec.Config, cfg) {
		p := path + ".config"
		if e.Path != "" {
			p += "." + e.Path
		}
		add(p, "%s", e.Msg)
	}
}

// validateStreamSettings checks the keys of a stream entry that belong to
// the source connector against the connector's per-stream settings, so a
// misspelt key is an error rather than a setting silently ignored.
func (s *Spec) validateStreamSettings(path string, st Stream, add func(string, string, ...any)) {
	if len(st.Config) == 0 || s.Source.Connector == "" {
		return
	}
	info, ok := connector.Lookup(s.Source.Connector)
	if !ok || info.Source == nil {
		return // reported at source.connector
	}
	if len(info.Source.Stream) == 0 {
		for _, k := range sortedKeys(st.Config) {
			add(path+"."+k, "unknown key: the %s connector has no per-stream settings", s.Source.Connector)
		}
		return
	}
	for _, e := range validateConfig(info.Source.Stream, st.Config) {
		p := path
		if e.Path != "" {
			p += "." + e.Path
		}
		add(p, "%s", e.Msg)
	}
}

func (s *Spec) validateSteps(path string, steps []Step, add func(string, string, ...any)) {
	for i, st := range steps {
		p := fmt.Sprintf("%s[%d]", path, i)
		_, err := transform.Build(st.Name, st.Args)
		if err == nil {
			continue
		}
		if !slices.Contains(transform.Names(), st.Name) {
			// The step itself is unknown: the error belongs to the list
			// entry, not to settings under a name that means nothing.
			add(p, "%v", err)
			continue
		}
		addPathErrors(p+"."+st.Name+".", err, add)
	}
}

func validateChecks(path string, checks []Check, add func(string, string, ...any)) {
	if _, err := quality.BuildChecks(checkMaps(checks)); err != nil {
		addPathErrors(path, err, add)
	}
}

// addPathErrors reports each error of a step's or check's settings at
// prefix + its relative path; prefix ends where the relative path starts
// ("transforms[1].cast." or "checks").
func addPathErrors(prefix string, err error, add func(string, string, ...any)) {
	var list transform.Errors
	var one *transform.Error
	switch {
	case errors.As(err, &list):
		for _, e := range list {
			addPathErrors(prefix, e, add)
		}
	case errors.As(err, &one):
		add(strings.TrimSuffix(prefix+one.Path, "."), "%s", one.Msg)
	default:
		add(strings.TrimSuffix(prefix, "."), "%v", err)
	}
}

func checkMaps(cs []Check) []map[string]any {
	out := make([]map[string]any, len(cs))
	for i, c := range cs {
		out[i] = c
	}
	return out
}

// StreamChecks builds the data quality checks of a stream: the pipeline-wide
// ones, then the stream's own. Each call returns fresh checks.
func (s *Spec) StreamChecks(stream string) ([]quality.Check, error) {
	all := checkMaps(s.Checks)
	for _, st := range s.Source.Streams {
		if st.Name == stream {
			all = append(all, checkMaps(st.Checks)...)
		}
	}
	return quality.BuildChecks(all)
}

// validateConfig checks a connector config against the connector's JSON
// Schema and returns problems with dotted paths relative to the config.
func validateConfig(schema json.RawMessage, cfg map[string]any) []FieldError {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(schema))
	if err != nil {
		return []FieldError{{Msg: "connector spec is not valid JSON Schema: " + err.Error()}}
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("config.json", doc); err != nil {
		return []FieldError{{Msg: err.Error()}}
	}
	sch, err := c.Compile("config.json")
	if err != nil {
		return []FieldError{{Msg: "connector spec: " + err.Error()}}
	}
	if cfg == nil {
		cfg = map[string]any{}
	}
	raw, err := json.Marshal(cfg)
	if err != nil {
		return []FieldError{{Msg: err.Error()}}
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return []FieldError{{Msg: err.Error()}}
	}
	var verr *jsonschema.ValidationError
	if err := sch.Validate(inst); !errors.As(err, &verr) {
		return nil
	}
	var out []FieldError
	for _, u := range verr.BasicOutput().Errors {
		if u.Error == nil {
			continue
		}
		msg := u.Error.String()
		if strings.HasPrefix(msg, "validation failed") {
			continue
		}
		path := strings.ReplaceAll(strings.TrimPrefix(u.InstanceLocation, "/"), "/", ".")
		out = append(out, FieldError{Path: path, Msg: msg})
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// ValidateConnection checks the config of a stored connection of the
// connector: it must suit at least one role the connector offers, with
// the keys only the other role declares left out. Paths are relative to
// the config.
func ValidateConnection(name string, cfg map[string]any) []FieldError {
	info, ok := connector.Lookup(name)
	if !ok {
		return []FieldError{{Msg: fmt.Sprintf("unknown connector %q", name)}}
	}
	var first []FieldError
	for _, role := range []struct {
		spec   *connector.Spec
		source bool
	}{{info.Source, true}, {info.Destination, false}} {
		if role.spec == nil {
			continue
		}
		own := make(map[string]any, len(cfg))
		other := info.OtherRoleKeys(role.source)
		for k, v := range cfg {
			if !other[k] {
				own[k] = v
			}
		}
		errs := validateConfig(role.spec.Config, own)
		if len(errs) == 0 {
			return nil
		}
		if first == nil {
			first = errs
		}
	}
	return first
}
