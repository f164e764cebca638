package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

// TestApplyExport syncs a folder of files into a served store with
// `tributary apply`, applies it again (nothing changes, no new versions),
// runs the pipeline (the secret from the environment reached the server),
// resets its stream's state and runs it again (every row read again),
// exports the server back into files equal to the input, then applies a
// change and a mistake; on both metadata stores.
func TestApplyExport(t *testing.T) {
	for _, kind := range []string{"sqlite", "postgres"} {
		t.Run(kind, func(t *testing.T) { testApplyExport(t, kind) })
	}
}

func testApplyExport(t *testing.T, kind string) {
	conn := needPostgres(t)
	ctx := context.Background()
	suffix := strings.ReplaceAll(uuid.NewString()[:8], "-", "")
	schema, meta := "e2e_apply_"+suffix, "e2e_apply_meta_"+suffix
	t.Cleanup(func() {
		for _, s := range []string{schema, meta} {
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
		env = pgStoreEnv(pgURL + "&search_path=" + meta)
	}
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "data", "people.csv"), "id,name\n1,Ann\n2,Bob\n3,Eve\n")
	s := serve(t, dir, env)

	in := filepath.Join(dir, "in")
	// The files are written the way export writes them, so the round trip
	// can be compared byte for byte.
	files := map[string]string{
		"connections/warehouse.yaml": `kind: connection
name: warehouse
connector: postgres
config:
  schema: ` + schema + `
  url: ${WAREHOUSE_URL}
`,
		"people.yaml": `version: 1
name: people
source:
  connector: csv
  config:
    path: ` + filepath.Join(dir, "data", "people.csv") + `
  streams:
    - name: people
      sync_mode: incremental_append
      cursor_field: id
      schema:
        id: int64
destination:
  connection: warehouse
`,
	}
	for name, body := range files {
		writeFile(t, filepath.Join(in, name), body)
	}
	server := []string{"--server", s.base, "--token", "t0ken"}
	apply := func(env []string, args ...string) result {
		t.Helper()
		return tributary(t, dir, env, append(append([]string{"apply", "-f", in}, server...), args...)...)
	}
	secret := []string{"WAREHOUSE_URL=" + pgURL}

	// A new connection needs its secret.
	r := apply(nil)
	if r.code == 0 {
		t.Fatalf("apply without WAREHOUSE_URL succeeded:\n%s", r.stdout)
	}
	mustContain(t, "apply without the secret", r.stderr, "WAREHOUSE_URL (config.url)", filepath.Join("connections", "warehouse.yaml"))

	r = apply(secret, "--dry-run")
	if r.code != 0 {
		t.Fatalf("dry run: %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	mustContain(t, "dry-run plan", r.stdout, "connection warehouse: create", "pipeline people: create", "Plan: 2 to create, 0 to update, 0 unchanged.")
	var list struct {
		Items []struct {
			ID      string `json:"id"`
			Name    string `json:"name"`
			Version int    `json:"version"`
		} `json:"items"`
	}
	s.json(200, "GET", "/api/v1/pipelines", nil, &list)
	if len(list.Items) != 0 {
		t.Fatalf("a dry run created %+v", list.Items)
	}

	r = apply(secret)
	if r.code != 0 {
		t.Fatalf("apply: %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	mustContain(t, "apply", r.stdout, "Plan: 2 to create", "pipeline people: version 1", "Applied.")

	// Idempotent: everything unchanged, no new version (with or without
	// the secret's variable).
	for _, env := range [][]string{secret, nil} {
		r = apply(env)
		if r.code != 0 {
			t.Fatalf("apply again: %d\n%s%s", r.code, r.stdout, r.stderr)
		}
		mustContain(t, "second apply", r.stdout, "connection warehouse: unchanged", "pipeline people: unchanged", "Plan: 0 to create, 0 to update, 2 unchanged.")
		if strings.Contains(r.stdout, "Applied.") {
			t.Errorf("an unchanged plan was applied:\n%s", r.stdout)
		}
	}
	s.json(200, "GET", "/api/v1/pipelines", nil, &list)
	if len(list.Items) != 1 || list.Items[0].Version != 1 {
		t.Fatalf("pipelines after two applies: %+v", list.Items)
	}
	id := list.Items[0].ID

	// Runs of the incremental pipeline: the second reads nothing new; after
	// a reset of the stream the next reads every row again.
	read := func() int64 {
		t.Helper()
		var run apiRun
		s.json(202, "POST", "/api/v1/pipelines/"+id+"/runs", nil, &run)
		deadline := time.Now().Add(60 * time.Second)
		for run.Status == "queued" || run.Status == "running" {
			if time.Now().After(deadline) {
				t.Fatalf("run still %s:\n%s", run.Status, s.logs)
			}
			time.Sleep(100 * time.Millisecond)
			s.json(200, "GET", "/api/v1/runs/"+run.ID, nil, &run)
		}
		if run.Status != "succeeded" {
			t.Fatalf("run %+v\n%s", run, s.logs)
		}
		return run.Streams[0].Read
	}
	if n := read(); n != 3 {
		t.Errorf("first run read %d rows, want 3", n)
	}
	if n := read(); n != 0 {
		t.Errorf("second run read %d rows, want none", n)
	}
	var reset struct {
		StateStore string `json:"state_store"`
	}
	s.json(200, "POST", "/api/v1/pipelines/"+id+"/streams/people/reset", nil, &reset)
	if reset.StateStore != "destination" {
		t.Errorf("state reset in %q, want the destination", reset.StateStore)
	}
	if n := read(); n != 3 {
		t.Errorf("run after the reset read %d rows, want 3", n)
	}
	// incremental_append loads the rows read again a second time.
	if n := queryInt(t, conn, fmt.Sprintf(`SELECT count(*) FROM %s.people`, schema)); n != 6 {
		t.Errorf("%d rows loaded, want 6", n)
	}

	// Export writes the same files back; the secret is a placeholder.
	out := filepath.Join(dir, "out")
	r = tributary(t, dir, nil, append([]string{"export", "-o", out}, server...)...)
	if r.code != 0 {
		t.Fatalf("export: %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	mustContain(t, "export", r.stdout, "Wrote 1 pipelines and 1 connections")
	if got, want := tree(t, out), tree(t, in); !slices.Equal(got, want) {
		t.Fatalf("exported files %q, want %q", got, want)
	}
	for name, body := range files {
		b, err := os.ReadFile(filepath.Join(out, name))
		if err != nil {
			t.Fatal(err)
		}
		if string(b) != body {
			t.Errorf("exported %s =\n%s\nwant\n%s", name, b, body)
		}
		if strings.Contains(string(b), "postgres://") {
			t.Errorf("exported %s holds the secret", name)
		}
	}
	// The export applies as is: nothing to do.
	r = tributary(t, dir, secret, append([]string{"apply", "-f", out}, server...)...)
	mustContain(t, "apply of the export", r.stdout, "Plan: 0 to create, 0 to update, 2 unchanged.")

	// A change is planned with its paths, then saved as version 2.
	writeFile(t, filepath.Join(in, "people.yaml"), files["people.yaml"]+"options:\n  batch_size: 500\n")
	r = apply(nil, "--dry-run")
	mustContain(t, "plan of a change", r.stdout, "pipeline people: update", `+ options: {"batch_size":500}`, "Plan: 0 to create, 1 to update, 1 unchanged.")
	r = apply(nil)
	if r.code != 0 {
		t.Fatalf("apply a change: %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	mustContain(t, "apply a change", r.stdout, "pipeline people: version 2")
	var diff struct {
		Changes []struct {
			Path string `json:"path"`
			Op   string `json:"op"`
		} `json:"changes"`
	}
	s.json(200, "GET", "/api/v1/pipelines/"+id+"/diff?from=1&to=2", nil, &diff)
	if len(diff.Changes) != 1 || diff.Changes[0].Path != "options" || diff.Changes[0].Op != "added" {
		t.Errorf("diff of the applied change: %+v", diff)
	}

	// A mistake is reported with its file and path; nothing is saved.
	writeFile(t, filepath.Join(in, "people.yaml"), strings.Replace(files["people.yaml"], "incremental_append", "sometimes", 1))
	r = apply(nil)
	if r.code == 0 {
		t.Fatalf("apply of an invalid spec succeeded:\n%s", r.stdout)
	}
	mustContain(t, "apply of an invalid spec", r.stderr, "1 of 1 changes refused", "pipeline people", "people.yaml", "source.streams[0].sync_mode")
	mustContain(t, "apply of an invalid spec", r.stdout, "pipeline people: refused")
	s.json(200, "GET", "/api/v1/pipelines", nil, &list)
	if list.Items[0].Version != 2 {
		t.Errorf("version after a refused apply: %d", list.Items[0].Version)
	}
}

// tree lists the files under dir, relative to it.
func tree(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		out = append(out, rel)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}
