package rest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
	"golang.org/x/time/rate"
)

// Request is one HTTP request of a stream. It is JSON so a checkpoint can
// hold the next page's request and a resumed run sends exactly it.
type Request struct {
	Method string         `json:"method,omitempty"`
	URL    string         `json:"url"`
	Query  url.Values     `json:"query,omitempty"`
	Body   map[string]any `json:"body,omitempty"`
}

// String names the request in errors and origins.
func (r *Request) String() string {
	m := r.Method
	if m == "" {
		m = http.MethodGet
	}
	return m + " " + r.fullURL()
}

func (r *Request) fullURL() string {
	if len(r.Query) == 0 {
		return r.URL
	}
	u, err := url.Parse(r.URL)
	if err != nil {
		return r.URL
	}
	q := u.Query()
	for k, vs := range r.Query {
		q[k] = vs
	}
	u.RawQuery = q.Encode()
	return u.String()
}

func (r *Request) clone() *Request {
	c := *r
	c.Query = url.Values{}
	for k, vs := range r.Query {
		c.Query[k] = append([]string(nil), vs...)
	}
	if r.Body != nil {
		c.Body = deepCopy(r.Body).(map[string]any)
	}
	return &c
}

func deepCopy(v any) any {
	switch x := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = deepCopy(e)
		}
		return m
	case []any:
		a := make([]any, len(x))
		for i, e := range x {
			a[i] = deepCopy(e)
		}
		return a
	}
	return v
}

// Response is a successful answer, body read in full.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
	// URL is the URL that was requested; relative links resolve
	// against it.
	URL *url.URL
}

// StatusError is a final non-success answer.
type StatusError struct {
	Request string
	Status  int
	Body    string
}

func (e *StatusError) Error() string {
	msg := fmt.Sprintf("%s: %d %s", e.Request, e.Status, http.StatusText(e.Status))
	if e.Body != "" {
		msg += ": " + e.Body
	}
	return msg
}

// Client sends requests the way every stream of a source shares:
// authenticated, within the rate limit, retried when the API says so.
type Client struct {
	http     *http.Client
	set      settings
	cfg      Config
	limiter  *rate.Limiter
	tokens   *tokenSource
	log      *slog.Logger
	sleep    func(ctx context.Context, d time.Duration) error
	instance string // token field naming the API's base URL
}

func newClient(cfg Config, set settings, opts Options) *Client {
	c := &Client{
		http:     &http.Client{Transport: opts.Transport},
		set:      set,
		cfg:      cfg,
		log:      opts.Logger,
		sleep:    sleepCtx,
		instance: opts.InstanceURLField,
	}
	if c.log == nil {
		c.log = slog.Default()
	}
	if rps := cfg.RateLimit.RequestsPerSecond; rps > 0 {
		burst := max(cfg.RateLimit.Burst, 1)
		c.limiter = rate.NewLimiter(rate.Limit(rps), burst)
	}
	if a := cfg.Auth; a != nil && a.Type == "oauth2" {
		c.tokens = &tokenSource{auth: *a, refresh: a.RefreshToken, http: &http.Client{Transport: opts.Transport, Timeout: set.timeout}}
	}
	return c
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Base returns the URL stream paths are relative to: the instance URL the
// OAuth2 token names when the connector asks for it, else base_url.
func (c *Client) Base(ctx context.Context) (*url.URL, error) {
	if c.instance != "" && c.tokens != nil {
		tok, err := c.tokens.token(ctx)
		if err != nil {
			return nil, err
		}
		if s, _ := tok.Extra(c.instance).(string); s != "" {
			u, err := url.Parse(s)
			if err != nil {
				return nil, fmt.Errorf("token's %s %q: %w", c.instance, s, err)
			}
			return u, nil
		}
	}
	return c.set.base, nil
}

// Resolve makes a configured path absolute: a full URL stays, anything
// else is appended to the base URL's path.
func (c *Client) Resolve(ctx context.Context, path string) (string, error) {
	if strings.HasPrefix(path, "http://") || strings.HasPrefix(path, "https://") {
		return path, nil
	}
	base, err := c.Base(ctx)
	if err != nil {
		return "", err
	}
	u := *base
	u.Path = strings.TrimSuffix(u.Path, "/") + "/" + strings.TrimPrefix(path, "/")
	u.RawPath = ""
	if i := strings.IndexByte(path, '?'); i >= 0 {
		u.Path = strings.TrimSuffix(u.Path, "/") + "/" + strings.TrimPrefix(path[:i], "/")
		u.RawQuery = path[i+1:]
	}
	return u.String(), nil
}

// GetJSON GETs path (resolved against the base URL) and decodes the JSON
// body into into.
func (c *Client) GetJSON(ctx context.Context, path string, into any) error {
	u, err := c.Resolve(ctx, path)
	if err != nil {
		return err
	}
	resp, err := c.Do(ctx, &Request{URL: u}, nil)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(resp.Body, into); err != nil {
		return fmt.Errorf("GET %s: response is not the expected JSON: %w", u, err)
	}
	return nil
}

// Do sends req and returns its successful response. 429 and 5xx answers,
// timeouts and broken connections are retried up to retry.max_attempts
// with exponential backoff and full jitter, or after the time Retry-After
// asks for; an OAuth2 401 fetches a new token once.
func (c *Client) Do(ctx context.Context, req *Request, header http.Header) (*Response, error) {
	refreshed := false
	for attempt := 1; ; attempt++ {
		if c.limiter != nil {
			if err := c.limiter.Wait(ctx); err != nil {
				return nil, err
			}
		}
		resp, err := c.send(ctx, req, header)
		if err == nil && resp.Status < 300 {
			return resp, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		wait := time.Duration(-1)
		switch {
		case err != nil:
			var re *oauth2.RetrieveError
			if errors.As(err, &re) && re.Response != nil && re.Response.StatusCode < 500 {
				return nil, err // refused credentials do not get better
			}
			if attempt >= c.set.attempts {
				return nil, fmt.Errorf("%s: %w (after %d attempts)", req, err, attempt)
			}
			c.log.Warn("rest: request failed, retrying", "request", req.String(), "attempt", attempt, "err", err)
		case resp.Status == http.StatusUnauthorized && c.tokens != nil && !refreshed:
			refreshed = true
			c.tokens.invalidate()
			attempt--
			continue
		case resp.Status == http.StatusTooManyRequests || resp.Status >= 500:
			if attempt >= c.set.attempts {
				return nil, fmt.Errorf("%w (after %d attempts)", statusError(req, resp), attempt)
			}
			if d, ok := retryAfter(resp.Header.Get("Retry-After")); ok {
				if d > c.set.maxBackoff {
					return nil, fmt.Errorf("%w: Retry-After asks to wait %s, longer than retry.max_backoff %s", statusError(req, resp), d, c.set.maxBackoff)
				}
				wait = d
			}
			c.log.Warn("rest: server asked to retry", "request", req.String(), "status", resp.Status, "attempt", attempt)
		default:
			return nil, statusError(req, resp)
		}
		if wait < 0 {
			wait = c.backoff(attempt)
		}
		if err := c.sleep(ctx, wait); err != nil {
			return nil, err
		}
	}
}

// backoff is the wait before attempt+1: full jitter over an exponentially
// growing window, so many clients hitting one limit spread out.
func (c *Client) backoff(attempt int) time.Duration {
	d := c.set.initialBackoff << min(attempt-1, 30)
	if d <= 0 || d > c.set.maxBackoff {
		d = c.set.maxBackoff
	}
	return d/2 + rand.N(d/2+1)
}

func statusError(req *Request, resp *Response) error {
	body := bytes.TrimSpace(resp.Body)
	text := snippet(body, 200)
	if len(body) > 0 && body[0] == '<' {
		text = "an HTML page"
		if m := htmlTitle.FindSubmatch(body); m != nil {
			text += fmt.Sprintf(" titled %q", strings.TrimSpace(string(m[1])))
		}
	}
	return &StatusError{Request: req.String(), Status: resp.Status, Body: text}
}

// retryAfter reads a Retry-After header: seconds or an HTTP date.
func retryAfter(v string) (time.Duration, bool) {
	if v == "" {
		return 0, false
	}
	if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && n >= 0 {
		return time.Duration(n) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(time.Until(t), 0), true
	}
	return 0, false
}

func (c *Client) send(ctx context.Context, req *Request, header http.Header) (*Response, error) {
	ctx, cancel := context.WithTimeout(ctx, c.set.timeout)
	defer cancel()
	u, err := url.Parse(req.fullURL())
	if err != nil {
		return nil, fmt.Errorf("url %q: %w", req.URL, err)
	}
	var body io.Reader
	method := req.Method
	if method == "" {
		method = http.MethodGet
	}
	if req.Body != nil {
		b, err := json.Marshal(req.Body)
		if err != nil {
			return nil, fmt.Errorf("encode body: %w", err)
		}
		body = bytes.NewReader(b)
	}
	hr, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return nil, err
	}
	hr.Header.Set("Accept", "application/json")
	if req.Body != nil {
		hr.Header.Set("Content-Type", "application/json")
	}
	for k, v := range c.cfg.Headers {
		hr.Header.Set(k, v)
	}
	for k, vs := range header {
		hr.Header[k] = vs
	}
	if err := c.authorize(ctx, hr); err != nil {
		return nil, err
	}
	resp, err := c.http.Do(hr)
	if err != nil {
		return nil, timeoutError(err, c.set.timeout)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("read response: %w", timeoutError(err, c.set.timeout))
	}
	return &Response{Status: resp.StatusCode, Header: resp.Header, Body: b, URL: u}, nil
}

func timeoutError(err error, d time.Duration) error {
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout() {
		return fmt.Errorf("no response within timeout %s: %w", d, err)
	}
	return err
}

func (c *Client) authorize(ctx context.Context, hr *http.Request) error {
	a := c.cfg.Auth
	if a == nil {
		return nil
	}
	switch a.Type {
	case "api_key":
		if a.In == "query" {
			q := hr.URL.Query()
			q.Set(a.Name, a.Value)
			hr.URL.RawQuery = q.Encode()
		} else {
			hr.Header.Set(a.Name, a.Value)
		}
	case "bearer":
		hr.Header.Set("Authorization", "Bearer "+a.Token)
	case "basic":
		hr.SetBasicAuth(a.Username, a.Password)
	case "oauth2":
		tok, err := c.tokens.token(ctx)
		if err != nil {
			return err
		}
		tok.SetAuthHeader(hr)
	}
	return nil
}

// tokenSource holds the current OAuth2 token. It fetches one when there is
// none or it expired, and drops it when the API refuses it (a token
// revoked early), keeping the newest refresh token the server handed out.
type tokenSource struct {
	auth    Auth
	http    *http.Client
	mu      sync.Mutex
	tok     *oauth2.Token
	refresh string
	fetches int
}

func (t *tokenSource) token(ctx context.Context) (*oauth2.Token, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.tok.Valid() {
		return t.tok, nil
	}
	ctx = context.WithValue(ctx, oauth2.HTTPClient, t.http)
	style := oauth2.AuthStyleInHeader
	if t.auth.AuthStyle == "params" {
		style = oauth2.AuthStyleInParams
	}
	var tok *oauth2.Token
	var err error
	if t.refresh != "" {
		conf := &oauth2.Config{
			ClientID: t.auth.ClientID, ClientSecret: t.auth.ClientSecret, Scopes: t.auth.Scopes,
			Endpoint: oauth2.Endpoint{TokenURL: t.auth.TokenURL, AuthStyle: style},
		}
		tok, err = conf.TokenSource(ctx, &oauth2.Token{RefreshToken: t.refresh}).Token()
	} else {
		conf := &clientcredentials.Config{
			ClientID: t.auth.ClientID, ClientSecret: t.auth.ClientSecret, Scopes: t.auth.Scopes,
			TokenURL: t.auth.TokenURL, AuthStyle: style, EndpointParams: url.Values{},
		}
		for k, v := range t.auth.Params {
			conf.EndpointParams.Set(k, v)
		}
		tok, err = conf.Token(ctx)
	}
	if err != nil {
		return nil, fmt.Errorf("oauth2 token from %s: %w", t.auth.TokenURL, err)
	}
	t.fetches++
	t.tok = tok
	if tok.RefreshToken != "" {
		t.refresh = tok.RefreshToken
	}
	return tok, nil
}

func (t *tokenSource) invalidate() {
	t.mu.Lock()
	t.tok = nil
	t.mu.Unlock()
}
