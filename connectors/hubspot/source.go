package hubspot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/tributary-data/tributary/connector"
	"github.com/tributary-data/tributary/connectors/filesource"
	"github.com/tributary-data/tributary/connectors/rest"
)

// Config configures the hubspot source.
type Config struct {
	BaseURL      string `json:"base_url,omitempty" jsonschema:"description=API host,default=https://api.hubapi.com"`
	AccessToken  string `json:"access_token,omitempty" secret:"true" jsonschema:"description=Private app access token; or give client_id, client_secret and refresh_token"`
	ClientID     string `json:"client_id,omitempty" jsonschema:"description=OAuth app client id"`
	ClientSecret string `json:"client_secret,omitempty" secret:"true"`
	RefreshToken string `json:"refresh_token,omitempty" secret:"true"`
	StartDate    string `json:"start_date,omitempty" jsonschema:"description=Last-modified time the first incremental sync starts from (RFC 3339)"`
	// Objects are the streams Discover offers.
	Objects   []Object       `json:"objects,omitempty" jsonschema:"description=Object types Discover offers,default=[contacts companies deals]"`
	PageSize  int            `json:"page_size,omitempty" jsonschema:"description=Records per request (at most 100),default=100"`
	RateLimit rest.RateLimit `json:"rate_limit,omitzero" jsonschema:"description=Requests per second; HubSpot allows 10 to 19 per second depending on the plan"`
	Retry     rest.Retry     `json:"retry,omitzero"`
	Timeout   string         `json:"timeout,omitempty"`
}

// Object is one object type read as a stream named after it.
type Object struct {
	Name string `json:"name" jsonschema:"required"`
	StreamConfig
}

// StreamConfig is what a pipeline may set on a HubSpot stream.
type StreamConfig struct {
	Object       string   `json:"object,omitempty" jsonschema:"description=Object type (contacts, companies, deals, tickets, p_custom…); default: the stream name"`
	Properties   []string `json:"properties,omitempty" jsonschema:"description=Properties to read; default: every property of the object type"`
	Associations []string `json:"associations,omitempty" jsonschema:"description=Object types whose associated record ids are read into the associations field"`
	// ModifiedProperty is the last-modified property searched on.
	ModifiedProperty string `json:"modified_property,omitempty" jsonschema:"description=Property the incremental search filters on; default: lastmodifieddate for contacts, hs_lastmodifieddate otherwise"`
}

const cursorField = "updatedAt"

// searchLimit is how far the search endpoint pages: its `after` cannot
// reach 10,000.
const searchLimit = 10_000

func init() {
	connector.RegisterSource(connector.NewSpec[Config, StreamConfig]("hubspot", "HubSpot CRM objects with their properties and associations, incremental through the search API"), New)
}

// Source is the hubspot source.
type Source struct {
	cfg  Config
	rest *rest.Source
	size int
	// limit is the search endpoint's paging limit.
	limit int

	mu      sync.Mutex
	streams map[string]stream
}

type stream struct {
	StreamConfig
	props       []property
	incremental bool
}

type property struct {
	name string
	typ  connector.Type
}

var _ connector.Source = (*Source)(nil)

// New builds the hubspot source from its JSON config.
func New(_ context.Context, raw json.RawMessage) (connector.Source, error) {
	var cfg Config
	if err := connector.DecodeConfig(raw, &cfg); err != nil {
		return nil, err
	}
	return NewSource(cfg)
}

// NewSource builds the source from a config made in Go.
func NewSource(cfg Config) (*Source, error) {
	base := strings.TrimSuffix(cfg.BaseURL, "/")
	if base == "" {
		base = "https://api.hubapi.com"
	}
	var auth *rest.Auth
	var errs []error
	switch {
	case cfg.AccessToken != "":
		auth = &rest.Auth{Type: "bearer", Token: cfg.AccessToken}
	case cfg.RefreshToken != "":
		if cfg.ClientID == "" || cfg.ClientSecret == "" {
			errs = append(errs, errors.New("client_id, client_secret: are required with refresh_token"))
		}
		auth = &rest.Auth{Type: "oauth2", TokenURL: base + "/oauth/v1/token", AuthStyle: "params",
			ClientID: cfg.ClientID, ClientSecret: cfg.ClientSecret, RefreshToken: cfg.RefreshToken}
	default:
		errs = append(errs, errors.New("access_token: give a private app access token, or client_id, client_secret and refresh_token"))
	}
	if cfg.PageSize < 0 || cfg.PageSize > 100 {
		errs = append(errs, fmt.Errorf("page_size: %d is not between 1 and 100", cfg.PageSize))
	}
	if cfg.StartDate != "" {
		if _, err := connector.ParseTimestamp(cfg.StartDate); err != nil {
			errs = append(errs, fmt.Errorf("start_date: %w", err))
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	s := &Source{cfg: cfg, size: cfg.PageSize, limit: searchLimit, streams: map[string]stream{}}
	if s.size == 0 {
		s.size = 100
	}
	r, err := rest.NewSource(rest.Config{BaseURL: base, Auth: auth, RateLimit: cfg.RateLimit, Retry: cfg.Retry, Timeout: cfg.Timeout},
		rest.Options{Hooks: s.hooks, Name: "hubspot"})
	if err != nil {
		return nil, err
	}
	s.rest = r
	return s, nil
}

// Close releases nothing.
func (s *Source) Close() error { return nil }

// Check reads one contact.
func (s *Source) Check(ctx context.Context) error {
	c := s.rest.Client()
	u, err := c.Resolve(ctx, "/crm/v3/objects/contacts")
	if err != nil {
		return err
	}
	_, err = c.Do(ctx, &rest.Request{URL: u, Query: url.Values{"limit": {"1"}}}, nil)
	return err
}

func (s *Source) objects() []Object {
	if len(s.cfg.Objects) > 0 {
		return s.cfg.Objects
	}
	return []Object{{Name: "contacts"}, {Name: "companies"}, {Name: "deals"}}
}

// Discover offers the configured object types, typed by the properties
// API.
func (s *Source) Discover(ctx context.Context) (*connector.Catalog, error) {
	cat := &connector.Catalog{}
	for _, o := range s.objects() {
		st, err := s.resolve(ctx, connector.Stream{Name: o.Name})
		if err != nil {
			return nil, fmt.Errorf("stream %s: %w", o.Name, err)
		}
		cat.Streams = append(cat.Streams, connector.StreamInfo{
			Name: o.Name, Schema: st.schema(), PrimaryKey: []string{"id"}, CursorCandidates: []string{cursorField},
			SyncModes: connector.SyncModes,
		})
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
		cat.Streams = append(cat.Streams, connector.StreamInfo{
			Name: cs.Name, Schema: st.schema(), PrimaryKey: []string{"id"}, CursorCandidates: []string{cursorField},
			SyncModes: connector.SyncModes,
		})
	}
	return cat, nil
}

// schema is the flattened record: id, the properties, timestamps,
// archived and associations.
func (st stream) schema() *connector.Schema {
	sc := connector.NewSchema(connector.Field{Name: "id", Type: connector.TypeString})
	for _, p := range st.props {
		sc.Fields = append(sc.Fields, connector.Field{Name: p.name, Type: p.typ, Nullable: true})
	}
	sc.Fields = append(sc.Fields,
		connector.Field{Name: "createdAt", Type: connector.TypeTimestamp, Nullable: true},
		connector.Field{Name: cursorField, Type: connector.TypeTimestamp, Nullable: true},
		connector.Field{Name: "archived", Type: connector.TypeBool, Nullable: true})
	if len(st.Associations) > 0 {
		sc.Fields = append(sc.Fields, connector.Field{Name: "associations", Type: connector.TypeJSON, Nullable: true})
	}
	return sc
}

// resolve settles a stream's object type and properties.
func (s *Source) resolve(ctx context.Context, cs connector.Stream) (stream, error) {
	var st stream
	for _, o := range s.objects() {
		if o.Name == cs.Name {
			st.StreamConfig = o.StreamConfig
		}
	}
	if cs.Config != nil {
		var own StreamConfig
		if err := connector.DecodeConfig(cs.Config, &own); err != nil {
			return st, fmt.Errorf("stream settings: %w", err)
		}
		if own.Object != "" {
			st.Object = own.Object
		}
		if own.Properties != nil {
			st.Properties = own.Properties
		}
		if own.Associations != nil {
			st.Associations = own.Associations
		}
		if own.ModifiedProperty != "" {
			st.ModifiedProperty = own.ModifiedProperty
		}
	}
	if st.Object == "" {
		st.Object = cs.Name
	}
	if st.ModifiedProperty == "" {
		st.ModifiedProperty = "hs_lastmodifieddate"
		if st.Object == "contacts" {
			st.ModifiedProperty = "lastmodifieddate"
		}
	}
	var list struct {
		Results []struct {
			Name string `json:"name"`
			Type string `json:"type"`
		} `json:"results"`
	}
	if err := s.getJSON(ctx, "/crm/v3/properties/"+url.PathEscape(st.Object), &list); err != nil {
		return st, fmt.Errorf("properties of %s: %w", st.Object, err)
	}
	types := map[string]connector.Type{}
	var all []string
	for _, p := range list.Results {
		types[p.Name] = propertyType(p.Type)
		all = append(all, p.Name)
	}
	names := st.Properties
	if len(names) == 0 {
		names = all
		sort.Strings(names)
	}
	for _, n := range names {
		t, ok := types[n]
		if !ok {
			return st, fmt.Errorf("properties: %s has no property %q", st.Object, n)
		}
		st.props = append(st.props, property{n, t})
	}
	s.mu.Lock()
	s.streams[cs.Name] = st
	s.mu.Unlock()
	return st, nil
}

// propertyType maps a HubSpot property type; their values all come as
// text.
func propertyType(t string) connector.Type {
	switch t {
	case "number":
		return connector.TypeDecimal
	case "bool":
		return connector.TypeBool
	case "date":
		return connector.TypeDate
	case "datetime":
		return connector.TypeTimestamp
	}
	return connector.TypeString
}

func (st stream) names() []string {
	out := make([]string, len(st.props))
	for i, p := range st.props {
		out[i] = p.name
	}
	return out
}

// Read reads full refreshes from the list endpoint and incremental syncs
// through search.
func (s *Source) Read(ctx context.Context, req connector.ReadRequest, emit connector.Emitter) error {
	for _, cs := range req.Streams {
		st, err := s.resolve(ctx, cs)
		if err != nil {
			return fmt.Errorf("stream %s: %w", cs.Name, err)
		}
		rs := cs
		rs.Schema = map[string]connector.Type{}
		for _, f := range st.schema().Fields {
			rs.Schema[f.Name] = f.Type
		}
		for k, v := range cs.Schema {
			rs.Schema[k] = v
		}
		params := map[string]any{"limit": strconv.Itoa(s.size), "archived": "false"}
		if len(st.props) > 0 {
			params["properties"] = strings.Join(st.names(), ",")
		}
		if len(st.Associations) > 0 {
			params["associations"] = strings.Join(st.Associations, ",")
		}
		rs.Config = map[string]any{
			"path":        "/crm/v3/objects/" + url.PathEscape(st.Object),
			"params":      params,
			"records":     "$.results",
			"pagination":  map[string]any{"type": "cursor", "cursor_path": "$.paging.next.after", "param": "after"},
			"incremental": map[string]any{"cursor_field": cursorField, "start": s.cfg.StartDate},
		}
		st.incremental = cs.SyncMode.Incremental()
		s.mu.Lock()
		s.streams[cs.Name] = st
		s.mu.Unlock()
		sub := req
		sub.Streams = []connector.Stream{rs}
		if err := s.rest.Read(ctx, sub, emit); err != nil {
			return err
		}
	}
	return nil
}

func (s *Source) hooks(name string, _ rest.StreamConfig) rest.StreamHooks {
	s.mu.Lock()
	st := s.streams[name]
	s.mu.Unlock()
	h := rest.StreamHooks{Record: func(kv []filesource.KV) []filesource.KV { return flatten(kv, st) }}
	if st.incremental {
		h.Read = func(ctx context.Context, c *rest.Client, p *rest.Pages) error { return s.search(ctx, c, st, p) }
	}
	return h
}

// searchPosition is where an incremental search resumes.
type searchPosition struct {
	Since string `json:"since,omitempty"`
	After string `json:"after,omitempty"`
}

// search reads records modified at or after the cursor, oldest first,
// through the search endpoint. Its paging stops short of 10,000 results,
// so before that the search starts again from the last record's
// modification time.
func (s *Source) search(ctx context.Context, c *rest.Client, st stream, p *rest.Pages) error {
	var at searchPosition
	if r := p.Resume(); r != nil {
		if err := json.Unmarshal(r, &at); err != nil {
			return fmt.Errorf("saved search position: %w", err)
		}
	} else {
		at.Since = p.Cursor()
	}
	u, err := c.Resolve(ctx, "/crm/v3/objects/"+url.PathEscape(st.Object)+"/search")
	if err != nil {
		return err
	}
	restarted := map[string]bool{}
	for {
		body := map[string]any{
			"limit":      s.size,
			"properties": st.names(),
			"sorts":      []any{map[string]any{"propertyName": st.ModifiedProperty, "direction": "ASCENDING"}},
		}
		if at.Since != "" {
			t, err := connector.ParseTimestamp(at.Since)
			if err != nil {
				return fmt.Errorf("cursor: %w", err)
			}
			body["filterGroups"] = []any{map[string]any{"filters": []any{map[string]any{
				"propertyName": st.ModifiedProperty, "operator": "GTE", "value": strconv.FormatInt(t.UnixMilli(), 10),
			}}}}
		}
		if at.After != "" {
			body["after"] = at.After
		}
		req := &rest.Request{Method: http.MethodPost, URL: u, Body: body}
		resp, err := c.Do(ctx, req, nil)
		if err != nil {
			return fmt.Errorf("search: %w", err)
		}
		var page struct {
			Results []struct {
				ID         string         `json:"id"`
				Properties map[string]any `json:"properties"`
				CreatedAt  string         `json:"createdAt"`
				UpdatedAt  string         `json:"updatedAt"`
				Archived   bool           `json:"archived"`
			} `json:"results"`
			Paging struct {
				Next struct {
					After string `json:"after"`
				} `json:"next"`
			} `json:"paging"`
		}
		if err := json.Unmarshal(resp.Body, &page); err != nil {
			return fmt.Errorf("search %s: response is not the expected JSON: %w", req, err)
		}
		recs := make([][]filesource.KV, len(page.Results))
		ids := make([]string, len(page.Results))
		for i, r := range page.Results {
			ids[i] = r.ID
			recs[i] = []filesource.KV{{Key: "id", Value: r.ID}, {Key: "properties", Value: r.Properties},
				{Key: "createdAt", Value: r.CreatedAt}, {Key: cursorField, Value: r.UpdatedAt}, {Key: "archived", Value: r.Archived}}
		}
		if len(st.Associations) > 0 && len(ids) > 0 {
			assoc, err := s.associations(ctx, c, st, ids)
			if err != nil {
				return err
			}
			for i := range recs {
				recs[i] = append(recs[i], filesource.KV{Key: "associations", Value: assoc[ids[i]]})
			}
		}
		var next *searchPosition
		switch n, _ := strconv.Atoi(page.Paging.Next.After); {
		case page.Paging.Next.After == "":
		case n+s.size > s.limit:
			last := page.Results[len(page.Results)-1].UpdatedAt
			if restarted[last] {
				return fmt.Errorf("search: more than %d records of %s were modified at %s; the search cannot page past them", s.limit, st.Object, last)
			}
			restarted[last] = true
			next = &searchPosition{Since: last}
		default:
			next = &searchPosition{Since: at.Since, After: page.Paging.Next.After}
		}
		var resume json.RawMessage
		if next != nil {
			resume, _ = json.Marshal(next)
		}
		if err := p.Add(ctx, recs, req.String()+" after="+at.After, resume); err != nil {
			return err
		}
		if next == nil || p.Full() {
			return nil
		}
		at = *next
	}
}

// associations reads the ids associated with each record, per object type,
// through the v4 batch read, in the shape the list endpoint gives them.
func (s *Source) associations(ctx context.Context, c *rest.Client, st stream, ids []string) (map[string]map[string]any, error) {
	out := map[string]map[string]any{}
	for _, id := range ids {
		out[id] = map[string]any{}
	}
	inputs := make([]any, len(ids))
	for i, id := range ids {
		inputs[i] = map[string]any{"id": id}
	}
	for _, to := range st.Associations {
		u, err := c.Resolve(ctx, "/crm/v4/associations/"+url.PathEscape(st.Object)+"/"+url.PathEscape(to)+"/batch/read")
		if err != nil {
			return nil, err
		}
		resp, err := c.Do(ctx, &rest.Request{Method: http.MethodPost, URL: u, Body: map[string]any{"inputs": inputs}}, nil)
		if err != nil {
			return nil, fmt.Errorf("associations to %s: %w", to, err)
		}
		var batch struct {
			Results []struct {
				From struct {
					ID string `json:"id"`
				} `json:"from"`
				To []struct {
					ToObjectID json.Number `json:"toObjectId"`
				} `json:"to"`
			} `json:"results"`
		}
		if err := json.Unmarshal(resp.Body, &batch); err != nil {
			return nil, fmt.Errorf("associations to %s: %w", to, err)
		}
		for _, id := range ids {
			out[id][to] = map[string]any{"results": []any{}}
		}
		for _, r := range batch.Results {
			var rs []any
			for _, t := range r.To {
				rs = append(rs, map[string]any{"id": string(t.ToObjectID)})
			}
			if m, ok := out[r.From.ID]; ok {
				m[to] = map[string]any{"results": rs}
			}
		}
	}
	return out, nil
}

// flatten lifts a CRM record's properties to fields of their own, in the
// stream's property order, after the id and before the record's
// timestamps, and reduces associations to the associated ids per object
// type.
func flatten(kv []filesource.KV, st stream) []filesource.KV {
	var props map[string]any
	var assoc any
	fields := map[string]any{}
	var others []filesource.KV
	for _, e := range kv {
		switch e.Key {
		case "properties":
			props, _ = e.Value.(map[string]any)
		case "associations":
			assoc = e.Value
		case "id", "createdAt", cursorField, "archived":
			fields[e.Key] = e.Value
		case "propertiesWithHistory", "archivedAt":
		default:
			others = append(others, e)
		}
	}
	out := make([]filesource.KV, 0, len(st.props)+len(others)+5)
	out = append(out, filesource.KV{Key: "id", Value: fields["id"]})
	for _, p := range st.props {
		v := props[p.name]
		if v == "" && p.typ != connector.TypeString {
			v = nil // HubSpot writes an unset number or date as ""
		}
		out = append(out, filesource.KV{Key: p.name, Value: v})
	}
	for _, k := range []string{"createdAt", cursorField, "archived"} {
		out = append(out, filesource.KV{Key: k, Value: fields[k]})
	}
	out = append(out, others...)
	if len(st.Associations) > 0 {
		out = append(out, filesource.KV{Key: "associations", Value: associationIDs(assoc, st.Associations)})
	}
	return out
}

// associationIDs turns {"companies": {"results": [{"id": "1", "type":
// "contact_to_company"}, …]}} into {"companies": ["1", …]}, each id once.
func associationIDs(v any, types []string) map[string]any {
	out := map[string]any{}
	m, _ := v.(map[string]any)
	for _, t := range types {
		ids := []any{}
		// The list endpoint keys associations by the plural type name.
		if a, ok := m[t].(map[string]any); ok {
			rs, _ := a["results"].([]any)
			for _, r := range rs {
				id, _ := r.(map[string]any)["id"].(string)
				if id != "" && !slices.Contains(ids, any(id)) {
					ids = append(ids, id)
				}
			}
		}
		out[t] = ids
	}
	return out
}

func (s *Source) getJSON(ctx context.Context, path string, into any) error {
	return s.rest.Client().GetJSON(ctx, path, into)
}
