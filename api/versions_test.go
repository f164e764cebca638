package api_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tributary-data/tributary/api"
	"github.com/tributary-data/tributary/store"
	"github.com/tributary-data/tributary/store/storetest"
)

// startStore serves the API without workers (runs stay queued) and acts
// for the user named in the X-Test-Actor header, as authentication will.
func startStore(t *testing.T, kind string) (*env, store.Store) {
	t.Helper()
	dir := t.TempDir()
	s := storetest.Open(t, kind, dir)
	h := api.New(api.Config{Store: s, DataDir: dir})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a := r.Header.Get("X-Test-Actor"); a != "" {
			r = r.WithContext(api.WithActor(r.Context(), a))
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return &env{t: t, url: srv.URL, dir: dir}, s
}

// raw sends a body with a content type and headers, returning the answer
// as text.
func (e *env) raw(method, path, contentType, body string, header ...string) (int, http.Header, string) {
	e.t.Helper()
	req, err := http.NewRequest(method, e.url+path, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, string(b)
}

func writeCSV(t *testing.T, dir string) string {
	t.Helper()
	csv := filepath.Join(dir, "people.csv")
	if err := os.WriteFile(csv, []byte("id,name\n1,Ann\n2,Bob\n3,Eve\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return csv
}

func TestVersionsDiffRestore(t *testing.T) {
	kinds2(t, func(t *testing.T, e *env, _ store.Store) {
		csv := writeCSV(t, e.dir)
		dest := map[string]any{"connector": "jsonl", "config": map[string]any{"path": filepath.Join(e.dir, "out")}}
		v1 := spec("people", csv, dest)
		st, _, body := e.raw("POST", "/api/v1/pipelines", "application/json", fmtJSON(t, v1), "X-Test-Actor", "ana")
		if st != 201 {
			t.Fatalf("create = %d %s", st, body)
		}
		id := decode(t, body)["id"].(string)

		// An identical spec, keys in another order, saves nothing.
		same := e.must(200, "PUT", "/api/v1/pipelines/"+id, map[string]any{"destination": dest, "name": "people", "version": 1, "source": v1["source"]})
		if same["version"] != 1.0 || same["changed"] != false {
			t.Fatalf("identical save = %v", same)
		}
		v2 := spec("people", csv, dest)
		v2["options"] = map[string]any{"batch_size": 100}
		st, _, body = e.raw("PUT", "/api/v1/pipelines/"+id, "application/json", fmtJSON(t, v2), "X-Test-Actor", "bob")
		if got := decode(t, body); st != 200 || got["version"] != 2.0 || got["changed"] != true {
			t.Fatalf("second save = %d %s", st, body)
		}

		for v, author := range map[string]string{"1": "ana", "2": "bob"} {
			got := e.must(200, "GET", "/api/v1/pipelines/"+id+"/versions/"+v, nil)
			if got["author"] != author || got["spec"].(map[string]any)["name"] != "people" {
				t.Errorf("version %s = %v", v, got)
			}
		}
		e.must(404, "GET", "/api/v1/pipelines/"+id+"/versions/9", nil)

		diff := e.must(200, "GET", "/api/v1/pipelines/"+id+"/diff?from=1&to=2", nil)
		changes := diff["changes"].([]any)
		if len(changes) != 1 {
			t.Fatalf("changes = %v", changes)
		}
		if c := changes[0].(map[string]any); c["path"] != "options" || c["op"] != "added" || c["new"].(map[string]any)["batch_size"] != 100.0 {
			t.Errorf("change = %v", c)
		}
		for _, line := range []string{"--- version 1\n", "+++ version 2\n", "+options:\n", "+  batch_size: 100\n"} {
			if !strings.Contains(diff["unified"].(string), line) {
				t.Errorf("unified diff lacks %q:\n%s", line, diff["unified"])
			}
		}
		bad := e.must(404, "GET", "/api/v1/pipelines/"+id+"/diff?from=7&to=2", nil)
		if errs := bad["errors"].([]any); errs[0].(map[string]any)["location"] != "query.from" {
			t.Errorf("missing version problem: %v", bad)
		}

		// Restoring version 1 saves it again as version 3.
		st, _, body = e.raw("POST", "/api/v1/pipelines/"+id+"/versions/1/restore", "", "", "X-Test-Actor", "cy")
		if got := decode(t, body); st != 200 || got["version"] != 3.0 || got["changed"] != true {
			t.Fatalf("restore = %d %s", st, body)
		}
		v3 := e.must(200, "GET", "/api/v1/pipelines/"+id+"/versions/3", nil)
		if v3["author"] != "cy" || v3["spec"].(map[string]any)["options"] != nil {
			t.Errorf("restored version = %v", v3)
		}
		// The default diff compares the current version with the one before.
		diff = e.must(200, "GET", "/api/v1/pipelines/"+id+"/diff", nil)
		if diff["from"] != 2.0 || diff["to"] != 3.0 || diff["changes"].([]any)[0].(map[string]any)["op"] != "removed" {
			t.Errorf("default diff = %v", diff)
		}
		if got := e.must(200, "POST", "/api/v1/pipelines/"+id+"/versions/3/restore", nil); got["version"] != 3.0 || got["changed"] != false {
			t.Errorf("restore of the current spec = %v", got)
		}
		vs := e.must(200, "GET", "/api/v1/pipelines/"+id+"/versions", nil)
		if n := len(vs["items"].([]any)); n != 3 {
			t.Errorf("%d versions, want 3", n)
		}
	})
}

func TestListDeleteValidate(t *testing.T) {
	kinds2(t, func(t *testing.T, e *env, s store.Store) {
		csv := writeCSV(t, e.dir)
		e.must(201, "POST", "/api/v1/connections", map[string]any{"name": "out", "connector": "sqlite", "config": map[string]any{"path": filepath.Join(e.dir, "out.db")}})
		ids := map[string]string{}
		for _, name := range []string{"sales-eu", "sales-us", "stock"} {
			ids[name] = e.must(201, "POST", "/api/v1/pipelines", spec(name, csv, map[string]any{"connection": "out"}))["id"].(string)
			time.Sleep(2 * time.Millisecond)
		}
		e.must(200, "PATCH", "/api/v1/pipelines/"+ids["sales-us"], map[string]any{"enabled": false})
		names := func(query string) []string {
			t.Helper()
			var out []string
			for _, it := range e.must(200, "GET", "/api/v1/pipelines"+query, nil)["items"].([]any) {
				out = append(out, it.(map[string]any)["name"].(string))
			}
			return out
		}
		cases := []struct{ query, want string }{
			{"", "sales-eu sales-us stock"},
			{"?sort=-name", "stock sales-us sales-eu"},
			{"?name=SALES", "sales-eu sales-us"},
			{"?enabled=false", "sales-us"},
			{"?name=sales&enabled=true", "sales-eu"},
			{"?sort=-updated_at", "sales-us stock sales-eu"},
			{"?sort=updated_at&limit=1&offset=1", "stock"},
		}
		for _, c := range cases {
			if got := strings.Join(names(c.query), " "); got != c.want {
				t.Errorf("list%s = %q, want %q", c.query, got, c.want)
			}
		}
		e.must(422, "GET", "/api/v1/pipelines?sort=id", nil)

		// Validate a body and a stored pipeline.
		ok := e.must(200, "POST", "/api/v1/pipelines/validate", spec("x", csv, map[string]any{"connection": "out"}))
		if ok["valid"] != true || len(ok["errors"].([]any)) != 0 {
			t.Errorf("valid spec: %v", ok)
		}
		badSpec := spec("x", csv, map[string]any{"connection": "nowhere"})
		badSpec["source"].(map[string]any)["streams"].([]any)[0].(map[string]any)["sync_mode"] = "sometimes"
		bad := e.must(200, "POST", "/api/v1/pipelines/validate", badSpec)
		var paths []string
		for _, er := range bad["errors"].([]any) {
			paths = append(paths, er.(map[string]any)["path"].(string))
		}
		if bad["valid"] != false || !slices.Contains(paths, "destination.connection") || !slices.Contains(paths, "source.streams[0].sync_mode") {
			t.Errorf("invalid spec: %v", bad)
		}
		if got := e.must(200, "POST", "/api/v1/pipelines/validate", "{not json"); got["valid"] != false {
			t.Errorf("unreadable spec: %v", got)
		}
		if got := e.must(200, "POST", "/api/v1/pipelines/"+ids["stock"]+"/validate", nil); got["valid"] != true {
			t.Errorf("stored pipeline: %v", got)
		}
		conns := e.must(200, "GET", "/api/v1/connections", nil)["items"].([]any)
		e.must(204, "DELETE", "/api/v1/connections/"+conns[0].(map[string]any)["id"].(string), nil)
		if got := e.must(200, "POST", "/api/v1/pipelines/"+ids["stock"]+"/validate", nil); got["valid"] != false ||
			got["errors"].([]any)[0].(map[string]any)["path"] != "destination.connection" {
			t.Errorf("stored pipeline whose connection is gone: %v", got)
		}
		e.must(404, "POST", "/api/v1/pipelines/nope/validate", nil)

		// Delete: refused while a run is queued, then gone with its runs.
		run, err := s.CreateRun(context.Background(), store.NewRun{PipelineID: ids["stock"]})
		if err != nil {
			t.Fatal(err)
		}
		e.must(409, "DELETE", "/api/v1/pipelines/"+ids["stock"], nil)
		e.must(200, "POST", "/api/v1/runs/"+run.ID+"/cancel", nil)
		stateFile := filepath.Join(e.dir, "state", ids["stock"]+".json")
		if err := os.MkdirAll(filepath.Dir(stateFile), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(stateFile, []byte(`{"pipeline":"stock","streams":{}}`), 0o644); err != nil {
			t.Fatal(err)
		}
		e.must(204, "DELETE", "/api/v1/pipelines/"+ids["stock"], nil)
		if _, err := os.Stat(stateFile); !os.IsNotExist(err) {
			t.Errorf("state file of the deleted pipeline: %v", err)
		}
		e.must(404, "GET", "/api/v1/pipelines/"+ids["stock"], nil)
		e.must(404, "GET", "/api/v1/runs/"+run.ID, nil)
		e.must(404, "DELETE", "/api/v1/pipelines/"+ids["stock"], nil)
	})
}

func TestImportExport(t *testing.T) {
	// The spec names an environment variable, so the stores take turns.
	t.Setenv("OUT_DIR", filepath.Join(t.TempDir(), "out"))
	for _, kind := range []string{"sqlite", "postgres"} {
		t.Run(kind, func(t *testing.T) { testImportExport(t, kind) })
	}
}

func testImportExport(t *testing.T, kind string) {
	e, _ := startStore(t, kind)
	{
		csv := writeCSV(t, e.dir)
		file := `version: 1
name: people
source:
  connector: csv
  config:
    path: ` + csv + `
  streams:
    - name: people
      sync_mode: incremental_append
      cursor_field: id
      schema:
        id: int64
destination:
  connector: jsonl
  config:
    path: ${OUT_DIR}
`
		st, _, body := e.raw("POST", "/api/v1/pipelines/import", "application/yaml", file)
		created := decode(t, body)
		if st != 201 || created["created"] != true || created["version"] != 1.0 {
			t.Fatalf("import = %d %s", st, body)
		}
		id := created["id"].(string)
		st, _, body = e.raw("POST", "/api/v1/pipelines/import", "application/yaml", file)
		if got := decode(t, body); st != 200 || got["changed"] != false || got["version"] != 1.0 || got["id"] != id {
			t.Fatalf("import again = %d %s", st, body)
		}
		st, hdr, exported := e.raw("GET", "/api/v1/pipelines/"+id+"/export", "", "")
		if st != 200 || !strings.HasPrefix(hdr.Get("Content-Type"), "application/yaml") {
			t.Fatalf("export = %d %s %s", st, hdr, exported)
		}
		// The file as written: key order kept, ${VAR} not resolved.
		if exported != file {
			t.Errorf("export =\n%s\nwant\n%s", exported, file)
		}
		changed := strings.Replace(file, "incremental_append", "full_refresh_append", 1)
		st, _, body = e.raw("POST", "/api/v1/pipelines/import", "application/yaml", changed)
		if got := decode(t, body); st != 200 || got["changed"] != true || got["version"] != 2.0 {
			t.Fatalf("import a change = %d %s", st, body)
		}
		if _, _, old := e.raw("GET", "/api/v1/pipelines/"+id+"/export?version=1", "", ""); old != file {
			t.Errorf("export of version 1 =\n%s", old)
		}

		// Bad files are 422 problems saying where.
		st, _, body = e.raw("POST", "/api/v1/pipelines/import", "application/yaml", "version: 1\nname: [oops\n")
		if st != 422 || !strings.Contains(body, "the body must be a pipeline file") {
			t.Errorf("unreadable file = %d %s", st, body)
		}
		st, _, body = e.raw("POST", "/api/v1/pipelines/import", "application/yaml", strings.Replace(file, "incremental_append", "sometimes", 1))
		if st != 422 || !strings.Contains(body, `"location":"body.source.streams[0].sync_mode"`) {
			t.Errorf("bad sync mode = %d %s", st, body)
		}
	}
}

func TestResetStreamRefusedWhileRunning(t *testing.T) {
	kinds2(t, func(t *testing.T, e *env, s store.Store) {
		csv := writeCSV(t, e.dir)
		id := e.must(201, "POST", "/api/v1/pipelines", spec("people", csv, map[string]any{"connector": "jsonl", "config": map[string]any{"path": filepath.Join(e.dir, "out")}}))["id"].(string)
		run, err := s.CreateRun(context.Background(), store.NewRun{PipelineID: id})
		if err != nil {
			t.Fatal(err)
		}
		// A queued run does not stand in the way: it will read from the start.
		if got := e.must(200, "POST", "/api/v1/pipelines/"+id+"/streams/people/reset", nil); got["state_store"] != "destination" {
			t.Errorf("reset = %v", got)
		}
		if _, err := s.ClaimRun(context.Background(), run.ID, time.Now().Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		e.must(409, "POST", "/api/v1/pipelines/"+id+"/streams/people/reset", nil)
		e.must(404, "POST", "/api/v1/pipelines/"+id+"/streams/nope/reset", nil)
		e.must(404, "POST", "/api/v1/pipelines/nope/streams/people/reset", nil)

		lin := e.must(200, "GET", "/api/v1/pipelines/"+id+"/lineage", nil)
		cols := lin["streams"].([]any)[0].(map[string]any)["columns"].([]any)
		if c := cols[0].(map[string]any); c["name"] != "id" || c["type"] != "int64" || c["sources"].([]any)[0] != "id" {
			t.Errorf("lineage = %v", lin)
		}
		ol := e.must(200, "GET", "/api/v1/pipelines/"+id+"/lineage?format=openlineage", nil)
		if ol["eventType"] == nil {
			t.Errorf("openlineage event = %v", ol)
		}
	})
}

// TestResetStreamRereads runs an incremental pipeline through the workers:
// a second run reads nothing new; after a reset the next run reads every
// row again.
func TestResetStreamRereads(t *testing.T) {
	kinds(t, func(t *testing.T, e *env) {
		csv := writeCSV(t, e.dir)
		sp := spec("people", csv, map[string]any{"connector": "sqlite", "config": map[string]any{"path": filepath.Join(e.dir, "out.db")}})
		stream := sp["source"].(map[string]any)["streams"].([]any)[0].(map[string]any)
		stream["sync_mode"], stream["cursor_field"] = "incremental_append", "id"
		id := e.must(201, "POST", "/api/v1/pipelines", sp)["id"].(string)
		read := func() float64 {
			t.Helper()
			runID := e.must(202, "POST", "/api/v1/pipelines/"+id+"/runs", nil)["id"].(string)
			deadline := time.Now().Add(30 * time.Second)
			for {
				run := e.must(200, "GET", "/api/v1/runs/"+runID, nil)
				if run["status"] == "succeeded" {
					return run["streams"].([]any)[0].(map[string]any)["read"].(float64)
				}
				if run["status"] == "failed" || run["status"] == "cancelled" || time.Now().After(deadline) {
					t.Fatalf("run %v", run)
				}
				time.Sleep(50 * time.Millisecond)
			}
		}
		if n := read(); n != 3 {
			t.Fatalf("first run read %v", n)
		}
		if n := read(); n != 0 {
			t.Fatalf("second run read %v, want nothing new", n)
		}
		e.must(200, "POST", "/api/v1/pipelines/"+id+"/streams/people/reset", nil)
		if n := read(); n != 3 {
			t.Fatalf("run after reset read %v, want 3", n)
		}
	})
}

func kinds2(t *testing.T, f func(t *testing.T, e *env, s store.Store)) {
	for _, k := range []string{"sqlite", "postgres"} {
		t.Run(k, func(t *testing.T) {
			t.Parallel()
			e, s := startStore(t, k)
			f(t, e, s)
		})
	}
}

func decode(t *testing.T, body string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		t.Fatalf("%v in %s", err, body)
	}
	return m
}

func TestDependenciesOnImportDelete(t *testing.T) {
	kinds2(t, func(t *testing.T, e *env, _ store.Store) {
		csv := writeCSV(t, e.dir)
		dest := map[string]any{"connector": "jsonl", "config": map[string]any{"path": filepath.Join(e.dir, "out")}}
		up := e.must(201, "POST", "/api/v1/pipelines", spec("up", csv, dest))["id"].(string)
		file := func(deps string) string {
			return "version: 1\nname: down\ndepends_on: [" + deps + "]\nsource: {connector: csv, config: {path: " + csv + "}, streams: [{name: people}]}\ndestination: {connector: jsonl, config: {path: out}}\n"
		}
		st, _, body := e.raw("POST", "/api/v1/pipelines/import", "application/yaml", file("nowhere"))
		if st != 422 || !strings.Contains(body, "body.depends_on[0]") {
			t.Fatalf("import naming an unknown upstream = %d %s", st, body)
		}
		st, _, body = e.raw("POST", "/api/v1/pipelines/import", "application/yaml", file("up"))
		if st != 201 {
			t.Fatalf("import = %d %s", st, body)
		}
		down := decode(t, body)["id"].(string)
		got := e.must(409, "DELETE", "/api/v1/pipelines/"+up, nil)
		if !strings.Contains(got["detail"].(string), `"down" depend on "up"`) {
			t.Errorf("delete of an upstream: %v", got)
		}
		e.must(204, "DELETE", "/api/v1/pipelines/"+down, nil)
		e.must(204, "DELETE", "/api/v1/pipelines/"+up, nil)
	})
}
