package auth

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// OIDCConfig is the single sign-on provider: an OpenID Connect issuer
// and the client registered with it.
type OIDCConfig struct {
	// IssuerURL is the provider's issuer; its discovery document is read
	// from IssuerURL/.well-known/openid-configuration.
	IssuerURL    string
	ClientID     string
	ClientSecret string
	// RedirectURL is the callback registered with the provider, the
	// server's /api/v1/auth/oidc/callback.
	RedirectURL string
	// Scopes asked for besides openid; email and profile by default.
	Scopes []string
	// RoleClaim names the claim whose value picks the role of a user
	// created at first login; a dotted path reaches into objects
	// (realm_access.roles). The claim may hold a string or a list.
	RoleClaim string
	// RoleMap maps claim values to roles (viewer, editor, admin); of
	// several matching values the strongest role wins.
	RoleMap map[string]string
	// DefaultRole is given when no value maps; viewer when empty.
	DefaultRole string
}

// roleRank orders the role names RoleMap may hold.
var roleRank = map[string]int{"viewer": 1, "editor": 2, "admin": 3}

// Identity is what the provider asserts about the user who logged in.
type Identity struct {
	Issuer        string
	Subject       string
	Email         string
	EmailVerified bool
	Name          string
	// Role is the role mapped from RoleClaim, or DefaultRole.
	Role string
}

// Errors of a callback that must not start a session.
var (
	ErrOIDCState = errors.New("the login's state does not match: start the login again")
	ErrOIDCNonce = errors.New("the ID token's nonce does not match the login: start the login again")
)

// OIDC runs the authorization code flow with PKCE against one provider.
// The provider is discovered at the first login, so a server starts
// while its provider is unreachable and retries on the next login.
type OIDC struct {
	cfg OIDCConfig

	mu       sync.Mutex
	provider *oidc.Provider
	oauth    *oauth2.Config
	verifier *oidc.IDTokenVerifier
}

// NewOIDC checks the settings; it does not contact the provider.
func NewOIDC(cfg OIDCConfig) (*OIDC, error) {
	for _, f := range []struct{ name, v string }{
		{"issuer URL", cfg.IssuerURL}, {"redirect URL", cfg.RedirectURL},
	} {
		u, err := url.Parse(f.v)
		if f.v == "" || err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return nil, fmt.Errorf("oidc: %s %q: must be an absolute http(s) URL", f.name, f.v)
		}
	}
	if cfg.ClientID == "" {
		return nil, errors.New("oidc: client id is empty")
	}
	if cfg.DefaultRole == "" {
		cfg.DefaultRole = "viewer"
	}
	if roleRank[cfg.DefaultRole] == 0 {
		return nil, fmt.Errorf("oidc: default role %q: must be viewer, editor or admin", cfg.DefaultRole)
	}
	for v, r := range cfg.RoleMap {
		if roleRank[r] == 0 {
			return nil, fmt.Errorf("oidc: role map %q=%q: role must be viewer, editor or admin", v, r)
		}
	}
	if len(cfg.RoleMap) > 0 && cfg.RoleClaim == "" {
		return nil, errors.New("oidc: a role map needs the role claim it reads")
	}
	if len(cfg.Scopes) == 0 {
		cfg.Scopes = []string{"email", "profile"}
	}
	if !slices.Contains(cfg.Scopes, oidc.ScopeOpenID) {
		cfg.Scopes = append([]string{oidc.ScopeOpenID}, cfg.Scopes...)
	}
	return &OIDC{cfg: cfg}, nil
}

// Config is the settings in effect, defaults filled in.
func (o *OIDC) Config() OIDCConfig { return o.cfg }

// discover reads the provider's metadata once it answers.
func (o *OIDC) discover(ctx context.Context) (*oauth2.Config, *oidc.IDTokenVerifier, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.provider == nil {
		// The provider keeps the context to fetch signing keys later; the
		// request's would be cancelled by then.
		p, err := oidc.NewProvider(context.WithoutCancel(ctx), o.cfg.IssuerURL)
		if err != nil {
			return nil, nil, fmt.Errorf("oidc: discover %s: %w", o.cfg.IssuerURL, err)
		}
		o.provider = p
		o.oauth = &oauth2.Config{
			ClientID: o.cfg.ClientID, ClientSecret: o.cfg.ClientSecret, RedirectURL: o.cfg.RedirectURL,
			Endpoint: p.Endpoint(), Scopes: o.cfg.Scopes,
		}
		o.verifier = p.Verifier(&oidc.Config{ClientID: o.cfg.ClientID})
	}
	return o.oauth, o.verifier, nil
}

// AuthURL is the provider's authorization address for one login: state
// and nonce are random values of that login, verifier its PKCE secret
// (from oauth2.GenerateVerifier).
func (o *OIDC) AuthURL(ctx context.Context, state, nonce, verifier string) (string, error) {
	oc, _, err := o.discover(ctx)
	if err != nil {
		return "", err
	}
	return oc.AuthCodeURL(state, oidc.Nonce(nonce), oauth2.S256ChallengeOption(verifier)), nil
}

// Callback finishes a login: gotState must be the state the provider
// sent back and state, nonce and verifier those of AuthURL. It exchanges
// the code, verifies the ID token (signature, issuer, audience, expiry,
// nonce) and reads the claims, completed from the userinfo endpoint.
func (o *OIDC) Callback(ctx context.Context, code, gotState, state, nonce, verifier string) (*Identity, error) {
	if state == "" || subtle.ConstantTimeCompare([]byte(gotState), []byte(state)) != 1 {
		return nil, ErrOIDCState
	}
	oc, v, err := o.discover(ctx)
	if err != nil {
		return nil, err
	}
	tok, err := oc.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		return nil, fmt.Errorf("oidc: exchange the code: %w", err)
	}
	raw, ok := tok.Extra("id_token").(string)
	if !ok || raw == "" {
		return nil, errors.New("oidc: the token response holds no id_token")
	}
	idt, err := v.Verify(ctx, raw)
	if err != nil {
		return nil, fmt.Errorf("oidc: verify the ID token: %w", err)
	}
	if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(nonce)) != 1 {
		return nil, ErrOIDCNonce
	}
	claims := map[string]any{}
	if err := idt.Claims(&claims); err != nil {
		return nil, fmt.Errorf("oidc: read the ID token's claims: %w", err)
	}
	// Many providers put e-mail and custom claims only in userinfo; the
	// ID token's claims win where both have one.
	if o.provider.UserInfoEndpoint() != "" {
		ui, err := o.provider.UserInfo(ctx, oauth2.StaticTokenSource(tok))
		if err != nil {
			return nil, fmt.Errorf("oidc: read userinfo: %w", err)
		}
		if ui.Subject != idt.Subject {
			return nil, fmt.Errorf("oidc: userinfo is about subject %q, the ID token about %q", ui.Subject, idt.Subject)
		}
		extra := map[string]any{}
		if err := ui.Claims(&extra); err != nil {
			return nil, fmt.Errorf("oidc: read userinfo claims: %w", err)
		}
		for k, val := range extra {
			if _, ok := claims[k]; !ok {
				claims[k] = val
			}
		}
	}
	id := &Identity{Issuer: idt.Issuer, Subject: idt.Subject, Role: o.role(claims)}
	id.Email, _ = claims["email"].(string)
	id.Email = strings.ToLower(strings.TrimSpace(id.Email))
	switch ev := claims["email_verified"].(type) {
	case bool:
		id.EmailVerified = ev
	case string:
		// Some providers send the boolean as a string.
		id.EmailVerified = ev == "true"
	}
	id.Name, _ = claims["name"].(string)
	return id, nil
}

// role maps the role claim's values; the strongest mapped role wins.
func (o *OIDC) role(claims map[string]any) string {
	role := o.cfg.DefaultRole
	if o.cfg.RoleClaim == "" {
		return role
	}
	var v any = claims
	for _, part := range strings.Split(o.cfg.RoleClaim, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return role
		}
		v = m[part]
	}
	var values []string
	switch t := v.(type) {
	case string:
		values = []string{t}
	case []any:
		for _, e := range t {
			if s, ok := e.(string); ok {
				values = append(values, s)
			}
		}
	}
	best := ""
	for _, val := range values {
		if r, ok := o.cfg.RoleMap[val]; ok && roleRank[r] > roleRank[best] {
			best = r
		}
	}
	if best != "" {
		return best
	}
	return role
}
