package api

import (
	"context"
	"crypto/subtle"
	"net/http"
	"strings"

	"github.com/danielgtaylor/huma/v2"

	"github.com/tributary-data/tributary/auth"
	"github.com/tributary-data/tributary/store"
)

type userCreateIn struct {
	Body struct {
		Email    string     `json:"email" format:"email" maxLength:"320"`
		Name     string     `json:"name,omitempty" maxLength:"200"`
		Role     store.Role `json:"role" enum:"viewer,editor,admin"`
		Password string     `json:"password" maxLength:"256" doc:"At least 12 characters mixing three of lower case, upper case, digits and other characters"`
	}
}

type userUpdateIn struct {
	ID   string `path:"id"`
	Body struct {
		Email    *string     `json:"email,omitempty" format:"email" maxLength:"320"`
		Name     *string     `json:"name,omitempty" maxLength:"200"`
		Role     *store.Role `json:"role,omitempty" enum:"viewer,editor,admin"`
		Disabled *bool       `json:"disabled,omitempty" doc:"A disabled user cannot log in; its sessions end"`
		Password *string     `json:"password,omitempty" maxLength:"256" doc:"Sets a new password; the user's sessions end"`
	}
}

type userOut struct{ Body store.User }

type setupIn struct {
	Body struct {
		SetupToken string `json:"setup_token" maxLength:"200" doc:"The token the server printed in its log at start"`
		Email      string `json:"email" format:"email" maxLength:"320"`
		Name       string `json:"name,omitempty" maxLength:"200"`
		Password   string `json:"password" maxLength:"256"`
	}
}

type usersOut struct{ Body List[store.User] }

type meUpdateIn struct {
	Body struct {
		Name string `json:"name" maxLength:"200"`
	}
}

type passwordIn struct {
	Body struct {
		Current string `json:"current_password" maxLength:"256"`
		New     string `json:"new_password" maxLength:"256"`
	}
}

type sessionsOut struct {
	Body struct {
		Items []store.Session `json:"items"`
	}
}

type sessionPath struct {
	ID string `path:"id"`
}

// users registers user administration and the caller's own account.
func (s *server) users(api huma.API) {
	huma.Register(api, huma.Operation{
		OperationID: "setup", Method: http.MethodPost, Path: "/api/v1/setup", Tags: []string{"users"},
		Summary: "Create the first administrator of an empty store", DefaultStatus: http.StatusCreated,
		Description: "Needs the setup token the server prints in its log when it starts without users. Once a user exists it answers 409.",
	}, func(ctx context.Context, in *setupIn) (*userOut, error) {
		if s.sec == nil || s.sec.cfg.SetupToken == "" {
			return nil, huma.Error404NotFound("setup is not offered by this server")
		}
		if subtle.ConstantTimeCompare([]byte(in.Body.SetupToken), []byte(s.sec.cfg.SetupToken)) != 1 {
			s.audit(ctx, &store.AuditEntry{Actor: in.Body.Email, Action: "setup_failed", Target: "setup"})
			return nil, huma.Error403Forbidden("wrong setup token", &huma.ErrorDetail{Location: "body.setup_token", Message: "does not match the token in the server log"})
		}
		s.sec.setupMu.Lock()
		defer s.sec.setupMu.Unlock()
		n, err := s.store.CountUsers(ctx)
		if err != nil {
			return nil, s.fail(ctx, err)
		}
		if n > 0 {
			return nil, huma.Error409Conflict("the server has users already; ask an administrator")
		}
		if err := auth.CheckPasswordStrength(in.Body.Password, in.Body.Email); err != nil {
			return nil, huma.Error422UnprocessableEntity("weak password", &huma.ErrorDetail{Location: "body.password", Message: err.Error()})
		}
		hash, err := auth.HashPassword(in.Body.Password)
		if err != nil {
			return nil, s.fail(ctx, err)
		}
		u := &store.User{Email: in.Body.Email, Name: in.Body.Name, Role: store.RoleAdmin, PasswordHash: hash}
		if err := s.store.CreateUser(ctx, u); err != nil {
			return nil, s.fail(ctx, err)
		}
		s.audit(ctx, &store.AuditEntry{Actor: u.Email, ActorID: u.ID, Action: "setup", Target: "user " + u.ID, After: auditJSON(u)})
		return &userOut{Body: *u}, nil
	})
	huma.Register(api, huma.Operation{
		OperationID: "create-user", Method: http.MethodPost, Path: "/api/v1/users", Tags: []string{"users"},
		Summary: "Create a user", DefaultStatus: http.StatusCreated,
	}, func(ctx context.Context, in *userCreateIn) (*userOut, error) {
		if err := auth.CheckPasswordStrength(in.Body.Password, in.Body.Email); err != nil {
			return nil, huma.Error422UnprocessableEntity("weak password", &huma.ErrorDetail{Location: "body.password", Message: err.Error()})
		}
		hash, err := auth.HashPassword(in.Body.Password)
		if err != nil {
			return nil, s.fail(ctx, err)
		}
		u := &store.User{Email: in.Body.Email, Name: in.Body.Name, Role: in.Body.Role, PasswordHash: hash}
		if err := s.store.CreateUser(ctx, u); err != nil {
			return nil, s.fail(ctx, err)
		}
		s.audit(ctx, &store.AuditEntry{Action: "user.create", Target: "user " + u.ID, After: auditJSON(u)})
		return &userOut{Body: *u}, nil
	})
	huma.Register(api, huma.Operation{
		OperationID: "list-users", Method: http.MethodGet, Path: "/api/v1/users", Tags: []string{"users"},
		Summary: "List users by e-mail address",
	}, func(ctx context.Context, in *PageIn) (*usersOut, error) {
		us, err := s.store.Users(ctx, in.page())
		if err != nil {
			return nil, s.fail(ctx, err)
		}
		return &usersOut{Body: list(us, *in)}, nil
	})
	huma.Register(api, huma.Operation{
		OperationID: "get-user", Method: http.MethodGet, Path: "/api/v1/users/{id}", Tags: []string{"users"},
		Summary: "Get a user",
	}, func(ctx context.Context, in *idPath) (*userOut, error) {
		u, err := s.store.User(ctx, in.ID)
		if err != nil {
			return nil, s.fail(ctx, err)
		}
		return &userOut{Body: *u}, nil
	})
	huma.Register(api, huma.Operation{
		OperationID: "update-user", Method: http.MethodPatch, Path: "/api/v1/users/{id}", Tags: []string{"users"},
		Summary: "Change a user's address, name, role, password or disabled state",
		Description: "Disabling a user or setting its password ends its sessions. An administrator cannot lower its own role or disable itself, " +
			"so a server always keeps one.",
	}, func(ctx context.Context, in *userUpdateIn) (*userOut, error) {
		u, err := s.store.User(ctx, in.ID)
		if err != nil {
			return nil, s.fail(ctx, err)
		}
		before := *u
		self := PrincipalFrom(ctx) != nil && PrincipalFrom(ctx).UserID == u.ID
		b := in.Body
		if b.Email != nil {
			u.Email = *b.Email
		}
		if b.Name != nil {
			u.Name = *b.Name
		}
		if b.Role != nil {
			if self && *b.Role != store.RoleAdmin {
				return nil, huma.Error409Conflict("an administrator cannot lower its own role")
			}
			u.Role = *b.Role
		}
		if b.Disabled != nil {
			if self && *b.Disabled {
				return nil, huma.Error409Conflict("an administrator cannot disable itself")
			}
			u.Disabled = *b.Disabled
		}
		if b.Password != nil {
			if err := s.setPassword(ctx, u, *b.Password, "body.password"); err != nil {
				return nil, err
			}
		}
		if err := s.store.UpdateUser(ctx, u); err != nil {
			return nil, s.fail(ctx, err)
		}
		if u.Disabled || b.Password != nil {
			if _, err := s.store.RevokeSessions(ctx, u.ID); err != nil {
				return nil, s.fail(ctx, err)
			}
		}
		action := "user.update"
		if before.Role != u.Role {
			action = "user.role_change"
		}
		s.audit(ctx, &store.AuditEntry{Action: action, Target: "user " + u.ID, Before: auditJSON(before), After: auditJSON(u)})
		return &userOut{Body: *u}, nil
	})
	huma.Register(api, huma.Operation{
		OperationID: "delete-user", Method: http.MethodDelete, Path: "/api/v1/users/{id}", Tags: []string{"users"},
		Summary: "Delete a user with its sessions and API tokens", DefaultStatus: http.StatusNoContent,
	}, func(ctx context.Context, in *idPath) (*struct{}, error) {
		if p := PrincipalFrom(ctx); p != nil && p.UserID == in.ID {
			return nil, huma.Error409Conflict("an administrator cannot delete itself")
		}
		u, err := s.store.User(ctx, in.ID)
		if err != nil {
			return nil, s.fail(ctx, err)
		}
		if err := s.store.DeleteUser(ctx, in.ID); err != nil {
			return nil, s.fail(ctx, err)
		}
		s.audit(ctx, &store.AuditEntry{Action: "user.delete", Target: "user " + u.ID, Before: auditJSON(u)})
		return nil, nil
	})

	huma.Register(api, huma.Operation{
		OperationID: "get-me", Method: http.MethodGet, Path: "/api/v1/me", Tags: []string{"users"},
		Summary: "The caller's own account",
	}, func(ctx context.Context, _ *struct{}) (*userOut, error) {
		u, err := s.me(ctx)
		if err != nil {
			return nil, err
		}
		return &userOut{Body: *u}, nil
	})
	huma.Register(api, huma.Operation{
		OperationID: "update-me", Method: http.MethodPatch, Path: "/api/v1/me", Tags: []string{"users"},
		Summary: "Change the caller's display name",
	}, func(ctx context.Context, in *meUpdateIn) (*userOut, error) {
		u, err := s.me(ctx)
		if err != nil {
			return nil, err
		}
		before := *u
		u.Name = strings.TrimSpace(in.Body.Name)
		if err := s.store.UpdateUser(ctx, u); err != nil {
			return nil, s.fail(ctx, err)
		}
		s.audit(ctx, &store.AuditEntry{Action: "profile.update", Target: "user " + u.ID, Before: auditJSON(before), After: auditJSON(u)})
		return &userOut{Body: *u}, nil
	})
	huma.Register(api, huma.Operation{
		OperationID: "change-password", Method: http.MethodPost, Path: "/api/v1/me/password", Tags: []string{"users"},
		Summary: "Change the caller's password", DefaultStatus: http.StatusNoContent,
		Description: "Needs the current password. Every other session of the caller ends.",
	}, func(ctx context.Context, in *passwordIn) (*struct{}, error) {
		u, err := s.me(ctx)
		if err != nil {
			return nil, err
		}
		if err := auth.VerifyPassword(u.PasswordHash, in.Body.Current); err != nil {
			s.audit(ctx, &store.AuditEntry{Action: "password_change_failed", Target: "user " + u.ID})
			return nil, huma.Error403Forbidden("wrong current password", &huma.ErrorDetail{Location: "body.current_password", Message: "does not match"})
		}
		if err := s.setPassword(ctx, u, in.Body.New, "body.new_password"); err != nil {
			return nil, err
		}
		p := PrincipalFrom(ctx)
		ss, err := s.store.Sessions(ctx, u.ID)
		if err != nil {
			return nil, s.fail(ctx, err)
		}
		for _, ses := range ss {
			if ses.ID != p.SessionID {
				_ = s.store.RevokeSession(ctx, u.ID, ses.ID)
			}
		}
		s.audit(ctx, &store.AuditEntry{Action: "password_change", Target: "user " + u.ID})
		return nil, nil
	})
	huma.Register(api, huma.Operation{
		OperationID: "list-my-sessions", Method: http.MethodGet, Path: "/api/v1/me/sessions", Tags: []string{"users"},
		Summary: "The caller's live sessions, newest first",
	}, func(ctx context.Context, _ *struct{}) (*sessionsOut, error) {
		u, err := s.me(ctx)
		if err != nil {
			return nil, err
		}
		ss, err := s.store.Sessions(ctx, u.ID)
		if err != nil {
			return nil, s.fail(ctx, err)
		}
		out := &sessionsOut{}
		out.Body.Items = ss
		return out, nil
	})
	huma.Register(api, huma.Operation{
		OperationID: "revoke-my-session", Method: http.MethodDelete, Path: "/api/v1/me/sessions/{id}", Tags: []string{"users"},
		Summary: "End one of the caller's sessions", DefaultStatus: http.StatusNoContent,
	}, func(ctx context.Context, in *sessionPath) (*struct{}, error) {
		u, err := s.me(ctx)
		if err != nil {
			return nil, err
		}
		if err := s.store.RevokeSession(ctx, u.ID, in.ID); err != nil {
			return nil, s.fail(ctx, err)
		}
		s.audit(ctx, &store.AuditEntry{Action: "session.revoke", Target: "session " + in.ID})
		return nil, nil
	})
}

// me is the caller's user record.
func (s *server) me(ctx context.Context) (*store.User, error) {
	p := PrincipalFrom(ctx)
	if p == nil {
		return nil, errAuthOff
	}
	u, err := s.store.User(ctx, p.UserID)
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	return u, nil
}
