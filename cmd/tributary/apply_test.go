package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/tributary-data/tributary/api"
	"github.com/tributary-data/tributary/store"
)

func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestReadObjectsErrors(t *testing.T) {
	pipe := "version: 1\nname: p\nsource: {connector: csv}\ndestination: {connector: jsonl}\n"
	cases := []struct {
		name  string
		files map[string]string
		want  string
	}{
		{"empty folder", map[string]string{"README.md": "hi"}, "holds no .yaml, .yml or .json files"},
		{"same pipeline twice", map[string]string{"a.yaml": pipe, "sub/b.yml": pipe}, `both define pipeline "p"`},
		{"pipeline without a name", map[string]string{"a.yaml": "version: 1\n"}, "a.yaml: name: a pipeline needs a name"},
		{"kind pipeline", map[string]string{"a.yaml": "kind: pipeline\nname: p\n"}, "a pipeline file has no kind"},
		{"unknown kind", map[string]string{"a.yaml": "kind: secret\nname: p\n"}, `kind: "secret" is not a kind`},
		{"connection without connector", map[string]string{"c.yaml": "kind: connection\nname: c\n"}, "a connection needs connector"},
		{"connection with an unknown key", map[string]string{"c.yaml": "kind: connection\nname: c\nconnector: csv\ncolour: red\n"}, "field colour not found"},
		{"unreadable YAML", map[string]string{"c.yaml": "name: [x\n"}, "c.yaml"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := readObjects(writeTree(t, c.files))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want it to contain %q", err, c.want)
			}
		})
	}
	objs, err := readObjects(writeTree(t, map[string]string{"p.yaml": pipe, "connections/c.yaml": "kind: connection\nname: c\nconnector: csv\n", ".git/x.yaml": "junk: ["}))
	if err != nil || len(objs) != 2 {
		t.Fatalf("objects %+v, %v", objs, err)
	}
}

// TestApplySendsToken applies a folder to a real API and checks every
// request carried the token.
func TestApplySendsToken(t *testing.T) {
	st, err := store.Open(context.Background(), store.Options{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	h := api.New(api.Config{Store: st})
	var mu sync.Mutex
	auth := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		auth[r.Header.Get("Authorization")]++
		mu.Unlock()
		h.ServeHTTP(w, r)
	}))
	defer srv.Close()
	dir := writeTree(t, map[string]string{"p.yaml": "version: 1\nname: p\nsource:\n  connector: csv\n  config: {path: ./x.csv}\n  streams: [{name: x}]\ndestination: {connector: jsonl, config: {path: ./out}}\n"})
	for i, want := range []string{"Plan: 1 to create, 0 to update, 0 unchanged.", "Plan: 0 to create, 0 to update, 1 unchanged."} {
		cmd := newApplyCmd()
		var out bytes.Buffer
		cmd.SetOut(&out)
		cmd.SetArgs([]string{"-f", dir, "--server", srv.URL, "--token", "t0ken"})
		if err := cmd.ExecuteContext(context.Background()); err != nil {
			t.Fatalf("apply %d: %v\n%s", i, err, out.String())
		}
		if !strings.Contains(out.String(), want) {
			t.Errorf("apply %d:\n%s\nwant %q", i, out.String(), want)
		}
	}
	if len(auth) != 1 || auth["Bearer t0ken"] == 0 {
		t.Errorf("Authorization headers seen: %v", auth)
	}
}

func TestUpstreamsFirst(t *testing.T) {
	pipe := func(name, deps string) object {
		return object{kind: "pipeline", name: name, doc: []byte(`{"name":"` + name + `","depends_on":[` + deps + `]}`)}
	}
	cases := []struct {
		name string
		in   []object
		want string
	}{
		{"no dependencies keep their order", []object{{kind: "connection", name: "c"}, pipe("a", ""), pipe("b", "")}, "c a b"},
		{"upstream moved before", []object{{kind: "connection", name: "c"}, pipe("a", `"c2"`), pipe("b", `"d"`), pipe("c2", ""), pipe("d", `"c2"`)}, "c c2 a d b"},
		{"upstream outside the folder", []object{pipe("a", `"elsewhere"`)}, "a"},
		{"cycle", []object{pipe("a", `"b"`), pipe("b", `"a"`)}, "b a"},
	}
	for _, c := range cases {
		var got []string
		for _, o := range upstreamsFirst(c.in) {
			got = append(got, o.name)
		}
		if strings.Join(got, " ") != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
}

// TestApplyConnectionSecrets creates a connection from a file with its
// secret from the environment, then changes another field without the
// variable set: the plan shows the change only, and the stored secret is
// kept.
func TestApplyConnectionSecrets(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, store.Options{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	srv := httptest.NewServer(api.New(api.Config{Store: st}))
	defer srv.Close()
	file := "kind: connection\nname: wh\nconnector: postgres\nconfig:\n  schema: a\n  url: ${WH_URL_FOR_TEST}\n"
	dir := writeTree(t, map[string]string{"connections/wh.yaml": file})
	apply := func(args ...string) (string, error) {
		cmd := newApplyCmd()
		var out bytes.Buffer
		cmd.SetOut(&out)
		cmd.SetArgs(append([]string{"-f", dir, "--server", srv.URL}, args...))
		err := cmd.ExecuteContext(ctx)
		return out.String(), err
	}
	if _, err := apply(); err == nil || !strings.Contains(err.Error(), "WH_URL_FOR_TEST (config.url)") {
		t.Fatalf("create without the secret's variable: %v", err)
	}
	t.Setenv("WH_URL_FOR_TEST", "postgres://u:s3cret@db/x")
	if out, err := apply(); err != nil || !strings.Contains(out, "connection wh: create") {
		t.Fatalf("create: %v\n%s", err, out)
	}
	os.Unsetenv("WH_URL_FOR_TEST")
	if out, err := apply(); err != nil || !strings.Contains(out, "connection wh: unchanged") {
		t.Fatalf("unchanged: %v\n%s", err, out)
	}
	if err := os.WriteFile(filepath.Join(dir, "connections", "wh.yaml"), []byte(strings.Replace(file, "schema: a", "schema: b", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := apply()
	if err != nil || !strings.Contains(out, "connection wh: update") || !strings.Contains(out, `~ config.schema: "a" -> "b"`) {
		t.Fatalf("update: %v\n%s", err, out)
	}
	c, err := st.ConnectionByName(ctx, "wh")
	if err != nil {
		t.Fatal(err)
	}
	if c.Config["schema"] != "b" || c.Config["url"] != "postgres://u:s3cret@db/x" {
		t.Errorf("stored config %v", c.Config)
	}
}
