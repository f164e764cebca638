package api_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/tributary-data/tributary/alert"
)

// hook is a webhook receiver that keeps the bodies whose signature
// verifies under secret and answers status.
type hook struct {
	secret string
	status int

	mu     sync.Mutex
	bodies []string
	forged int
}

func (h *hook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	h.mu.Lock()
	if alert.Verify(h.secret, b, r.Header.Get(alert.SignatureHeader)) {
		h.bodies = append(h.bodies, string(b))
	} else {
		h.forged++
	}
	h.mu.Unlock()
	w.WriteHeader(h.status)
}

func (h *hook) counts() (verified, forged int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.bodies), h.forged
}

func locations(out map[string]any) []string {
	var locs []string
	errs, _ := out["errors"].([]any)
	for _, d := range errs {
		locs = append(locs, d.(map[string]any)["location"].(string))
	}
	return locs
}

func TestAlertChannels(t *testing.T) {
	kinds(t, func(t *testing.T, e *env) {
		rc := &hook{secret: "first-secret", status: 200}
		srv := httptest.NewServer(rc)
		defer srv.Close()

		problems := []struct {
			name      string
			body      map[string]any
			locations []string
		}{
			{"webhook without url or secret", map[string]any{"name": "x", "type": "webhook", "config": map[string]any{"headers": map[string]any{"X-Tributary-Signature": "x"}}},
				[]string{"body.config.url", "body.config.secret", "body.config.headers.X-Tributary-Signature"}},
			{"unknown setting", map[string]any{"name": "x", "type": "webhook", "config": map[string]any{"url": "http://h", "secret": "s", "retries": 3}},
				[]string{"body.config.retries"}},
			{"bad email addresses", map[string]any{"name": "x", "type": "email", "config": map[string]any{"host": "mail", "from": "nobody", "to": []any{"ops@example.com", "not an address"}, "tls": "maybe", "username": "u"}},
				[]string{"body.config.from", "body.config.to[1]", "body.config.tls", "body.config.password"}},
			{"unknown type", map[string]any{"name": "x", "type": "pager", "config": map[string]any{}}, []string{"body.type"}},
			{"bad timeout", map[string]any{"name": "x", "type": "webhook", "config": map[string]any{"url": "http://h", "secret": "s", "timeout": "soon"}},
				[]string{"body.config.timeout"}},
		}
		for _, p := range problems {
			status, h, out := e.do("POST", "/api/v1/alerts/channels", p.body)
			if status != 422 || h.Get("Content-Type") != "application/problem+json" {
				t.Fatalf("%s: %d %v", p.name, status, out)
			}
			for _, l := range p.locations {
				if !slices.Contains(locations(out), l) {
					t.Errorf("%s: no error at %s: %v", p.name, l, out)
				}
			}
		}

		created := e.must(201, "POST", "/api/v1/alerts/channels", map[string]any{"name": "ops hook", "type": "webhook",
			"config": map[string]any{"url": srv.URL, "secret": rc.secret, "timeout": "5s"}})
		id := created["id"].(string)
		e.must(409, "POST", "/api/v1/alerts/channels", map[string]any{"name": "ops hook", "type": "webhook", "config": map[string]any{"url": srv.URL, "secret": "s"}})
		got := e.must(200, "GET", "/api/v1/alerts/channels/"+id, nil)
		cfg := got["config"].(map[string]any)
		if cfg["secret"] != "********" || cfg["url"] != srv.URL || got["type"] != "webhook" {
			t.Fatalf("channel as returned %v", got)
		}
		list := e.must(200, "GET", "/api/v1/alerts/channels", nil)
		if items := list["items"].([]any); len(items) != 1 || items[0].(map[string]any)["config"].(map[string]any)["secret"] != "********" {
			t.Fatalf("list %v", list)
		}

		// Updates that omit or mask the secret keep it: the test
		// notifications still verify under the first secret.
		for _, secret := range []any{nil, "********"} {
			c := map[string]any{"url": srv.URL, "timeout": "3s"}
			if secret != nil {
				c["secret"] = secret
			}
			up := e.must(200, "PUT", "/api/v1/alerts/channels/"+id, map[string]any{"name": "ops hook", "type": "webhook", "config": c})
			if up["config"].(map[string]any)["secret"] != "********" {
				t.Fatalf("updated %v", up)
			}
			d := e.must(200, "POST", "/api/v1/alerts/channels/"+id+"/test", nil)
			if d["status"] != "sent" || d["event"] != "test" || d["attempts"] != 1.0 || d["channel_name"] != "ops hook" {
				t.Fatalf("test delivery %v", d)
			}
		}
		if verified, forged := rc.counts(); verified != 2 || forged != 0 {
			t.Fatalf("receiver verified %d, refused %d", verified, forged)
		}

		// A new secret signs from then on.
		e.must(200, "PUT", "/api/v1/alerts/channels/"+id, map[string]any{"name": "ops hook", "type": "webhook", "config": map[string]any{"url": srv.URL, "secret": "second-secret"}})
		e.must(200, "POST", "/api/v1/alerts/channels/"+id+"/test", nil)
		if verified, forged := rc.counts(); verified != 2 || forged != 1 {
			t.Fatalf("after the secret changed: receiver verified %d, refused %d", verified, forged)
		}

		// A failing receiver: 502 with its answer, and a failed delivery.
		rc.mu.Lock()
		rc.status = 500
		rc.mu.Unlock()
		status, _, out := e.do("POST", "/api/v1/alerts/channels/"+id+"/test", nil)
		if status != 502 || !contains(out["detail"], "500 Internal Server Error") {
			t.Fatalf("failing test: %d %v", status, out)
		}
		failed := e.must(200, "GET", "/api/v1/alerts/deliveries?status=failed&channel_id="+id, nil)
		items := failed["items"].([]any)
		if len(items) != 1 || items[0].(map[string]any)["last_error"] == "" {
			t.Fatalf("failed deliveries %v", failed)
		}
		all := e.must(200, "GET", "/api/v1/alerts/deliveries?event=test&limit=2", nil)
		if len(all["items"].([]any)) != 2 || all["next_offset"] != 2.0 {
			t.Fatalf("first page %v", all)
		}
		rest := e.must(200, "GET", "/api/v1/alerts/deliveries?event=test&limit=2&offset=2", nil)
		if len(rest["items"].([]any)) != 2 {
			t.Fatalf("second page %v", rest)
		}
		none := e.must(200, "GET", "/api/v1/alerts/deliveries?from=2999-01-01T00:00:00Z", nil)
		if len(none["items"].([]any)) != 0 {
			t.Fatalf("future deliveries %v", none)
		}
		status, _, out = e.do("GET", "/api/v1/alerts/deliveries?from=yesterday&status=lost", nil)
		if status != 422 || !slices.Contains(locations(out), "query.from") || !slices.Contains(locations(out), "query.status") {
			t.Fatalf("bad filters: %d %v", status, out)
		}
		one := e.must(200, "GET", "/api/v1/alerts/deliveries/"+items[0].(map[string]any)["id"].(string), nil)
		if one["payload"].(map[string]any)["event"] != "test" {
			t.Fatalf("delivery %v", one)
		}
		e.must(404, "GET", "/api/v1/alerts/channels/nope", nil)
		e.must(404, "POST", "/api/v1/alerts/channels/nope/test", nil)
	})
}

func contains(v any, s string) bool {
	str, _ := v.(string)
	return strings.Contains(str, s)
}

func TestAlertRules(t *testing.T) {
	kinds(t, func(t *testing.T, e *env) {
		csv := filepath.Join(e.dir, "people.csv")
		dest := map[string]any{"connector": "jsonl", "config": map[string]any{"path": filepath.Join(e.dir, "out")}}
		p := e.must(201, "POST", "/api/v1/pipelines", spec("people", csv, dest))
		ch := e.must(201, "POST", "/api/v1/alerts/channels", map[string]any{"name": "mail", "type": "email",
			"config": map[string]any{"host": "127.0.0.1", "port": 2525, "from": "t@example.com", "to": []any{"ops@example.com"}, "username": "u", "password": "pw"}})
		chID := ch["id"].(string)
		if got := e.must(200, "GET", "/api/v1/alerts/channels/"+chID, nil); got["config"].(map[string]any)["password"] != "********" {
			t.Fatalf("email channel %v", got)
		}

		status, _, out := e.do("POST", "/api/v1/alerts/rules", map[string]any{"name": "r", "events": []any{"run_failed", "run_exploded"},
			"pipelines": []any{"people", "nobody"}, "channels": []any{"missing"}})
		if status != 422 {
			t.Fatalf("invalid rule: %d %v", status, out)
		}
		for _, l := range []string{"body.events[1]", "body.pipelines[1]", "body.channels[0]"} {
			if !slices.Contains(locations(out), l) {
				t.Errorf("no error at %s: %v", l, out)
			}
		}
		e.must(422, "POST", "/api/v1/alerts/rules", map[string]any{"name": "r", "events": []any{}, "channels": []any{chID}})

		created := e.must(201, "POST", "/api/v1/alerts/rules", map[string]any{"name": "people failures", "events": []any{"run_failed", "run_recovered"},
			"pipelines": []any{"people"}, "channels": []any{chID}})
		id := created["id"].(string)
		r := e.must(200, "GET", "/api/v1/alerts/rules/"+id, nil)
		if r["enabled"] != true || !slices.Equal(toStrings(r["pipelines"]), []string{"people"}) || !slices.Equal(toStrings(r["channels"]), []string{chID}) ||
			!slices.Equal(toStrings(r["events"]), []string{"run_failed", "run_recovered"}) {
			t.Fatalf("rule %v", r)
		}
		// Renaming the pipeline keeps the rule on it.
		e.must(200, "PUT", "/api/v1/pipelines/"+p["id"].(string), spec("people-v2", csv, dest))
		if r := e.must(200, "GET", "/api/v1/alerts/rules/"+id, nil); !slices.Equal(toStrings(r["pipelines"]), []string{"people-v2"}) {
			t.Fatalf("rule after rename %v", r)
		}
		up := e.must(200, "PUT", "/api/v1/alerts/rules/"+id, map[string]any{"name": "all late", "events": []any{"pipeline_late"}, "channels": []any{chID}, "enabled": false})
		if up["enabled"] != false || len(up["pipelines"].([]any)) != 0 || up["name"] != "all late" {
			t.Fatalf("updated rule %v", up)
		}
		if l := e.must(200, "GET", "/api/v1/alerts/rules", nil); len(l["items"].([]any)) != 1 {
			t.Fatalf("rules %v", l)
		}
		status, _, out = e.do("DELETE", "/api/v1/alerts/channels/"+chID, nil)
		if status != 409 || !contains(out["detail"], "all late") {
			t.Fatalf("delete a channel in use: %d %v", status, out)
		}
		e.must(204, "DELETE", "/api/v1/alerts/rules/"+id, nil)
		e.must(404, "GET", "/api/v1/alerts/rules/"+id, nil)
		e.must(204, "DELETE", "/api/v1/alerts/channels/"+chID, nil)
		e.must(404, "DELETE", "/api/v1/alerts/channels/"+chID, nil)
	})
}

func toStrings(v any) []string {
	var out []string
	for _, x := range v.([]any) {
		out = append(out, x.(string))
	}
	return out
}
