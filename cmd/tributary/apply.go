package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"

	"github.com/tributary-data/tributary/internal/specfile"
)

// masked is how the server shows a secret config value.
const masked = "********"

func newApplyCmd() *cobra.Command {
	var (
		dir    string
		cl     client
		dryRun bool
	)
	cmd := &cobra.Command{
		Use:   "apply -f DIR --server URL",
		Short: "Create or update the pipelines and connections of a folder on a server",
		Long: `Read pipeline files and connection files from DIR (and its subfolders: every
.yaml, .yml and .json file), print a plan (create, update or unchanged per
object, with the changed paths), then apply it: connections first, then
pipelines. Objects on the server that DIR does not mention are left alone.

A connection file has kind: connection:

  kind: connection
  name: warehouse
  connector: postgres
  config:
    url: ${WAREHOUSE_URL}

${VAR} in a connection file is replaced from this command's environment.
Secret fields (the connector's secrets) are never read back from the
server, so they do not count in the plan: a connection is updated when its
other fields change, and then its secrets are sent again when their
variables are set (kept on the server otherwise).

Any other file is a pipeline file, sent as written: ${VAR} in it is
resolved by the server's workers when they run it. A pipeline whose spec
equals its current version is unchanged, and applying the same folder
again creates no new versions.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			objs, err := readObjects(dir)
			if err != nil {
				return err
			}
			p, err := makePlan(ctx, &cl, objs)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			p.print(out)
			if dryRun || p.changes() == 0 {
				return nil
			}
			if err := p.apply(ctx, &cl, out); err != nil {
				return err
			}
			fmt.Fprintln(out, "Applied.")
			return nil
		},
	}
	cmd.Flags().StringVarP(&dir, "file", "f", "", "folder of pipeline and connection files (required)")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "print the plan only")
	cl.flags(cmd)
	cmd.MarkFlagRequired("file")
	return cmd
}

// client talks to a Tributary server's API.
type client struct {
	server string
	token  string
	http   http.Client
}

func (c *client) flags(cmd *cobra.Command) {
	cmd.Flags().StringVar(&c.server, "server", envOr("TRIBUTARY_SERVER", "http://127.0.0.1:8080"), "server URL (env TRIBUTARY_SERVER)")
	cmd.Flags().StringVar(&c.token, "token", os.Getenv("TRIBUTARY_TOKEN"), "API token, sent as Authorization: Bearer (env TRIBUTARY_TOKEN)")
	c.http.Timeout = time.Minute
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// problem is an RFC 9457 answer of the API.
type problem struct {
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
	Errors []struct {
		Location string `json:"location"`
		Message  string `json:"message"`
	} `json:"errors"`
}

func (p *problem) Error() string {
	var b strings.Builder
	b.WriteString(strings.ToLower(firstOf(p.Detail, p.Title)))
	for _, e := range p.Errors {
		fmt.Fprintf(&b, "\n  %s: %s", strings.TrimPrefix(strings.TrimPrefix(e.Location, "body."), "body"), e.Message)
	}
	return b.String()
}

func firstOf(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

// do sends a request and returns the answer's body; an answer outside
// 2xx is an error carrying the server's problem.
func (c *client) do(ctx context.Context, method, path, contentType string, body []byte) ([]byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(c.server, "/")+path, rd)
	if err != nil {
		return nil, err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		p := &problem{Status: resp.StatusCode}
		if json.Unmarshal(b, p) != nil || p.Title == "" {
			p.Title = fmt.Sprintf("%s %s: %s", method, path, resp.Status)
		}
		return nil, fmt.Errorf("%s %s: %w", method, path, p)
	}
	return b, nil
}

func (c *client) getJSON(ctx context.Context, path string, out any) error {
	b, err := c.do(ctx, http.MethodGet, path, "", nil)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, out)
}

// all reads every page of a list endpoint.
func all[T any](ctx context.Context, c *client, path string) ([]T, error) {
	var items []T
	offset := 0
	for {
		var page struct {
			Items      []T  `json:"items"`
			NextOffset *int `json:"next_offset"`
		}
		if err := c.getJSON(ctx, fmt.Sprintf("%s?limit=500&offset=%d", path, offset), &page); err != nil {
			return nil, err
		}
		items = append(items, page.Items...)
		if page.NextOffset == nil || len(page.Items) == 0 {
			return items, nil
		}
		offset = *page.NextOffset
	}
}

type remoteConnection struct {
	ID        string         `json:"id"`
	Name      string         `json:"name"`
	Connector string         `json:"connector"`
	Config    map[string]any `json:"config"`
}

type remotePipeline struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Version int    `json:"version"`
	Spec    any    `json:"spec"`
}

// secretFields asks the server which config fields of each connector are
// secret.
func secretFields(ctx context.Context, c *client) (map[string][]string, error) {
	var out struct {
		Items []struct {
			Name   string `json:"name"`
			Source *struct {
				Secrets []string `json:"secrets"`
			} `json:"source"`
			Destination *struct {
				Secrets []string `json:"secrets"`
			} `json:"destination"`
		} `json:"items"`
	}
	if err := c.getJSON(ctx, "/api/v1/connectors", &out); err != nil {
		return nil, err
	}
	m := map[string][]string{}
	for _, it := range out.Items {
		if it.Source != nil {
			m[it.Name] = append(m[it.Name], it.Source.Secrets...)
		}
		if it.Destination != nil {
			m[it.Name] = append(m[it.Name], it.Destination.Secrets...)
		}
	}
	return m, nil
}

// object is one file of the folder: a connection or a pipeline.
type object struct {
	file string
	kind string // "connection" or "pipeline"
	name string
	// doc is the pipeline spec as JSON, keys in file order.
	doc []byte
	// conn is the connection as written, before ${VAR} substitution.
	conn connectionFile
}

// connectionFile is the file form of a connection.
type connectionFile struct {
	Kind      string         `yaml:"kind" json:"kind"`
	Name      string         `yaml:"name" json:"name"`
	Connector string         `yaml:"connector" json:"connector"`
	Config    map[string]any `yaml:"config,omitempty" json:"config,omitempty"`
}

// readObjects reads every YAML and JSON file under dir.
func readObjects(dir string) ([]object, error) {
	var objs []object
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if inner := errors.Unwrap(err); inner != nil {
				err = inner
			}
			return fmt.Errorf("read %s: %w", path, err)
		}
		if d.IsDir() {
			if path != dir && strings.HasPrefix(d.Name(), ".") {
				return filepath.SkipDir
			}
			return nil
		}
		switch strings.ToLower(filepath.Ext(path)) {
		case ".yaml", ".yml", ".json":
		default:
			return nil
		}
		o, err := readObject(path)
		if err != nil {
			return err
		}
		objs = append(objs, o)
		return nil
	})
	if err != nil {
		return nil, err
	}
	seen := map[string]string{}
	for _, o := range objs {
		key := o.kind + " " + o.name
		if prev, ok := seen[key]; ok {
			return nil, fmt.Errorf("%s and %s both define %s %q", prev, o.file, o.kind, o.name)
		}
		seen[key] = o.file
	}
	if len(objs) == 0 {
		return nil, fmt.Errorf("%s holds no .yaml, .yml or .json files", dir)
	}
	return objs, nil
}

func readObject(path string) (object, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return object{}, err
	}
	var head struct {
		Kind string `yaml:"kind"`
		Name any    `yaml:"name"`
	}
	if err := yaml.Unmarshal(b, &head); err != nil {
		return object{}, fmt.Errorf("%s: %w", path, err)
	}
	name, _ := head.Name.(string)
	switch head.Kind {
	case "connection":
		var c connectionFile
		dec := yaml.NewDecoder(bytes.NewReader(b))
		dec.KnownFields(true)
		if err := dec.Decode(&c); err != nil {
			return object{}, fmt.Errorf("%s: %w", path, err)
		}
		var missing []string
		if c.Name == "" {
			missing = append(missing, "name")
		}
		if c.Connector == "" {
			missing = append(missing, "connector")
		}
		if len(missing) > 0 {
			return object{}, fmt.Errorf("%s: a connection needs %s", path, strings.Join(missing, " and "))
		}
		return object{file: path, kind: "connection", name: c.Name, conn: c}, nil
	case "", "pipeline":
		if head.Kind == "pipeline" {
			return object{}, fmt.Errorf("%s: a pipeline file has no kind: the spec's own keys say what it is", path)
		}
		if name == "" {
			return object{}, fmt.Errorf("%s: name: a pipeline needs a name (a connection file says kind: connection)", path)
		}
		doc, err := specfile.ToJSON(b)
		if err != nil {
			return object{}, fmt.Errorf("%s: %w", path, err)
		}
		return object{file: path, kind: "pipeline", name: name, doc: doc}, nil
	default:
		return object{}, fmt.Errorf("%s: kind: %q is not a kind of file apply knows (connection, or none for a pipeline)", path, head.Kind)
	}
}

var envRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// expand replaces ${VAR} in the string values of a config; it reports the
// variables that are not set, by config field.
func expand(cfg map[string]any) (map[string]any, map[string][]string) {
	out := make(map[string]any, len(cfg))
	missing := map[string][]string{}
	for k, v := range cfg {
		out[k] = expandValue(v, func(name string) { missing[k] = append(missing[k], name) })
	}
	return out, missing
}

func expandValue(v any, miss func(string)) any {
	switch x := v.(type) {
	case string:
		return envRef.ReplaceAllStringFunc(x, func(ref string) string {
			name := ref[2 : len(ref)-1]
			val, ok := os.LookupEnv(name)
			if !ok {
				miss(name)
				return ref
			}
			return val
		})
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = expandValue(e, miss)
		}
		return m
	case []any:
		s := make([]any, len(x))
		for i, e := range x {
			s[i] = expandValue(e, miss)
		}
		return s
	}
	return v
}

// step is one planned change.
type step struct {
	obj    object
	action string // create, update, unchanged
	id     string
	diff   string
	// body is what is sent: the connection as JSON, or the pipeline file.
	body []byte
}

type plan struct{ steps []step }

func (p *plan) changes() int {
	n := 0
	for _, s := range p.steps {
		if s.action != "unchanged" {
			n++
		}
	}
	return n
}

func (p *plan) print(w io.Writer) {
	count := map[string]int{}
	for _, s := range p.steps {
		count[s.action]++
		fmt.Fprintf(w, "%s %s: %s (%s)\n", s.obj.kind, s.obj.name, s.action, s.obj.file)
		for _, line := range strings.Split(strings.TrimRight(s.diff, "\n"), "\n") {
			if line != "" {
				fmt.Fprintf(w, "    %s\n", line)
			}
		}
	}
	fmt.Fprintf(w, "Plan: %d to create, %d to update, %d unchanged.\n", count["create"], count["update"], count["unchanged"])
}

// makePlan compares the files with what the server holds.
func makePlan(ctx context.Context, c *client, objs []object) (*plan, error) {
	conns, err := all[remoteConnection](ctx, c, "/api/v1/connections")
	if err != nil {
		return nil, err
	}
	pipes, err := all[remotePipeline](ctx, c, "/api/v1/pipelines")
	if err != nil {
		return nil, err
	}
	secrets, err := secretFields(ctx, c)
	if err != nil {
		return nil, err
	}
	connByName := map[string]remoteConnection{}
	for _, rc := range conns {
		connByName[rc.Name] = rc
	}
	pipeByName := map[string]remotePipeline{}
	for _, rp := range pipes {
		pipeByName[rp.Name] = rp
	}
	// Connections first: pipelines name them.
	slices.SortStableFunc(objs, func(a, b object) int {
		if a.kind != b.kind {
			return strings.Compare(a.kind, b.kind)
		}
		return strings.Compare(a.name, b.name)
	})
	objs = upstreamsFirst(objs)
	p := &plan{}
	for _, o := range objs {
		var s step
		var err error
		if o.kind == "connection" {
			rc, ok := connByName[o.name]
			s, err = planConnection(o, rc, ok, secrets[o.conn.Connector])
		} else {
			rp, ok := pipeByName[o.name]
			s, err = planPipeline(ctx, c, o, rp, ok)
		}
		if err != nil {
			return nil, err
		}
		p.steps = append(p.steps, s)
	}
	return p, nil
}

// upstreamsFirst orders pipelines so that those named in another's
// depends_on are saved before it; the server refuses a depends_on naming
// no pipeline. Other objects keep their order; a cycle keeps the order it
// has (the server refuses it).
func upstreamsFirst(objs []object) []object {
	byName := map[string]int{}
	deps := map[string][]string{}
	for i, o := range objs {
		if o.kind != "pipeline" {
			continue
		}
		byName[o.name] = i
		var head struct {
			DependsOn []string `json:"depends_on"`
		}
		// A malformed depends_on is the server's to report.
		_ = json.Unmarshal(o.doc, &head)
		deps[o.name] = head.DependsOn
	}
	out := make([]object, 0, len(objs))
	state := map[string]int{} // 1 visiting, 2 done
	var visit func(i int)
	visit = func(i int) {
		o := objs[i]
		if state[o.name] != 0 {
			return
		}
		state[o.name] = 1
		for _, up := range deps[o.name] {
			if j, ok := byName[up]; ok && state[up] == 0 {
				visit(j)
			}
		}
		state[o.name] = 2
		out = append(out, o)
	}
	for i, o := range objs {
		if o.kind != "pipeline" {
			out = append(out, o)
			continue
		}
		visit(i)
	}
	return out
}

func planConnection(o object, rc remoteConnection, exists bool, secrets []string) (step, error) {
	cfg, missing := expand(o.conn.Config)
	var unset []string
	for field, names := range missing {
		for _, n := range names {
			unset = append(unset, fmt.Sprintf("%s (config.%s)", n, field))
		}
	}
	slices.Sort(unset)
	s := step{obj: o, id: rc.ID}
	if !exists {
		if len(unset) > 0 {
			return s, fmt.Errorf("%s: environment variables not set: %s", o.file, strings.Join(unset, ", "))
		}
		s.action = "create"
	} else {
		// Secrets cannot be compared: the server never returns them.
		mine, theirs := map[string]any{}, map[string]any{}
		for k, v := range cfg {
			if !slices.Contains(secrets, k) {
				mine[k] = v
			}
		}
		for k, v := range rc.Config {
			if !slices.Contains(secrets, k) {
				theirs[k] = v
			}
		}
		a, _ := json.Marshal(map[string]any{"connector": rc.Connector, "config": theirs})
		b, _ := json.Marshal(map[string]any{"connector": o.conn.Connector, "config": mine})
		changes, err := specfile.Changes(a, b)
		if err != nil {
			return s, err
		}
		s.action = "unchanged"
		if len(changes) > 0 {
			s.action = "update"
			s.diff = specfile.Summary(changes)
		}
		// A secret whose variable is unset keeps its stored value; any
		// other unset variable is an error.
		for field, names := range missing {
			if !slices.Contains(secrets, field) {
				return s, fmt.Errorf("%s: environment variables not set: %s (config.%s)", o.file, strings.Join(names, ", "), field)
			}
			cfg[field] = masked
		}
	}
	body, err := json.Marshal(map[string]any{"name": o.name, "connector": o.conn.Connector, "config": cfg})
	s.body = body
	return s, err
}

func planPipeline(ctx context.Context, c *client, o object, rp remotePipeline, exists bool) (step, error) {
	s := step{obj: o, id: rp.ID, action: "create"}
	if exists {
		var cur remotePipeline
		if err := c.getJSON(ctx, "/api/v1/pipelines/"+url.PathEscape(rp.ID), &cur); err != nil {
			return s, err
		}
		theirs, err := json.Marshal(cur.Spec)
		if err != nil {
			return s, err
		}
		changes, err := specfile.Changes(theirs, o.doc)
		if err != nil {
			return s, err
		}
		s.action = "unchanged"
		if len(changes) > 0 {
			s.action = "update"
			s.diff = specfile.Summary(changes)
		}
	}
	b, err := os.ReadFile(o.file)
	s.body = b
	return s, err
}

// apply saves every planned change; a refused one does not stop the
// others (a pipeline naming a refused connection is refused in turn, saying
// so). It returns every refusal.
func (p *plan) apply(ctx context.Context, c *client, w io.Writer) error {
	var errs []error
	for _, s := range p.steps {
		if s.action == "unchanged" {
			continue
		}
		var err error
		switch {
		case s.obj.kind == "connection" && s.action == "create":
			_, err = c.do(ctx, http.MethodPost, "/api/v1/connections", "application/json", s.body)
		case s.obj.kind == "connection":
			_, err = c.do(ctx, http.MethodPut, "/api/v1/connections/"+url.PathEscape(s.id), "application/json", s.body)
		default:
			var b []byte
			b, err = c.do(ctx, http.MethodPost, "/api/v1/pipelines/import", "application/yaml", s.body)
			if err == nil {
				var out struct {
					Version int `json:"version"`
				}
				if json.Unmarshal(b, &out) == nil {
					fmt.Fprintf(w, "pipeline %s: version %d\n", s.obj.name, out.Version)
				}
			}
		}
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			var pr *problem
			if errors.As(err, &pr) {
				err = fmt.Errorf("%s %s (%s): %s", s.obj.kind, s.obj.name, s.obj.file, pr.Error())
			} else {
				err = fmt.Errorf("%s %s (%s): %w", s.obj.kind, s.obj.name, s.obj.file, err)
			}
			fmt.Fprintf(w, "%s %s: refused\n", s.obj.kind, s.obj.name)
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%d of %d changes refused:\n%w", len(errs), p.changes(), errors.Join(errs...))
	}
	return nil
}
