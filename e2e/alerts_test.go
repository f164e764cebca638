package e2e

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/google/uuid"
)

// signedHook receives webhooks and keeps the bodies whose signature, the
// HMAC-SHA256 of the raw body under the shared secret, verifies.
type signedHook struct {
	secret string

	mu     sync.Mutex
	bodies []map[string]any
	forged int
}

func (h *signedHook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	raw, _ := io.ReadAll(r.Body)
	m := hmac.New(sha256.New, []byte(h.secret))
	m.Write(raw)
	want := "sha256=" + hex.EncodeToString(m.Sum(nil))
	h.mu.Lock()
	defer h.mu.Unlock()
	var body map[string]any
	if !hmac.Equal([]byte(want), []byte(r.Header.Get("X-Tributary-Signature"))) || json.Unmarshal(raw, &body) != nil ||
		r.Header.Get("X-Tributary-Timestamp") == "" {
		h.forged++
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	h.bodies = append(h.bodies, body)
	w.WriteHeader(http.StatusNoContent)
}

// wait returns the first n verified bodies once they arrived.
func (h *signedHook) wait(t *testing.T, s *server, n int) []map[string]any {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		h.mu.Lock()
		got, forged := append([]map[string]any(nil), h.bodies...), h.forged
		h.mu.Unlock()
		if forged > 0 {
			t.Fatalf("%d webhook requests did not verify", forged)
		}
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d webhooks received, want %d:\n%s", len(got), n, s.logs)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// finished polls the run until it ends.
func finished(t *testing.T, s *server, runID string) apiRun {
	t.Helper()
	var run apiRun
	deadline := time.Now().Add(60 * time.Second)
	for run.Status == "" || run.Status == "queued" || run.Status == "running" {
		if time.Now().After(deadline) {
			t.Fatalf("run still %s:\n%s", run.Status, s.logs)
		}
		time.Sleep(100 * time.Millisecond)
		s.json(200, "GET", "/api/v1/runs/"+runID, nil, &run)
	}
	return run
}

// TestAlertsWebhook: through `tributary serve`, a webhook channel and a
// rule created with the API; a failing run and the run that recovers
// reach the receiver as signed bodies, and the deliveries are listed.
func TestAlertsWebhook(t *testing.T) {
	for _, kind := range []string{"sqlite", "postgres"} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			var env []string
			if kind == "postgres" {
				conn := needPostgres(t)
				ctx := context.Background()
				meta := "e2e_alerts_" + strings.ReplaceAll(uuid.NewString()[:8], "-", "")
				if _, err := conn.Exec(ctx, `CREATE SCHEMA `+meta); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() {
					if _, err := conn.Exec(ctx, `DROP SCHEMA IF EXISTS `+meta+` CASCADE`); err != nil {
						t.Error(err)
					}
				})
				env = append(env, pgStoreEnv(pgURL+"&search_path="+meta)...)
			}
			hook := &signedHook{secret: "e2e-shared-secret"}
			receiver := httptest.NewServer(hook)
			defer receiver.Close()

			dir := t.TempDir()
			csv := filepath.Join(dir, "data", "orders.csv")
			writeFile(t, csv, "id,amount\n1,10\n2,20\n")
			s := serve(t, dir, env)

			var created struct {
				ID string `json:"id"`
			}
			s.json(201, "POST", "/api/v1/alerts/channels", map[string]any{"name": "ops", "type": "webhook",
				"config": map[string]any{"url": receiver.URL + "/tributary", "secret": hook.secret}}, &created)
			channelID := created.ID
			var channel struct {
				Config map[string]any `json:"config"`
			}
			s.json(200, "GET", "/api/v1/alerts/channels/"+channelID, nil, &channel)
			if channel.Config["secret"] != "********" {
				t.Fatalf("channel secret returned: %v", channel.Config)
			}
			name := "orders-" + kind
			s.json(201, "POST", "/api/v1/pipelines", map[string]any{
				"version": 1, "name": name,
				"source": map[string]any{"connector": "csv", "config": map[string]any{"path": csv},
					"streams": []any{map[string]any{"name": "orders", "schema": map[string]any{"id": "int64", "amount": "int64"}}}},
				"destination": map[string]any{"connector": "sqlite", "config": map[string]any{"path": filepath.Join(dir, "out.db")}},
				"checks":      []any{map[string]any{"check": "row_count", "min": 3, "severity": "fail"}},
			}, &created)
			pipelineID := created.ID
			s.json(201, "POST", "/api/v1/alerts/rules", map[string]any{"name": "orders broke or healed",
				"events": []any{"run_failed", "run_recovered"}, "pipelines": []any{name}, "channels": []any{channelID}}, &created)

			// Two rows where the check wants three: the run fails.
			var queued apiRun
			s.json(202, "POST", "/api/v1/pipelines/"+pipelineID+"/runs", nil, &queued)
			if run := finished(t, s, queued.ID); run.Status != "failed" {
				t.Fatalf("run %+v, want failed", run)
			}
			got := hook.wait(t, s, 1)
			b := got[0]
			pipe, _ := b["pipeline"].(map[string]any)
			run, _ := b["run"].(map[string]any)
			if b["event"] != "run_failed" || pipe["name"] != name || run["id"] != queued.ID || run["status"] != "failed" ||
				!strings.Contains(run["error"].(string), "fewer than 3") || b["link"] != s.base+"/api/v1/runs/"+queued.ID || b["counts"] == nil {
				t.Fatalf("run_failed body %v", b)
			}
			failedRun := queued.ID

			// The data is fixed: the next run succeeds and recovers.
			writeFile(t, csv, "id,amount\n1,10\n2,20\n3,30\n")
			s.json(202, "POST", "/api/v1/pipelines/"+pipelineID+"/runs", nil, &queued)
			if run := finished(t, s, queued.ID); run.Status != "succeeded" {
				t.Fatalf("run %+v, want succeeded", run)
			}
			got = hook.wait(t, s, 2)
			if b := got[1]; b["event"] != "run_recovered" || b["run"].(map[string]any)["id"] != queued.ID {
				t.Fatalf("run_recovered body %v", b)
			}

			var deliveries struct {
				Items []struct {
					Event    string `json:"event"`
					RunID    string `json:"run_id"`
					Status   string `json:"status"`
					Attempts int    `json:"attempts"`
					RuleName string `json:"rule_name"`
				} `json:"items"`
			}
			s.json(200, "GET", "/api/v1/alerts/deliveries?pipeline_id="+pipelineID, nil, &deliveries)
			if len(deliveries.Items) != 2 {
				t.Fatalf("deliveries %+v", deliveries)
			}
			for i, want := range []struct{ event, run string }{{"run_recovered", queued.ID}, {"run_failed", failedRun}} {
				d := deliveries.Items[i]
				if d.Event != want.event || d.RunID != want.run || d.Status != "sent" || d.Attempts != 1 || d.RuleName != "orders broke or healed" {
					t.Errorf("delivery %d: %+v", i, d)
				}
			}
		})
	}
}

// inbox is an SMTP server (go-smtp) keeping the messages it receives.
type inbox struct {
	mu   sync.Mutex
	msgs []string
}

type inboxSession struct{ box *inbox }

func (b *inbox) NewSession(*smtp.Conn) (smtp.Session, error) { return inboxSession{b}, nil }
func (inboxSession) Mail(string, *smtp.MailOptions) error    { return nil }
func (inboxSession) Rcpt(string, *smtp.RcptOptions) error    { return nil }
func (inboxSession) Reset()                                  {}
func (inboxSession) Logout() error                           { return nil }
func (s inboxSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	s.box.mu.Lock()
	s.box.msgs = append(s.box.msgs, string(b))
	s.box.mu.Unlock()
	return err
}

// TestAlertsEmailTest: an email channel's test, sent by the binary to a
// real SMTP server, arrives with its subject; a channel whose server is
// down answers 502 and the failure is listed.
func TestAlertsEmailTest(t *testing.T) {
	box := &inbox{}
	srv := smtp.NewServer(box)
	srv.Domain = "localhost"
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	defer srv.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	s := serve(t, t.TempDir(), nil)

	var created struct {
		ID string `json:"id"`
	}
	s.json(201, "POST", "/api/v1/alerts/channels", map[string]any{"name": "mail", "type": "email",
		"config": map[string]any{"host": "127.0.0.1", "port": port, "from": "tributary@example.com", "to": []any{"ops@example.com"}}}, &created)
	var d struct {
		Status string `json:"status"`
		Event  string `json:"event"`
	}
	s.json(200, "POST", "/api/v1/alerts/channels/"+created.ID+"/test", nil, &d)
	if d.Status != "sent" || d.Event != "test" {
		t.Fatalf("test delivery %+v", d)
	}
	box.mu.Lock()
	msgs := append([]string(nil), box.msgs...)
	box.mu.Unlock()
	if len(msgs) != 1 {
		t.Fatalf("%d messages received", len(msgs))
	}
	mustContain(t, "message", msgs[0], "Subject: [Tributary] Test notification", "To: <ops@example.com>", "Test notification from Tributary to channel mail")

	srv.Close()
	status, ctype, body := s.call("POST", "/api/v1/alerts/channels/"+created.ID+"/test", nil)
	if status != 502 || ctype != "application/problem+json" {
		t.Fatalf("test with the server down: %d %s %s", status, ctype, body)
	}
	mustContain(t, "problem", string(body), "connection refused")
	var failed struct {
		Items []struct {
			LastError string `json:"last_error"`
		} `json:"items"`
	}
	s.json(200, "GET", "/api/v1/alerts/deliveries?status=failed", nil, &failed)
	if len(failed.Items) != 1 || !strings.Contains(failed.Items[0].LastError, "connection refused") {
		t.Fatalf("failed deliveries %+v", failed)
	}
}
