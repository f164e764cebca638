package e2e

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tributary-data/tributary/secrets"
	"github.com/tributary-data/tributary/store"
)

// TestUsersAndTokensCLI: the acceptance contract of the first
// administrator, then users list and an API token printed once.
func TestUsersAndTokensCLI(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "tributary-data")
	r := tributary(t, dir, nil, "users", "create", "--admin", "--email", "admin@example.com", "--password", "S3cure-enough!", "--data", data)
	if r.code != 0 {
		t.Fatalf("users create: %d %s", r.code, r.stderr)
	}
	mustContain(t, "users create", r.stdout, "admin@example.com (admin)")
	if r := tributary(t, dir, nil, "users", "create", "--admin", "--email", "admin@example.com", "--password", "S3cure-enough!", "--data", data); r.code == 0 || !strings.Contains(r.stderr, "already exists") {
		t.Fatalf("duplicate user: %d %s", r.code, r.stderr)
	}
	if r := tributary(t, dir, nil, "users", "create", "--email", "weak@example.com", "--password", "password", "--data", data); r.code == 0 || !strings.Contains(r.stderr, "--password: password must have at least 12 characters") {
		t.Fatalf("weak password: %d %s", r.code, r.stderr)
	}
	cmd := tributaryStdin(t, dir, "An0ther-good-one\n", "users", "create", "--email", "ann@example.com", "--role", "editor", "--data", data)
	if cmd.code != 0 {
		t.Fatalf("password from stdin: %d %s", cmd.code, cmd.stderr)
	}
	l := tributary(t, dir, nil, "users", "list", "--data", data)
	mustContain(t, "users list", l.stdout, "admin@example.com", "admin", "ann@example.com", "editor", "never")
	if strings.Contains(l.stdout, "argon2") {
		t.Fatalf("users list shows a hash: %s", l.stdout)
	}
	if r := tributary(t, dir, nil, "tokens", "create", "--email", "ann@example.com", "--name", "ci", "--role", "admin", "--data", data); r.code == 0 || !strings.Contains(r.stderr, "above the user's role") {
		t.Fatalf("token above the role: %d %s", r.code, r.stderr)
	}
	tok := tributary(t, dir, nil, "tokens", "create", "--email", "ann@example.com", "--name", "ci", "--role", "viewer", "--expires", "24h", "--data", data)
	if tok.code != 0 || !strings.HasPrefix(tok.stdout, "trb_") {
		t.Fatalf("tokens create: %d %q %s", tok.code, tok.stdout, tok.stderr)
	}
	list := tributary(t, dir, nil, "tokens", "list", "--email", "ann@example.com", "--data", data)
	mustContain(t, "tokens list", list.stdout, "ci", "viewer", "active", "never")
	if strings.Contains(list.stdout, strings.TrimSpace(tok.stdout)) {
		t.Fatal("tokens list shows the token")
	}
	id := strings.Fields(strings.Split(list.stdout, "\n")[1])[0]
	if r := tributary(t, dir, nil, "tokens", "revoke", id, "--data", data); r.code != 0 {
		t.Fatalf("tokens revoke: %d %s", r.code, r.stderr)
	}
	mustContain(t, "tokens list after revoke", tributary(t, dir, nil, "tokens", "list", "--data", data).stdout, "revoked")
	if r := tributary(t, dir, nil, "tokens", "revoke", id, "--data", data); r.code == 0 || !strings.Contains(r.stderr, "not found") {
		t.Fatalf("second revoke: %d %s", r.code, r.stderr)
	}
	raw := storeBytes(t, data)
	if bytes.Contains(raw, []byte(strings.TrimSpace(tok.stdout))) || bytes.Contains(raw, []byte("S3cure-enough!")) {
		t.Fatal("token or password stored in the clear")
	}
}

func tributaryStdin(t *testing.T, dir, stdin string, args ...string) result {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return r
}

func storeBytes(t *testing.T, data string) []byte {
	t.Helper()
	var all []byte
	for _, f := range []string{"tributary.db", "tributary.db-wal"} {
		b, err := os.ReadFile(filepath.Join(data, f))
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		all = append(all, b...)
	}
	return all
}

// TestSecretsEncryptedAtRest: a connection's password given to the API is
// encrypted in the store file, never answered nor logged, and survives
// `tributary secrets rotate-key`.
func TestSecretsEncryptedAtRest(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "tributary-data")
	const secret = "Pg-pass-9f3b-never-shown"
	url := "postgres://app:" + secret + "@127.0.0.1:1/app"
	env := []string{secrets.KeyEnv + "="}
	t.Run("serve", func(t *testing.T) {
		s := serve(t, dir, env)
		var c map[string]any
		s.json(201, "POST", "/api/v1/connections", map[string]any{"name": "wh", "connector": "postgres", "config": map[string]any{"url": url}}, &c)
		for _, path := range []string{"/api/v1/connections", "/api/v1/connections/" + c["id"].(string)} {
			_, _, b := s.call("GET", path, nil)
			if bytes.Contains(b, []byte(secret)) {
				t.Fatalf("GET %s answers the secret", path)
			}
		}
		if strings.Contains(s.logs.String(), secret) {
			t.Fatal("the server logged the secret")
		}
	})
	fi, err := os.Stat(filepath.Join(data, secrets.KeyFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", fi, err)
	}
	if bytes.Contains(storeBytes(t, data), []byte(secret)) {
		t.Fatal("secret in the store file")
	}
	before, err := os.ReadFile(filepath.Join(data, secrets.KeyFile))
	if err != nil {
		t.Fatal(err)
	}
	r := tributary(t, dir, env, "secrets", "rotate-key", "--data", data)
	if r.code != 0 {
		t.Fatalf("rotate-key: %d %s", r.code, r.stderr)
	}
	mustContain(t, "rotate-key", r.stdout, "re-encrypted 1 records")
	after, err := os.ReadFile(filepath.Join(data, secrets.KeyFile))
	if err != nil || bytes.Equal(before, after) {
		t.Fatalf("key file unchanged after rotation (%v)", err)
	}
	keys, err := secrets.Load(data)
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(context.Background(), store.Options{DataDir: data, Secrets: secrets.Sealer{Keys: keys}})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	c, err := st.ConnectionByName(context.Background(), "wh")
	if err != nil || c.Config["url"] != url {
		t.Fatalf("connection after rotation: %v", err)
	}
}
