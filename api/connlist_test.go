package api_test

import (
	"slices"
	"testing"
)

func TestConnectionListFilterSort(t *testing.T) {
	kinds(t, func(t *testing.T, e *env) {
		pg, csv := map[string]any{"url": "postgres://x"}, map[string]any{"path": "/x"}
		for _, c := range []struct {
			name, connector string
			config          map[string]any
		}{
			{"shop_eu", "postgres", pg}, {"Shop US", "postgres", pg}, {"files", "csv", csv},
		} {
			e.must(201, "POST", "/api/v1/connections", map[string]any{"name": c.name, "connector": c.connector, "config": c.config})
		}
		cases := []struct {
			query string
			want  []string
		}{
			{"", []string{"Shop US", "files", "shop_eu"}},
			{"?name=SHOP", []string{"Shop US", "shop_eu"}},
			{"?connector=postgres&sort=-name", []string{"shop_eu", "Shop US"}},
			{"?sort=-created_at&limit=2", []string{"files", "Shop US"}},
			{"?sort=created_at&offset=1", []string{"Shop US", "files"}},
			{"?connector=kafka", []string{}},
		}
		for _, c := range cases {
			got := e.must(200, "GET", "/api/v1/connections"+c.query, nil)
			names := []string{}
			for _, it := range got["items"].([]any) {
				names = append(names, it.(map[string]any)["name"].(string))
			}
			if !slices.Equal(names, c.want) {
				t.Errorf("%s: %v, want %v", c.query, names, c.want)
			}
		}
		code, _, p := e.do("GET", "/api/v1/connections?sort=config", nil)
		if code != 422 || !containsLocation(p, "query.sort") {
			t.Errorf("sort=config: %d %v, want 422 at query.sort", code, p)
		}
	})
}

// TestConnectionReadAndWritten: a Postgres connection saved with a
// destination's schema serves a pipeline reading from it too.
func TestConnectionReadAndWritten(t *testing.T) {
	kinds(t, func(t *testing.T, e *env) {
		e.must(201, "POST", "/api/v1/connections", map[string]any{"name": "shop", "connector": "postgres",
			"config": map[string]any{"url": "postgres://postgres@127.0.0.1:5432/test", "schema": "shop"}})
		read := map[string]any{
			"version": 1, "name": "from-shop",
			"source":      map[string]any{"connection": "shop", "streams": []any{map[string]any{"name": "orders"}}},
			"destination": map[string]any{"connector": "csv", "config": map[string]any{"path": e.dir}},
		}
		e.must(201, "POST", "/api/v1/pipelines", read)
		written := map[string]any{
			"version": 1, "name": "to-shop",
			"source":      map[string]any{"connector": "csv", "config": map[string]any{"path": e.dir + "/*.csv"}, "streams": []any{map[string]any{"name": "orders"}}},
			"destination": map[string]any{"connection": "shop"},
		}
		e.must(201, "POST", "/api/v1/pipelines", written)
	})
}

func containsLocation(problem map[string]any, loc string) bool {
	errs, _ := problem["errors"].([]any)
	for _, e := range errs {
		if m, ok := e.(map[string]any); ok && m["location"] == loc {
			return true
		}
	}
	return false
}
