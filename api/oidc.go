package api

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"golang.org/x/oauth2"

	"github.com/tributary-data/tributary/auth"
	"github.com/tributary-data/tributary/store"
)

// oidcCookie carries one login's state, nonce and PKCE verifier from
// the redirect to the provider to its callback. It is signed, HttpOnly
// and SameSite=Lax: the callback is a top-level navigation coming from
// the provider's site, which a Strict cookie would not accompany.
const (
	oidcCookie     = "tributary_oidc"
	oidcCookiePath = "/api/v1/auth/oidc"
	oidcLoginTTL   = 10 * time.Minute
	// oidcAfterLogin is where the browser lands with its session cookies;
	// the web UI exchanges the refresh cookie for an access token there.
	oidcAfterLogin = "/"
)

type oidcLogin struct {
	State    string `json:"s"`
	Nonce    string `json:"n"`
	Verifier string `json:"v"`
	Expires  int64  `json:"e"`
}

type redirectOut struct {
	Status    int
	Location  string        `header:"Location"`
	SetCookie []http.Cookie `header:"Set-Cookie"`
}

type oidcCallbackIn struct {
	UserAgent        string `header:"User-Agent"`
	Cookie           string `cookie:"tributary_oidc"`
	Code             string `query:"code" maxLength:"4096" doc:"The authorization code"`
	State            string `query:"state" maxLength:"256" doc:"The state of the login"`
	Error            string `query:"error" maxLength:"256" doc:"The provider's error code when it refused the login"`
	ErrorDescription string `query:"error_description" maxLength:"1024"`
}

var errOIDCOff = huma.Error501NotImplemented("single sign-on is not configured on this server")

// oidcRoutes registers single sign-on with the configured OpenID Connect
// provider.
func (s *server) oidcRoutes(api huma.API) {
	huma.Register(api, huma.Operation{
		OperationID: "oidc-login", Method: http.MethodGet, Path: "/api/v1/auth/oidc/login", Tags: []string{"auth"},
		Summary: "Log in with the single sign-on provider",
		Description: "Redirects the browser to the OpenID Connect provider (authorization code flow with PKCE, state and nonce). " +
			"The provider sends it back to /api/v1/auth/oidc/callback.",
		DefaultStatus: http.StatusFound,
	}, func(ctx context.Context, _ *struct{}) (*redirectOut, error) {
		if s.sec == nil || s.sec.cfg.OIDC == nil {
			return nil, errOIDCOff
		}
		state, _ := auth.NewToken("")
		nonce, _ := auth.NewToken("")
		l := oidcLogin{State: state, Nonce: nonce, Verifier: oauth2.GenerateVerifier(), Expires: time.Now().Add(oidcLoginTTL).Unix()}
		to, err := s.sec.cfg.OIDC.AuthURL(ctx, l.State, l.Nonce, l.Verifier)
		if err != nil {
			s.log.ErrorContext(ctx, "single sign-on provider", "error", err)
			return nil, huma.Error502BadGateway("the single sign-on provider cannot be reached")
		}
		c := s.oidcCookie(s.sealOIDC(l), int(oidcLoginTTL/time.Second))
		return &redirectOut{Status: http.StatusFound, Location: to, SetCookie: []http.Cookie{c}}, nil
	})

	huma.Register(api, huma.Operation{
		OperationID: "oidc-callback", Method: http.MethodGet, Path: "/api/v1/auth/oidc/callback", Tags: []string{"auth"},
		Summary: "Finish a single sign-on login",
		Description: "Verifies the provider's answer and ID token, finds the user by the provider's subject or verified e-mail address, " +
			"or creates it with the role mapped from the configured claim, then sets the session cookies as a password login does " +
			"and redirects to the web UI. Disabled users are refused (403).",
		DefaultStatus: http.StatusFound,
	}, func(ctx context.Context, in *oidcCallbackIn) (*redirectOut, error) {
		if s.sec == nil || s.sec.cfg.OIDC == nil {
			return nil, errOIDCOff
		}
		if in.Error != "" {
			return nil, huma.Error401Unauthorized("the single sign-on provider refused the login: " + in.Error + ": " + in.ErrorDescription)
		}
		l, ok := s.openOIDC(in.Cookie)
		if !ok {
			return nil, huma.Error400BadRequest("no login in progress or it expired: start again at /api/v1/auth/oidc/login")
		}
		if in.Code == "" {
			return nil, huma.Error400BadRequest("the provider's answer has no code", &huma.ErrorDetail{Location: "query.code", Message: "required"})
		}
		id, err := s.sec.cfg.OIDC.Callback(ctx, in.Code, in.State, l.State, l.Nonce, l.Verifier)
		switch {
		case errors.Is(err, auth.ErrOIDCState):
			return nil, huma.Error400BadRequest(err.Error(), &huma.ErrorDetail{Location: "query.state", Message: "does not match the login"})
		case errors.Is(err, auth.ErrOIDCNonce):
			return nil, huma.Error401Unauthorized(err.Error())
		case err != nil:
			s.log.WarnContext(ctx, "single sign-on refused", "error", err)
			return nil, huma.Error401Unauthorized("the single sign-on login could not be verified: start again")
		}
		u, err := s.oidcUser(ctx, id)
		if err != nil {
			return nil, err
		}
		if u.Disabled {
			s.audit(ctx, &store.AuditEntry{Actor: u.Email, ActorID: u.ID, Action: "login_failed", Target: "user " + u.ID})
			return nil, huma.Error403Forbidden("the account is disabled")
		}
		out, err := s.startSession(ctx, u, ipFrom(ctx), in.UserAgent)
		if err != nil {
			return nil, s.fail(ctx, err)
		}
		_ = s.store.SetUserLastLogin(ctx, u.ID, time.Now())
		s.audit(ctx, &store.AuditEntry{Actor: u.Email, ActorID: u.ID, Action: "login", Target: "user " + u.ID})
		cookies := append(out.SetCookie, s.oidcCookie("", -1))
		return &redirectOut{Status: http.StatusFound, Location: oidcAfterLogin, SetCookie: cookies}, nil
	})
}

// oidcUser finds the user of the identity: by the provider's subject,
// else by an e-mail address the provider verified (and links it), else
// creates one with the mapped role and links it.
func (s *server) oidcUser(ctx context.Context, id *auth.Identity) (*store.User, error) {
	u, err := s.store.UserByIdentity(ctx, id.Issuer, id.Subject)
	if err == nil {
		return u, nil
	}
	if !errors.Is(err, store.ErrNotFound) {
		return nil, s.fail(ctx, err)
	}
	if id.Email == "" {
		return nil, huma.Error502BadGateway("the single sign-on provider sent no e-mail address: the email scope is needed")
	}
	u, err = s.store.UserByEmail(ctx, id.Email)
	switch {
	case err == nil:
		if !id.EmailVerified {
			// Anyone can claim an address at some providers: only a
			// verified one may take over an existing account.
			return nil, huma.Error409Conflict("an account with this e-mail address exists and the provider has not verified the address")
		}
		if u.Disabled {
			return u, nil
		}
	case errors.Is(err, store.ErrNotFound):
		name := id.Name
		if r := []rune(name); len(r) > 200 {
			name = string(r[:200])
		}
		u = &store.User{Email: id.Email, Name: name, Role: store.Role(id.Role), EmailVerified: id.EmailVerified}
		if err := s.store.CreateUser(ctx, u); err != nil {
			return nil, s.fail(ctx, err)
		}
		u.PasswordHash = ""
		s.audit(ctx, &store.AuditEntry{Actor: u.Email, ActorID: u.ID, Action: "user.create", Target: "user " + u.ID, After: auditJSON(u)})
	default:
		return nil, s.fail(ctx, err)
	}
	if err := s.store.LinkIdentity(ctx, u.ID, id.Issuer, id.Subject); err != nil {
		if errors.Is(err, store.ErrConflict) {
			// A login of the same subject at the same moment linked it.
			return s.store.UserByIdentity(ctx, id.Issuer, id.Subject)
		}
		return nil, s.fail(ctx, err)
	}
	s.audit(ctx, &store.AuditEntry{Actor: u.Email, ActorID: u.ID, Action: "user.link_identity", Target: "user " + u.ID,
		After: auditJSON(map[string]string{"issuer": id.Issuer, "subject": id.Subject})})
	return u, nil
}

func (s *server) oidcCookie(value string, maxAge int) http.Cookie {
	return http.Cookie{Name: oidcCookie, Value: value, Path: oidcCookiePath, MaxAge: maxAge, HttpOnly: true,
		Secure: s.sec.cfg.SecureCookies, SameSite: http.SameSiteLaxMode}
}

// oidcMAC signs login cookies with a key of their own derived from the
// access token key.
func (s *server) oidcMAC(payload string) []byte {
	k := hmac.New(sha256.New, s.sec.cfg.SigningKey)
	k.Write([]byte("oidc login cookie"))
	m := hmac.New(sha256.New, k.Sum(nil))
	m.Write([]byte(payload))
	return m.Sum(nil)
}

func (s *server) sealOIDC(l oidcLogin) string {
	b, _ := json.Marshal(l)
	p := base64.RawURLEncoding.EncodeToString(b)
	return p + "." + base64.RawURLEncoding.EncodeToString(s.oidcMAC(p))
}

func (s *server) openOIDC(v string) (oidcLogin, bool) {
	var l oidcLogin
	p, sig, ok := strings.Cut(v, ".")
	if !ok {
		return l, false
	}
	mac, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || !hmac.Equal(mac, s.oidcMAC(p)) {
		return l, false
	}
	b, err := base64.RawURLEncoding.DecodeString(p)
	if err != nil || json.Unmarshal(b, &l) != nil || time.Now().Unix() > l.Expires {
		return l, false
	}
	return l, true
}
