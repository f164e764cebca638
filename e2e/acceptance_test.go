package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// people2 is the second file of the acceptance example: 100 changed ids
// (1..100, newer updated_at and a new amount) and 50 new ones (1001..1050).
func people2() string {
	var b strings.Builder
	b.WriteString("id,name,email,amount,country,active,updated_at\n")
	for i := 1; i <= 100; i++ {
		fmt.Fprintf(&b, "%d,\"Changed %d\",changed.%d@example.com,%d.25,US,true,2026-02-01 10:00:00\n", i, i, i, 5000+i)
	}
	for i := 1001; i <= 1050; i++ {
		fmt.Fprintf(&b, "%d,\"New %d\",new.%d@example.com,7.00,DE,false,2026-02-01 11:00:00\n", i, i, i)
	}
	return b.String()
}

type runJSON struct {
	RunID   string `json:"run_id"`
	Status  string `json:"status"`
	Streams []struct {
		Name        string `json:"name"`
		Read        int64  `json:"read"`
		Written     int64  `json:"written"`
		Quarantined int64  `json:"quarantined"`
		Filtered    int64  `json:"filtered"`
		Dedup       int64  `json:"deduplicated"`
	} `json:"streams"`
}

func runPipeline(t *testing.T, dir string, env []string, args ...string) runJSON {
	t.Helper()
	r := tributary(t, dir, env, append([]string{"run", "--json"}, args...)...)
	if r.code != 0 {
		t.Fatalf("tributary run %v exited %d:\n%s\n%s", args, r.code, r.stdout, r.stderr)
	}
	var out runJSON
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatalf("run output is not JSON: %v\n%s", err, r.stdout)
	}
	for _, s := range out.Streams {
		if s.Read != s.Written+s.Quarantined+s.Filtered+s.Dedup {
			t.Errorf("stream %s: read %d != written %d + quarantined %d + filtered %d + deduplicated %d", s.Name, s.Read, s.Written, s.Quarantined, s.Filtered, s.Dedup)
		}
	}
	return out
}

// TestAcceptancePostgres runs examples/people-to-postgres.yaml exactly as
// written: 1,000 good rows and 3 broken ones, then a second file with 100
// changed and 50 new ids.
func TestAcceptancePostgres(t *testing.T) {
	conn := needPostgres(t)
	ctx := context.Background()
	if _, err := conn.Exec(ctx, `DROP SCHEMA IF EXISTS analytics CASCADE`); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	copyFile(t, "../examples/people-to-postgres.yaml", filepath.Join(dir, "people.yaml"))
	copyFile(t, "../examples/data/people1.csv", filepath.Join(dir, "data/people1.csv"))
	env := []string{"PG_URL=" + pgURL}

	first := runPipeline(t, dir, env, "people.yaml")
	if s := first.Streams[0]; s.Read != 1003 || s.Written != 1000 || s.Quarantined != 3 {
		t.Fatalf("first run: %+v", s)
	}
	if n := queryInt(t, conn, `SELECT count(*) FROM analytics.people`); n != 1000 {
		t.Fatalf("analytics.people holds %d rows, want 1000", n)
	}
	if n := queryInt(t, conn, `SELECT count(*) FROM analytics._tributary_quarantine WHERE run_id = $1`, first.RunID); n != 3 {
		t.Fatalf("quarantine holds %d rows for run %s, want 3", n, first.RunID)
	}
	var origin, reason, raw string
	if err := conn.QueryRow(ctx, `SELECT origin, reason, raw FROM analytics._tributary_quarantine WHERE run_id = $1 ORDER BY origin LIMIT 1`, first.RunID).Scan(&origin, &reason, &raw); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(origin, "people1.csv:") || reason == "" || raw == "" {
		t.Errorf("quarantine row: origin %q reason %q raw %q", origin, reason, raw)
	}

	writeFile(t, filepath.Join(dir, "data/people2.csv"), people2())
	second := runPipeline(t, dir, env, "people.yaml")
	if s := second.Streams[0]; s.Read != 150 || s.Written != 150 {
		t.Errorf("second run read only the new file? %+v", s)
	}
	if n := queryInt(t, conn, `SELECT count(*) FROM analytics.people`); n != 1050 {
		t.Fatalf("after second run analytics.people holds %d rows, want 1050", n)
	}
	if n := queryInt(t, conn, `SELECT count(*) FROM analytics.people WHERE name LIKE 'Changed %' AND amount > 5000`); n != 100 {
		t.Errorf("%d rows updated, want 100", n)
	}

	// --full-refresh reads both files again; the merge keeps 1,050 rows.
	third := runPipeline(t, dir, env, "people.yaml", "--full-refresh")
	if s := third.Streams[0]; s.Read != 1153 {
		t.Errorf("full refresh read %d rows, want 1153", s.Read)
	}
	if n := queryInt(t, conn, `SELECT count(*) FROM analytics.people`); n != 1050 {
		t.Errorf("after full refresh analytics.people holds %d rows, want 1050", n)
	}
}

// The same pipeline into SQLite and JSONL files behaves the same way.
func TestAcceptanceOtherDestinations(t *testing.T) {
	for _, c := range []struct{ file string }{{"people-to-sqlite.yaml"}, {"people-to-jsonl.yaml"}} {
		t.Run(c.file, func(t *testing.T) {
			dir := t.TempDir()
			copyFile(t, "../examples/"+c.file, filepath.Join(dir, "people.yaml"))
			copyFile(t, "../examples/data/people1.csv", filepath.Join(dir, "data/people1.csv"))
			first := runPipeline(t, dir, nil, "people.yaml")
			if s := first.Streams[0]; s.Written != 1000 || s.Quarantined != 3 {
				t.Fatalf("first run: %+v", s)
			}
			writeFile(t, filepath.Join(dir, "data/people2.csv"), people2())
			second := runPipeline(t, dir, nil, "people.yaml", "--state", filepath.Join(dir, "custom.state.json"))
			if s := second.Streams[0]; s.Written != 150 {
				t.Fatalf("second run: %+v", s)
			}
			rows, quarantined := countDestination(t, dir, c.file)
			if rows != 1050 || quarantined != 3 {
				t.Errorf("destination holds %d rows and %d quarantined, want 1050 and 3", rows, quarantined)
			}
		})
	}
}

func TestValidateReportsPathAndLine(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "bad.yaml"), `version: 1
name: bad
source:
  connector: csv
  config: {path: ./x.csv}
  streams: [{name: x}]
destination:
  connector: jsonl
  config: {path: ./out/}
transforms:
  - rename: {a: b}
  - cast:
      amount: decmal
`)
	r := tributary(t, dir, nil, "validate", "bad.yaml")
	if r.code == 0 {
		t.Fatal("validate accepted a bad file")
	}
	mustContain(t, "validate output", r.stderr, `bad.yaml:13: transforms[1].cast.amount: unknown type "decmal"`)

	// A rule naming a column the stream does not have is found by planning
	// the steps on the schema the source discovers.
	writeFile(t, filepath.Join(dir, "x.csv"), "id,email\n1,a@example.com\n")
	writeFile(t, filepath.Join(dir, "missing.yaml"), `version: 1
name: missing
source:
  connector: csv
  config: {path: ./x.csv}
  streams: [{name: x}]
destination:
  connector: jsonl
  config: {path: ./out/}
transforms:
  - validate:
      rules:
        - {field: emial, rule: email}
`)
	r = tributary(t, dir, nil, "validate", "missing.yaml")
	if r.code == 0 {
		t.Fatal("validate accepted a rule on a missing column")
	}
	mustContain(t, "validate output", r.stderr, `missing.yaml:11: transforms[0].validate: rule email: field "emial" is not in the stream`)
	if r := tributary(t, dir, nil, "validate", "--offline", "missing.yaml"); r.code != 0 {
		t.Errorf("validate --offline: %s", r.stderr)
	}

	// A stream whose path only its own entry gives is discovered with it,
	// and a misspelt key of a stream entry is an error, not ignored.
	writeFile(t, filepath.Join(dir, "own.yaml"), `version: 1
name: own
source:
  connector: csv
  streams:
    - {name: x, path: ./x.csv, sync_mode: incremental_append, cursor_field: id}
destination:
  connector: jsonl
  config: {path: ./out/}
`)
	if r := tributary(t, dir, nil, "validate", "own.yaml"); r.code != 0 {
		t.Errorf("validate of a stream with its own path: %s", r.stderr)
	}
	writeFile(t, filepath.Join(dir, "typo.yaml"), `version: 1
name: typo
source:
  connector: csv
  streams:
    - {name: x, path: ./x.csv, sync_mod: incremental_append}
destination:
  connector: jsonl
  config: {path: ./out/}
`)
	r = tributary(t, dir, nil, "validate", "--offline", "typo.yaml")
	if r.code == 0 {
		t.Fatal("validate accepted a misspelt stream key")
	}
	mustContain(t, "validate output", r.stderr, `typo.yaml:6: source.streams[0]: additional properties 'sync_mod' not allowed`)

	abs, err := filepath.Abs("../examples/people-to-postgres.yaml")
	if err != nil {
		t.Fatal(err)
	}
	r = tributary(t, dir, nil, "run", abs)
	if r.code == 0 {
		t.Fatal("run without PG_URL succeeded")
	}
	mustContain(t, "run output", r.stderr, "environment variable PG_URL is not set")
}

func TestConnectorCommands(t *testing.T) {
	r := tributary(t, ".", nil, "connectors")
	for _, name := range []string{"csv", "json", "jsonl", "xml", "parquet", "postgres", "mysql", "sqlite"} {
		mustContain(t, "connectors", r.stdout, name)
	}
	r = tributary(t, ".", nil, "connectors", "spec", "postgres", "--kind", "destination")
	var spec struct {
		Config struct {
			Properties map[string]map[string]any `json:"properties"`
		} `json:"config"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &spec); err != nil {
		t.Fatalf("spec is not JSON: %v\n%s", err, r.stdout)
	}
	if spec.Config.Properties["url"]["x-secret"] != true {
		t.Errorf("postgres url is not marked secret: %v", spec.Config.Properties["url"])
	}

	dir := t.TempDir()
	copyFile(t, "../examples/people-to-sqlite.yaml", filepath.Join(dir, "people.yaml"))
	copyFile(t, "../examples/data/people1.csv", filepath.Join(dir, "data/people1.csv"))
	r = tributary(t, dir, nil, "discover", "people.yaml")
	mustContain(t, "discover", r.stdout, "stream people", "primary key:       id", "email", "updated_at", "int64")
	r = tributary(t, dir, nil, "check", "people.yaml")
	if r.code != 0 {
		t.Errorf("check failed: %s %s", r.stdout, r.stderr)
	}
	mustContain(t, "check", r.stdout, "source csv: ok", "destination sqlite: ok")
	if _, err := os.Stat(filepath.Join(dir, "data")); err != nil {
		t.Fatal(err)
	}
}

// TestTransformsExample runs examples/transforms.yaml as written: validate,
// preview, lineage and a run whose counts add up.
func TestTransformsExample(t *testing.T) {
	dir := t.TempDir()
	copyFile(t, "../examples/transforms.yaml", filepath.Join(dir, "transforms.yaml"))
	copyFile(t, "../examples/data/customers.csv", filepath.Join(dir, "data/customers.csv"))
	env := []string{"MASK_SALT=e2e-salt"}
	if r := tributary(t, dir, env, "validate", "transforms.yaml"); r.code != 0 {
		t.Fatalf("validate: %s", r.stderr)
	}
	r := tributary(t, dir, env, "preview", "transforms.yaml", "--rows", "20")
	mustContain(t, "preview", r.stdout, "-- step 1: rename", "-- step 7: mask", "-- rejected", "validate")
	r = tributary(t, dir, env, "lineage", "transforms.yaml")
	mustContain(t, "lineage", r.stdout, "full_name", "email_domain")
	r = tributary(t, dir, env, "lineage", "transforms.yaml", "--openlineage")
	mustContain(t, "openlineage", r.stdout, `"eventType"`, `"columnLineage"`)

	res := runPipeline(t, dir, env, "transforms.yaml")
	s := res.Streams[0]
	if s.Read != 20 || s.Quarantined == 0 || s.Filtered == 0 || s.Written == 0 || s.Dedup == 0 {
		t.Errorf("counts = %+v", s)
	}
	r = tributary(t, dir, env, "run", "transforms.yaml", "--profile")
	mustContain(t, "run --profile", r.stdout, "profile of customers", "null_ratio(email) <= 0.01: passed", "email_domain")
	if r := tributary(t, dir, nil, "validate", "transforms.yaml"); r.code == 0 || !strings.Contains(r.stderr, "MASK_SALT") {
		t.Errorf("validate without MASK_SALT: %d %s", r.code, r.stderr)
	}
}
