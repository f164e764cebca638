package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tributary-data/tributary/api"
	"github.com/tributary-data/tributary/auth"
	"github.com/tributary-data/tributary/jobs"
	"github.com/tributary-data/tributary/store"
	"github.com/tributary-data/tributary/store/storetest"
)

var testKey = []byte("0123456789abcdef0123456789abcdef-test-signing-key")

const testPassword = "S3cure-enough!"

// authEnv is a server with authentication on and one user per role.
type authEnv struct {
	t     testing.TB
	url   string
	store store.Store
	// tokens are API tokens by role.
	tokens map[store.Role]string
	users  map[store.Role]*store.User
}

func startAuth(t testing.TB, kind string, cfg api.AuthConfig) *authEnv {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	opts := store.Options{DataDir: dir}
	if kind == "postgres" {
		opts = store.Options{DatabaseURL: storetest.PostgresSchema(t)}
	}
	s, err := store.Open(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	reg := prometheus.NewRegistry()
	runner := &jobs.Runner{Store: s, DataDir: dir, Metrics: jobs.NewMetrics(reg)}
	q, err := jobs.NewQueue(ctx, s, runner, jobs.Options{Workers: 1, PollInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		q.Stop(ctx)
		q.Close()
	})
	if cfg.SigningKey == nil {
		cfg.SigningKey = testKey
	}
	srv := httptest.NewServer(api.New(api.Config{Store: s, Queue: q, Gatherer: reg, DataDir: dir, Auth: &cfg}))
	t.Cleanup(srv.Close)
	e := &authEnv{t: t, url: srv.URL, store: s, tokens: map[store.Role]string{}, users: map[store.Role]*store.User{}}
	hash, err := auth.HashPassword(testPassword)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []store.Role{store.RoleViewer, store.RoleEditor, store.RoleAdmin} {
		u := &store.User{Email: string(r) + "@example.com", Role: r, PasswordHash: hash}
		if err := s.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		_, tok, err := api.CreateAPIToken(ctx, s, u.ID, "walk", r, nil)
		if err != nil {
			t.Fatal(err)
		}
		e.tokens[r], e.users[r] = tok, u
	}
	return e
}

type answer struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

// call sends a JSON request with an optional bearer credential and extra
// header pairs.
func (e *authEnv) call(method, path, bearer string, body any, header ...string) answer {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		js, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(js)
	}
	req, err := http.NewRequest(method, e.url+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
	if strings.Contains(resp.Header.Get("Content-Type"), "json") && len(raw) > 0 {
		_ = json.Unmarshal(raw, &a.body)
	}
	return a
}

type operation struct{ id, method, path string }

// operations reads every operation from the served OpenAPI document, so
// routes added by any registrar are walked.
func (e *authEnv) operations() []operation {
	e.t.Helper()
	a := e.call("GET", "/api/openapi.json", "", nil)
	if a.status != 200 {
		e.t.Fatalf("openapi document: %d", a.status)
	}
	var ops []operation
	for path, item := range a.body["paths"].(map[string]any) {
		for method, op := range item.(map[string]any) {
			m, ok := op.(map[string]any)
			if !ok || m["operationId"] == nil {
				continue
			}
			ops = append(ops, operation{id: m["operationId"].(string), method: strings.ToUpper(method), path: path})
		}
	}
	sort.Slice(ops, func(i, j int) bool { return ops[i].id < ops[j].id })
	if len(ops) < 60 {
		e.t.Fatalf("only %d operations in the OpenAPI document", len(ops))
	}
	return ops
}

var pathParam = regexp.MustCompile(`\{[^}]+\}`)

// TestAccessTable walks every operation of the router as anonymous,
// viewer, editor and admin and checks 401/403 against the declaration; an
// operation without a declaration fails the test.
func TestAccessTable(t *testing.T) {
	e := startAuth(t, "sqlite", api.AuthConfig{})
	rules := api.AccessRules()
	ranks := map[string]int{"viewer": 1, "editor": 2, "admin": 3}
	for _, op := range e.operations() {
		rule, ok := rules[op.id]
		if !ok {
			t.Errorf("operation %s (%s %s) is not declared in the access table of api/access.go", op.id, op.method, op.path)
			continue
		}
		// Path parameters get an id no record has: authorisation comes
		// before lookups, so the answers still tell.
		path := pathParam.ReplaceAllString(op.path, "00000000-0000-0000-0000-000000000000")
		if strings.Contains(op.path, "{version}") {
			path = strings.Replace(op.path, "{version}", "1", 1)
			path = pathParam.ReplaceAllString(path, "00000000-0000-0000-0000-000000000000")
		}
		var body any
		if op.method != "GET" && op.method != "DELETE" {
			body = map[string]any{}
		}
		anon := e.call(op.method, path, "", body)
		switch rule {
		case "public":
			// Public handlers may refuse bad credentials of their own
			// (a wrong password); the guard's refusals carry
			// WWW-Authenticate or name the missing rule.
			if anon.header.Get("WWW-Authenticate") != "" || anon.status == 403 {
				t.Errorf("%s is public, anonymous got %d: %s", op.id, anon.status, anon.raw)
			}
			continue
		default:
			if anon.status != 401 {
				t.Errorf("%s anonymous: %d, want 401: %s", op.id, anon.status, anon.raw)
			}
			if anon.header.Get("WWW-Authenticate") == "" && anon.status == 401 {
				t.Errorf("%s: 401 without WWW-Authenticate", op.id)
			}
		}
		for _, role := range []store.Role{store.RoleViewer, store.RoleEditor, store.RoleAdmin} {
			a := e.call(op.method, path, e.tokens[role], body)
			allowed := rule == "self" || ranks[string(role)] >= ranks[rule]
			switch {
			case allowed && (a.status == 401 || a.status == 403):
				t.Errorf("%s as %s (needs %s): %d: %s", op.id, role, rule, a.status, a.raw)
			case !allowed && a.status != 403:
				t.Errorf("%s as %s (needs %s): %d, want 403: %s", op.id, role, rule, a.status, a.raw)
			}
		}
	}
	// Every declared operation exists, so the table holds no stale names.
	seen := map[string]bool{}
	for _, op := range e.operations() {
		seen[op.id] = true
	}
	for id := range rules {
		if !seen[id] {
			t.Errorf("access table declares %s, which no route has", id)
		}
	}
}

func (e *authEnv) login(email, password string) answer {
	return e.call("POST", "/api/v1/auth/login", "", map[string]any{"email": email, "password": password})
}

// TestLoginRefreshLogout: the acceptance contract of sessions on both
// stores: login, a rotating refresh token whose reuse ends the session,
// logout, logout everywhere, and the audit of it.
func TestLoginRefreshLogout(t *testing.T) {
	for _, kind := range []string{"sqlite", "postgres"} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			e := startAuth(t, kind, api.AuthConfig{})
			if a := e.call("GET", "/api/v1/pipelines", "", nil); a.status != 401 {
				t.Fatalf("pipelines without a token: %d", a.status)
			}
			a := e.login("Editor@Example.com", testPassword)
			if a.status != 200 || a.body["access_token"] == nil || a.body["refresh_token"] == nil || a.body["expires_in"] != 900.0 {
				t.Fatalf("login: %d %s", a.status, a.raw)
			}
			cookies := strings.Join(a.header.Values("Set-Cookie"), "\n")
			if !strings.Contains(cookies, "tributary_refresh=") || !strings.Contains(cookies, "HttpOnly") || !strings.Contains(cookies, "SameSite=Strict") {
				t.Fatalf("login cookies: %s", cookies)
			}
			access, refresh := a.body["access_token"].(string), a.body["refresh_token"].(string)
			if a := e.call("GET", "/api/v1/pipelines", access, nil); a.status != 200 {
				t.Fatalf("pipelines with the access token: %d %s", a.status, a.raw)
			}
			me := e.call("GET", "/api/v1/me", access, nil)
			if me.status != 200 || me.body["email"] != "editor@example.com" || me.body["role"] != "editor" || strings.Contains(me.raw, "argon2") {
				t.Fatalf("me: %d %s", me.status, me.raw)
			}

			r := e.call("POST", "/api/v1/auth/refresh", "", map[string]any{"refresh_token": refresh})
			if r.status != 200 || r.body["refresh_token"] == refresh {
				t.Fatalf("refresh: %d %s", r.status, r.raw)
			}
			access2, refresh2 := r.body["access_token"].(string), r.body["refresh_token"].(string)
			if a := e.call("GET", "/api/v1/me", access2, nil); a.status != 200 {
				t.Fatalf("me with the refreshed token: %d", a.status)
			}
			// The old refresh token again: someone copied it. The session
			// ends, so the newer tokens stop working too.
			if a := e.call("POST", "/api/v1/auth/refresh", "", map[string]any{"refresh_token": refresh}); a.status != 401 || !strings.Contains(a.raw, "already used") {
				t.Fatalf("reused refresh: %d %s", a.status, a.raw)
			}
			if a := e.call("POST", "/api/v1/auth/refresh", "", map[string]any{"refresh_token": refresh2}); a.status != 401 {
				t.Fatalf("refresh of a revoked family: %d %s", a.status, a.raw)
			}
			if a := e.call("GET", "/api/v1/me", access2, nil); a.status != 401 {
				t.Fatalf("access token of a revoked session: %d", a.status)
			}

			// Logout ends one session; the other lives until logout-all.
			one := e.login("editor@example.com", testPassword)
			two := e.login("editor@example.com", testPassword)
			s := e.call("GET", "/api/v1/me/sessions", one.body["access_token"].(string), nil)
			if s.status != 200 || len(s.body["items"].([]any)) != 2 {
				t.Fatalf("sessions: %d %s", s.status, s.raw)
			}
			if a := e.call("POST", "/api/v1/auth/logout", "", map[string]any{"refresh_token": one.body["refresh_token"]}); a.status != 204 {
				t.Fatalf("logout: %d %s", a.status, a.raw)
			}
			if a := e.call("GET", "/api/v1/me", one.body["access_token"].(string), nil); a.status != 401 {
				t.Fatalf("access after logout: %d", a.status)
			}
			tok2 := two.body["access_token"].(string)
			if a := e.call("GET", "/api/v1/me", tok2, nil); a.status != 200 {
				t.Fatalf("other session after logout: %d", a.status)
			}
			if a := e.call("POST", "/api/v1/auth/logout-all", tok2, nil); a.status != 200 || a.body["revoked"] != 1.0 {
				t.Fatalf("logout-all: %d %s", a.status, a.raw)
			}
			if a := e.call("GET", "/api/v1/me", tok2, nil); a.status != 401 {
				t.Fatalf("access after logout-all: %d", a.status)
			}

			if a := e.login("editor@example.com", "wrong-Password-1"); a.status != 401 {
				t.Fatalf("wrong password: %d", a.status)
			}
			audit := e.call("GET", "/api/v1/audit?limit=100", e.tokens[store.RoleAdmin], nil)
			if audit.status != 200 {
				t.Fatalf("audit: %d %s", audit.status, audit.raw)
			}
			actions := map[string]int{}
			for _, it := range audit.body["items"].([]any) {
				m := it.(map[string]any)
				actions[m["action"].(string)]++
				if m["ip"] == "" {
					t.Errorf("audit entry without address: %v", m)
				}
			}
			if actions["login"] != 3 || actions["login_failed"] != 1 || actions["refresh_token_reused"] != 1 || actions["logout"] != 1 || actions["logout_all"] != 1 {
				t.Fatalf("audit actions: %v", actions)
			}
			if strings.Contains(audit.raw, testPassword) || strings.Contains(audit.raw, refresh) {
				t.Fatalf("audit holds a secret: %s", audit.raw)
			}
		})
	}
}

// TestCookieRefreshNeedsCSRF: the web UI's refresh cookie works only with
// the CSRF header repeating the CSRF cookie.
func TestCookieRefreshNeedsCSRF(t *testing.T) {
	e := startAuth(t, "sqlite", api.AuthConfig{})
	a := e.login("viewer@example.com", testPassword)
	var refresh, csrf string
	for _, c := range (&http.Response{Header: a.header}).Cookies() {
		switch c.Name {
		case "tributary_refresh":
			refresh = c.Value
		case "tributary_csrf":
			csrf = c.Value
		}
	}
	if refresh == "" || csrf == "" {
		t.Fatalf("cookies: %v", a.header.Values("Set-Cookie"))
	}
	cookie := "tributary_refresh=" + refresh + "; tributary_csrf=" + csrf
	if r := e.call("POST", "/api/v1/auth/refresh", "", nil, "Cookie", cookie); r.status != 403 {
		t.Fatalf("cookie refresh without CSRF header: %d %s", r.status, r.raw)
	}
	if r := e.call("POST", "/api/v1/auth/refresh", "", nil, "Cookie", cookie, "X-CSRF-Token", "forged"); r.status != 403 {
		t.Fatalf("cookie refresh with a wrong CSRF header: %d %s", r.status, r.raw)
	}
	if r := e.call("POST", "/api/v1/auth/refresh", "", nil, "Cookie", cookie, "X-CSRF-Token", csrf); r.status != 200 || r.body["access_token"] == nil {
		t.Fatalf("cookie refresh with CSRF: %d %s", r.status, r.raw)
	}
}

// TestBadAccessTokens: malformed tokens, another key, alg none, expired
// tokens and tokens of unknown sessions are all 401.
func TestBadAccessTokens(t *testing.T) {
	e := startAuth(t, "sqlite", api.AuthConfig{})
	good := e.login("admin@example.com", testPassword).body["access_token"].(string)
	parts := strings.Split(good, ".")
	claims := jwt.MapClaims{"iss": "tributary", "sub": e.users[store.RoleAdmin].ID, "sid": "x", "role": "admin", "exp": time.Now().Add(time.Hour).Unix()}
	none, _ := jwt.NewWithClaims(jwt.SigningMethodNone, claims).SignedString(jwt.UnsafeAllowNoneSignatureType)
	other, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte("another-key-another-key-another-key!"))
	expired := jwt.MapClaims{"iss": "tributary", "sub": e.users[store.RoleAdmin].ID, "sid": "x", "exp": time.Now().Add(-time.Hour).Unix()}
	exp, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, expired).SignedString(testKey)
	unknownSession, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(testKey)
	for name, tok := range map[string]string{
		"garbage":         "not-a-token",
		"empty parts":     "..",
		"tampered":        parts[0] + "." + parts[1] + "x." + parts[2],
		"alg none":        none,
		"other key":       other,
		"expired":         exp,
		"unknown session": unknownSession,
		"unknown api key": "trb_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"script":          "<script>alert(1)</script>",
	} {
		a := e.call("GET", "/api/v1/users", tok, nil)
		if a.status != 401 || strings.Contains(a.raw, "<script>") {
			t.Errorf("%s: %d %s", name, a.status, a.raw)
		}
	}
	if a := e.call("GET", "/api/v1/users", good, nil); a.status != 200 {
		t.Fatalf("good token: %d", a.status)
	}
}

// TestAPITokens: a token is shown once, works by its role, is capped by
// the creator's role, records its last use and stops working when revoked
// or expired.
func TestAPITokens(t *testing.T) {
	e := startAuth(t, "sqlite", api.AuthConfig{})
	editor := e.login("editor@example.com", testPassword).body["access_token"].(string)
	if a := e.call("POST", "/api/v1/tokens", editor, map[string]any{"name": "ci", "role": "admin"}); a.status != 403 {
		t.Fatalf("token above the caller's role: %d %s", a.status, a.raw)
	}
	if a := e.call("POST", "/api/v1/tokens", editor, map[string]any{"name": "ci", "role": "owner"}); a.status != 422 {
		t.Fatalf("unknown role: %d %s", a.status, a.raw)
	}
	c := e.call("POST", "/api/v1/tokens", editor, map[string]any{"name": "ci", "role": "viewer"})
	if c.status != 201 || !strings.HasPrefix(c.body["token"].(string), "trb_") {
		t.Fatalf("create token: %d %s", c.status, c.raw)
	}
	tok, id := c.body["token"].(string), c.body["id"].(string)
	if a := e.call("GET", "/api/v1/pipelines", tok, nil); a.status != 200 {
		t.Fatalf("viewer token reads: %d", a.status)
	}
	if a := e.call("POST", "/api/v1/pipelines", tok, map[string]any{}); a.status != 403 {
		t.Fatalf("viewer token writes: %d", a.status)
	}
	l := e.call("GET", "/api/v1/tokens", editor, nil)
	items := l.body["items"].([]any)
	// Newest first: the token just made, then the one the test set up.
	if l.status != 200 || len(items) != 2 || items[0].(map[string]any)["name"] != "ci" || items[0].(map[string]any)["last_used_at"] == nil || strings.Contains(l.raw, tok) {
		t.Fatalf("list tokens: %d %s", l.status, l.raw)
	}
	if a := e.call("GET", "/api/v1/tokens?all=true", editor, nil); a.status != 403 {
		t.Fatalf("editor lists all tokens: %d", a.status)
	}
	if a := e.call("DELETE", "/api/v1/tokens/"+id, e.tokens[store.RoleViewer], nil); a.status != 404 {
		t.Fatalf("someone else revokes: %d", a.status)
	}
	if a := e.call("DELETE", "/api/v1/tokens/"+id, editor, nil); a.status != 204 {
		t.Fatalf("revoke: %d %s", a.status, a.raw)
	}
	if a := e.call("GET", "/api/v1/pipelines", tok, nil); a.status != 401 {
		t.Fatalf("revoked token: %d", a.status)
	}
	soon := time.Now().Add(1500 * time.Millisecond).UTC().Format(time.RFC3339Nano)
	x := e.call("POST", "/api/v1/tokens", editor, map[string]any{"name": "short", "role": "editor", "expires_at": soon})
	if x.status != 201 {
		t.Fatalf("expiring token: %d %s", x.status, x.raw)
	}
	if a := e.call("GET", "/api/v1/pipelines", x.body["token"].(string), nil); a.status != 200 {
		t.Fatalf("token before expiry: %d", a.status)
	}
	time.Sleep(2 * time.Second)
	if a := e.call("GET", "/api/v1/pipelines", x.body["token"].(string), nil); a.status != 401 {
		t.Fatalf("token after expiry: %d", a.status)
	}
	// Demoting the owner demotes the owner's tokens.
	y := e.call("POST", "/api/v1/tokens", editor, map[string]any{"name": "writer", "role": "editor"})
	if a := e.call("PATCH", "/api/v1/users/"+e.users[store.RoleEditor].ID, e.tokens[store.RoleAdmin], map[string]any{"role": "viewer"}); a.status != 200 {
		t.Fatalf("demote: %d %s", a.status, a.raw)
	}
	if a := e.call("POST", "/api/v1/pipelines", y.body["token"].(string), map[string]any{}); a.status != 403 {
		t.Fatalf("token of a demoted owner writes: %d", a.status)
	}
	audit := e.call("GET", "/api/v1/audit?action=user.role_change", e.tokens[store.RoleAdmin], nil)
	if items := audit.body["items"].([]any); len(items) != 1 || !strings.Contains(audit.raw, `"role":"viewer"`) || items[0].(map[string]any)["actor"] != "admin@example.com (token walk)" {
		t.Fatalf("role change audit: %s", audit.raw)
	}
}

// TestLoginLockout: repeated failures lock the account out, even with the
// right password, and are recorded.
func TestLoginLockout(t *testing.T) {
	e := startAuth(t, "sqlite", api.AuthConfig{Limiter: auth.NewLimiter(3, time.Minute, time.Minute)})
	for i := range 3 {
		if a := e.login("viewer@example.com", fmt.Sprintf("Wrong-password-%d", i)); a.status != 401 {
			t.Fatalf("failure %d: %d", i, a.status)
		}
	}
	a := e.login("viewer@example.com", testPassword)
	if a.status != 429 || a.body["access_token"] != nil {
		t.Fatalf("locked account: %d %s", a.status, a.raw)
	}
	// The address is locked too, so another account cannot be guessed
	// from it.
	if a := e.login("editor@example.com", testPassword); a.status != 429 {
		t.Fatalf("locked address: %d %s", a.status, a.raw)
	}
}

// TestUsersAndWritesAudited: an administrator manages users; writes of
// other routes are audited by the middleware with actor and path.
func TestUsersAndWritesAudited(t *testing.T) {
	e := startAuth(t, "sqlite", api.AuthConfig{})
	admin := e.tokens[store.RoleAdmin]
	if a := e.call("POST", "/api/v1/users", admin, map[string]any{"email": "new@example.com", "role": "viewer", "password": "short"}); a.status != 422 || !strings.Contains(a.raw, "body.password") {
		t.Fatalf("weak password: %d %s", a.status, a.raw)
	}
	inj := "x'); DROP TABLE users; --<script>"
	if a := e.call("POST", "/api/v1/users", admin, map[string]any{"email": inj, "role": "viewer", "password": testPassword}); a.status != 422 {
		t.Fatalf("injection as e-mail: %d %s", a.status, a.raw)
	}
	c := e.call("POST", "/api/v1/users", admin, map[string]any{"email": "new@example.com", "name": inj, "role": "viewer", "password": "An0ther-good-one"})
	if c.status != 201 || c.body["name"] != inj || c.body["password_hash"] != nil {
		t.Fatalf("create user: %d %s", c.status, c.raw)
	}
	if a := e.call("POST", "/api/v1/users", admin, map[string]any{"email": "NEW@example.com", "role": "viewer", "password": testPassword}); a.status != 409 {
		t.Fatalf("duplicate: %d", a.status)
	}
	if a := e.login("new@example.com", "An0ther-good-one"); a.status != 200 {
		t.Fatalf("new user login: %d", a.status)
	}
	id := c.body["id"].(string)
	if a := e.call("PATCH", "/api/v1/users/"+id, admin, map[string]any{"disabled": true}); a.status != 200 {
		t.Fatalf("disable: %d %s", a.status, a.raw)
	}
	if a := e.login("new@example.com", "An0ther-good-one"); a.status != 401 {
		t.Fatalf("disabled user login: %d", a.status)
	}
	if a := e.call("PATCH", "/api/v1/users/"+e.users[store.RoleAdmin].ID, admin, map[string]any{"role": "viewer"}); a.status != 409 {
		t.Fatalf("admin lowers itself: %d", a.status)
	}
	if a := e.call("DELETE", "/api/v1/users/"+id, admin, nil); a.status != 204 {
		t.Fatalf("delete: %d", a.status)
	}
	if a := e.call("POST", "/api/v1/connections", e.tokens[store.RoleEditor], map[string]any{"name": "c1", "connector": "csv", "config": map[string]any{"path": "/tmp/x.csv"}}); a.status != 201 {
		t.Fatalf("create connection: %d %s", a.status, a.raw)
	}
	audit := e.call("GET", "/api/v1/audit?actor=editor@example.com+(token+walk)", admin, nil)
	items := audit.body["items"].([]any)
	if len(items) != 1 {
		t.Fatalf("audit of the editor: %s", audit.raw)
	}
	w := items[0].(map[string]any)
	if w["action"] != "POST create-connection" || w["target"] != "/api/v1/connections" || w["status"] != 201.0 {
		t.Fatalf("audited write: %v", w)
	}
	for _, action := range []string{"user.create", "user.update", "user.delete"} {
		if a := e.call("GET", "/api/v1/audit?action="+action, admin, nil); len(a.body["items"].([]any)) != 1 {
			t.Errorf("audit %s: %s", action, a.raw)
		}
	}
	if a := e.call("DELETE", "/api/v1/audit", admin, nil); a.status != 405 && a.status != 404 {
		t.Fatalf("audit deletable: %d", a.status)
	}
}

// TestHardening: security headers on every answer, CORS only for listed
// origins, oversized bodies refused.
func TestHardening(t *testing.T) {
	e := startAuth(t, "sqlite", api.AuthConfig{CORSOrigins: []string{"https://ui.example.com"}, MaxBodyBytes: 1024})
	a := e.call("GET", "/healthz", "", nil, "Origin", "https://evil.example.com")
	for _, h := range []string{"X-Content-Type-Options", "Referrer-Policy", "Content-Security-Policy"} {
		if a.header.Get(h) == "" {
			t.Errorf("no %s", h)
		}
	}
	if !strings.Contains(a.header.Get("Content-Security-Policy"), "frame-ancestors 'none'") {
		t.Errorf("CSP: %s", a.header.Get("Content-Security-Policy"))
	}
	if a.header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("CORS for an unlisted origin")
	}
	pre := e.call("OPTIONS", "/api/v1/pipelines", "", nil, "Origin", "https://ui.example.com", "Access-Control-Request-Method", "POST")
	if pre.status != 204 || pre.header.Get("Access-Control-Allow-Origin") != "https://ui.example.com" {
		t.Errorf("preflight: %d %v", pre.status, pre.header)
	}
	big := `{"email":"` + strings.Repeat("a", 2000) + `","password":"x"}`
	if a := e.call("POST", "/api/v1/auth/login", "", big); a.status != 413 {
		t.Errorf("oversized body: %d %s", a.status, a.raw)
	}
}

// FuzzLogin: any body sent to the login route is answered with a client
// error or success, never a server error, and never reflects markup.
func FuzzLogin(f *testing.F) {
	e := startAuth(f, "sqlite", api.AuthConfig{Limiter: auth.NewLimiter(1<<30, time.Minute, time.Minute)})
	for _, seed := range []string{
		`{"email":"admin@example.com","password":"S3cure-enough!"}`,
		`{"email":"admin@example.com' OR '1'='1","password":"x"}`,
		`{"email":"<script>alert(1)</script>","password":"<img src=x>"}`,
		`{"email":1}`, `[]`, ``, `{`, `{"email":"a","password":"b","extra":true}`,
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, body string) {
		e.t = t
		a := e.call("POST", "/api/v1/auth/login", "", body)
		switch a.status {
		case 200, 400, 401, 413, 422, 429:
		default:
			t.Fatalf("login with %q: %d %s", body, a.status, a.raw)
		}
		if a.status == 200 && body != `{"email":"admin@example.com","password":"S3cure-enough!"}` && !strings.Contains(body, "S3cure-enough!") {
			t.Fatalf("login accepted %q", body)
		}
		// The schema error may quote the input, but only inside a JSON
		// string of a JSON answer that browsers may not sniff as HTML.
		if strings.Contains(a.raw, "<") && (!strings.Contains(a.header.Get("Content-Type"), "json") || a.header.Get("X-Content-Type-Options") != "nosniff") {
			t.Fatalf("markup reflected as %s: %s", a.header.Get("Content-Type"), a.raw)
		}
	})
}

// TestSetup: the first administrator of an empty store is created with
// the setup token, once.
func TestSetup(t *testing.T) {
	ctx := context.Background()
	s, err := store.Open(ctx, store.Options{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	srv := httptest.NewServer(api.New(api.Config{Store: s, Auth: &api.AuthConfig{SigningKey: testKey, SetupToken: "setup-token-from-the-log"}}))
	defer srv.Close()
	e := &authEnv{t: t, url: srv.URL, store: s}
	body := map[string]any{"setup_token": "wrong", "email": "root@example.com", "password": testPassword}
	if a := e.call("POST", "/api/v1/setup", "", body); a.status != 403 {
		t.Fatalf("wrong setup token: %d %s", a.status, a.raw)
	}
	body["setup_token"] = "setup-token-from-the-log"
	if a := e.call("POST", "/api/v1/setup", "", body); a.status != 201 || a.body["role"] != "admin" {
		t.Fatalf("setup: %d %s", a.status, a.raw)
	}
	body["email"] = "second@example.com"
	if a := e.call("POST", "/api/v1/setup", "", body); a.status != 409 {
		t.Fatalf("second setup: %d %s", a.status, a.raw)
	}
	tok := e.login("root@example.com", testPassword)
	if tok.status != 200 {
		t.Fatalf("login of the first administrator: %d", tok.status)
	}
	if a := e.call("GET", "/api/v1/users", tok.body["access_token"].(string), nil); a.status != 200 || len(a.body["items"].([]any)) != 1 {
		t.Fatalf("users: %d %s", a.status, a.raw)
	}
}
