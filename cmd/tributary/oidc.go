package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/tributary-data/tributary/auth"
)

// Environment of single sign-on. The client secret comes only from the
// environment: a flag would show it in the process list.
const (
	oidcIssuerEnv       = "TRIBUTARY_OIDC_ISSUER"
	oidcClientIDEnv     = "TRIBUTARY_OIDC_CLIENT_ID"
	oidcClientSecretEnv = "TRIBUTARY_OIDC_CLIENT_SECRET"
	oidcRedirectURLEnv  = "TRIBUTARY_OIDC_REDIRECT_URL"
	oidcScopesEnv       = "TRIBUTARY_OIDC_SCOPES"
	oidcRoleClaimEnv    = "TRIBUTARY_OIDC_ROLE_CLAIM"
	oidcRoleMapEnv      = "TRIBUTARY_OIDC_ROLE_MAP"
	oidcDefaultRoleEnv  = "TRIBUTARY_OIDC_DEFAULT_ROLE"
)

// oidcFromEnv is the single sign-on provider of `tributary serve`, nil
// when TRIBUTARY_OIDC_ISSUER is unset. The redirect URL defaults to the
// callback under publicURL.
func oidcFromEnv(publicURL string) (*auth.OIDC, error) {
	issuer := os.Getenv(oidcIssuerEnv)
	if issuer == "" {
		for _, k := range []string{oidcClientIDEnv, oidcClientSecretEnv, oidcRoleClaimEnv, oidcRoleMapEnv} {
			if os.Getenv(k) != "" {
				return nil, fmt.Errorf("%s is set but %s is not", k, oidcIssuerEnv)
			}
		}
		return nil, nil
	}
	cfg := auth.OIDCConfig{
		IssuerURL:    issuer,
		ClientID:     os.Getenv(oidcClientIDEnv),
		ClientSecret: os.Getenv(oidcClientSecretEnv),
		RedirectURL:  os.Getenv(oidcRedirectURLEnv),
		Scopes:       strings.FieldsFunc(os.Getenv(oidcScopesEnv), func(r rune) bool { return r == ',' || r == ' ' }),
		RoleClaim:    os.Getenv(oidcRoleClaimEnv),
		DefaultRole:  os.Getenv(oidcDefaultRoleEnv),
	}
	if cfg.RedirectURL == "" {
		cfg.RedirectURL = strings.TrimRight(publicURL, "/") + "/api/v1/auth/oidc/callback"
	}
	for i, pair := range strings.Split(os.Getenv(oidcRoleMapEnv), ",") {
		if pair = strings.TrimSpace(pair); pair == "" {
			continue
		}
		value, role, ok := strings.Cut(pair, "=")
		if !ok || strings.TrimSpace(value) == "" {
			return nil, fmt.Errorf("%s: entry %d %q: want claim-value=role", oidcRoleMapEnv, i+1, pair)
		}
		if cfg.RoleMap == nil {
			cfg.RoleMap = map[string]string{}
		}
		cfg.RoleMap[strings.TrimSpace(value)] = strings.TrimSpace(role)
	}
	o, err := auth.NewOIDC(cfg)
	if err != nil {
		return nil, fmt.Errorf("single sign-on settings TRIBUTARY_OIDC_*: %w", err)
	}
	return o, nil
}
