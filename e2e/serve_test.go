package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

// server is a running `tributary serve`.
type server struct {
	t    *testing.T
	base string
	logs *lockedBuffer
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// serve starts the binary and waits until it answers /readyz; the test's
// end stops it with an interrupt, as a user would.
func serve(t *testing.T, dir string, env []string, args ...string) *server {
	t.Helper()
	addr := freeAddr(t)
	args = append([]string{"serve", "--addr", addr, "--data", filepath.Join(dir, "tributary-data"), "--workers", "1"}, args...)
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	logs := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("serve exited with %v:\n%s", err, logs)
			}
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			t.Errorf("serve did not stop on interrupt:\n%s", logs)
		}
	})
	s := &server{t: t, base: "http://" + addr, logs: logs}
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(s.base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return s
			}
		}
		select {
		case err := <-exited:
			t.Fatalf("serve exited: %v\n%s", err, logs)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve not ready:\n%s", logs)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// call sends a JSON request; it returns the status, content type and body.
func (s *server) call(method, path string, body any) (int, string, []byte) {
	s.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			s.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, s.base+path, rd)
	if err != nil {
		s.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatalf("%s %s: %v\n%s", method, path, err, s.logs)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		s.t.Fatal(err)
	}
	return resp.StatusCode, resp.Header.Get("Content-Type"), b
}

func (s *server) json(status int, method, path string, body, out any) {
	s.t.Helper()
	got, _, b := s.call(method, path, body)
	if got != status {
		s.t.Fatalf("%s %s = %d, want %d: %s", method, path, got, status, b)
	}
	if err := json.Unmarshal(b, out); err != nil {
		s.t.Fatalf("%s %s: %v in %s", method, path, err, b)
	}
}

type apiRun struct {
	ID      string `json:"id"`
	Status  string `json:"status"`
	Error   string `json:"error"`
	Streams []struct {
		Name        string `json:"name"`
		Read        int64  `json:"read"`
		Written     int64  `json:"written"`
		Quarantined int64  `json:"quarantined"`
		Filtered    int64  `json:"filtered"`
	} `json:"streams"`
}

// TestServe drives the acceptance contract of `tributary serve` on both
// metadata stores: a stored connection, a pipeline naming it, a run
// through the queue, its counts, and the metrics.
func TestServe(t *testing.T) {
	for _, kind := range []string{"sqlite", "postgres"} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			conn := needPostgres(t)
			ctx := context.Background()
			id := strings.ReplaceAll(uuid.NewString()[:8], "-", "")
			dest, meta := "e2e_serve_"+id, "e2e_serve_meta_"+id
			t.Cleanup(func() {
				for _, s := range []string{dest, meta} {
					if _, err := conn.Exec(ctx, `DROP SCHEMA IF EXISTS `+s+` CASCADE`); err != nil {
						t.Error(err)
					}
				}
			})
			var env []string
			if kind == "postgres" {
				if _, err := conn.Exec(ctx, `CREATE SCHEMA `+meta); err != nil {
					t.Fatal(err)
				}
				env = append(env, pgStoreEnv(pgURL+"&search_path="+meta)...)
			}
			dir := t.TempDir()
			writeFile(t, filepath.Join(dir, "data", "people.csv"), "id,name,amount\n1,Ann,1.50\n2,Bob,2.25\n3,Eve,not a number\n4,Joe,4\n")
			s := serve(t, dir, env)

			var created struct {
				ID      string `json:"id"`
				Version int    `json:"version"`
			}
			s.json(201, "POST", "/api/v1/connections", map[string]any{
				"name": "shop", "connector": "postgres", "config": map[string]any{"url": pgURL, "schema": dest},
			}, &created)
			var shop struct {
				Config map[string]any `json:"config"`
			}
			s.json(200, "GET", "/api/v1/connections/"+created.ID, nil, &shop)
			if shop.Config["url"] != "********" || shop.Config["schema"] != dest {
				t.Errorf("connection config as returned: %v", shop.Config)
			}

			// An invalid spec lists every error with its path.
			status, ctype, body := s.call("POST", "/api/v1/pipelines", map[string]any{
				"version": 1, "name": "",
				"source":      map[string]any{"connector": "csv", "streams": []any{map[string]any{"name": "people", "sync_mode": "never"}}},
				"destination": map[string]any{"connection": "nowhere"},
			})
			if status != 422 || ctype != "application/problem+json" {
				t.Fatalf("invalid spec: %d %s %s", status, ctype, body)
			}
			mustContain(t, "problem", string(body), `"body.name"`, `"body.source.streams[0].sync_mode"`, `"body.destination.connection"`)

			name := "people-" + kind
			spec := map[string]any{
				"version": 1, "name": name,
				"source": map[string]any{
					"connector": "csv",
					"config":    map[string]any{"path": filepath.Join(dir, "data", "people*.csv")},
					"streams": []any{map[string]any{
						"name": "people", "sync_mode": "incremental_dedup", "primary_key": []string{"id"},
						"schema": map[string]any{"id": "int64", "amount": "decimal"},
					}},
				},
				"destination": map[string]any{"connection": "shop"},
			}
			s.json(201, "POST", "/api/v1/pipelines", spec, &created)
			if created.ID == "" || created.Version != 1 {
				t.Fatalf("created pipeline %+v", created)
			}

			var run apiRun
			s.json(202, "POST", "/api/v1/pipelines/"+created.ID+"/runs", nil, &run)
			if run.ID == "" || run.Status != "queued" {
				t.Fatalf("queued run %+v", run)
			}
			deadline := time.Now().Add(60 * time.Second)
			for run.Status == "queued" || run.Status == "running" {
				if time.Now().After(deadline) {
					t.Fatalf("run still %s:\n%s", run.Status, s.logs)
				}
				time.Sleep(100 * time.Millisecond)
				s.json(200, "GET", "/api/v1/runs/"+run.ID, nil, &run)
			}
			if run.Status != "succeeded" || len(run.Streams) != 1 {
				t.Fatalf("run %+v\n%s", run, s.logs)
			}
			st := run.Streams[0]
			if st.Name != "people" || st.Read != 4 || st.Written != 3 || st.Quarantined != 1 || st.Filtered != 0 {
				t.Errorf("stream counts %+v", st)
			}
			if n := queryInt(t, conn, fmt.Sprintf(`SELECT count(*) FROM %s.people`, dest)); n != 3 {
				t.Errorf("%d rows in the destination, want 3", n)
			}

			// The same stored connection, with its destination's schema,
			// is read from as a source.
			s.json(201, "POST", "/api/v1/pipelines", map[string]any{
				"version": 1, "name": "back-" + kind,
				"source":      map[string]any{"connection": "shop", "config": map[string]any{"schemas": []string{dest}}, "streams": []any{map[string]any{"name": "people"}}},
				"destination": map[string]any{"connector": "sqlite", "config": map[string]any{"path": filepath.Join(dir, "back.db")}},
			}, &created)
			var back apiRun
			s.json(202, "POST", "/api/v1/pipelines/"+created.ID+"/runs", nil, &back)
			for back.Status == "queued" || back.Status == "running" {
				if time.Now().After(deadline) {
					t.Fatalf("run from the connection still %s:\n%s", back.Status, s.logs)
				}
				time.Sleep(100 * time.Millisecond)
				s.json(200, "GET", "/api/v1/runs/"+back.ID, nil, &back)
			}
			if back.Status != "succeeded" || len(back.Streams) != 1 || back.Streams[0].Read != 3 || back.Streams[0].Written != 3 {
				t.Errorf("run reading the stored connection %+v", back)
			}

			status, _, metrics := s.call("GET", "/metrics", nil)
			if status != 200 {
				t.Fatalf("metrics: %d", status)
			}
			mustContain(t, "metrics", string(metrics),
				fmt.Sprintf(`tributary_rows_written_total{pipeline=%q} 3`, name),
				fmt.Sprintf(`tributary_runs_total{pipeline=%q,status="succeeded"} 1`, name))
		})
	}
}

// TestServeDemo starts `tributary serve --demo` on an empty embedded store:
// the example pipeline exists and its first run loads the example data.
func TestServeDemo(t *testing.T) {
	s := serve(t, t.TempDir(), nil, "--demo")
	var runs struct {
		Items []apiRun `json:"items"`
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		s.json(200, "GET", "/api/v1/runs", nil, &runs)
		if len(runs.Items) == 1 && (runs.Items[0].Status == "succeeded" || runs.Items[0].Status == "failed") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("demo run did not finish: %+v\n%s", runs.Items, s.logs)
		}
		time.Sleep(100 * time.Millisecond)
	}
	r := runs.Items[0]
	if r.Status != "succeeded" || len(r.Streams) != 1 || r.Streams[0].Written != 1000 || r.Streams[0].Quarantined != 3 {
		t.Fatalf("demo run = %+v", r)
	}
}
