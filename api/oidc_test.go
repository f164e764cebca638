package api_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/zitadel/oidc/v3/example/server/exampleop"
	opstorage "github.com/zitadel/oidc/v3/example/server/storage"

	"github.com/tributary-data/tributary/api"
	"github.com/tributary-data/tributary/auth"
	"github.com/tributary-data/tributary/store"
	"github.com/tributary-data/tributary/store/storetest"
)

// oidcEnv is a Tributary server with single sign-on against a real
// OpenID Provider (the example OP of zitadel/oidc with its in-memory
// users) on another loopback port.
type oidcEnv struct {
	t      *testing.T
	url    string
	issuer string
	store  store.Store
	admin  string // API token of an administrator
}

const oidcCallbackPath = "/api/v1/auth/oidc/callback"

func startOIDC(t *testing.T, kind string) *oidcEnv {
	t.Helper()
	ctx := context.Background()
	st := storetest.Open(t, kind, t.TempDir())

	srv := httptest.NewUnstartedServer(nil)
	op := httptest.NewUnstartedServer(nil)
	e := &oidcEnv{t: t, url: "http://" + srv.Listener.Addr().String(), issuer: "http://" + op.Listener.Addr().String(), store: st}

	// Each provider gets a client registry of its own: the example's
	// default one is a package variable parallel tests would share.
	clientID := "tributary-" + kind
	clients := map[string]*opstorage.Client{clientID: opstorage.WebClient(clientID, "client-secret", e.url+oidcCallbackPath)}
	users, err := opstorage.StoreFromFile(writeOPUsers(t))
	if err != nil {
		t.Fatal(err)
	}
	op.Config.Handler = exampleop.SetupServer(e.issuer, opstorage.NewStorageWithClients(users, clients), nil, false)
	op.Start()
	t.Cleanup(op.Close)

	sso, err := auth.NewOIDC(auth.OIDCConfig{
		IssuerURL: e.issuer, ClientID: clientID, ClientSecret: "client-secret", RedirectURL: e.url + oidcCallbackPath,
		Scopes: []string{"email", "profile", opstorage.CustomScope},
		// The example OP answers custom_scope with
		// custom_claim: {"client": <client id>, "other": "stuff"}.
		RoleClaim: opstorage.CustomClaim + ".other", RoleMap: map[string]string{"stuff": "editor", "nothing": "admin"},
	})
	if err != nil {
		t.Fatal(err)
	}
	srv.Config.Handler = api.New(api.Config{Store: st, Auth: &api.AuthConfig{SigningKey: testKey, OIDC: sso}})
	srv.Start()
	t.Cleanup(srv.Close)

	admin := &store.User{Email: "admin@example.com", Role: store.RoleAdmin}
	if err := st.CreateUser(ctx, admin); err != nil {
		t.Fatal(err)
	}
	if _, e.admin, err = api.CreateAPIToken(ctx, st, admin.ID, "oidc test", store.RoleAdmin, nil); err != nil {
		t.Fatal(err)
	}
	return e
}

// writeOPUsers writes the provider's users (all with the password
// "verysecure"): ann and bob with verified addresses, eve with one the
// provider has not verified.
func writeOPUsers(t *testing.T) string {
	t.Helper()
	users := map[string]map[string]any{}
	for _, u := range []struct {
		id, name, email string
		verified        bool
	}{
		{"id-ann", "ann", "ann@example.org", true},
		{"id-bob", "bob", "bob@example.org", true},
		{"id-eve", "eve", "eve@example.org", false},
	} {
		users[u.id] = map[string]any{"ID": u.id, "Username": u.name, "Password": "verysecure", "FirstName": u.name, "LastName": "Example",
			"Email": u.email, "EmailVerified": u.verified, "PreferredLanguage": "en"}
	}
	b, err := json.Marshal(users)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "users.json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// browser is an HTTP client with a cookie jar that follows redirects
// itself, so each hop can be looked at (and tampered with).
type browser struct {
	t *testing.T
	c *http.Client
}

func newBrowser(t *testing.T) *browser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &browser{t: t, c: &http.Client{Jar: jar, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// do sends one request and reads the whole answer.
func (b *browser) do(req *http.Request) (*http.Response, string) {
	b.t.Helper()
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

func (b *browser) get(u string) (*http.Response, string) {
	b.t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		b.t.Fatal(err)
	}
	return b.do(req)
}

// follow requests u and the redirects after it up to, not including, the
// first request to Tributary's callback, whose address it returns; or
// the last answer when the chain ends elsewhere.
func (b *browser) follow(resp *http.Response, body string) (callback *url.URL, last *http.Response, lastBody string) {
	b.t.Helper()
	for range 10 {
		if resp.StatusCode < 300 || resp.StatusCode > 399 {
			return nil, resp, body
		}
		next, err := resp.Request.URL.Parse(resp.Header.Get("Location"))
		if err != nil {
			b.t.Fatal(err)
		}
		if next.Path == oidcCallbackPath {
			return next, resp, body
		}
		resp, body = b.get(next.String())
	}
	b.t.Fatal("too many redirects")
	return nil, nil, ""
}

var loginFormID = regexp.MustCompile(`name="id" value="([^"]+)"`)

// signIn goes from the provider's authorization address through its
// login form and returns the address of Tributary's callback the
// provider redirects to.
func (b *browser) signIn(authorize, username string) *url.URL {
	b.t.Helper()
	cb, page, form := b.follow(b.get(authorize))
	if cb != nil {
		b.t.Fatalf("the provider skipped its login form")
	}
	m := loginFormID.FindStringSubmatch(form)
	if page.StatusCode != 200 || m == nil {
		b.t.Fatalf("provider login page: %d %s", page.StatusCode, form)
	}
	post, err := http.NewRequest(http.MethodPost, page.Request.URL.ResolveReference(&url.URL{Path: "/login/username"}).String(),
		strings.NewReader(url.Values{"id": {m[1]}, "username": {username}, "password": {"verysecure"}}.Encode()))
	if err != nil {
		b.t.Fatal(err)
	}
	post.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	cb, last, lastBody := b.follow(b.do(post))
	if cb == nil {
		b.t.Fatalf("the provider did not redirect to the callback: %d %s", last.StatusCode, lastBody)
	}
	return cb
}

// startLogin asks Tributary for the provider's address of a new login.
func (b *browser) startLogin(e *oidcEnv) *url.URL {
	b.t.Helper()
	resp, body := b.get(e.url + "/api/v1/auth/oidc/login")
	to, err := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusFound || err != nil || !strings.HasPrefix(to.String(), e.issuer+"/") {
		b.t.Fatalf("oidc login: %d %q %s", resp.StatusCode, resp.Header.Get("Location"), body)
	}
	q := to.Query()
	if q.Get("state") == "" || q.Get("nonce") == "" || q.Get("code_challenge") == "" || q.Get("code_challenge_method") != "S256" {
		b.t.Fatalf("authorization request lacks state, nonce or PKCE: %s", to)
	}
	return to
}

// login runs the whole flow for username and answers the callback's
// response.
func (b *browser) login(e *oidcEnv, username string) (*http.Response, string) {
	b.t.Helper()
	cb := b.signIn(b.startLogin(e).String(), username)
	return b.get(cb.String())
}

// accessToken exchanges the session cookies for an access token, as the
// web UI does after landing.
func (b *browser) accessToken(e *oidcEnv) string {
	b.t.Helper()
	u, _ := url.Parse(e.url + "/")
	csrf := ""
	for _, c := range b.c.Jar.Cookies(u) {
		if c.Name == "tributary_csrf" {
			csrf = c.Value
		}
	}
	req, err := http.NewRequest(http.MethodPost, e.url+"/api/v1/auth/refresh", nil)
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("X-CSRF-Token", csrf)
	resp, body := b.do(req)
	var pair struct {
		AccessToken string `json:"access_token"`
	}
	if resp.StatusCode != 200 || json.Unmarshal([]byte(body), &pair) != nil || pair.AccessToken == "" {
		b.t.Fatalf("refresh with the session cookies: %d %s", resp.StatusCode, body)
	}
	return pair.AccessToken
}

func (e *oidcEnv) me(token string) map[string]any {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, e.url+"/api/v1/me", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var me map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&me); err != nil || resp.StatusCode != 200 {
		e.t.Fatalf("me: %d %v", resp.StatusCode, err)
	}
	return me
}

// TestOIDCLogin drives single sign-on end to end on both stores: the
// first login creates the user with the role mapped from the provider's
// claim and starts a session that works for the API; the second finds
// the same user; a verified e-mail address links an existing account
// without changing its role; a disabled user, a wrong state, a wrong
// nonce and a callback without its login are refused.
func TestOIDCLogin(t *testing.T) {
	for _, kind := range []string{"sqlite", "postgres"} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			e := startOIDC(t, kind)
			ctx := context.Background()
			const user1 = "ann"

			b := newBrowser(t)
			resp, body := b.login(e, user1)
			if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/" {
				t.Fatalf("callback: %d %q %s", resp.StatusCode, resp.Header.Get("Location"), body)
			}
			cookies := strings.Join(resp.Header.Values("Set-Cookie"), "\n")
			for _, want := range []string{"tributary_refresh=", "tributary_csrf=", "tributary_oidc=;"} {
				if !strings.Contains(cookies, want) {
					t.Fatalf("callback cookies lack %q: %s", want, cookies)
				}
			}
			u, err := e.store.UserByEmail(ctx, "ann@example.org")
			if err != nil {
				t.Fatalf("user created at first login: %v", err)
			}
			if u.Role != store.RoleEditor || !u.EmailVerified || u.Name == "" || u.PasswordHash != "" {
				t.Fatalf("created user: %+v", u)
			}
			tok := b.accessToken(e)
			if me := e.me(tok); me["id"] != u.ID || me["role"] != "editor" {
				t.Fatalf("me with the session's access token: %v", me)
			}
			req, _ := http.NewRequest(http.MethodGet, e.url+"/api/v1/pipelines", nil)
			req.Header.Set("Authorization", "Bearer "+tok)
			if resp, body := b.do(req); resp.StatusCode != 200 {
				t.Fatalf("pipelines with the session: %d %s", resp.StatusCode, body)
			}

			// Second login, in another browser: the same user.
			before, _ := e.store.CountUsers(ctx)
			b2 := newBrowser(t)
			if resp, body := b2.login(e, user1); resp.StatusCode != http.StatusFound {
				t.Fatalf("second login: %d %s", resp.StatusCode, body)
			}
			if me := e.me(b2.accessToken(e)); me["id"] != u.ID {
				t.Fatalf("second login is another user: %v", me)
			}
			if after, _ := e.store.CountUsers(ctx); after != before {
				t.Fatalf("users %d after the second login, %d before", after, before)
			}

			// An existing account with the address the provider verified
			// is linked and keeps its role.
			existing := &store.User{Email: "bob@example.org", Role: store.RoleAdmin}
			if err := e.store.CreateUser(ctx, existing); err != nil {
				t.Fatal(err)
			}
			b3 := newBrowser(t)
			if resp, body := b3.login(e, "bob"); resp.StatusCode != http.StatusFound {
				t.Fatalf("login of an existing account: %d %s", resp.StatusCode, body)
			}
			if me := e.me(b3.accessToken(e)); me["id"] != existing.ID || me["role"] != "admin" {
				t.Fatalf("existing account: %v", me)
			}

			// An existing account whose address the provider has not
			// verified is not taken over.
			if err := e.store.CreateUser(ctx, &store.User{Email: "eve@example.org", Role: store.RoleAdmin}); err != nil {
				t.Fatal(err)
			}
			resp, body = newBrowser(t).login(e, "eve")
			if resp.StatusCode != http.StatusConflict || !strings.Contains(body, "not verified") {
				t.Fatalf("unverified address of an existing account: %d %s", resp.StatusCode, body)
			}

			// Wrong state: the callback is refused and starts no session.
			b4 := newBrowser(t)
			cb := b4.signIn(b4.startLogin(e).String(), user1)
			q := cb.Query()
			q.Set("state", "forged")
			cb.RawQuery = q.Encode()
			resp, body = b4.get(cb.String())
			if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "state") || strings.Contains(strings.Join(resp.Header.Values("Set-Cookie"), ""), "tributary_refresh=") {
				t.Fatalf("forged state: %d %s", resp.StatusCode, body)
			}

			// Wrong nonce: the provider is asked with the nonce of another
			// login than the one whose cookie, state and verifier the
			// browser holds.
			other := b4.startLogin(e)
			mine := b4.startLogin(e)
			q = mine.Query()
			q.Set("nonce", other.Query().Get("nonce"))
			mine.RawQuery = q.Encode()
			resp, body = b4.get(b4.signIn(mine.String(), user1).String())
			if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "nonce") {
				t.Fatalf("wrong nonce: %d %s", resp.StatusCode, body)
			}

			// A login cookie altered in the browser no longer counts.
			b5 := newBrowser(t)
			cb = b5.signIn(b5.startLogin(e).String(), user1)
			jarURL, _ := url.Parse(e.url + oidcCallbackPath)
			for _, c := range b5.c.Jar.Cookies(jarURL) {
				if c.Name == "tributary_oidc" {
					// The payload, base64 of JSON, starts with "ey".
					c.Value = "fy" + c.Value[2:]
					b5.c.Jar.SetCookies(jarURL, []*http.Cookie{{Name: c.Name, Value: c.Value, Path: "/api/v1/auth/oidc"}})
				}
			}
			if resp, body := b5.get(cb.String()); resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "no login in progress") {
				t.Fatalf("altered login cookie: %d %s", resp.StatusCode, body)
			}

			// The provider's refusal is passed on.
			b6 := newBrowser(t)
			state := b6.startLogin(e).Query().Get("state")
			resp, body = b6.get(e.url + oidcCallbackPath + "?" + url.Values{"state": {state}, "error": {"access_denied"}, "error_description": {"the user cancelled"}}.Encode())
			if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "access_denied") {
				t.Fatalf("provider error: %d %s", resp.StatusCode, body)
			}

			// A callback in a browser that never started the login.
			cb = newBrowser(t).signIn(b4.startLogin(e).String(), user1)
			if resp, body := newBrowser(t).get(cb.String()); resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("callback without the login cookie: %d %s", resp.StatusCode, body)
			}

			// An administrator disables the user: single sign-on is refused.
			req, _ = http.NewRequest(http.MethodPatch, e.url+"/api/v1/users/"+u.ID, strings.NewReader(`{"disabled": true}`))
			req.Header.Set("Authorization", "Bearer "+e.admin)
			req.Header.Set("Content-Type", "application/json")
			if resp, body := b.do(req); resp.StatusCode != 200 {
				t.Fatalf("disable: %d %s", resp.StatusCode, body)
			}
			resp, body = newBrowser(t).login(e, user1)
			if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "disabled") || strings.Contains(strings.Join(resp.Header.Values("Set-Cookie"), ""), "tributary_refresh=") {
				t.Fatalf("disabled user: %d %s", resp.StatusCode, body)
			}
		})
	}
}

// TestOIDCNotConfigured: without a provider the routes say so; with one
// that does not answer, login says that.
func TestOIDCNotConfigured(t *testing.T) {
	e := startAuth(t, "sqlite", api.AuthConfig{})
	for _, p := range []string{"/api/v1/auth/oidc/login", "/api/v1/auth/oidc/callback?code=x&state=y"} {
		if a := e.call("GET", p, "", nil); a.status != http.StatusNotImplemented {
			t.Fatalf("%s: %d %s", p, a.status, a.raw)
		}
	}
	// A port nothing listens on once its listener is closed.
	down := httptest.NewServer(http.NotFoundHandler())
	down.Close()
	sso, err := auth.NewOIDC(auth.OIDCConfig{IssuerURL: down.URL, ClientID: "c", RedirectURL: "http://127.0.0.1/cb"})
	if err != nil {
		t.Fatal(err)
	}
	e = startAuth(t, "sqlite", api.AuthConfig{OIDC: sso})
	if a := e.call("GET", "/api/v1/auth/oidc/login", "", nil); a.status != http.StatusBadGateway || !strings.Contains(a.raw, "cannot be reached") {
		t.Fatalf("provider down: %d %s", a.status, a.raw)
	}
}
