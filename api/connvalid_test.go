package api_test

import (
	"strings"
	"testing"
)

// TestConnectionConfigChecked: a connection's config is checked against
// its connector's schema when saved, for any role the connector offers.
func TestConnectionConfigChecked(t *testing.T) {
	kinds(t, func(t *testing.T, e *env) {
		cases := []struct {
			name      string
			connector string
			config    map[string]any
			at        string // empty: accepted
		}{
			{"source and destination keys", "postgres", map[string]any{"url": "postgres://x", "schema": "shop"}, ""},
			{"destination only", "sqlite", map[string]any{"path": "/x.db", "deletes": "hard"}, ""},
			{"misspelt key", "csv", map[string]any{"paht": "/x.csv"}, "body.config"},
			{"required key missing", "postgres", map[string]any{"schema": "shop"}, "body.config"},
			{"wrong type", "csv", map[string]any{"path": 5}, "body.config.path"},
		}
		for i, c := range cases {
			body := map[string]any{"name": "c" + strings.Repeat("x", i), "connector": c.connector, "config": c.config}
			code, _, p := e.do("POST", "/api/v1/connections", body)
			if c.at == "" {
				if code != 201 {
					t.Errorf("%s: %d %v, want 201", c.name, code, p)
				}
				continue
			}
			if code != 422 || !containsLocation(p, c.at) {
				t.Errorf("%s: %d %v, want 422 at %s", c.name, code, p, c.at)
			}
		}
		// An update is checked too.
		created := e.must(201, "POST", "/api/v1/connections", map[string]any{"name": "upd", "connector": "csv", "config": map[string]any{"path": "/a.csv"}})
		code, _, p := e.do("PUT", "/api/v1/connections/"+created["id"].(string), map[string]any{"name": "upd", "connector": "csv", "config": map[string]any{"path": "/a.csv", "colour": "red"}})
		if code != 422 || !containsLocation(p, "body.config") {
			t.Errorf("update with an unknown key: %d %v", code, p)
		}
	})
}
