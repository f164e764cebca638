package api_test

import (
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tributary-data/tributary/api"
)

// TestConnectionProbes: test, discover and sample of stored connections
// against real systems (a SQLite file, PostgreSQL on loopback and a port
// where nothing listens).
func TestConnectionProbes(t *testing.T) {
	kinds(t, func(t *testing.T, e *env) {
		path := filepath.Join(e.dir, "shop.db")
		db, err := sql.Open("sqlite", path)
		if err != nil {
			t.Fatal(err)
		}
		for _, q := range []string{
			`CREATE TABLE people (id INTEGER PRIMARY KEY, name TEXT)`,
			`INSERT INTO people VALUES (1, 'Ann'), (2, 'Bob'), (3, 'Cy'), (4, 'Di'), (5, 'Ed')`,
			`CREATE TABLE orders (id INTEGER PRIMARY KEY, amount REAL)`,
		} {
			if _, err := db.Exec(q); err != nil {
				t.Fatal(err)
			}
		}
		db.Close()
		conn := func(name, connector string, cfg map[string]any) string {
			return e.must(201, "POST", "/api/v1/connections", map[string]any{"name": name, "connector": connector, "config": cfg})["id"].(string)
		}
		shop := conn("shop", "sqlite", map[string]any{"path": path})
		down := conn("down", "postgres", map[string]any{"url": "postgres://postgres:hunter2secret@127.0.0.1:1/test?sslmode=disable"})
		pg := conn("pg", "postgres", map[string]any{"url": "postgres://postgres@127.0.0.1:5432/test?sslmode=disable", "schema": "probe"})
		if err := os.WriteFile(filepath.Join(e.dir, "people.json"), []byte(`[{"id": 1}]`), 0o644); err != nil {
			t.Fatal(err)
		}
		files := conn("files", "json", map[string]any{"path": filepath.Join(e.dir, "*.json")})
		nofiles := conn("nofiles", "json", map[string]any{"path": filepath.Join(e.dir, "*.xml")})

		cases := []struct {
			id                  string
			ok                  bool
			source, destination string // "ok", "fail" or "" for a role the connector lacks
			errorContains       string
		}{
			{shop, true, "ok", "ok", ""},
			{pg, true, "ok", "ok", ""},
			{down, false, "fail", "fail", "127.0.0.1:1"},
			{files, true, "ok", "", ""},
			{nofiles, false, "fail", "", "matches no file"},
		}
		role := func(r any) string {
			m, ok := r.(map[string]any)
			if !ok {
				return ""
			}
			if m["ok"] == true {
				return "ok"
			}
			return "fail"
		}
		for _, c := range cases {
			got := e.must(200, "POST", "/api/v1/connections/"+c.id+"/test", nil)
			if got["ok"] != c.ok || role(got["source"]) != c.source || role(got["destination"]) != c.destination {
				t.Errorf("test %s: %v", c.id, got)
			}
			raw := fmtJSON(t, got)
			if c.errorContains != "" && !strings.Contains(raw, c.errorContains) {
				t.Errorf("test %s: error without %q: %s", c.id, c.errorContains, raw)
			}
			if strings.Contains(raw, "hunter2secret") {
				t.Errorf("test %s shows the password: %s", c.id, raw)
			}
		}

		cat := e.must(200, "POST", "/api/v1/connections/"+shop+"/discover", nil)
		var names []string
		for _, s := range cat["streams"].([]any) {
			s := s.(map[string]any)
			names = append(names, s["name"].(string))
			if s["name"] == "people" && fmtJSON(t, s["primary_key"]) != `["id"]` {
				t.Errorf("people's primary key: %v", s)
			}
		}
		if strings.Join(names, ",") != "orders,people" {
			t.Errorf("discovered %v", names)
		}
		code, _, p := e.do("POST", "/api/v1/connections/"+down+"/discover", nil)
		if code != 422 || strings.Contains(fmtJSON(t, p), "hunter2secret") {
			t.Errorf("discover of an unreachable database: %d %v", code, p)
		}

		sample := e.must(200, "POST", "/api/v1/connections/"+shop+"/sample", map[string]any{"stream": "people", "rows": 2})
		if got := fmtJSON(t, sample["rows"]); got != `[[1,"Ann"],[2,"Bob"]]` {
			t.Errorf("sample rows %s", got)
		}
		if got := fmtJSON(t, sample["schema"]); !strings.Contains(got, `"name":"id"`) || !strings.Contains(got, `"name":"name"`) {
			t.Errorf("sample schema %s", got)
		}
		if n := len(e.must(200, "POST", "/api/v1/connections/"+shop+"/sample", map[string]any{"stream": "people"})["rows"].([]any)); n != 5 {
			t.Errorf("sample of every row (default 20): %d rows", n)
		}
		if rows := e.must(200, "POST", "/api/v1/connections/"+shop+"/sample", map[string]any{"stream": "orders"})["rows"].([]any); len(rows) != 0 {
			t.Errorf("sample of an empty table: %v", rows)
		}
		for _, c := range []struct {
			id   string
			body map[string]any
			loc  string
		}{
			{shop, map[string]any{"stream": "nope"}, "body.stream"},
			{shop, map[string]any{"stream": "people", "rows": api.MaxSampleRows + 1}, "body.rows"},
			{shop, map[string]any{}, "body"},
		} {
			code, _, p := e.do("POST", "/api/v1/connections/"+c.id+"/sample", c.body)
			if code != 422 || !containsLocation(p, c.loc) {
				t.Errorf("sample %v: %d %v, want 422 at %s", c.body, code, p, c.loc)
			}
		}
		if code, _, _ := e.do("POST", "/api/v1/connections/00000000-0000-0000-0000-000000000000/test", nil); code != 404 {
			t.Errorf("test of no connection: %d", code)
		}
	})
}
