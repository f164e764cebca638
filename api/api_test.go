package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tributary-data/tributary/api"
	_ "github.com/tributary-data/tributary/connectors/all"
	"github.com/tributary-data/tributary/jobs"
	"github.com/tributary-data/tributary/store/storetest"
)

type env struct {
	t   *testing.T
	url string
	dir string
}

// start serves the API on a real store with real workers.
func start(t *testing.T, kind string) *env {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	s := storetest.Open(t, kind, dir)
	reg := prometheus.NewRegistry()
	runner := &jobs.Runner{Store: s, DataDir: dir, Metrics: jobs.NewMetrics(reg)}
	q, err := jobs.NewQueue(ctx, s, runner, jobs.Options{Workers: 1, PollInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		q.Stop(ctx)
		q.Close()
	})
	srv := httptest.NewServer(api.New(api.Config{Store: s, Queue: q, Gatherer: reg}))
	t.Cleanup(srv.Close)
	return &env{t: t, url: srv.URL, dir: dir}
}

// do sends a request and decodes a JSON answer into a generic value.
func (e *env) do(method, path string, body any) (int, http.Header, map[string]any) {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		js, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(js)
	}
	req, err := http.NewRequest(method, e.url+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	var out map[string]any
	if len(raw) > 0 && strings.Contains(resp.Header.Get("Content-Type"), "json") {
		if err := json.Unmarshal(raw, &out); err != nil {
			e.t.Fatalf("%s %s: %v in %s", method, path, err, raw)
		}
	}
	if out == nil {
		out = map[string]any{"_raw": string(raw)}
	}
	return resp.StatusCode, resp.Header, out
}

func (e *env) must(status int, method, path string, body any) map[string]any {
	e.t.Helper()
	got, _, out := e.do(method, path, body)
	if got != status {
		e.t.Fatalf("%s %s = %d, want %d: %v", method, path, got, status, out)
	}
	return out
}

func kinds(t *testing.T, f func(t *testing.T, e *env)) {
	for _, k := range []string{"sqlite", "postgres"} {
		t.Run(k, func(t *testing.T) {
			t.Parallel()
			f(t, start(t, k))
		})
	}
}

func spec(name, csv string, dest map[string]any) map[string]any {
	return map[string]any{
		"version": 1,
		"name":    name,
		"source": map[string]any{
			"connector": "csv",
			"config":    map[string]any{"path": csv},
			"streams":   []any{map[string]any{"name": "people", "schema": map[string]any{"id": "int64"}}},
		},
		"destination": dest,
	}
}

func TestPipelineRunsThroughTheAPI(t *testing.T) {
	kinds(t, func(t *testing.T, e *env) {
		csv := filepath.Join(e.dir, "people.csv")
		if err := os.WriteFile(csv, []byte("id,name\n1,Ann\n2,Bob\nx,Eve\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		e.must(201, "POST", "/api/v1/connections", map[string]any{"name": "out", "connector": "sqlite", "config": map[string]any{"path": filepath.Join(e.dir, "out.db")}})
		created := e.must(201, "POST", "/api/v1/pipelines", spec("people", csv, map[string]any{"connection": "out"}))
		id := created["id"].(string)
		if created["version"] != 1.0 {
			t.Fatalf("created %v", created)
		}
		queued := e.must(202, "POST", "/api/v1/pipelines/"+id+"/runs", nil)
		if queued["status"] != "queued" {
			t.Fatalf("queued %v", queued)
		}
		runID := queued["id"].(string)
		var run map[string]any
		deadline := time.Now().Add(30 * time.Second)
		for {
			run = e.must(200, "GET", "/api/v1/runs/"+runID, nil)
			if st := run["status"]; st == "succeeded" || st == "failed" || st == "cancelled" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("run still %v", run["status"])
			}
			time.Sleep(50 * time.Millisecond)
		}
		if run["status"] != "succeeded" {
			t.Fatalf("run %v", run)
		}
		streams := run["streams"].([]any)
		st := streams[0].(map[string]any)
		want := map[string]any{"name": "people", "read": 3.0, "written": 2.0, "quarantined": 1.0, "filtered": 0.0}
		for k, v := range want {
			if st[k] != v {
				t.Errorf("stream %s = %v, want %v (%v)", k, st[k], v, st)
			}
		}
		runs := e.must(200, "GET", "/api/v1/pipelines/"+id+"/runs", nil)
		if items := runs["items"].([]any); len(items) != 1 {
			t.Errorf("pipeline runs %v", runs)
		}
		logs := e.must(200, "GET", "/api/v1/runs/"+runID+"/logs", nil)
		if items := logs["items"].([]any); len(items) < 2 {
			t.Errorf("run logs %v", logs)
		}
		if got := e.must(409, "POST", "/api/v1/runs/"+runID+"/cancel", nil); got["status"] != 409.0 {
			t.Errorf("cancel finished run: %v", got)
		}

		_, _, metrics := e.do("GET", "/metrics", nil)
		for _, w := range []string{`tributary_rows_written_total{pipeline="people"} 2`, `tributary_runs_total{pipeline="people",status="succeeded"} 1`} {
			if !strings.Contains(metrics["_raw"].(string), w) {
				t.Errorf("metrics lack %s", w)
			}
		}

		// A new version, and the version list.
		v2 := spec("people", csv, map[string]any{"connection": "out"})
		v2["options"] = map[string]any{"batch_size": 100}
		upd := e.must(200, "PUT", "/api/v1/pipelines/"+id, v2)
		if upd["version"] != 2.0 {
			t.Errorf("update %v", upd)
		}
		vs := e.must(200, "GET", "/api/v1/pipelines/"+id+"/versions", nil)
		if items := vs["items"].([]any); len(items) != 2 {
			t.Errorf("versions %v", vs)
		}
		got := e.must(200, "GET", "/api/v1/pipelines/"+id, nil)
		if got["version"] != 2.0 || got["spec"].(map[string]any)["name"] != "people" {
			t.Errorf("pipeline %v", got)
		}

		if got := e.must(200, "PATCH", "/api/v1/pipelines/"+id, map[string]any{"enabled": false}); got["enabled"] != false {
			t.Errorf("disabled pipeline %v", got)
		}
		e.must(409, "POST", "/api/v1/pipelines/"+id+"/runs", nil)
		e.must(200, "PATCH", "/api/v1/pipelines/"+id, map[string]any{"enabled": true})

		pv := e.must(200, "POST", "/api/v1/pipelines/"+id+"/preview?rows=1", nil)
		if s := pv["streams"].([]any); len(s) != 1 {
			t.Errorf("preview %v", pv)
		}
	})
}

func TestConnectionSecrets(t *testing.T) {
	kinds(t, func(t *testing.T, e *env) {
		url := "postgres://postgres:s3cret@127.0.0.1:5432/test"
		created := e.must(201, "POST", "/api/v1/connections", map[string]any{"name": "shop", "connector": "postgres", "config": map[string]any{"url": url}})
		id := created["id"].(string)
		got := e.must(200, "GET", "/api/v1/connections/"+id, nil)
		if cfg := got["config"].(map[string]any); cfg["url"] != api.Masked {
			t.Fatalf("secret shown: %v", got)
		}
		list := e.must(200, "GET", "/api/v1/connections", nil)
		if strings.Contains(fmtJSON(t, list), "s3cret") {
			t.Fatalf("secret in list: %v", list)
		}
		// An update omitting the secret keeps it; the stored value is what
		// a pipeline resolves.
		e.must(200, "PUT", "/api/v1/connections/"+id, map[string]any{"name": "shop", "connector": "postgres", "config": map[string]any{}})
		e.must(200, "PUT", "/api/v1/connections/"+id, map[string]any{"name": "shop", "connector": "postgres", "config": map[string]any{"url": api.Masked}})
		got = e.must(200, "GET", "/api/v1/connections/"+id, nil)
		if got["config"].(map[string]any)["url"] != api.Masked {
			t.Fatalf("secret lost: %v", got)
		}
		// Resolution happens through a pipeline: a spec valid only with the
		// stored url passes validation.
		p := map[string]any{
			"version": 1, "name": "from-shop",
			"source":      map[string]any{"connection": "shop", "streams": []any{map[string]any{"name": "orders"}}},
			"destination": map[string]any{"connector": "csv", "config": map[string]any{"path": e.dir}},
		}
		e.must(201, "POST", "/api/v1/pipelines", p)
	})
}

func TestProblems(t *testing.T) {
	kinds(t, func(t *testing.T, e *env) {
		cases := []struct {
			name, method, path string
			body               any
			status             int
			locations          []string
		}{
			{"every spec error with its path", "POST", "/api/v1/pipelines", map[string]any{
				"version":     2,
				"source":      map[string]any{"connection": "nope", "streams": []any{map[string]any{"name": "a", "sync_mode": "sometimes"}}},
				"destination": map[string]any{"connector": "no-such"},
			}, 422, []string{"body.version", "body.name", "body.source.connection", "body.source.streams[0].sync_mode", "body.destination.connector"}},
			{"body not JSON", "POST", "/api/v1/pipelines", "version: 1", 422, []string{"body"}},
			{"unknown connector", "POST", "/api/v1/connections", map[string]any{"name": "x", "connector": "nope"}, 422, []string{"body.connector"}},
			{"connection name required", "POST", "/api/v1/connections", map[string]any{"connector": "csv"}, 422, []string{"body"}},
			{"connection name empty", "POST", "/api/v1/connections", map[string]any{"name": "", "connector": "csv"}, 422, []string{"body.name"}},
			{"missing run", "GET", "/api/v1/runs/nope", nil, 404, nil},
			{"missing pipeline run", "POST", "/api/v1/pipelines/nope/runs", nil, 404, nil},
			{"missing connection", "GET", "/api/v1/connections/nope", nil, 404, nil},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				status, h, out := e.do(c.method, c.path, c.body)
				if status != c.status {
					t.Fatalf("status %d, want %d: %v", status, c.status, out)
				}
				if ct := h.Get("Content-Type"); ct != "application/problem+json" {
					t.Errorf("content type %q", ct)
				}
				var locs []string
				errs, _ := out["errors"].([]any)
				for _, d := range errs {
					locs = append(locs, d.(map[string]any)["location"].(string))
				}
				for _, l := range c.locations {
					found := false
					for _, g := range locs {
						found = found || g == l
					}
					if !found {
						t.Errorf("no error at %s; got %v", l, out)
					}
				}
			})
		}
		e.must(201, "POST", "/api/v1/connections", map[string]any{"name": "dup", "connector": "csv"})
		e.must(409, "POST", "/api/v1/connections", map[string]any{"name": "dup", "connector": "csv"})
	})
}

func TestDocumentAndHealth(t *testing.T) {
	e := start(t, "sqlite")
	doc := e.must(200, "GET", "/api/openapi.json", nil)
	if doc["openapi"] != "3.1.0" {
		t.Errorf("openapi %v", doc["openapi"])
	}
	paths := doc["paths"].(map[string]any)
	for _, p := range []string{"/api/v1/connections", "/api/v1/pipelines", "/api/v1/pipelines/{id}/runs", "/api/v1/runs/{id}", "/api/v1/connectors"} {
		if paths[p] == nil {
			t.Errorf("document lacks %s", p)
		}
	}
	e.must(200, "GET", "/healthz", nil)
	e.must(200, "GET", "/readyz", nil)
	cs := e.must(200, "GET", "/api/v1/connectors", nil)
	if !strings.Contains(fmtJSON(t, cs), `"name":"postgres"`) {
		t.Errorf("connectors lack postgres")
	}
	for i := range 3 {
		e.must(201, "POST", "/api/v1/connections", map[string]any{"name": string(rune('a' + i)), "connector": "csv"})
	}
	page := e.must(200, "GET", "/api/v1/connections?limit=2", nil)
	if len(page["items"].([]any)) != 2 || page["next_offset"] != 2.0 {
		t.Errorf("first page %v", page)
	}
	page = e.must(200, "GET", "/api/v1/connections?limit=2&offset=2", nil)
	if len(page["items"].([]any)) != 1 || page["next_offset"] != nil {
		t.Errorf("last page %v", page)
	}
}

func fmtJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
