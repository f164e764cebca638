package api_test

import (
	"slices"
	"testing"
)

func TestAlertListsFilterSort(t *testing.T) {
	kinds(t, func(t *testing.T, e *env) {
		hook := map[string]any{"url": "http://127.0.0.1:1/hook", "secret": "s"}
		mail := map[string]any{"host": "127.0.0.1", "port": 2525, "from": "tributary@example.com", "to": []any{"ops@example.com"}}
		var chID string
		for _, c := range []struct {
			name, typ string
			cfg       map[string]any
		}{{"ops hook", "webhook", hook}, {"Dev hook", "webhook", hook}, {"ops mail", "email", mail}} {
			chID = e.must(201, "POST", "/api/v1/alerts/channels", map[string]any{"name": c.name, "type": c.typ, "config": c.cfg})["id"].(string)
		}
		for _, r := range []struct {
			name    string
			enabled bool
		}{{"failures", true}, {"late ones", false}, {"Failures of orders", true}} {
			e.must(201, "POST", "/api/v1/alerts/rules", map[string]any{"name": r.name, "events": []any{"run_failed"}, "channels": []any{chID}, "enabled": r.enabled})
		}
		names := func(path string) []string {
			out := []string{}
			for _, it := range e.must(200, "GET", path, nil)["items"].([]any) {
				out = append(out, it.(map[string]any)["name"].(string))
			}
			return out
		}
		cases := []struct {
			path string
			want []string
		}{
			{"/api/v1/alerts/channels", []string{"Dev hook", "ops hook", "ops mail"}},
			{"/api/v1/alerts/channels?type=webhook", []string{"Dev hook", "ops hook"}},
			{"/api/v1/alerts/channels?name=OPS&sort=-name", []string{"ops mail", "ops hook"}},
			{"/api/v1/alerts/channels?sort=-created_at&limit=1&offset=1", []string{"Dev hook"}},
			{"/api/v1/alerts/rules", []string{"Failures of orders", "failures", "late ones"}},
			{"/api/v1/alerts/rules?enabled=false", []string{"late ones"}},
			{"/api/v1/alerts/rules?name=failures&sort=created_at", []string{"failures", "Failures of orders"}},
			{"/api/v1/alerts/rules?enabled=true&sort=-name&limit=1", []string{"failures"}},
		}
		for _, c := range cases {
			if got := names(c.path); !slices.Equal(got, c.want) {
				t.Errorf("%s: %v, want %v", c.path, got, c.want)
			}
		}
		for _, c := range []struct{ path, loc string }{
			{"/api/v1/alerts/channels?type=pager", "query.type"},
			{"/api/v1/alerts/rules?sort=events", "query.sort"},
			{"/api/v1/alerts/rules?enabled=maybe", "query.enabled"},
		} {
			code, _, p := e.do("GET", c.path, nil)
			if code != 422 || !containsLocation(p, c.loc) {
				t.Errorf("%s: %d %v, want 422 at %s", c.path, code, p, c.loc)
			}
		}
	})
}
