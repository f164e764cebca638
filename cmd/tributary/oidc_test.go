package main

import (
	"strings"
	"testing"
)

// TestOIDCFromEnv: single sign-on is off without an issuer, refuses
// partial or malformed settings naming the variable, and defaults the
// redirect URL to the public URL's callback.
func TestOIDCFromEnv(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		on   bool
		want string // part of the error; "" for none
	}{
		{"off", nil, false, ""},
		{"client without issuer", map[string]string{oidcClientIDEnv: "c"}, false, oidcIssuerEnv},
		{"minimal", map[string]string{oidcIssuerEnv: "https://idp.example.com", oidcClientIDEnv: "c"}, true, ""},
		{"full", map[string]string{oidcIssuerEnv: "https://idp.example.com", oidcClientIDEnv: "c", oidcClientSecretEnv: "s",
			oidcScopesEnv: "email, profile groups", oidcRoleClaimEnv: "groups", oidcRoleMapEnv: "eng=editor, ops = admin", oidcDefaultRoleEnv: "viewer"}, true, ""},
		{"no client id", map[string]string{oidcIssuerEnv: "https://idp.example.com"}, false, "client id"},
		{"bad issuer", map[string]string{oidcIssuerEnv: "idp.example.com", oidcClientIDEnv: "c"}, false, "issuer URL"},
		{"malformed map", map[string]string{oidcIssuerEnv: "https://idp.example.com", oidcClientIDEnv: "c", oidcRoleClaimEnv: "groups", oidcRoleMapEnv: "eng=editor,admin"}, false, `entry 2 "admin"`},
		{"unknown role", map[string]string{oidcIssuerEnv: "https://idp.example.com", oidcClientIDEnv: "c", oidcRoleClaimEnv: "groups", oidcRoleMapEnv: "eng=owner"}, false, "owner"},
		{"map without claim", map[string]string{oidcIssuerEnv: "https://idp.example.com", oidcClientIDEnv: "c", oidcRoleMapEnv: "eng=editor"}, false, "role claim"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, k := range []string{oidcIssuerEnv, oidcClientIDEnv, oidcClientSecretEnv, oidcRedirectURLEnv, oidcScopesEnv, oidcRoleClaimEnv, oidcRoleMapEnv, oidcDefaultRoleEnv} {
				t.Setenv(k, tc.env[k])
			}
			o, err := oidcFromEnv("https://tributary.example.com/")
			switch {
			case tc.want != "":
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("err = %v, want it to mention %s", err, tc.want)
				}
				return
			case err != nil:
				t.Fatal(err)
			case (o != nil) != tc.on:
				t.Fatalf("configured = %v, want %v", o != nil, tc.on)
			case o == nil:
				return
			}
			c := o.Config()
			if c.RedirectURL != "https://tributary.example.com/api/v1/auth/oidc/callback" {
				t.Fatalf("redirect URL %q", c.RedirectURL)
			}
			if tc.name == "full" {
				if got := strings.Join(c.Scopes, " "); got != "openid email profile groups" || c.RoleMap["eng"] != "editor" || c.RoleMap["ops"] != "admin" || len(c.RoleMap) != 2 || c.ClientSecret != "s" {
					t.Fatalf("settings: %+v", c)
				}
			}
		})
	}
}
