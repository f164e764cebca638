package api_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tributary-data/tributary/api"
	"github.com/tributary-data/tributary/auth"
	"github.com/tributary-data/tributary/jobs"
	"github.com/tributary-data/tributary/secrets"
	"github.com/tributary-data/tributary/store"
)

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestSecretNeverShown: a connection's password, stored encrypted, is
// used by a run that fails on it, and appears in no API answer, run log,
// run error, audit entry, server log or store file.
func TestSecretNeverShown(t *testing.T) {
	const secret = "Leak-canary-7c1d-pass"
	ctx := context.Background()
	dir := t.TempDir()
	t.Setenv(secrets.KeyEnv, "")
	keys, err := secrets.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	s, err := store.Open(ctx, store.Options{DataDir: dir, Secrets: secrets.Sealer{Keys: keys}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	logs := &syncBuffer{}
	logger := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	reg := prometheus.NewRegistry()
	runner := &jobs.Runner{Store: s, DataDir: dir, Metrics: jobs.NewMetrics(reg), Logger: logger}
	q, err := jobs.NewQueue(ctx, s, runner, jobs.Options{Workers: 1, PollInterval: 50 * time.Millisecond, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		q.Stop(ctx)
		q.Close()
	}()
	srv := httptest.NewServer(api.New(api.Config{Store: s, Queue: q, Gatherer: reg, Logger: logger, DataDir: dir, Auth: &api.AuthConfig{SigningKey: testKey}}))
	defer srv.Close()
	hash, _ := auth.HashPassword(testPassword)
	admin := &store.User{Email: "admin@example.com", Role: store.RoleAdmin, PasswordHash: hash}
	if err := s.CreateUser(ctx, admin); err != nil {
		t.Fatal(err)
	}
	e := &authEnv{t: t, url: srv.URL, store: s}
	tok := e.login("admin@example.com", testPassword).body["access_token"].(string)

	csv := filepath.Join(dir, "people.csv")
	if err := os.WriteFile(csv, []byte("id,name\n1,Ann\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	url := "postgres://nobody:" + secret + "@127.0.0.1:5432/test?sslmode=disable"
	var seen []string
	record := func(a answer) answer {
		seen = append(seen, a.raw)
		return a
	}
	c := record(e.call("POST", "/api/v1/connections", tok, map[string]any{"name": "wh", "connector": "postgres", "config": map[string]any{"url": url}}))
	if c.status != 201 {
		t.Fatalf("create connection: %d %s", c.status, c.raw)
	}
	p := record(e.call("POST", "/api/v1/pipelines", tok, spec("leak", csv, map[string]any{"connection": "wh"})))
	if p.status != 201 {
		t.Fatalf("create pipeline: %d %s", p.status, p.raw)
	}
	pid := p.body["id"].(string)
	run := record(e.call("POST", "/api/v1/pipelines/"+pid+"/runs", tok, nil))
	if run.status != 202 {
		t.Fatalf("run: %d %s", run.status, run.raw)
	}
	rid := run.body["id"].(string)
	deadline := time.Now().Add(30 * time.Second)
	for {
		r := record(e.call("GET", "/api/v1/runs/"+rid, tok, nil))
		if st := r.body["status"]; st == "failed" || st == "succeeded" {
			if st != "failed" {
				t.Fatalf("run with a wrong password: %s", r.raw)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("run did not finish: %s", r.raw)
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, path := range []string{
		"/api/v1/connections", "/api/v1/connections/" + c.body["id"].(string), "/api/v1/runs/" + rid + "/logs",
		"/api/v1/pipelines/" + pid + "/export", "/api/v1/audit", "/api/v1/runs?limit=10",
	} {
		record(e.call("GET", path, tok, nil))
	}
	for i, raw := range seen {
		if strings.Contains(raw, secret) {
			t.Errorf("answer %d holds the secret: %s", i, raw)
		}
	}
	if strings.Contains(logs.String(), secret) {
		t.Error("the server log holds the secret")
	}
	for _, f := range []string{"tributary.db", "tributary.db-wal"} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err == nil && bytes.Contains(b, []byte(secret)) {
			t.Errorf("%s holds the secret", f)
		}
	}
	// The run did decrypt and use the URL: the server refused its user.
	r := e.call("GET", "/api/v1/runs/"+rid, tok, nil)
	if msg, _ := r.body["error"].(string); !strings.Contains(msg, "user=nobody") {
		t.Fatalf("run error: %q, want the server's refusal of user nobody", msg)
	}
}
