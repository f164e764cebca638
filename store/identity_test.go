package store_test

import (
	"context"
	"errors"
	"testing"

	"github.com/tributary-data/tributary/store"
)

// TestUserIdentities: a provider's subject finds its user, links once,
// is told apart by issuer and goes with the user when it is deleted.
func TestUserIdentities(t *testing.T) {
	each(t, func(t *testing.T, s store.Store) {
		ctx := context.Background()
		u := &store.User{Email: "sso@example.com", Role: store.RoleViewer}
		if err := s.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		const iss = "https://idp.example.com"
		if _, err := s.UserByIdentity(ctx, iss, "sub-1"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("unlinked subject: %v", err)
		}
		if err := s.LinkIdentity(ctx, u.ID, iss, "sub-1"); err != nil {
			t.Fatal(err)
		}
		if got, err := s.UserByIdentity(ctx, iss, "sub-1"); err != nil || got.ID != u.ID || got.Email != u.Email {
			t.Fatalf("linked subject: %+v %v", got, err)
		}
		if _, err := s.UserByIdentity(ctx, "https://other.example.com", "sub-1"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("same subject of another issuer: %v", err)
		}
		other := &store.User{Email: "other@example.com", Role: store.RoleViewer}
		if err := s.CreateUser(ctx, other); err != nil {
			t.Fatal(err)
		}
		if err := s.LinkIdentity(ctx, other.ID, iss, "sub-1"); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("subject linked twice: %v", err)
		}
		if err := s.DeleteUser(ctx, u.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := s.UserByIdentity(ctx, iss, "sub-1"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("subject of a deleted user: %v", err)
		}
		if err := s.LinkIdentity(ctx, other.ID, iss, "sub-1"); err != nil {
			t.Fatalf("relink after delete: %v", err)
		}
	})
}
