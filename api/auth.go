package api

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/tributary-data/tributary/auth"
	"github.com/tributary-data/tributary/store"
)

// security is the state of authentication when it is on.
type security struct {
	cfg     AuthConfig
	signer  *auth.Signer
	limiter *auth.Limiter
	// setupMu makes the check for an empty store and the creation of the
	// first administrator one step.
	setupMu sync.Mutex
}

func newSecurity(cfg *AuthConfig) *security {
	if cfg == nil {
		return nil
	}
	c := *cfg
	signer, err := auth.NewSigner(c.SigningKey)
	if err != nil {
		// A programming error of the caller: serving without a usable key
		// would leave every route refused.
		panic("api: AuthConfig.SigningKey: " + err.Error())
	}
	if c.SessionIdle <= 0 {
		c.SessionIdle = 24 * time.Hour
	}
	if c.SessionMax <= 0 {
		c.SessionMax = 30 * 24 * time.Hour
	}
	if c.Limiter == nil {
		c.Limiter = auth.NewLimiter(5, 15*time.Minute, 15*time.Minute)
	}
	return &security{cfg: c, signer: signer, limiter: c.Limiter}
}

// Cookies of the web UI: the refresh token (HttpOnly, sent only to the
// auth routes) and the CSRF token the UI echoes in X-CSRF-Token.
const (
	refreshCookie = "tributary_refresh"
	csrfCookie    = "tributary_csrf"
	csrfHeader    = "X-CSRF-Token"
)

// One-time token purposes and lives.
const (
	purposeReset  = "password_reset"
	purposeVerify = "email_verification"
	resetTTL      = time.Hour
	verifyTTL     = 48 * time.Hour
)

type loginIn struct {
	UserAgent string `header:"User-Agent"`
	Body      struct {
		Email    string `json:"email" maxLength:"320" doc:"The account's e-mail address"`
		Password string `json:"password" maxLength:"256" doc:"The account's password"`
	}
}

type tokenPair struct {
	AccessToken  string `json:"access_token" doc:"JWT for Authorization: Bearer; short-lived"`
	RefreshToken string `json:"refresh_token" doc:"Exchanged once at /api/v1/auth/refresh for a new pair"`
	ExpiresIn    int    `json:"expires_in" doc:"Seconds until the access token expires"`
	TokenType    string `json:"token_type" example:"Bearer"`
}

type tokenPairOut struct {
	SetCookie []http.Cookie `header:"Set-Cookie"`
	Body      tokenPair
}

type refreshIn struct {
	Cookie string `cookie:"tributary_refresh"`
	CSRF   string `cookie:"tributary_csrf"`
	Header string `header:"X-CSRF-Token"`
	Body   *struct {
		RefreshToken string `json:"refresh_token,omitempty" maxLength:"128" doc:"The refresh token; the web UI sends its cookie instead"`
	}
}

type emailIn struct {
	Body struct {
		Email string `json:"email" maxLength:"320"`
	}
}

type resetIn struct {
	Body struct {
		Token    string `json:"token" maxLength:"128" doc:"The token of the mailed link"`
		Password string `json:"password" maxLength:"256" doc:"The new password"`
	}
}

type oneTimeIn struct {
	Body struct {
		Token string `json:"token" maxLength:"128" doc:"The token of the mailed link"`
	}
}

type countOut struct {
	Body struct {
		Revoked int `json:"revoked" doc:"Sessions ended"`
	}
}

var errAuthOff = huma.Error501NotImplemented("authentication is not enabled on this server")

// authRoutes registers login, token refresh, logout and the mailed
// one-time links.
func (s *server) authRoutes(api huma.API) {
	huma.Register(api, huma.Operation{
		OperationID: "login", Method: http.MethodPost, Path: "/api/v1/auth/login", Tags: []string{"auth"},
		Summary: "Log in with e-mail address and password",
		Description: "Answers an access token (15 minutes) and a refresh token; the refresh token is also set as an HttpOnly cookie for the web UI, " +
			"with a CSRF cookie to echo in X-CSRF-Token. Repeated failures lock the account and the address out for a while (429).",
	}, func(ctx context.Context, in *loginIn) (*tokenPairOut, error) {
		if s.sec == nil {
			return nil, errAuthOff
		}
		email := strings.ToLower(strings.TrimSpace(in.Body.Email))
		ip := ipFrom(ctx)
		for _, key := range []string{"account:" + email, "ip:" + ip} {
			if locked, until := s.sec.limiter.Locked(key); locked {
				s.audit(ctx, &store.AuditEntry{Actor: email, Action: "login_locked", Target: "user " + email})
				return nil, huma.NewError(http.StatusTooManyRequests, fmt.Sprintf("too many failed logins; try again after %s", until.UTC().Format(time.RFC3339)))
			}
		}
		u, err := s.store.UserByEmail(ctx, email)
		if err == nil && !u.Disabled && u.PasswordHash != "" {
			err = auth.VerifyPassword(u.PasswordHash, in.Body.Password)
		} else if err == nil || errors.Is(err, store.ErrNotFound) {
			// Hash anyway so an unknown address takes as long as a wrong
			// password.
			_, _ = auth.HashPassword(in.Body.Password)
			err = auth.ErrWrongPassword
		}
		if err != nil {
			if !errors.Is(err, auth.ErrWrongPassword) {
				return nil, s.fail(ctx, err)
			}
			s.sec.limiter.Fail("account:" + email)
			s.sec.limiter.Fail("ip:" + ip)
			s.audit(ctx, &store.AuditEntry{Actor: email, Action: "login_failed", Target: "user " + email})
			return nil, huma.Error401Unauthorized("wrong e-mail address or password")
		}
		s.sec.limiter.Reset("account:" + email)
		out, err := s.startSession(ctx, u, ip, in.UserAgent)
		if err != nil {
			return nil, s.fail(ctx, err)
		}
		_ = s.store.SetUserLastLogin(ctx, u.ID, time.Now())
		s.audit(ctx, &store.AuditEntry{Actor: u.Email, ActorID: u.ID, Action: "login", Target: "user " + u.ID})
		return out, nil
	})

	huma.Register(api, huma.Operation{
		OperationID: "refresh-token", Method: http.MethodPost, Path: "/api/v1/auth/refresh", Tags: []string{"auth"},
		Summary: "Exchange a refresh token for a new token pair",
		Description: "Each refresh token works once. Presenting one that was already exchanged ends its whole session (someone holds a copy). " +
			"Browsers send the refresh cookie and must echo the CSRF cookie in X-CSRF-Token.",
	}, func(ctx context.Context, in *refreshIn) (*tokenPairOut, error) {
		if s.sec == nil {
			return nil, errAuthOff
		}
		tok, err := s.refreshCredential(in)
		if err != nil {
			return nil, err
		}
		newTok, newHash := auth.NewToken(auth.PrefixRefresh)
		sess, err := s.store.RotateRefreshToken(ctx, auth.HashToken(tok), newHash, time.Now(), s.sec.cfg.SessionIdle)
		switch {
		case errors.Is(err, store.ErrTokenReused):
			s.audit(ctx, &store.AuditEntry{Action: "refresh_token_reused", Target: "session"})
			return nil, huma.Error401Unauthorized("refresh token already used; the session has been ended, log in again")
		case errors.Is(err, store.ErrNotFound):
			return nil, huma.Error401Unauthorized("invalid or expired refresh token; log in again")
		case err != nil:
			return nil, s.fail(ctx, err)
		}
		u, err := s.store.User(ctx, sess.UserID)
		if err != nil || u.Disabled {
			return nil, huma.Error401Unauthorized("invalid or expired refresh token; log in again")
		}
		return s.pair(u, sess.ID, newTok)
	})

	huma.Register(api, huma.Operation{
		OperationID: "logout", Method: http.MethodPost, Path: "/api/v1/auth/logout", Tags: []string{"auth"},
		Summary: "End the session of a refresh token", DefaultStatus: http.StatusNoContent,
	}, func(ctx context.Context, in *refreshIn) (*cookiesOut, error) {
		if s.sec == nil {
			return nil, errAuthOff
		}
		tok, err := s.refreshCredential(in)
		if err != nil {
			return nil, err
		}
		// Rotating to a throw-away hash finds the session and proves the
		// token; the session is then revoked.
		_, throwaway := auth.NewToken(auth.PrefixRefresh)
		sess, err := s.store.RotateRefreshToken(ctx, auth.HashToken(tok), throwaway, time.Now(), 0)
		if err == nil {
			err = s.store.RevokeSession(ctx, sess.UserID, sess.ID)
			s.audit(ctx, &store.AuditEntry{ActorID: sess.UserID, Action: "logout", Target: "session " + sess.ID})
		}
		if err != nil && !errors.Is(err, store.ErrNotFound) && !errors.Is(err, store.ErrTokenReused) {
			return nil, s.fail(ctx, err)
		}
		return &cookiesOut{SetCookie: s.clearCookies()}, nil
	})

	huma.Register(api, huma.Operation{
		OperationID: "logout-all", Method: http.MethodPost, Path: "/api/v1/auth/logout-all", Tags: []string{"auth"},
		Summary: "End every session of the caller",
	}, func(ctx context.Context, _ *struct{}) (*countOut, error) {
		p := PrincipalFrom(ctx)
		if p == nil {
			return nil, errAuthOff
		}
		n, err := s.store.RevokeSessions(ctx, p.UserID)
		if err != nil {
			return nil, s.fail(ctx, err)
		}
		s.audit(ctx, &store.AuditEntry{Action: "logout_all", Target: "user " + p.UserID})
		out := &countOut{}
		out.Body.Revoked = n
		return out, nil
	})

	huma.Register(api, huma.Operation{
		OperationID: "request-password-reset", Method: http.MethodPost, Path: "/api/v1/auth/password-reset", Tags: []string{"auth"},
		Summary:       "Mail a password-reset link",
		Description:   "Always answers 202, whether or not the address belongs to an account, so the answer tells nothing about accounts. The link works once, for an hour.",
		DefaultStatus: http.StatusAccepted,
	}, func(ctx context.Context, in *emailIn) (*struct{}, error) {
		if s.sec == nil || s.sec.cfg.Mailer == nil {
			return nil, huma.Error503ServiceUnavailable("no mail server is configured for password resets")
		}
		email := strings.ToLower(strings.TrimSpace(in.Body.Email))
		s.audit(ctx, &store.AuditEntry{Actor: email, Action: "password_reset_requested", Target: "user " + email})
		u, err := s.store.UserByEmail(ctx, email)
		if err != nil || u.Disabled {
			return &struct{}{}, nil
		}
		if err := s.mailLink(ctx, u, purposeReset, resetTTL, "/reset-password", "Reset your Tributary password",
			"Someone asked to reset the password of your Tributary account. If it was you, open this link within an hour:"); err != nil {
			s.log.ErrorContext(ctx, "send password reset mail", "user_id", u.ID, "error", err)
		}
		return &struct{}{}, nil
	})

	huma.Register(api, huma.Operation{
		OperationID: "reset-password", Method: http.MethodPost, Path: "/api/v1/auth/password-reset/confirm", Tags: []string{"auth"},
		Summary: "Set a new password with the token of a reset link", DefaultStatus: http.StatusNoContent,
		Description: "Ends every session of the account.",
	}, func(ctx context.Context, in *resetIn) (*struct{}, error) {
		if s.sec == nil {
			return nil, errAuthOff
		}
		// A weak password must not burn the link: check what can be
		// checked before the token is used.
		if err := auth.CheckPasswordStrength(in.Body.Password, ""); err != nil {
			return nil, huma.Error422UnprocessableEntity("weak password", &huma.ErrorDetail{Location: "body.password", Message: err.Error()})
		}
		uid, err := s.store.UseOneTimeToken(ctx, auth.HashToken(in.Body.Token), purposeReset, time.Now())
		if err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return nil, huma.Error400BadRequest("invalid, used or expired reset link", &huma.ErrorDetail{Location: "body.token", Message: "invalid, used or expired"})
			}
			return nil, s.fail(ctx, err)
		}
		u, err := s.store.User(ctx, uid)
		if err != nil {
			return nil, s.fail(ctx, err)
		}
		if err := s.setPassword(ctx, u, in.Body.Password, "body.password"); err != nil {
			return nil, err
		}
		if _, err := s.store.RevokeSessions(ctx, u.ID); err != nil {
			return nil, s.fail(ctx, err)
		}
		// Following the mailed link proves the address too.
		if !u.EmailVerified {
			u.EmailVerified = true
			_ = s.store.UpdateUser(ctx, u)
		}
		s.audit(ctx, &store.AuditEntry{Actor: u.Email, ActorID: u.ID, Action: "password_reset", Target: "user " + u.ID})
		return nil, nil
	})

	huma.Register(api, huma.Operation{
		OperationID: "send-verification", Method: http.MethodPost, Path: "/api/v1/auth/verify-email/send", Tags: []string{"auth"},
		Summary: "Mail a link that verifies the caller's e-mail address", DefaultStatus: http.StatusAccepted,
	}, func(ctx context.Context, _ *struct{}) (*struct{}, error) {
		p := PrincipalFrom(ctx)
		if p == nil {
			return nil, errAuthOff
		}
		if s.sec.cfg.Mailer == nil {
			return nil, huma.Error503ServiceUnavailable("no mail server is configured for verification mails")
		}
		u, err := s.store.User(ctx, p.UserID)
		if err != nil {
			return nil, s.fail(ctx, err)
		}
		if u.EmailVerified {
			return nil, huma.Error409Conflict("the e-mail address is already verified")
		}
		if err := s.mailLink(ctx, u, purposeVerify, verifyTTL, "/verify-email", "Verify your e-mail address for Tributary",
			"Open this link within 48 hours to verify the e-mail address of your Tributary account:"); err != nil {
			s.log.ErrorContext(ctx, "send verification mail", "user_id", u.ID, "error", err)
			return nil, huma.Error503ServiceUnavailable("the verification mail could not be sent")
		}
		s.audit(ctx, &store.AuditEntry{Action: "verification_sent", Target: "user " + u.ID})
		return nil, nil
	})

	huma.Register(api, huma.Operation{
		OperationID: "verify-email", Method: http.MethodPost, Path: "/api/v1/auth/verify-email", Tags: []string{"auth"},
		Summary: "Verify an e-mail address with the token of a verification link", DefaultStatus: http.StatusNoContent,
	}, func(ctx context.Context, in *oneTimeIn) (*struct{}, error) {
		if s.sec == nil {
			return nil, errAuthOff
		}
		uid, err := s.store.UseOneTimeToken(ctx, auth.HashToken(in.Body.Token), purposeVerify, time.Now())
		if err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return nil, huma.Error400BadRequest("invalid, used or expired verification link", &huma.ErrorDetail{Location: "body.token", Message: "invalid, used or expired"})
			}
			return nil, s.fail(ctx, err)
		}
		u, err := s.store.User(ctx, uid)
		if err != nil {
			return nil, s.fail(ctx, err)
		}
		u.EmailVerified = true
		if err := s.store.UpdateUser(ctx, u); err != nil {
			return nil, s.fail(ctx, err)
		}
		s.audit(ctx, &store.AuditEntry{Actor: u.Email, ActorID: u.ID, Action: "email_verified", Target: "user " + u.ID})
		return nil, nil
	})
}

type cookiesOut struct {
	SetCookie []http.Cookie `header:"Set-Cookie"`
}

// refreshCredential picks the refresh token: from the body for API
// clients, else from the cookie, which needs the CSRF double submit.
func (s *server) refreshCredential(in *refreshIn) (string, error) {
	if in.Body != nil && in.Body.RefreshToken != "" {
		return in.Body.RefreshToken, nil
	}
	if in.Cookie == "" {
		return "", huma.Error401Unauthorized("no refresh token: send refresh_token in the body or the refresh cookie")
	}
	if in.CSRF == "" || subtle.ConstantTimeCompare([]byte(in.CSRF), []byte(in.Header)) != 1 {
		return "", huma.Error403Forbidden("the " + csrfHeader + " header must repeat the " + csrfCookie + " cookie")
	}
	return in.Cookie, nil
}

func (s *server) startSession(ctx context.Context, u *store.User, ip, userAgent string) (*tokenPairOut, error) {
	refresh, hash := auth.NewToken(auth.PrefixRefresh)
	if len(userAgent) > 256 {
		userAgent = userAgent[:256]
	}
	sess := &store.Session{UserID: u.ID, IP: ip, UserAgent: userAgent, ExpiresAt: time.Now().Add(s.sec.cfg.SessionMax)}
	if err := s.store.CreateSession(ctx, sess, hash); err != nil {
		return nil, err
	}
	return s.pair(u, sess.ID, refresh)
}

func (s *server) pair(u *store.User, sessionID, refresh string) (*tokenPairOut, error) {
	access, ttl, err := s.sec.signer.Issue(u.ID, sessionID, string(u.Role))
	if err != nil {
		return nil, huma.Error500InternalServerError("internal error")
	}
	csrf, _ := auth.NewToken("")
	out := &tokenPairOut{Body: tokenPair{AccessToken: access, RefreshToken: refresh, ExpiresIn: ttl, TokenType: "Bearer"}}
	maxAge := int(s.sec.cfg.SessionMax / time.Second)
	out.SetCookie = []http.Cookie{
		{Name: refreshCookie, Value: refresh, Path: "/api/v1/auth", MaxAge: maxAge, HttpOnly: true, Secure: s.sec.cfg.SecureCookies, SameSite: http.SameSiteStrictMode},
		{Name: csrfCookie, Value: csrf, Path: "/", MaxAge: maxAge, Secure: s.sec.cfg.SecureCookies, SameSite: http.SameSiteStrictMode},
	}
	return out, nil
}

func (s *server) clearCookies() []http.Cookie {
	return []http.Cookie{
		{Name: refreshCookie, Path: "/api/v1/auth", MaxAge: -1, HttpOnly: true, Secure: s.sec.cfg.SecureCookies, SameSite: http.SameSiteStrictMode},
		{Name: csrfCookie, Path: "/", MaxAge: -1, Secure: s.sec.cfg.SecureCookies, SameSite: http.SameSiteStrictMode},
	}
}

// mailLink stores a one-time token and mails its link.
func (s *server) mailLink(ctx context.Context, u *store.User, purpose string, ttl time.Duration, page, subject, text string) error {
	tok, hash := auth.NewToken(auth.PrefixOneTime)
	if err := s.store.CreateOneTimeToken(ctx, &store.OneTimeToken{Hash: hash, UserID: u.ID, Purpose: purpose, ExpiresAt: time.Now().Add(ttl)}); err != nil {
		return err
	}
	link := strings.TrimRight(s.sec.cfg.BaseURL, "/") + page + "?token=" + tok
	body := text + "\r\n\r\n" + link + "\r\n\r\nIf you did not ask for this, ignore this mail.\r\n"
	return s.sec.cfg.Mailer.SendMail(ctx, u.Email, subject, body)
}

// setPassword checks the strength rules and stores the new hash.
func (s *server) setPassword(ctx context.Context, u *store.User, password, field string) error {
	if err := auth.CheckPasswordStrength(password, u.Email); err != nil {
		return huma.Error422UnprocessableEntity("weak password", &huma.ErrorDetail{Location: field, Message: err.Error()})
	}
	hash, err := auth.HashPassword(password)
	if err != nil {
		return s.fail(ctx, err)
	}
	if err := s.store.SetUserPassword(ctx, u.ID, hash); err != nil {
		return s.fail(ctx, err)
	}
	return nil
}
