package secrets_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	_ "github.com/tributary-data/tributary/connectors/all"
	"github.com/tributary-data/tributary/secrets"
	"github.com/tributary-data/tributary/store"
	"github.com/tributary-data/tributary/store/storetest"
)

const (
	dbSecret   = "Sup3r-S3cret-DB-pass"
	hookSecret = "hmac-key-that-must-stay-hidden"
)

// TestSecretsAtRest: secret fields are encrypted in the store, read back
// plain, survive a key rotation, and never show in the database.
func TestSecretsAtRest(t *testing.T) {
	for _, kind := range []string{"sqlite", "postgres"} {
		t.Run(kind, func(t *testing.T) {
			t.Setenv(secrets.KeyEnv, "")
			ctx := context.Background()
			dir := t.TempDir()
			kr, err := secrets.Load(dir)
			if err != nil {
				t.Fatal(err)
			}
			fi, err := os.Stat(filepath.Join(dir, secrets.KeyFile))
			if err != nil || fi.Mode().Perm() != 0o600 {
				t.Fatalf("key file: %v %v", fi, err)
			}
			opts := store.Options{DataDir: dir, Secrets: secrets.Sealer{Keys: kr}}
			if kind == "postgres" {
				opts.DatabaseURL = storetest.PostgresSchema(t)
			}
			st, err := store.Open(ctx, opts)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			url := "postgres://app:" + dbSecret + "@db.example.com/app"
			c := &store.Connection{Name: "warehouse", Connector: "postgres", Config: map[string]any{"url": url}}
			if err := st.CreateConnection(ctx, c); err != nil {
				t.Fatal(err)
			}
			if c.Config["url"] != url {
				t.Fatalf("caller's config changed: %v", c.Config)
			}
			ch := &store.AlertChannel{Name: "hook", Type: "webhook", Config: map[string]any{"url": "https://hooks.example.com/x", "secret": hookSecret}}
			if err := st.CreateAlertChannel(ctx, ch); err != nil {
				t.Fatal(err)
			}
			check := func(when string) {
				t.Helper()
				got, err := st.Connection(ctx, c.ID)
				if err != nil || got.Config["url"] != url {
					t.Fatalf("%s: connection %v %v", when, got, err)
				}
				byName, err := st.ConnectionByName(ctx, "warehouse")
				if err != nil || byName.Config["url"] != url {
					t.Fatalf("%s: connection by name %v %v", when, byName, err)
				}
				all, err := st.Connections(ctx, store.Page{})
				if err != nil || all[0].Config["url"] != url {
					t.Fatalf("%s: connections %v %v", when, all, err)
				}
				gch, err := st.AlertChannel(ctx, ch.ID)
				if err != nil || gch.Config["secret"] != hookSecret || gch.Config["url"] != "https://hooks.example.com/x" {
					t.Fatalf("%s: channel %v %v", when, gch, err)
				}
				raw := rawConfigs(t, st, kind, dir)
				for _, secret := range []string{dbSecret, hookSecret} {
					if bytes.Contains(raw, []byte(secret)) {
						t.Fatalf("%s: %q stored in the clear", when, secret)
					}
				}
				if !bytes.Contains(raw, []byte("enc:v1:"+kr.CurrentID()+":")) {
					t.Fatalf("%s: no value under the current key %s", when, kr.CurrentID())
				}
			}
			check("after create")

			old := kr.CurrentID()
			if err := kr.Rotate(); err != nil {
				t.Fatal(err)
			}
			if kr.CurrentID() == old {
				t.Fatal("rotation kept the key")
			}
			n, err := secrets.Reencrypt(ctx, st)
			if err != nil || n != 2 {
				t.Fatalf("reencrypt: %d %v", n, err)
			}
			if err := kr.DropOld(); err != nil {
				t.Fatal(err)
			}
			check("after rotation")
			// SQLite's WAL keeps old page images until a checkpoint, so only
			// the rows themselves are checked for leftovers.
			if raw := rawConfigs(t, st, "rows", dir); bytes.Contains(raw, []byte("enc:v1:"+old)) {
				t.Fatal("values left under the old key")
			}

			// Another key cannot read, and says so without the value.
			t.Setenv(secrets.KeyEnv, strings.Repeat("ab", 32))
			other, err := secrets.Load(dir)
			if err != nil {
				t.Fatal(err)
			}
			opts.Secrets = secrets.Sealer{Keys: other}
			st2, err := store.Open(ctx, opts)
			if err != nil {
				t.Fatal(err)
			}
			defer st2.Close()
			_, err = st2.Connection(ctx, c.ID)
			if err == nil || !strings.Contains(err.Error(), "not configured") || strings.Contains(err.Error(), dbSecret) {
				t.Fatalf("read with another key: %v", err)
			}
		})
	}
}

// rawConfigs is every byte of the stored configs: the SQLite files, or
// the rows of the configs (PostgreSQL, or kind "rows").
func rawConfigs(t *testing.T, st store.Store, kind, dir string) []byte {
	t.Helper()
	if kind == "sqlite" {
		var all []byte
		for _, f := range []string{"tributary.db", "tributary.db-wal"} {
			b, err := os.ReadFile(filepath.Join(dir, f))
			if err != nil && !os.IsNotExist(err) {
				t.Fatal(err)
			}
			all = append(all, b...)
		}
		return all
	}
	db := st.(interface{ DB() *sql.DB }).DB()
	var out []byte
	for _, q := range []string{`SELECT CAST(config AS TEXT) FROM connections`, `SELECT CAST(config AS TEXT) FROM alert_channels`} {
		rows, err := db.Query(q)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				t.Fatal(err)
			}
			out = append(out, s...)
		}
		rows.Close()
	}
	return out
}

// TestKeyringRejects: bad keys and tampered ciphertexts are errors.
func TestKeyringRejects(t *testing.T) {
	if _, err := secrets.NewKeyring([]byte("short")); err == nil {
		t.Error("short key accepted")
	}
	t.Setenv(secrets.KeyEnv, "not-a-key")
	if _, err := secrets.Load(t.TempDir()); err == nil || !strings.Contains(err.Error(), secrets.KeyEnv) {
		t.Errorf("bad env key: %v", err)
	}
	kr, err := secrets.NewKeyring(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	enc, err := kr.Encrypt("password", "hunter2-hunter2")
	if err != nil {
		t.Fatal(err)
	}
	if v, err := kr.Decrypt("password", enc); err != nil || v != "hunter2-hunter2" {
		t.Fatalf("round trip: %v %v", v, err)
	}
	for name, c := range map[string][2]string{
		"other field": {"url", enc},
		"tampered":    {"password", enc[:len(enc)-2] + "AA"},
		"truncated":   {"password", enc[:20]},
	} {
		if _, err := kr.Decrypt(c[0], c[1]); err == nil {
			t.Errorf("%s: decrypted", name)
		}
	}
	dir := t.TempDir()
	t.Setenv(secrets.KeyEnv, "")
	if _, err := secrets.Load(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(dir, secrets.KeyFile), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := secrets.Load(dir); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("world-readable key file: %v", err)
	}
}

// TestLoadShared: a store several hosts share never gets a key generated
// by one of them.
func TestLoadShared(t *testing.T) {
	withFile := t.TempDir()
	if _, err := secrets.Load(withFile); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, env, dir string
		ok             bool
	}{
		{"key in the environment", "dHJpYnV0YXJ5LWUyZS1zZWNyZXQta2V5LTMyYnl0ZXM=", t.TempDir(), true},
		{"existing key file", "", withFile, true},
		{"neither", "", t.TempDir(), false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Setenv(secrets.KeyEnv, c.env)
			_, err := secrets.LoadShared(c.dir)
			if c.ok != (err == nil) {
				t.Fatalf("err = %v", err)
			}
			if !c.ok {
				if !errors.Is(err, secrets.ErrNoSharedKey) {
					t.Fatalf("err = %v, want ErrNoSharedKey", err)
				}
				if _, err := os.Stat(filepath.Join(c.dir, secrets.KeyFile)); !errors.Is(err, os.ErrNotExist) {
					t.Fatalf("a key file was generated: %v", err)
				}
			}
		})
	}
}
