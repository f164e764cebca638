package api

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/tributary-data/tributary/auth"
	"github.com/tributary-data/tributary/store"
)

// AuthConfig turns authentication, authorisation and auditing on. Without
// it (Config.Auth nil) every route is open, as before users existed.
type AuthConfig struct {
	// SigningKey signs access tokens (HMAC-SHA256, at least 32 bytes).
	SigningKey []byte
	// SessionIdle ends a session unused for this long (default 24h);
	// SessionMax ends any session this long after login (default 30 days).
	SessionIdle time.Duration
	SessionMax  time.Duration
	// SecureCookies marks the refresh and CSRF cookies Secure; off only
	// for plain-HTTP development servers.
	SecureCookies bool
	// Limiter counts failed logins per account and per IP address; by
	// default 5 failures in 15 minutes lock the key out for 15 minutes.
	Limiter *auth.Limiter
	// Mailer sends password-reset and verification mails; those routes
	// answer 503 without it. BaseURL is the address the links point to.
	Mailer  Mailer
	BaseURL string
	// CORSOrigins are the browser origins allowed to call the API from
	// other sites; none by default.
	CORSOrigins []string
	// MaxBodyBytes bounds request bodies; DefaultMaxBody when zero.
	MaxBodyBytes int64
	// SetupToken, when set, lets POST /api/v1/setup create the first
	// administrator of an empty store; the server prints it in its log.
	SetupToken string
	// OIDC, when set, offers single sign-on with that provider at
	// /api/v1/auth/oidc/login.
	OIDC *auth.OIDC
}

// Mailer sends a plain-text mail.
type Mailer interface {
	SendMail(ctx context.Context, to, subject, body string) error
}

// Access levels of operations besides the roles.
const (
	// accessPublic needs no credentials.
	accessPublic = "public"
	// accessSelf needs any authenticated user; the handler acts on that
	// user only.
	accessSelf = "self"
)

// access declares, for every operation, who may call it: public, self, or
// the least role. An operation missing here is refused to everyone, so a
// new route cannot ship unprotected; TestAccessTable fails until it is
// declared.
var access = map[string]string{
	// Health.
	"healthz": accessPublic,
	"readyz":  accessPublic,

	// Authentication and the own account.
	"login":                  accessPublic,
	"refresh-token":          accessPublic,
	"logout":                 accessPublic,
	"request-password-reset": accessPublic,
	"reset-password":         accessPublic,
	"verify-email":           accessPublic,
	"setup":                  accessPublic,
	"oidc-login":             accessPublic,
	"oidc-callback":          accessPublic,
	"send-verification":      accessSelf,
	"logout-all":             accessSelf,
	"get-me":                 accessSelf,
	"update-me":              accessSelf,
	"change-password":        accessSelf,
	"list-my-sessions":       accessSelf,
	"revoke-my-session":      accessSelf,
	"create-token":           accessSelf,
	"list-tokens":            accessSelf,
	"revoke-token":           accessSelf,

	// Administration.
	"create-user":        string(store.RoleAdmin),
	"list-users":         string(store.RoleAdmin),
	"get-user":           string(store.RoleAdmin),
	"update-user":        string(store.RoleAdmin),
	"delete-user":        string(store.RoleAdmin),
	"list-audit-entries": string(store.RoleAdmin),
	"put-retention":      string(store.RoleAdmin),
	"get-retention":      string(store.RoleViewer),

	// Connections and connectors.
	"create-connection": string(store.RoleEditor),
	"list-connections":  string(store.RoleViewer),
	// Probes reach the connection's system with its secrets: editors only.
	"test-connection":     string(store.RoleEditor),
	"discover-connection": string(store.RoleEditor),
	"sample-connection":   string(store.RoleEditor),
	"get-connection":      string(store.RoleViewer),
	"update-connection":   string(store.RoleEditor),
	"delete-connection":   string(store.RoleEditor),
	"list-connectors":     string(store.RoleViewer),

	// Pipelines, versions, schedules, lineage.
	"create-pipeline":          string(store.RoleEditor),
	"update-pipeline":          string(store.RoleEditor),
	"list-pipelines":           string(store.RoleViewer),
	"delete-pipeline":          string(store.RoleEditor),
	"validate-spec":            string(store.RoleViewer),
	"validate-pipeline":        string(store.RoleViewer),
	"get-pipeline":             string(store.RoleViewer),
	"set-pipeline-enabled":     string(store.RoleEditor),
	"list-pipeline-versions":   string(store.RoleViewer),
	"get-pipeline-version":     string(store.RoleViewer),
	"diff-pipeline-versions":   string(store.RoleViewer),
	"restore-pipeline-version": string(store.RoleEditor),
	"export-pipeline":          string(store.RoleViewer),
	"import-pipeline":          string(store.RoleEditor),
	// A preview connects to the source with the stored credentials.
	"preview-pipeline":      string(store.RoleEditor),
	"reset-stream-state":    string(store.RoleEditor),
	"pipeline-lineage":      string(store.RoleViewer),
	"preview-schedule":      string(store.RoleViewer),
	"get-pipeline-schedule": string(store.RoleViewer),
	"list-pipeline-slots":   string(store.RoleViewer),

	// Runs.
	"create-run":              string(store.RoleEditor),
	"list-pipeline-runs":      string(store.RoleViewer),
	"list-runs":               string(store.RoleViewer),
	"get-run":                 string(store.RoleViewer),
	"cancel-run":              string(store.RoleEditor),
	"retry-run":               string(store.RoleEditor),
	"replay-run":              string(store.RoleEditor),
	"list-run-logs":           string(store.RoleViewer),
	"stream-run-logs":         string(store.RoleViewer),
	"list-run-attempts":       string(store.RoleViewer),
	"list-run-quarantine":     string(store.RoleViewer),
	"download-run-quarantine": string(store.RoleViewer),

	// Monitoring and analytics.
	"get-dashboard":         string(store.RoleViewer),
	"get-timeseries":        string(store.RoleViewer),
	"get-top-pipelines":     string(store.RoleViewer),
	"get-durations":         string(store.RoleViewer),
	"get-quarantine-ratios": string(store.RoleViewer),
	"get-health":            string(store.RoleViewer),

	// Alerts.
	"create-alert-channel":  string(store.RoleEditor),
	"list-alert-channels":   string(store.RoleViewer),
	"get-alert-channel":     string(store.RoleViewer),
	"update-alert-channel":  string(store.RoleEditor),
	"delete-alert-channel":  string(store.RoleEditor),
	"test-alert-channel":    string(store.RoleEditor),
	"create-alert-rule":     string(store.RoleEditor),
	"list-alert-rules":      string(store.RoleViewer),
	"get-alert-rule":        string(store.RoleViewer),
	"update-alert-rule":     string(store.RoleEditor),
	"delete-alert-rule":     string(store.RoleEditor),
	"list-alert-deliveries": string(store.RoleViewer),
	"get-alert-delivery":    string(store.RoleViewer),
}

// selfAudited operations record their own audit entries (with the
// details the middleware cannot see), so the middleware skips them.
var selfAudited = map[string]bool{
	"login": true, "refresh-token": true, "logout": true, "logout-all": true,
	"request-password-reset": true, "reset-password": true, "verify-email": true, "send-verification": true,
	"update-me": true, "change-password": true, "revoke-my-session": true,
	"create-token": true, "revoke-token": true,
	"create-user": true, "update-user": true, "delete-user": true, "setup": true,
}

// Principal is who makes a request.
type Principal struct {
	UserID string
	Email  string
	// Role is the effective role: the user's, or an API token's when
	// lower than its owner's.
	Role store.Role
	// SessionID is set for access tokens, TokenID and TokenName for API
	// tokens.
	SessionID string
	TokenID   string
	TokenName string
	IP        string
}

// actor names the principal in the audit log.
func (p *Principal) actor() string {
	if p == nil {
		return ""
	}
	if p.TokenName != "" {
		return p.Email + " (token " + p.TokenName + ")"
	}
	return p.Email
}

type ctxKey int

const (
	principalKey ctxKey = iota
	ipKey
)

// PrincipalFrom returns the authenticated caller, or nil when auth is off
// or the route is public.
func PrincipalFrom(ctx context.Context) *Principal {
	p, _ := ctx.Value(principalKey).(*Principal)
	return p
}

func ipFrom(ctx context.Context) string {
	ip, _ := ctx.Value(ipKey).(string)
	return ip
}

// remoteIP is the peer's address. Forwarded headers are not trusted: a
// proxy in front must be configured to keep limits per client itself.
func remoteIP(addr string) string {
	if host, _, err := net.SplitHostPort(addr); err == nil {
		return host
	}
	return addr
}

// accessGuard is the huma middleware that authenticates the caller and
// authorises the operation against the access table; it also audits every
// successful write.
func (s *server) accessGuard(api huma.API) func(huma.Context, func(huma.Context)) {
	return func(hctx huma.Context, next func(huma.Context)) {
		op := hctx.Operation()
		ip := remoteIP(hctx.RemoteAddr())
		hctx = huma.WithValue(hctx, ipKey, ip)
		rule, ok := access[op.OperationID]
		if !ok {
			s.log.ErrorContext(hctx.Context(), "operation has no access rule; refused", "operation", op.OperationID)
			_ = huma.WriteErr(api, hctx, http.StatusForbidden, "operation "+op.OperationID+" has no access rule")
			return
		}
		if rule == accessPublic {
			next(hctx)
			return
		}
		p, err := s.authenticate(hctx.Context(), hctx.Header("Authorization"))
		if err != nil {
			hctx.SetHeader("WWW-Authenticate", `Bearer realm="tributary"`)
			_ = huma.WriteErr(api, hctx, http.StatusUnauthorized, err.Error())
			return
		}
		p.IP = ip
		if rule != accessSelf && p.Role.Rank() < store.Role(rule).Rank() {
			_ = huma.WriteErr(api, hctx, http.StatusForbidden, "role "+string(p.Role)+" may not "+op.OperationID+"; it needs "+rule)
			return
		}
		hctx = huma.WithValue(hctx, principalKey, p)
		// Saved pipeline versions name their author.
		hctx = huma.WithValue(hctx, actorKey{}, p.actor())
		next(hctx)
		if isWrite(op.Method) && !selfAudited[op.OperationID] && hctx.Status() < 400 {
			s.audit(hctx.Context(), &store.AuditEntry{Action: op.Method + " " + op.OperationID, Target: hctx.URL().Path, Status: hctx.Status()})
		}
	}
}

func isWrite(method string) bool {
	switch method {
	case http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
		return true
	}
	return false
}

// errUnauthenticated says no more than needed: which kind of credential
// failed, never why a token was refused in detail.
var errUnauthenticated = errors.New("authentication required: send Authorization: Bearer <access token or API token>")

func (s *server) authenticate(ctx context.Context, header string) (*Principal, error) {
	scheme, cred, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || cred == "" {
		return nil, errUnauthenticated
	}
	cred = strings.TrimSpace(cred)
	if auth.IsAPIToken(cred) {
		t, err := s.store.APITokenByHash(ctx, auth.HashToken(cred))
		if err != nil {
			return nil, errors.New("invalid API token")
		}
		now := time.Now()
		if t.ExpiresAt != nil && !now.Before(*t.ExpiresAt) {
			return nil, errors.New("API token expired")
		}
		u, err := s.store.User(ctx, t.UserID)
		if err != nil || u.Disabled {
			return nil, errors.New("invalid API token")
		}
		// Recording every use would write on every read; a minute is
		// precise enough for "last used".
		if t.LastUsedAt == nil || now.Sub(*t.LastUsedAt) > time.Minute {
			if err := s.store.TouchAPIToken(ctx, t.ID, now); err != nil {
				s.log.WarnContext(ctx, "record API token use", "token_id", t.ID, "error", err)
			}
		}
		role := t.Role
		if u.Role.Rank() < role.Rank() {
			role = u.Role
		}
		return &Principal{UserID: u.ID, Email: u.Email, Role: role, TokenID: t.ID, TokenName: t.Name}, nil
	}
	c, err := s.sec.signer.Parse(cred)
	if err != nil {
		return nil, errors.New("invalid or expired access token")
	}
	sess, err := s.store.Session(ctx, c.Session)
	if err != nil || sess.RevokedAt != nil || sess.UserID != c.Subject || !time.Now().Before(sess.ExpiresAt) {
		return nil, errors.New("session ended; log in again")
	}
	u, err := s.store.User(ctx, c.Subject)
	if err != nil || u.Disabled {
		return nil, errors.New("session ended; log in again")
	}
	// The role is read from the user, not the token, so a demotion takes
	// effect at once.
	return &Principal{UserID: u.ID, Email: u.Email, Role: u.Role, SessionID: sess.ID}, nil
}

// Audit records an entry with the caller and address of the request in
// ctx. Before and after are masked of secrets by the caller. Failing to
// record is logged, not answered: the change itself happened.
func (s *server) audit(ctx context.Context, e *store.AuditEntry) {
	if !s.authOn() {
		return
	}
	if p := PrincipalFrom(ctx); p != nil {
		if e.Actor == "" {
			e.Actor, e.ActorID = p.actor(), p.UserID
		}
	}
	e.IP = ipFrom(ctx)
	if err := s.store.AppendAudit(context.WithoutCancel(ctx), e); err != nil {
		s.log.ErrorContext(ctx, "append audit entry", "action", e.Action, "error", err)
	}
}

// auditJSON marshals a state for an audit entry; nil stays absent.
func auditJSON(v any) json.RawMessage {
	if v == nil {
		return nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil
	}
	return b
}

func (s *server) authOn() bool { return s.sec != nil }

// AccessRules returns a copy of the access table: operation ID to public,
// self or the least role.
func AccessRules() map[string]string {
	out := make(map[string]string, len(access))
	for k, v := range access {
		out[k] = v
	}
	return out
}
