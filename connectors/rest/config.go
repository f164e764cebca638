package rest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/invopop/jsonschema"
	"github.com/ohler55/ojg/jp"
)

// Config configures the rest source.
type Config struct {
	BaseURL string `json:"base_url" jsonschema:"required,description=URL every stream path is relative to"`
	// Auth is a secret as a whole: it holds tokens, passwords or client
	// secrets whatever its type.
	Auth      *Auth             `json:"auth,omitempty" secret:"true" jsonschema:"description=How requests authenticate"`
	Headers   map[string]string `json:"headers,omitempty" jsonschema:"description=Headers sent with every request"`
	RateLimit RateLimit         `json:"rate_limit,omitzero" jsonschema:"description=Most requests per second"`
	Retry     Retry             `json:"retry,omitzero" jsonschema:"description=Retries of 429 and 5xx answers and network errors"`
	Timeout   string            `json:"timeout,omitempty" jsonschema:"description=Longest wait for one response (a Go duration),default=30s"`
	// SampleRecords bounds how many records of the first page Discover types
	// a stream's fields from.
	SampleRecords int           `json:"sample_records,omitempty" jsonschema:"description=Records sampled to infer a stream's schema,default=100"`
	Streams       []NamedStream `json:"streams,omitempty" jsonschema:"description=Streams Discover offers and parent streams refer to; a pipeline's stream settings override them"`
}

// NamedStream is a stream declared in the connector config.
type NamedStream struct {
	Name       string   `json:"name" jsonschema:"required"`
	PrimaryKey []string `json:"primary_key,omitempty" jsonschema:"description=Primary key Discover offers"`
	StreamConfig
}

// Auth says how requests authenticate.
type Auth struct {
	Type string `json:"type" jsonschema:"required,enum=none,enum=api_key,enum=bearer,enum=basic,enum=oauth2"`
	// api_key
	Name  string `json:"name,omitempty" jsonschema:"description=api_key: header or query parameter name"`
	In    string `json:"in,omitempty" jsonschema:"enum=header,enum=query,description=api_key: where the key goes,default=header"`
	Value string `json:"value,omitempty" jsonschema:"description=api_key: the key"`
	// bearer
	Token string `json:"token,omitempty" jsonschema:"description=bearer: the token"`
	// basic
	Username string `json:"username,omitempty"`
	Password string `json:"password,omitempty"`
	// oauth2: client credentials, or the refresh-token flow when
	// refresh_token is set.
	TokenURL     string            `json:"token_url,omitempty" jsonschema:"description=oauth2: token endpoint"`
	ClientID     string            `json:"client_id,omitempty"`
	ClientSecret string            `json:"client_secret,omitempty"`
	RefreshToken string            `json:"refresh_token,omitempty" jsonschema:"description=oauth2: use the refresh-token flow with this token"`
	Scopes       []string          `json:"scopes,omitempty"`
	Params       map[string]string `json:"params,omitempty" jsonschema:"description=oauth2: extra token request parameters"`
	AuthStyle    string            `json:"auth_style,omitempty" jsonschema:"enum=header,enum=params,description=oauth2: client credentials in a Basic header or in the form,default=header"`
}

// UnmarshalJSON reads the auth object, or a string holding it as JSON: a
// secret exported as one ${VAR} comes back as a string.
func (a *Auth) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		b = []byte(s)
		if t := bytes.TrimSpace(b); len(t) == 0 || t[0] != '{' {
			return errors.New("auth: a string auth must hold a JSON object such as {\"type\": \"bearer\", \"token\": \"…\"}")
		}
	}
	type plain Auth
	var p plain
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return fmt.Errorf("auth: %w", err)
	}
	*a = Auth(p)
	return nil
}

// JSONSchemaExtend lets auth be a string too: the JSON object as text.
func (Auth) JSONSchemaExtend(s *jsonschema.Schema) {
	s.Type = ""
	s.AnyOf = []*jsonschema.Schema{{Type: "object"}, {Type: "string", Description: "the auth object as JSON text"}}
}

// RateLimit bounds the request rate.
type RateLimit struct {
	RequestsPerSecond float64 `json:"requests_per_second,omitempty" jsonschema:"description=Most requests per second (0: no limit)"`
	Burst             int     `json:"burst,omitempty" jsonschema:"description=Requests allowed at once before the rate applies,default=1"`
}

// Retry bounds retries.
type Retry struct {
	MaxAttempts    int    `json:"max_attempts,omitempty" jsonschema:"description=Attempts per request including the first,default=6"`
	InitialBackoff string `json:"initial_backoff,omitempty" jsonschema:"description=First wait (doubling each retry),default=500ms"`
	MaxBackoff     string `json:"max_backoff,omitempty" jsonschema:"description=Longest wait between attempts; a longer Retry-After fails the request,default=2m"`
}

// StreamConfig is the settings of one stream.
type StreamConfig struct {
	Path        string            `json:"path,omitempty" jsonschema:"description=Path under base_url or absolute URL; {field} is a field of the parent record"`
	Method      string            `json:"method,omitempty" jsonschema:"enum=GET,enum=POST,default=GET"`
	Params      map[string]string `json:"params,omitempty" jsonschema:"description=Query parameters of the first request"`
	Body        map[string]any    `json:"body,omitempty" jsonschema:"description=JSON body (POST)"`
	Records     string            `json:"records,omitempty" jsonschema:"description=JSONPath of the records in a response ($.data or $.data.items[*]); default: the body if an array else $.data"`
	Pagination  *Pagination       `json:"pagination,omitempty"`
	Incremental *Incremental      `json:"incremental,omitempty"`
	Parent      *Parent           `json:"parent,omitempty"`
}

// Pagination says how to get the next page.
type Pagination struct {
	Type string `json:"type" jsonschema:"required,enum=none,enum=page,enum=offset,enum=cursor,enum=link,enum=next_url"`
	// Param is the page number, offset or cursor parameter.
	Param string `json:"param,omitempty" jsonschema:"description=page: page number parameter (page); offset: offset parameter (offset); cursor: cursor parameter"`
	// In says where param goes: the query string or the JSON body.
	In        string `json:"in,omitempty" jsonschema:"enum=query,enum=body,default=query"`
	SizeParam string `json:"size_param,omitempty" jsonschema:"description=page: page size parameter; offset: limit parameter (limit)"`
	Size      int    `json:"size,omitempty" jsonschema:"description=Page size sent in size_param; offset paging steps by it"`
	Start     *int   `json:"start,omitempty" jsonschema:"description=page: first page number (1); offset: first offset (0)"`
	// Concurrency is how many pages are requested at once.
	Concurrency int `json:"concurrency,omitempty" jsonschema:"description=page and offset: pages requested at once (the next ones are known in advance),default=1"`
	// CursorPath and NextURLPath select from the response body.
	CursorPath  string `json:"cursor_path,omitempty" jsonschema:"description=cursor: JSONPath of the next cursor; absent, null or empty ends the stream"`
	NextURLPath string `json:"next_url_path,omitempty" jsonschema:"description=next_url: JSONPath of the next page's URL"`
}

// Incremental reads only records past the saved cursor.
type Incremental struct {
	CursorField string `json:"cursor_field,omitempty" jsonschema:"description=Record field that grows as records change; default: the stream's cursor_field"`
	Param       string `json:"param,omitempty" jsonschema:"description=Request parameter given the saved cursor"`
	In          string `json:"in,omitempty" jsonschema:"enum=query,enum=body,default=query"`
	Start       string `json:"start,omitempty" jsonschema:"description=Cursor value of the first run"`
	// Format renders a timestamp cursor: a Go layout, or unix / unix_ms.
	Format string `json:"format,omitempty" jsonschema:"description=How a timestamp cursor is sent: a Go time layout, unix or unix_ms; default: as received"`
}

// Parent makes a stream read once per record of another stream.
type Parent struct {
	Stream string `json:"stream" jsonschema:"required,description=Name of the parent stream"`
	// Fields copies parent fields into each child record: child field name
	// to parent field name.
	Fields map[string]string `json:"fields,omitempty" jsonschema:"description=Child field name to parent field copied into each child record"`
}

// merge returns c overridden by what o sets.
func (c StreamConfig) merge(o StreamConfig) StreamConfig {
	if o.Path != "" {
		c.Path = o.Path
	}
	if o.Method != "" {
		c.Method = o.Method
	}
	if o.Params != nil {
		c.Params = o.Params
	}
	if o.Body != nil {
		c.Body = o.Body
	}
	if o.Records != "" {
		c.Records = o.Records
	}
	if o.Pagination != nil {
		c.Pagination = o.Pagination
	}
	if o.Incremental != nil {
		c.Incremental = o.Incremental
	}
	if o.Parent != nil {
		c.Parent = o.Parent
	}
	return c
}

// settings are the parsed, checked values of a Config.
type settings struct {
	base           *url.URL
	timeout        time.Duration
	attempts       int
	initialBackoff time.Duration
	maxBackoff     time.Duration
}

func (c *Config) check() (settings, error) {
	var s settings
	var errs []error
	bad := func(path, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", path, fmt.Sprintf(format, args...)))
	}
	u, err := url.Parse(c.BaseURL)
	switch {
	case c.BaseURL == "":
		bad("base_url", "is required")
	case err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https"):
		bad("base_url", "%q is not an http or https URL", c.BaseURL)
	default:
		s.base = u
	}
	dur := func(path, v string, def time.Duration) time.Duration {
		if v == "" {
			return def
		}
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			bad(path, "%q is not a positive duration such as \"30s\"", v)
		}
		return d
	}
	s.timeout = dur("timeout", c.Timeout, 30*time.Second)
	s.initialBackoff = dur("retry.initial_backoff", c.Retry.InitialBackoff, 500*time.Millisecond)
	s.maxBackoff = dur("retry.max_backoff", c.Retry.MaxBackoff, 2*time.Minute)
	s.attempts = c.Retry.MaxAttempts
	if s.attempts == 0 {
		s.attempts = 6
	} else if s.attempts < 0 {
		bad("retry.max_attempts", "must be positive")
	}
	if c.RateLimit.RequestsPerSecond < 0 {
		bad("rate_limit.requests_per_second", "must not be negative")
	}
	if c.Auth != nil {
		errs = append(errs, c.Auth.check()...)
	}
	seen := map[string]bool{}
	for i, n := range c.Streams {
		p := fmt.Sprintf("streams[%d]", i)
		if n.Name == "" {
			bad(p+".name", "is required")
		} else if seen[n.Name] {
			bad(p+".name", "stream %q is declared twice", n.Name)
		}
		seen[n.Name] = true
	}
	return s, errors.Join(errs...)
}

func (a *Auth) check() []error {
	var errs []error
	need := func(field, v string) {
		if v == "" {
			errs = append(errs, fmt.Errorf("auth.%s: is required for auth type %s", field, a.Type))
		}
	}
	switch a.Type {
	case "", "none":
	case "api_key":
		need("name", a.Name)
		need("value", a.Value)
		if a.In != "" && a.In != "header" && a.In != "query" {
			errs = append(errs, fmt.Errorf("auth.in: %q is neither header nor query", a.In))
		}
	case "bearer":
		need("token", a.Token)
	case "basic":
		need("username", a.Username)
	case "oauth2":
		need("token_url", a.TokenURL)
		need("client_id", a.ClientID)
		if a.AuthStyle != "" && a.AuthStyle != "header" && a.AuthStyle != "params" {
			errs = append(errs, fmt.Errorf("auth.auth_style: %q is neither header nor params", a.AuthStyle))
		}
	default:
		errs = append(errs, fmt.Errorf("auth.type: unknown type %q (known: none, api_key, bearer, basic, oauth2)", a.Type))
	}
	return errs
}

// checkStream checks a stream's merged settings and compiles its
// selectors.
func checkStream(sc StreamConfig) (compiled, error) {
	var c compiled
	var errs []error
	bad := func(path, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", path, fmt.Sprintf(format, args...)))
	}
	if sc.Path == "" {
		bad("path", "is required")
	}
	switch strings.ToUpper(sc.Method) {
	case "", "GET", "POST":
	default:
		bad("method", "%q is not GET or POST", sc.Method)
	}
	expr := func(path, src string) jp.Expr {
		x, err := jp.ParseString(src)
		if err != nil {
			bad(path, "JSONPath %q: %v", src, err)
			return nil
		}
		return x
	}
	if sc.Records != "" {
		c.records = expr("records", sc.Records)
	}
	if p := sc.Pagination; p != nil {
		in := func() {
			if p.In != "" && p.In != "query" && p.In != "body" {
				bad("pagination.in", "%q is neither query nor body", p.In)
			}
		}
		switch p.Type {
		case "", "none", "link":
		case "page", "offset":
			in()
		case "cursor":
			in()
			if p.Param == "" {
				bad("pagination.param", "is required for cursor pagination")
			}
			if p.CursorPath == "" {
				bad("pagination.cursor_path", "is required for cursor pagination")
			} else {
				c.cursor = expr("pagination.cursor_path", p.CursorPath)
			}
		case "next_url":
			if p.NextURLPath == "" {
				bad("pagination.next_url_path", "is required for next_url pagination")
			} else {
				c.nextURL = expr("pagination.next_url_path", p.NextURLPath)
			}
		default:
			bad("pagination.type", "unknown type %q (known: none, page, offset, cursor, link, next_url)", p.Type)
		}
		if p.Concurrency > 1 && p.Type != "page" && p.Type != "offset" {
			bad("pagination.concurrency", "only page and offset pagination know the next pages in advance")
		}
		if p.Type == "offset" && p.Size <= 0 {
			bad("pagination.size", "offset pagination needs the page size")
		}
	}
	if inc := sc.Incremental; inc != nil {
		if inc.In != "" && inc.In != "query" && inc.In != "body" {
			bad("incremental.in", "%q is neither query nor body", inc.In)
		}
	}
	if sc.Parent != nil && sc.Parent.Stream == "" {
		bad("parent.stream", "is required")
	}
	return c, errors.Join(errs...)
}

// compiled holds a stream's parsed JSONPath expressions.
type compiled struct {
	records, cursor, nextURL jp.Expr
}
