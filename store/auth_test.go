package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tributary-data/tributary/store"
)

// TestSessionRotation: refresh tokens rotate once each; reuse revokes the
// session; idle and absolute timeouts end it.
func TestSessionRotation(t *testing.T) {
	each(t, func(t *testing.T, s store.Store) {
		ctx := context.Background()
		u := &store.User{Email: " Ann@Example.com ", Role: store.RoleEditor, PasswordHash: "h"}
		if err := s.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		if got, err := s.UserByEmail(ctx, "ANN@example.com"); err != nil || got.ID != u.ID || got.Email != "ann@example.com" {
			t.Fatalf("by e-mail: %v %v", got, err)
		}
		if err := s.CreateUser(ctx, &store.User{Email: "ann@example.com", Role: store.RoleViewer}); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("duplicate: %v", err)
		}
		start := time.Now()
		sess := &store.Session{UserID: u.ID, IP: "127.0.0.1", ExpiresAt: start.Add(time.Hour)}
		if err := s.CreateSession(ctx, sess, "r1"); err != nil {
			t.Fatal(err)
		}
		got, err := s.RotateRefreshToken(ctx, "r1", "r2", start.Add(time.Minute), 10*time.Minute)
		if err != nil || got.ID != sess.ID {
			t.Fatalf("rotate: %v %v", got, err)
		}
		if _, err := s.RotateRefreshToken(ctx, "unknown", "x", start.Add(time.Minute), 10*time.Minute); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("unknown token: %v", err)
		}
		// Idle for longer than the idle timeout.
		if _, err := s.RotateRefreshToken(ctx, "r2", "r3", start.Add(12*time.Minute), 10*time.Minute); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("idle session: %v", err)
		}
		if _, err := s.RotateRefreshToken(ctx, "r2", "r3", start.Add(5*time.Minute), 10*time.Minute); err != nil {
			t.Fatalf("rotate within idle: %v", err)
		}
		if _, err := s.RotateRefreshToken(ctx, "r1", "r9", start.Add(6*time.Minute), 10*time.Minute); !errors.Is(err, store.ErrTokenReused) {
			t.Fatalf("reuse: %v", err)
		}
		if _, err := s.RotateRefreshToken(ctx, "r3", "r4", start.Add(7*time.Minute), 10*time.Minute); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("after reuse the family is revoked: %v", err)
		}
		if ss, err := s.Sessions(ctx, u.ID); err != nil || len(ss) != 0 {
			t.Fatalf("live sessions after reuse: %v %v", ss, err)
		}

		short := &store.Session{UserID: u.ID, ExpiresAt: start.Add(time.Minute)}
		if err := s.CreateSession(ctx, short, "s1"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.RotateRefreshToken(ctx, "s1", "s2", start.Add(2*time.Minute), time.Hour); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("past the absolute timeout: %v", err)
		}

		tok := &store.OneTimeToken{Hash: "o1", UserID: u.ID, Purpose: "password_reset", ExpiresAt: start.Add(time.Hour)}
		if err := s.CreateOneTimeToken(ctx, tok); err != nil {
			t.Fatal(err)
		}
		if _, err := s.UseOneTimeToken(ctx, "o1", "email_verification", start); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("other purpose: %v", err)
		}
		if _, err := s.UseOneTimeToken(ctx, "o1", "password_reset", start.Add(2*time.Hour)); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("expired: %v", err)
		}
		if uid, err := s.UseOneTimeToken(ctx, "o1", "password_reset", start); err != nil || uid != u.ID {
			t.Fatalf("use: %v %v", uid, err)
		}
		if _, err := s.UseOneTimeToken(ctx, "o1", "password_reset", start); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("second use: %v", err)
		}

		if err := s.AppendAudit(ctx, &store.AuditEntry{Actor: "ann@example.com", IP: "127.0.0.1", Action: "login", Target: "user " + u.ID}); err != nil {
			t.Fatal(err)
		}
		if err := s.AppendAudit(ctx, &store.AuditEntry{Actor: "ann@example.com", IP: "127.0.0.1", Action: "POST create-connection", Target: "/api/v1/connections%_", After: []byte(`{"a":1}`)}); err != nil {
			t.Fatal(err)
		}
		es, err := s.AuditEntries(ctx, store.AuditFilter{Target: "/api/v1/connections%"}, store.Page{})
		if err != nil || len(es) != 1 || string(es[0].After) == "" {
			t.Fatalf("audit by target prefix: %v %v", es, err)
		}
		if es, _ := s.AuditEntries(ctx, store.AuditFilter{Target: "/api/v1/x%"}, store.Page{}); len(es) != 0 {
			t.Fatalf("wildcards in a target filter matched: %v", es)
		}

		if err := s.DeleteUser(ctx, u.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Session(ctx, sess.ID); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("session of a deleted user: %v", err)
		}
	})
}
