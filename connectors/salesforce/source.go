package salesforce

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tributary-data/tributary/connector"
	"github.com/tributary-data/tributary/connectors/filesource"
	"github.com/tributary-data/tributary/connectors/rest"
)

// Config configures the salesforce source.
type Config struct {
	InstanceURL  string `json:"instance_url,omitempty" jsonschema:"description=The org's My Domain URL (https://example.my.salesforce.com); the token endpoint lives there. Default: login_url for the token and the token's instance_url for the API"`
	LoginURL     string `json:"login_url,omitempty" jsonschema:"description=Token host when instance_url is not set,default=https://login.salesforce.com"`
	ClientID     string `json:"client_id" jsonschema:"required,description=Consumer key of the connected app"`
	ClientSecret string `json:"client_secret" secret:"true" jsonschema:"required,description=Consumer secret of the connected app"`
	RefreshToken string `json:"refresh_token,omitempty" secret:"true" jsonschema:"description=Use the refresh-token flow with this token; without it the client credentials flow"`
	APIVersion   string `json:"api_version,omitempty" jsonschema:"description=REST API version,default=62.0"`
	// StartDate bounds the first incremental sync.
	StartDate    string         `json:"start_date,omitempty" jsonschema:"description=SystemModstamp the first incremental sync starts from (RFC 3339)"`
	Objects      []Object       `json:"objects,omitempty" jsonschema:"description=sObjects Discover offers; default: every queryable sObject"`
	PollInterval string         `json:"poll_interval,omitempty" jsonschema:"description=How often a Bulk API job's state is polled,default=5s"`
	RateLimit    rest.RateLimit `json:"rate_limit,omitzero"`
	Retry        rest.Retry     `json:"retry,omitzero"`
	Timeout      string         `json:"timeout,omitempty"`
}

// Object is one sObject read as a stream named after it.
type Object struct {
	Name string `json:"name" jsonschema:"required"`
	StreamConfig
}

// StreamConfig is what a pipeline may set on a Salesforce stream.
type StreamConfig struct {
	Object string   `json:"object,omitempty" jsonschema:"description=sObject API name; default: the stream name"`
	Fields []string `json:"fields,omitempty" jsonschema:"description=Fields to read; default: every non-compound field the describe call lists"`
	Bulk   bool     `json:"bulk,omitempty" jsonschema:"description=Read through a Bulk API 2.0 query job, for large objects"`
	Where  string   `json:"where,omitempty" jsonschema:"description=Extra SOQL condition"`
}

const cursorField = "SystemModstamp"

func init() {
	connector.RegisterSource(connector.NewSpec[Config, StreamConfig]("salesforce", "Salesforce sObjects through SOQL queries or Bulk API 2.0, incremental on SystemModstamp"), New)
}

// Source is the salesforce source.
type Source struct {
	cfg     Config
	version string
	poll    time.Duration
	rest    *rest.Source

	mu      sync.Mutex
	streams map[string]stream
}

// stream is a stream's resolved settings.
type stream struct {
	StreamConfig
	fields []field
}

type field struct {
	name string
	typ  connector.Type
}

var _ connector.Source = (*Source)(nil)

// New builds the salesforce source from its JSON config.
func New(_ context.Context, raw json.RawMessage) (connector.Source, error) {
	var cfg Config
	if err := connector.DecodeConfig(raw, &cfg); err != nil {
		return nil, err
	}
	return NewSource(cfg, nil)
}

// NewSource builds the source; transport is nil outside tests that need
// their own.
func NewSource(cfg Config, transport http.RoundTripper) (*Source, error) {
	var errs []error
	if cfg.ClientID == "" {
		errs = append(errs, errors.New("client_id: is required"))
	}
	if cfg.ClientSecret == "" {
		errs = append(errs, errors.New("client_secret: is required"))
	}
	s := &Source{cfg: cfg, version: cfg.APIVersion, poll: 5 * time.Second, streams: map[string]stream{}}
	if s.version == "" {
		s.version = "62.0"
	}
	if _, err := strconv.ParseFloat(s.version, 64); err != nil {
		errs = append(errs, fmt.Errorf("api_version: %q is not a version such as 62.0", cfg.APIVersion))
	}
	if cfg.PollInterval != "" {
		d, err := time.ParseDuration(cfg.PollInterval)
		if err != nil || d <= 0 {
			errs = append(errs, fmt.Errorf("poll_interval: %q is not a positive duration", cfg.PollInterval))
		}
		s.poll = d
	}
	if cfg.StartDate != "" {
		if _, err := connector.ParseTimestamp(cfg.StartDate); err != nil {
			errs = append(errs, fmt.Errorf("start_date: %w", err))
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	host := strings.TrimSuffix(cfg.InstanceURL, "/")
	if host == "" {
		host = strings.TrimSuffix(cfg.LoginURL, "/")
	}
	if host == "" {
		host = "https://login.salesforce.com"
	}
	rc := rest.Config{
		BaseURL: host,
		Auth: &rest.Auth{
			Type: "oauth2", TokenURL: host + "/services/oauth2/token", AuthStyle: "params",
			ClientID: cfg.ClientID, ClientSecret: cfg.ClientSecret, RefreshToken: cfg.RefreshToken,
		},
		RateLimit: cfg.RateLimit, Retry: cfg.Retry, Timeout: cfg.Timeout,
	}
	r, err := rest.NewSource(rc, rest.Options{Transport: transport, InstanceURLField: "instance_url", Hooks: s.hooks, Name: "salesforce"})
	if err != nil {
		return nil, err
	}
	s.rest = r
	return s, nil
}

// Close releases nothing.
func (s *Source) Close() error { return nil }

func (s *Source) api(p string) string { return "/services/data/v" + s.version + p }

// Check fetches a token and the org's API limits.
func (s *Source) Check(ctx context.Context) error {
	u, err := s.rest.Client().Resolve(ctx, s.api("/limits"))
	if err != nil {
		return err
	}
	_, err = s.rest.Client().Do(ctx, &rest.Request{URL: u}, nil)
	return err
}

// Discover offers the configured objects, or every queryable one, typed by
// the describe call.
func (s *Source) Discover(ctx context.Context) (*connector.Catalog, error) {
	objects := s.cfg.Objects
	if len(objects) == 0 {
		var list struct {
			SObjects []struct {
				Name      string `json:"name"`
				Queryable bool   `json:"queryable"`
			} `json:"sobjects"`
		}
		if err := s.getJSON(ctx, s.api("/sobjects"), &list); err != nil {
			return nil, err
		}
		for _, o := range list.SObjects {
			if o.Queryable {
				objects = append(objects, Object{Name: o.Name})
			}
		}
	}
	cat := &connector.Catalog{}
	for _, o := range objects {
		st, err := s.resolve(ctx, connector.Stream{Name: o.Name})
		if err != nil {
			return nil, fmt.Errorf("stream %s: %w", o.Name, err)
		}
		cat.Streams = append(cat.Streams, st.info(o.Name))
	}
	return cat, nil
}

// DiscoverStreams describes the given streams, whatever objects the
// config lists.
func (s *Source) DiscoverStreams(ctx context.Context, streams []connector.Stream) (*connector.Catalog, error) {
	cat := &connector.Catalog{}
	for _, cs := range streams {
		st, err := s.resolve(ctx, cs)
		if err != nil {
			return nil, fmt.Errorf("stream %s: %w", cs.Name, err)
		}
		cat.Streams = append(cat.Streams, st.info(cs.Name))
	}
	return cat, nil
}

func (st stream) info(name string) connector.StreamInfo {
	info := connector.StreamInfo{
		Name: name, Schema: &connector.Schema{}, PrimaryKey: []string{"Id"},
		SyncModes: []connector.SyncMode{connector.FullRefreshOverwrite, connector.FullRefreshAppend},
	}
	for _, f := range st.fields {
		info.Schema.Fields = append(info.Schema.Fields, connector.Field{Name: f.name, Type: f.typ, Nullable: f.name != "Id"})
		if f.name == cursorField {
			info.CursorCandidates = []string{cursorField}
			info.SyncModes = append(info.SyncModes, connector.IncrementalAppend, connector.IncrementalDedup)
		}
	}
	return info
}

// Read reads each stream through the rest source with the stream's query.
func (s *Source) Read(ctx context.Context, req connector.ReadRequest, emit connector.Emitter) error {
	for _, st := range req.Streams {
		res, err := s.resolve(ctx, st)
		if err != nil {
			return fmt.Errorf("stream %s: %w", st.Name, err)
		}
		rs := st
		rs.Schema = map[string]connector.Type{}
		for _, f := range res.fields {
			rs.Schema[f.name] = f.typ
		}
		for k, v := range st.Schema {
			rs.Schema[k] = v
		}
		rs.Config = map[string]any{
			"path":        s.api("/query"),
			"params":      map[string]any{"q": s.soql(res, "", false)},
			"records":     "$.records",
			"pagination":  map[string]any{"type": "next_url", "next_url_path": "$.nextRecordsUrl"},
			"incremental": map[string]any{"cursor_field": cursorField, "start": s.cfg.StartDate},
		}
		sub := req
		sub.Streams = []connector.Stream{rs}
		if err := s.rest.Read(ctx, sub, emit); err != nil {
			return err
		}
	}
	return nil
}

// resolve settles a stream's object and fields, describing the object for
// its field list and types.
func (s *Source) resolve(ctx context.Context, st connector.Stream) (stream, error) {
	var res stream
	for _, o := range s.cfg.Objects {
		if o.Name == st.Name {
			res.StreamConfig = o.StreamConfig
		}
	}
	if st.Config != nil {
		var own StreamConfig
		if err := connector.DecodeConfig(st.Config, &own); err != nil {
			return res, fmt.Errorf("stream settings: %w", err)
		}
		if own.Object != "" {
			res.Object = own.Object
		}
		if own.Fields != nil {
			res.Fields = own.Fields
		}
		if own.Where != "" {
			res.Where = own.Where
		}
		res.Bulk = res.Bulk || own.Bulk
	}
	if res.Object == "" {
		res.Object = st.Name
	}
	var desc struct {
		Fields []struct {
			Name string `json:"name"`
			Type string `json:"type"`
		} `json:"fields"`
	}
	if err := s.getJSON(ctx, s.api("/sobjects/"+url.PathEscape(res.Object)+"/describe"), &desc); err != nil {
		return res, fmt.Errorf("describe %s: %w", res.Object, err)
	}
	types := map[string]connector.Type{}
	var all []string
	for _, f := range desc.Fields {
		t, ok := fieldType(f.Type)
		if !ok {
			continue // compound fields cannot be queried whole
		}
		types[f.Name] = t
		all = append(all, f.Name)
	}
	names := res.Fields
	if len(names) == 0 {
		names = all
	}
	for _, n := range names {
		t, ok := types[n]
		if !ok {
			return res, fmt.Errorf("fields: %s has no queryable field %q", res.Object, n)
		}
		res.fields = append(res.fields, field{n, t})
	}
	s.mu.Lock()
	s.streams[st.Name] = res
	s.mu.Unlock()
	return res, nil
}

// fieldType maps a describe field type to a stream type; compound types
// (address, location) are not queryable as one field.
func fieldType(t string) (connector.Type, bool) {
	switch t {
	case "address", "location":
		return "", false
	case "boolean":
		return connector.TypeBool, true
	case "int":
		return connector.TypeInt64, true
	case "double", "currency", "percent":
		return connector.TypeDecimal, true
	case "date":
		return connector.TypeDate, true
	case "datetime":
		return connector.TypeTimestamp, true
	case "base64":
		return connector.TypeBytes, true
	}
	return connector.TypeString, true
}

// soql builds the query of a stream; with a cursor, records modified at or
// after it, oldest first. At, not after: a record changed within the same
// millisecond as the last one read is read again rather than missed.
func (s *Source) soql(st stream, cursor string, incremental bool) string {
	names := make([]string, len(st.fields))
	for i, f := range st.fields {
		names[i] = f.name
	}
	q := "SELECT " + strings.Join(names, ", ") + " FROM " + st.Object
	var where []string
	if st.Where != "" {
		where = append(where, "("+st.Where+")")
	}
	if cursor != "" {
		t, _ := connector.ParseTimestamp(cursor)
		where = append(where, cursorField+" >= "+t.UTC().Format("2006-01-02T15:04:05.000Z"))
	}
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	if incremental {
		q += " ORDER BY " + cursorField + " ASC"
	}
	return q
}

// hooks are the Salesforce specifics of a stream read through rest.
func (s *Source) hooks(name string, _ rest.StreamConfig) rest.StreamHooks {
	s.mu.Lock()
	st := s.streams[name]
	s.mu.Unlock()
	h := rest.StreamHooks{
		Incremental: func(r *rest.Request, cursor string) error {
			r.Query.Set("q", s.soql(st, cursor, true))
			return nil
		},
		Record: func(kv []filesource.KV) []filesource.KV { return normalize(kv, st) },
		// A query locator lives 15 minutes without use: a run resumed later
		// runs the query again.
		Expired: func(e *rest.StatusError) bool { return strings.Contains(e.Body, "INVALID_QUERY_LOCATOR") },
	}
	if st.Bulk {
		h.Text = true
		h.Read = func(ctx context.Context, c *rest.Client, p *rest.Pages) error {
			return s.bulk(ctx, c, st, p, true)
		}
	}
	return h
}

// normalize removes the attributes object (type and URL) every SOQL
// record carries, and writes datetimes the way RFC 3339 does: the REST API
// writes 2026-03-01T08:01:00.000+0000, without the colon in the offset.
func normalize(kv []filesource.KV, st stream) []filesource.KV {
	out := kv[:0]
	for _, e := range kv {
		if e.Key == "attributes" {
			continue
		}
		if v, ok := e.Value.(string); ok && len(v) > 5 && st.isTimestamp(e.Key) {
			if z := v[len(v)-5:]; (z[0] == '+' || z[0] == '-') && strings.IndexFunc(z[1:], func(r rune) bool { return r < '0' || r > '9' }) < 0 {
				e.Value = v[:len(v)-2] + ":" + v[len(v)-2:]
			}
		}
		out = append(out, e)
	}
	return out
}

func (st stream) isTimestamp(name string) bool {
	for _, f := range st.fields {
		if f.name == name {
			return f.typ == connector.TypeTimestamp
		}
	}
	return false
}

func (s *Source) getJSON(ctx context.Context, path string, into any) error {
	return s.rest.Client().GetJSON(ctx, path, into)
}

// bulkPosition is where a Bulk API read resumes: the job and the locator
// of the next results page.
type bulkPosition struct {
	Job     string `json:"job"`
	Locator string `json:"locator,omitempty"`
}

// bulk runs a Bulk API 2.0 query job and reads its CSV results page by
// page, checkpointing the job and the next locator after each.
func (s *Source) bulk(ctx context.Context, c *rest.Client, st stream, p *rest.Pages, resume bool) error {
	var pos bulkPosition
	resumed := false
	if r := p.Resume(); r != nil && resume {
		resumed = true
		if err := json.Unmarshal(r, &pos); err != nil {
			return fmt.Errorf("saved bulk position: %w", err)
		}
	}
	jobs, err := c.Resolve(ctx, s.api("/jobs/query"))
	if err != nil {
		return err
	}
	if pos.Job == "" {
		// No ORDER BY: the Bulk API does not need it, since a resumed read
		// goes on with the same job and the new cursor is the highest seen.
		q := s.soql(st, p.Cursor(), false)
		resp, err := c.Do(ctx, &rest.Request{Method: http.MethodPost, URL: jobs, Body: map[string]any{"operation": "query", "query": q}}, nil)
		if err != nil {
			return fmt.Errorf("create bulk query job: %w", err)
		}
		var job struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal(resp.Body, &job); err != nil || job.ID == "" {
			return fmt.Errorf("create bulk query job: no job id in %s", snippet(resp.Body))
		}
		pos.Job = job.ID
	}
	jobURL := jobs + "/" + url.PathEscape(pos.Job)
	for {
		resp, err := c.Do(ctx, &rest.Request{URL: jobURL}, nil)
		var se *rest.StatusError
		if resumed && errors.As(err, &se) && se.Status == http.StatusNotFound {
			// Query results are kept 7 days: a run resumed later starts a
			// new job from the same cursor, reading committed rows again
			// rather than losing any.
			slog.Warn("salesforce: saved bulk job is gone, a new job starts", "job", pos.Job, "object", st.Object)
			return s.bulk(ctx, c, st, p, false)
		}
		if err != nil {
			return fmt.Errorf("bulk job %s: %w", pos.Job, err)
		}
		var info struct {
			State        string `json:"state"`
			ErrorMessage string `json:"errorMessage"`
		}
		if err := json.Unmarshal(resp.Body, &info); err != nil {
			return fmt.Errorf("bulk job %s: %w", pos.Job, err)
		}
		if info.State == "JobComplete" {
			break
		}
		if info.State == "Failed" || info.State == "Aborted" {
			return fmt.Errorf("bulk job %s %s: %s", pos.Job, strings.ToLower(info.State), info.ErrorMessage)
		}
		t := time.NewTimer(s.poll)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
	accept := http.Header{"Accept": {"text/csv"}}
	for {
		req := &rest.Request{URL: jobURL + "/results", Query: url.Values{"maxRecords": {"50000"}}}
		if pos.Locator != "" {
			req.Query.Set("locator", pos.Locator)
		}
		resp, err := c.Do(ctx, req, accept)
		if err != nil {
			return fmt.Errorf("bulk job %s results: %w", pos.Job, err)
		}
		recs, err := parseCSV(resp.Body)
		if err != nil {
			return fmt.Errorf("%s: %w", req, err)
		}
		next := resp.Header.Get("Sforce-Locator")
		var resume json.RawMessage
		if next != "" && next != "null" {
			resume, _ = json.Marshal(bulkPosition{Job: pos.Job, Locator: next})
		}
		if err := p.Add(ctx, recs, req.String(), resume); err != nil {
			return err
		}
		if resume == nil || p.Full() {
			return nil
		}
		pos.Locator = next
	}
}

// parseCSV reads Bulk API results: a header line, then one record a line;
// an empty field is null.
func parseCSV(body []byte) ([][]filesource.KV, error) {
	r := csv.NewReader(bytes.NewReader(body))
	header, err := r.Read()
	if err == io.EOF {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("results CSV header: %w", err)
	}
	var out [][]filesource.KV
	for {
		rec, err := r.Read()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("results CSV: %w", err)
		}
		kv := make([]filesource.KV, len(header))
		for i, h := range header {
			kv[i].Key = h
			if rec[i] != "" {
				kv[i].Value = rec[i]
			}
		}
		out = append(out, kv)
	}
}

func snippet(b []byte) string {
	if len(b) > 120 {
		return string(b[:120]) + "…"
	}
	return string(b)
}
