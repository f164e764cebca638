package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/tributary-data/tributary/secrets"
	"github.com/tributary-data/tributary/store"
)

// TestServeAuth: an empty store gets a setup token, printed; the signing
// key is derived from the secret key, so two servers sharing it agree;
// mail settings must be whole.
func TestServeAuth(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	t.Setenv(secrets.KeyEnv, "")
	t.Setenv(corsEnv, "https://a.example.com, https://b.example.com")
	st, err := store.Open(ctx, store.Options{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var out bytes.Buffer
	cfg, err := serveAuth(ctx, st, dir, "https://tributary.example.com", &out)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.SetupToken == "" || !strings.Contains(out.String(), cfg.SetupToken) || !cfg.SecureCookies || len(cfg.CORSOrigins) != 2 || len(cfg.SigningKey) != 32 {
		t.Fatalf("first start: %+v %q", cfg, out.String())
	}
	if err := st.CreateUser(ctx, &store.User{Email: "a@example.com", Role: store.RoleAdmin}); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	again, err := serveAuth(ctx, st, dir, "http://127.0.0.1:8080", &out)
	if err != nil {
		t.Fatal(err)
	}
	if again.SetupToken != "" || out.Len() != 0 || again.SecureCookies || !bytes.Equal(again.SigningKey, cfg.SigningKey) {
		t.Fatalf("with users: %+v %q", again, out.String())
	}
	t.Setenv(smtpAddrEnv, "127.0.0.1:25")
	if _, err := serveAuth(ctx, st, dir, "", &out); err == nil || !strings.Contains(err.Error(), smtpFromEnv) {
		t.Fatalf("SMTP without sender: %v", err)
	}
}
