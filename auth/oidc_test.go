package auth

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestOIDCRole maps claims the way providers shape them: a string, a
// list, a nested list (realm_access.roles), absent or of another type.
func TestOIDCRole(t *testing.T) {
	o, err := NewOIDC(OIDCConfig{
		IssuerURL: "https://idp.example.com", ClientID: "c", RedirectURL: "https://t.example.com/api/v1/auth/oidc/callback",
		RoleClaim: "realm_access.roles", RoleMap: map[string]string{"data-eng": "editor", "platform": "admin", "analyst": "viewer"},
	})
	if err != nil {
		t.Fatal(err)
	}
	flat, err := NewOIDC(OIDCConfig{
		IssuerURL: "https://idp.example.com", ClientID: "c", RedirectURL: "https://t.example.com/cb",
		RoleClaim: "groups", RoleMap: map[string]string{"eng": "editor"}, DefaultRole: "editor",
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		o      *OIDC
		claims string
		want   string
	}{
		{"nested list, strongest wins", o, `{"realm_access":{"roles":["analyst","platform","data-eng"]}}`, "admin"},
		{"nested list, one value", o, `{"realm_access":{"roles":["data-eng"]}}`, "editor"},
		{"nested string", o, `{"realm_access":{"roles":"data-eng"}}`, "editor"},
		{"no value maps", o, `{"realm_access":{"roles":["other"]}}`, "viewer"},
		{"claim absent", o, `{"email":"a@example.com"}`, "viewer"},
		{"claim not an object on the path", o, `{"realm_access":"platform"}`, "viewer"},
		{"number values ignored", o, `{"realm_access":{"roles":[1,2]}}`, "viewer"},
		{"configured default", flat, `{"groups":["sales"]}`, "editor"},
		{"flat list", flat, `{"groups":["sales","eng"]}`, "editor"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var claims map[string]any
			if err := json.Unmarshal([]byte(tc.claims), &claims); err != nil {
				t.Fatal(err)
			}
			if got := tc.o.role(claims); got != tc.want {
				t.Fatalf("role(%s) = %q, want %q", tc.claims, got, tc.want)
			}
		})
	}
}

// TestOIDCConfig: bad settings are refused with what is wrong.
func TestOIDCConfig(t *testing.T) {
	ok := OIDCConfig{IssuerURL: "https://idp.example.com", ClientID: "c", RedirectURL: "https://t.example.com/cb"}
	for _, tc := range []struct {
		name string
		edit func(*OIDCConfig)
		want string
	}{
		{"no issuer", func(c *OIDCConfig) { c.IssuerURL = "" }, "issuer URL"},
		{"relative redirect", func(c *OIDCConfig) { c.RedirectURL = "/cb" }, "redirect URL"},
		{"no client", func(c *OIDCConfig) { c.ClientID = "" }, "client id"},
		{"unknown default role", func(c *OIDCConfig) { c.DefaultRole = "root" }, `default role "root"`},
		{"unknown mapped role", func(c *OIDCConfig) { c.RoleClaim = "groups"; c.RoleMap = map[string]string{"x": "owner"} }, `"x"="owner"`},
		{"map without claim", func(c *OIDCConfig) { c.RoleMap = map[string]string{"x": "admin"} }, "role claim"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := ok
			tc.edit(&c)
			_, err := NewOIDC(c)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to mention %s", err, tc.want)
			}
		})
	}
	o, err := NewOIDC(ok)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(o.cfg.Scopes, " "); got != "openid email profile" || o.cfg.DefaultRole != "viewer" {
		t.Fatalf("defaults: scopes %q, role %q", got, o.cfg.DefaultRole)
	}
}
