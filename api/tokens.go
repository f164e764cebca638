package api

import (
	"context"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/tributary-data/tributary/auth"
	"github.com/tributary-data/tributary/store"
)

type tokenCreateIn struct {
	Body struct {
		Name      string     `json:"name" minLength:"1" maxLength:"100" doc:"What the token is for"`
		Role      store.Role `json:"role" enum:"viewer,editor,admin" doc:"At most the caller's role"`
		ExpiresAt *time.Time `json:"expires_at,omitempty" doc:"When the token stops working; never when absent"`
	}
}

type tokenCreated struct {
	store.APIToken
	Token string `json:"token" doc:"The token itself, shown this once only"`
}

type tokenCreateOut struct{ Body tokenCreated }

type tokensIn struct {
	PageIn
	All bool `query:"all" doc:"Every user's tokens (administrators only)"`
}

type tokensOut struct{ Body List[store.APIToken] }

// tokens registers API tokens for automation.
func (s *server) tokens(api huma.API) {
	huma.Register(api, huma.Operation{
		OperationID: "create-token", Method: http.MethodPost, Path: "/api/v1/tokens", Tags: []string{"tokens"},
		Summary: "Create an API token for the caller", DefaultStatus: http.StatusCreated,
		Description: "The answer holds the token once; only its hash is kept. Send it as Authorization: Bearer. " +
			"Its role is at most the caller's, and lowered with the owner's.",
	}, func(ctx context.Context, in *tokenCreateIn) (*tokenCreateOut, error) {
		p := PrincipalFrom(ctx)
		if p == nil {
			return nil, errAuthOff
		}
		if in.Body.Role.Rank() > p.Role.Rank() {
			return nil, huma.Error403Forbidden("a token's role cannot exceed the caller's", &huma.ErrorDetail{Location: "body.role", Message: "above " + string(p.Role), Value: in.Body.Role})
		}
		if in.Body.ExpiresAt != nil && !in.Body.ExpiresAt.After(time.Now()) {
			return nil, huma.Error422UnprocessableEntity("expiry in the past", &huma.ErrorDetail{Location: "body.expires_at", Message: "must be in the future", Value: in.Body.ExpiresAt})
		}
		t, tok, err := CreateAPIToken(ctx, s.store, p.UserID, in.Body.Name, in.Body.Role, in.Body.ExpiresAt)
		if err != nil {
			return nil, s.fail(ctx, err)
		}
		s.audit(ctx, &store.AuditEntry{Action: "token.create", Target: "token " + t.ID, After: auditJSON(t)})
		return &tokenCreateOut{Body: tokenCreated{APIToken: *t, Token: tok}}, nil
	})
	huma.Register(api, huma.Operation{
		OperationID: "list-tokens", Method: http.MethodGet, Path: "/api/v1/tokens", Tags: []string{"tokens"},
		Summary: "List the caller's API tokens, or everyone's with all=true (administrators)",
	}, func(ctx context.Context, in *tokensIn) (*tokensOut, error) {
		p := PrincipalFrom(ctx)
		if p == nil {
			return nil, errAuthOff
		}
		owner := p.UserID
		if in.All {
			if p.Role != store.RoleAdmin {
				return nil, huma.Error403Forbidden("only administrators list every user's tokens")
			}
			owner = ""
		}
		ts, err := s.store.APITokens(ctx, owner, in.page())
		if err != nil {
			return nil, s.fail(ctx, err)
		}
		return &tokensOut{Body: list(ts, in.PageIn)}, nil
	})
	huma.Register(api, huma.Operation{
		OperationID: "revoke-token", Method: http.MethodDelete, Path: "/api/v1/tokens/{id}", Tags: []string{"tokens"},
		Summary: "Revoke an API token (the caller's own, or any for administrators)", DefaultStatus: http.StatusNoContent,
	}, func(ctx context.Context, in *idPath) (*struct{}, error) {
		p := PrincipalFrom(ctx)
		if p == nil {
			return nil, errAuthOff
		}
		t, err := s.store.APIToken(ctx, in.ID)
		if err != nil {
			return nil, s.fail(ctx, err)
		}
		if t.UserID != p.UserID && p.Role != store.RoleAdmin {
			// Someone else's token: answer as if it did not exist.
			return nil, huma.Error404NotFound("api token " + in.ID + ": not found")
		}
		if err := s.store.RevokeAPIToken(ctx, t.ID); err != nil {
			return nil, s.fail(ctx, err)
		}
		s.audit(ctx, &store.AuditEntry{Action: "token.revoke", Target: "token " + t.ID, Before: auditJSON(t)})
		return nil, nil
	})
}

// CreateAPIToken stores a new API token of the user and returns it with
// the token itself, which is not kept.
func CreateAPIToken(ctx context.Context, st store.AuthStore, userID, name string, role store.Role, expires *time.Time) (*store.APIToken, string, error) {
	tok, hash := auth.NewToken(auth.PrefixAPIToken)
	t := &store.APIToken{UserID: userID, Name: name, Role: role, Hash: hash, Prefix: tok[:len(auth.PrefixAPIToken)+6], ExpiresAt: expires}
	if err := st.CreateAPIToken(ctx, t); err != nil {
		return nil, "", err
	}
	return t, tok, nil
}
