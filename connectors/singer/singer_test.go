package singer_test

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tributary-data/tributary/connector"
	"github.com/tributary-data/tributary/connectors/singer"
	"github.com/tributary-data/tributary/engine"
	"github.com/tributary-data/tributary/pipeline"

	_ "github.com/tributary-data/tributary/connectors/csv"
	_ "github.com/tributary-data/tributary/connectors/jsonl"
	_ "github.com/tributary-data/tributary/connectors/sqlite"
)

// tapBin and targetBin are the test tap and target, built once.
var tapBin, targetBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "singer-bin-*")
	if err != nil {
		panic(err)
	}
	tapBin, targetBin = filepath.Join(dir, "tap-demo"), filepath.Join(dir, "target-demo")
	for bin, pkg := range map[string]string{tapBin: "./testdata/tap", targetBin: "./testdata/target"} {
		if out, err := exec.Command("go", "build", "-o", bin, pkg).CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "build %s: %v\n%s", pkg, err, out)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type user struct {
	ID        int64    `json:"id"`
	Name      *string  `json:"name"`
	UpdatedAt string   `json:"updated_at"`
	Score     any      `json:"score,omitempty"`
	Tags      []string `json:"tags,omitempty"`
}

func writeUsers(t *testing.T, path string, from, to int) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for i := from; i <= to; i++ {
		name := fmt.Sprintf("user %d", i)
		u := user{ID: int64(i), Name: &name, UpdatedAt: time.Date(2026, 1, 1, i, 0, 0, 0, time.UTC).Format(time.RFC3339),
			Score: json.Number(fmt.Sprintf("%d.25", i)), Tags: []string{"t"}}
		if i == 3 {
			u.Name, u.Score, u.Tags = nil, nil, nil
		}
		b, _ := json.Marshal(u)
		f.Write(append(b, '\n'))
	}
}

// tapLog returns what the tap recorded of each of its runs.
type tapRun struct {
	Flag     string   `json:"flag"`
	Selected []string `json:"selected"`
	State    string   `json:"state"`
	Token    string   `json:"token"`
}

func readTapLog(t *testing.T, path string) []tapRun {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []tapRun
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var r tapRun
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

func tapConfig(dir string, extra map[string]any) map[string]any {
	cfg := map[string]any{"data": filepath.Join(dir, "users.jsonl"), "log": filepath.Join(dir, "tap.log")}
	for k, v := range extra {
		cfg[k] = v
	}
	return cfg
}

func TestDiscover(t *testing.T) {
	dir := t.TempDir()
	raw, _ := json.Marshal(map[string]any{"command": tapBin, "config": tapConfig(dir, nil)})
	src, err := singer.NewSource(context.Background(), raw)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if err := src.Check(context.Background()); err != nil {
		t.Fatal(err)
	}
	cat, err := src.Discover(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	users := cat.Find("users")
	if users == nil || cat.Find("audit") == nil || len(cat.Streams) != 2 {
		t.Fatalf("catalog: %+v", cat)
	}
	want := connector.NewSchema(
		connector.Field{Name: "id", Type: connector.TypeInt64},
		connector.Field{Name: "name", Type: connector.TypeString, Nullable: true},
		connector.Field{Name: "updated_at", Type: connector.TypeTimestamp},
		connector.Field{Name: "score", Type: connector.TypeDecimal, Nullable: true},
		connector.Field{Name: "tags", Type: connector.TypeJSON, Nullable: true},
	)
	if !users.Schema.Equal(want) {
		t.Errorf("schema = %+v, want %+v", users.Schema, want)
	}
	if !slices.Equal(users.PrimaryKey, []string{"id"}) || !slices.Equal(users.CursorCandidates, []string{"updated_at"}) {
		t.Errorf("primary key %v, cursor candidates %v", users.PrimaryKey, users.CursorCandidates)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name, config, want string
		dest               bool
	}{
		{"no command", `{}`, "config.command: is required", false},
		{"unknown key", `{"command":"x","comand":"y"}`, `unknown field "comand"`, false},
		{"catalog flag", `{"command":"x","catalog_flag":"both"}`, "config.catalog_flag", false},
		{"commit timeout", `{"command":"x","commit_timeout":"soon"}`, "config.commit_timeout", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			if tc.dest {
				_, err = singer.NewDestination(context.Background(), json.RawMessage(tc.config))
			} else {
				_, err = singer.NewSource(context.Background(), json.RawMessage(tc.config))
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

// tapPipeline is a pipeline from the test tap into SQLite.
func tapPipeline(t *testing.T, dir string, src map[string]any, options string) *pipeline.Spec {
	t.Helper()
	cfg, _ := json.Marshal(src)
	doc := fmt.Sprintf(`version: 1
name: users-from-tap
source:
  connector: singer
  config: %s
  streams:
    - name: users
      sync_mode: incremental_append
      primary_key: [id]
      cursor_field: updated_at
destination:
  connector: sqlite
  config: {path: %q}
%s`, cfg, filepath.Join(dir, "out.db"), options)
	spec, err := pipeline.Parse([]byte(doc), nil)
	if err != nil {
		t.Fatal(err)
	}
	return spec
}

func execute(t *testing.T, spec *pipeline.Spec, opts engine.Options) (*engine.Result, error) {
	t.Helper()
	r, err := engine.New(spec, opts)
	if err != nil {
		t.Fatal(err)
	}
	return r.Execute(context.Background())
}

func openDB(t *testing.T, dir string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", filepath.Join(dir, "out.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func ids(t *testing.T, db *sql.DB) []int64 {
	t.Helper()
	rows, err := db.Query(`SELECT id FROM users ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		out = append(out, id)
	}
	return out
}

func seq(from, to int64) []int64 {
	var out []int64
	for i := from; i <= to; i++ {
		out = append(out, i)
	}
	return out
}

func checkInvariant(t *testing.T, res *engine.Result) {
	t.Helper()
	for _, s := range res.Streams {
		if s.Read != s.Written+s.Quarantined+s.Filtered+s.Deduplicated {
			t.Errorf("stream %s: read %d != written %d + quarantined %d + filtered %d + deduplicated %d",
				s.Name, s.Read, s.Written, s.Quarantined, s.Filtered, s.Deduplicated)
		}
	}
}

// A tap run through the engine into SQLite, then run again after new data:
// the second run hands the tap the saved state and loads only new records.
func TestTapIntoSQLiteResumesFromState(t *testing.T) {
	for _, flag := range []string{"catalog", "properties"} {
		t.Run(flag, func(t *testing.T) {
			dir := t.TempDir()
			writeUsers(t, filepath.Join(dir, "users.jsonl"), 1, 5)
			src := map[string]any{"command": tapBin, "catalog_flag": flag,
				"config": tapConfig(dir, nil), "secret_config": map[string]any{"token": "s3cret"}}
			res, err := execute(t, tapPipeline(t, dir, src, ""), engine.Options{})
			if err != nil {
				t.Fatal(err)
			}
			checkInvariant(t, res)
			if s := res.Streams[0]; s.Read != 5 || s.Written != 5 {
				t.Fatalf("first run: %+v", s)
			}
			db := openDB(t, dir)
			if got := ids(t, db); !slices.Equal(got, seq(1, 5)) {
				t.Fatalf("ids = %v", got)
			}
			var name sql.NullString
			var score string
			if err := db.QueryRow(`SELECT name, CAST(score AS TEXT) FROM users WHERE id = 4`).Scan(&name, &score); err != nil {
				t.Fatal(err)
			}
			if name.String != "user 4" || score != "4.25" {
				t.Errorf("user 4: %v %q", name, score)
			}

			writeUsers(t, filepath.Join(dir, "users.jsonl"), 6, 7)
			res, err = execute(t, tapPipeline(t, dir, src, ""), engine.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if s := res.Streams[0]; s.Read != 2 || s.Written != 2 {
				t.Fatalf("second run: %+v", s)
			}
			if got := ids(t, db); !slices.Equal(got, seq(1, 7)) {
				t.Fatalf("ids = %v", got)
			}
			runs := readTapLog(t, filepath.Join(dir, "tap.log"))
			if len(runs) != 2 {
				t.Fatalf("tap ran %d times", len(runs))
			}
			for i, r := range runs {
				if r.Flag != flag || !slices.Equal(r.Selected, []string{"users"}) || r.Token != "s3cret" {
					t.Errorf("run %d: %+v", i, r)
				}
			}
			if runs[0].State != "" {
				t.Errorf("first run got state %q", runs[0].State)
			}
			if want := `{"bookmarks":{"users":{"updated_at":"2026-01-01T05:00:00Z"}}}`; runs[1].State != want {
				t.Errorf("second run got state %s, want %s", runs[1].State, want)
			}
		})
	}
}

// Records that break the schema and broken record lines are quarantined
// with their line; the rest loads.
func TestMalformedMessagesAreQuarantined(t *testing.T) {
	dir := t.TempDir()
	writeUsers(t, filepath.Join(dir, "users.jsonl"), 1, 3)
	src := map[string]any{"command": tapBin, "config": tapConfig(dir, map[string]any{"mode": "malformed"})}
	res, err := execute(t, tapPipeline(t, dir, src, ""), engine.Options{})
	if err != nil {
		t.Fatal(err)
	}
	checkInvariant(t, res)
	if s := res.Streams[0]; s.Read != 6 || s.Written != 3 || s.Quarantined != 3 {
		t.Fatalf("stream: %+v", s)
	}
	db := openDB(t, dir)
	if got := ids(t, db); !slices.Equal(got, seq(1, 3)) {
		t.Fatalf("ids = %v", got)
	}
	rows, err := db.Query(`SELECT origin, reason, raw FROM _tributary_quarantine ORDER BY origin`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		var origin, reason, raw string
		if err := rows.Scan(&origin, &reason, &raw); err != nil {
			t.Fatal(err)
		}
		got = append(got, origin+" | "+reason)
		if !strings.Contains(raw, `"type":"RECORD"`) {
			t.Errorf("raw %q is not the message", raw)
		}
	}
	// Lines: 1-2 audit, 3 SCHEMA users, 4 first record, 5-9 the bad ones.
	want := []string{
		`tap-demo:5 | line 5: record does not match the schema of stream users: field "id": string value "x1", but the schema declares integer`,
		`tap-demo:6 | line 6: RECORD is not valid JSON: unexpected end of JSON input`,
		`tap-demo:8 | line 8: record does not match the schema of stream users: field "updated_at": not a timestamp: "not a date"`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("quarantine:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// A line that is neither JSON nor a recognisable record fails the run.
func TestGarbageOutputFailsTheRun(t *testing.T) {
	dir := t.TempDir()
	writeUsers(t, filepath.Join(dir, "users.jsonl"), 1, 3)
	src := map[string]any{"command": tapBin, "config": tapConfig(dir, map[string]any{"mode": "garbage"})}
	_, err := execute(t, tapPipeline(t, dir, src, ""), engine.Options{})
	if err == nil || !strings.Contains(err.Error(), "line 6 of the tap's output is not a Singer message") ||
		!strings.Contains(err.Error(), "Fetching page 2 of users...") {
		t.Fatalf("err = %v", err)
	}
}

// A tap that exits non-zero fails the run with its stderr tail. What its
// last STATE covers stays loaded, nothing past it, and the next run
// resumes there: every record is loaded once.
func TestTapExitingNonZero(t *testing.T) {
	dir := t.TempDir()
	writeUsers(t, filepath.Join(dir, "users.jsonl"), 1, 7)
	src := map[string]any{"command": tapBin, "config": tapConfig(dir, map[string]any{"mode": "fail", "fail_after": 5})}
	res, err := execute(t, tapPipeline(t, dir, src, "options: {commit_rows: 1}"), engine.Options{})
	if err == nil || !strings.Contains(err.Error(), "tap failed: exit status 3") ||
		!strings.Contains(err.Error(), "error: connection reset by peer while reading users") ||
		!strings.Contains(err.Error(), "1 records after its last STATE were not loaded") {
		t.Fatalf("err = %v", err)
	}
	if res.Status != engine.Failed {
		t.Fatalf("status %s", res.Status)
	}
	db := openDB(t, dir)
	// The tap sent STATE after records 2 and 4: the engine commits what
	// the last one covers before the run fails, and nothing after it.
	loaded := ids(t, db)
	if !slices.Equal(loaded, seq(1, 4)) {
		t.Fatalf("after the failed run ids = %v, want 1..4, up to the tap's last STATE", loaded)
	}
	src["config"] = tapConfig(dir, nil)
	res, err = execute(t, tapPipeline(t, dir, src, "options: {commit_rows: 1}"), engine.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if s := res.Streams[0]; s.Read != int64(7-len(loaded)) || s.Written != s.Read {
		t.Fatalf("resumed run after %d loaded: %+v", len(loaded), s)
	}
	if got := ids(t, db); !slices.Equal(got, seq(1, 7)) {
		t.Fatalf("ids = %v", got)
	}
}

// targetPipeline reads a CSV file into the test target.
func targetPipeline(t *testing.T, dir string, target map[string]any) *pipeline.Spec {
	t.Helper()
	cfg, _ := json.Marshal(target)
	doc := fmt.Sprintf(`version: 1
name: people-to-target
source:
  connector: csv
  config: {path: %q}
  streams:
    - name: people
      sync_mode: incremental_append
      primary_key: [id]
      cursor_field: updated_at
      schema: {id: int64, amount: decimal, updated_at: timestamp}
destination:
  connector: singer
  config: %s
options: {batch_size: 2, commit_rows: 1}
`, filepath.Join(dir, "in", "*.csv"), cfg)
	spec, err := pipeline.Parse([]byte(doc), nil)
	if err != nil {
		t.Fatal(err)
	}
	return spec
}

func writeCSV(t *testing.T, dir, name string, from, to int) {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(dir, "in"), 0o755); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	b.WriteString("id,name,amount,updated_at\n")
	for i := from; i <= to; i++ {
		fmt.Fprintf(&b, "%d,person %d,%d.10,2026-02-%02dT10:00:00Z\n", i, i, i, i)
	}
	if err := os.WriteFile(filepath.Join(dir, "in", name), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

func targetLines(t *testing.T, path string) []map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

// A CSV source through the engine into a target: SCHEMA from our schema,
// records, and each commit confirmed by the target's echo of the state;
// a second run adds only the new file's rows.
func TestCSVIntoTarget(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	os.Mkdir(out, 0o755)
	writeCSV(t, dir, "a.csv", 1, 5)
	target := map[string]any{"command": targetBin, "config": map[string]any{"out": out}}
	statePath := filepath.Join(dir, "state.json")
	res, err := execute(t, targetPipeline(t, dir, target), engine.Options{StatePath: statePath})
	if err != nil {
		t.Fatal(err)
	}
	checkInvariant(t, res)
	recs := targetLines(t, filepath.Join(out, "people.jsonl"))
	if len(recs) != 5 {
		t.Fatalf("target holds %d records", len(recs))
	}
	if r := recs[1]; r["id"] != 2.0 || r["name"] != "person 2" || r["amount"] != 2.1 || r["updated_at"] != "2026-02-02T10:00:00Z" {
		t.Errorf("record 2: %v", r)
	}
	var schema struct {
		Schema map[string]any `json:"schema"`
		Keys   []string       `json:"key_properties"`
	}
	b, err := os.ReadFile(filepath.Join(out, "people.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &schema); err != nil {
		t.Fatal(err)
	}
	props, _ := schema.Schema["properties"].(map[string]any)
	if fmt.Sprint(props["updated_at"]) != "map[format:date-time type:[string null]]" || fmt.Sprint(props["id"]) != "map[type:[integer null]]" ||
		!slices.Equal(schema.Keys, []string{"id"}) {
		t.Errorf("schema %s", b)
	}
	saved, err := os.ReadFile(statePath)
	if err != nil || !strings.Contains(string(saved), `"done": true`) {
		t.Fatalf("state file %s: %v", saved, err)
	}

	writeCSV(t, dir, "b.csv", 6, 8)
	res, err = execute(t, targetPipeline(t, dir, target), engine.Options{StatePath: statePath})
	if err != nil {
		t.Fatal(err)
	}
	if s := res.Streams[0]; s.Read != 3 || s.Written != 3 {
		t.Fatalf("second run: %+v", s)
	}
	if recs := targetLines(t, filepath.Join(out, "people.jsonl")); len(recs) != 8 {
		t.Fatalf("target holds %d records", len(recs))
	}
}

// A target that exits non-zero fails the run with its stderr, and the
// state does not move past what it confirmed: the next run sends the
// unconfirmed rows again.
func TestTargetFailing(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	os.Mkdir(out, 0o755)
	writeCSV(t, dir, "a.csv", 1, 5)
	statePath := filepath.Join(dir, "state.json")
	failing := map[string]any{"command": targetBin, "config": map[string]any{"out": out, "mode": "fail", "fail_after": 3}}
	_, err := execute(t, targetPipeline(t, dir, failing), engine.Options{StatePath: statePath})
	if err == nil || !strings.Contains(err.Error(), "exit status 2") || !strings.Contains(err.Error(), "error: disk full while writing people") {
		t.Fatalf("err = %v", err)
	}
	// Batches of two, a commit after each: rows 1-2 were confirmed, row 3
	// reached the target, which died on row 4.
	if recs := targetLines(t, filepath.Join(out, "people.jsonl")); len(recs) != 2 {
		t.Fatalf("target holds %d records, want the 2 it confirmed", len(recs))
	}
	working := map[string]any{"command": targetBin, "config": map[string]any{"out": out}}
	res, err := execute(t, targetPipeline(t, dir, working), engine.Options{StatePath: statePath})
	if err != nil {
		t.Fatal(err)
	}
	if s := res.Streams[0]; s.Read != 3 || s.Written != 3 {
		t.Fatalf("resumed run: %+v", s)
	}
	recs := targetLines(t, filepath.Join(out, "people.jsonl"))
	var got []float64
	for _, r := range recs {
		got = append(got, r["id"].(float64))
	}
	if !slices.Equal(got, []float64{1, 2, 3, 4, 5}) {
		t.Fatalf("target ids = %v", got)
	}
}

// The acceptance example's source, exactly as written, with a stream and a
// destination around it: ./tap-demo is found in the working directory and
// gets the config as its --config file.
func TestAcceptanceExample(t *testing.T) {
	dir := t.TempDir()
	b, err := os.ReadFile(tapBin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tap-demo"), b, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	doc := `version: 1
name: demo
source:
  connector: singer
  config:
    command: ./tap-demo            # any executable; args, config and state handled as the Singer spec says
    config: {start_date: "2026-01-01"}
  streams:
    - {name: users, sync_mode: incremental_dedup, primary_key: [id], cursor_field: updated_at}
destination:
  connector: sqlite
  config: {path: out.db}
`
	spec, err := pipeline.Parse([]byte(doc), nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := execute(t, spec, engine.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if s := res.Streams[0]; s.Read != 2 || s.Written != 2 {
		t.Fatalf("stream: %+v", s)
	}
	if got := ids(t, openDB(t, dir)); !slices.Equal(got, []int64{2, 3}) {
		t.Fatalf("ids = %v, want the users updated since start_date", got)
	}
}

// recorder keeps what a source emits.
type recorder struct {
	rows        int
	checkpoints []string
}

func (r *recorder) Emit(_ context.Context, b *connector.Batch) error { r.rows += b.Len(); return nil }
func (r *recorder) Checkpoint(_ context.Context, _ string, s json.RawMessage) error {
	r.checkpoints = append(r.checkpoints, string(s))
	return nil
}
func (r *recorder) Reject(context.Context, connector.Reject) error { return nil }

// A preview stops the tap once it has its rows; a catalog file replaces
// discovery.
func TestPreviewLimitAndCatalogFile(t *testing.T) {
	dir := t.TempDir()
	writeUsers(t, filepath.Join(dir, "users.jsonl"), 1, 50)
	catalog := filepath.Join(dir, "catalog.json")
	out, err := exec.Command(tapBin, "--config", writeJSON(t, dir, tapConfig(dir, nil)), "--discover").Output()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(catalog, out, 0o644); err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(map[string]any{"command": tapBin, "catalog": catalog, "config": tapConfig(dir, nil)})
	src, err := singer.NewSource(context.Background(), raw)
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	err = src.Read(context.Background(), connector.ReadRequest{
		Streams: []connector.Stream{{Name: "users", SyncMode: connector.FullRefreshAppend}}, BatchSize: 4, Limit: 6}, rec)
	if err != nil {
		t.Fatal(err)
	}
	if rec.rows != 6 {
		t.Fatalf("preview read %d rows", rec.rows)
	}
	err = src.Read(context.Background(), connector.ReadRequest{Streams: []connector.Stream{{Name: "nope"}}}, rec)
	if err == nil || !strings.Contains(err.Error(), "stream nope: the tap's catalog has no such stream (it has users, audit)") {
		t.Fatalf("err = %v", err)
	}
}

func writeJSON(t *testing.T, dir string, v any) string {
	t.Helper()
	b, _ := json.Marshal(v)
	p := filepath.Join(dir, "cfg.json")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// The tap's stderr is logged line by line.
func TestStderrIsLogged(t *testing.T) {
	var buf syncBuffer
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.NewJSONHandler(&buf, nil)))
	t.Cleanup(func() { slog.SetDefault(prev) })
	dir := t.TempDir()
	raw, _ := json.Marshal(map[string]any{"command": tapBin, "config": tapConfig(dir, nil)})
	src, err := singer.NewSource(context.Background(), raw)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := src.Discover(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := buf.String(); !strings.Contains(got, `"msg":"stderr","connector":"singer","tap":"tap-demo","phase":"discover","line":"tap starting"`) {
		t.Fatalf("log: %s", got)
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// examples/singer-to-sqlite.yaml as written, with its shell tap: a first
// run loads the releases since start_date, a second one nothing new.
func TestShellTapExample(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"singer-to-sqlite.yaml", "tap-demo"} {
		b, err := os.ReadFile(filepath.Join("..", "..", "examples", name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Chdir(dir)
	doc, err := os.ReadFile("singer-to-sqlite.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []int64{3, 0} {
		spec, err := pipeline.Parse(doc, nil)
		if err != nil {
			t.Fatal(err)
		}
		res, err := execute(t, spec, engine.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if s := res.Streams[0]; s.Read != want || s.Written != want {
			t.Fatalf("run %d: %+v", i+1, s)
		}
	}
	db, err := sql.Open("sqlite", filepath.Join(dir, "singer.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	var downloads sql.NullInt64
	if err := db.QueryRow(`SELECT count(*), max(downloads) FILTER (WHERE id = 3) FROM releases`).Scan(&n, &downloads); err != nil {
		t.Fatal(err)
	}
	if n != 3 || downloads.Valid {
		t.Fatalf("releases: %d rows, release 3 downloads %v", n, downloads)
	}
}

// Rows the source quarantined reach the target as the stream
// _tributary_quarantine.
func TestQuarantineReachesTarget(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	os.Mkdir(out, 0o755)
	os.MkdirAll(filepath.Join(dir, "in"), 0o755)
	csv := "id,name,amount,updated_at\n1,a,1.5,2026-02-01T00:00:00Z\nx,b,2.5,2026-02-02T00:00:00Z\n3,c,3.5,2026-02-03T00:00:00Z\n"
	if err := os.WriteFile(filepath.Join(dir, "in", "a.csv"), []byte(csv), 0o644); err != nil {
		t.Fatal(err)
	}
	target := map[string]any{"command": targetBin, "config": map[string]any{"out": out}}
	res, err := execute(t, targetPipeline(t, dir, target), engine.Options{StatePath: filepath.Join(dir, "state.json")})
	if err != nil {
		t.Fatal(err)
	}
	checkInvariant(t, res)
	if s := res.Streams[0]; s.Written != 2 || s.Quarantined != 1 {
		t.Fatalf("stream: %+v", s)
	}
	q := targetLines(t, filepath.Join(out, singer.QuarantineStream+".jsonl"))
	if len(q) != 1 || q[0]["stream"] != "people" || !strings.HasSuffix(q[0]["origin"].(string), "a.csv:3") ||
		!strings.Contains(q[0]["reason"].(string), "id") || q[0]["run_id"] != res.RunID {
		t.Fatalf("quarantine at the target: %v", q)
	}
	if recs := targetLines(t, filepath.Join(out, "people.jsonl")); len(recs) != 2 {
		t.Fatalf("target holds %d records", len(recs))
	}
}

// Two selected streams share the tap's state; both are loaded and a second
// run hands the tap the state both committed.
func TestTwoStreams(t *testing.T) {
	dir := t.TempDir()
	writeUsers(t, filepath.Join(dir, "users.jsonl"), 1, 3)
	cfg, _ := json.Marshal(map[string]any{"command": tapBin, "config": tapConfig(dir, nil)})
	doc := fmt.Sprintf(`version: 1
name: two
source:
  connector: singer
  config: %s
  streams:
    - {name: audit, sync_mode: full_refresh_append}
    - {name: users, sync_mode: incremental_append, cursor_field: updated_at}
destination:
  connector: jsonl
  config: {path: %q}
`, cfg, filepath.Join(dir, "out"))
	for run := 1; run <= 2; run++ {
		spec, err := pipeline.Parse([]byte(doc), nil)
		if err != nil {
			t.Fatal(err)
		}
		res, err := execute(t, spec, engine.Options{})
		if err != nil {
			t.Fatal(err)
		}
		wantUsers := int64(3)
		if run == 2 {
			wantUsers = 0
		}
		for _, s := range res.Streams {
			want := map[string]int64{"audit": 1, "users": wantUsers}[s.Name]
			if s.Written != want {
				t.Errorf("run %d: stream %s wrote %d, want %d", run, s.Name, s.Written, want)
			}
		}
	}
	runs := readTapLog(t, filepath.Join(dir, "tap.log"))
	if len(runs) != 2 || !slices.Equal(runs[0].Selected, []string{"users", "audit"}) {
		t.Fatalf("tap runs: %+v", runs)
	}
	// audit is a full refresh whose last read finished: the engine gives it
	// no state, so its bookmark (it has none) would be removed; users keeps
	// its bookmark.
	if want := `{"bookmarks":{"users":{"updated_at":"2026-01-01T03:00:00Z"}}}`; runs[1].State != want {
		t.Errorf("second run state %s, want %s", runs[1].State, want)
	}
}

// The spec marks secret_config secret for both sides and requires command.
func TestSpec(t *testing.T) {
	info, ok := connector.Lookup("singer")
	if !ok || info.Source == nil || info.Destination == nil {
		t.Fatalf("singer is not registered as source and destination: %+v", info)
	}
	for _, sp := range []*connector.Spec{info.Source, info.Destination} {
		if !slices.Equal(sp.Secrets, []string{"secret_config"}) {
			t.Errorf("secrets = %v", sp.Secrets)
		}
		var schema struct {
			Required   []string                   `json:"required"`
			Properties map[string]json.RawMessage `json:"properties"`
		}
		if err := json.Unmarshal(sp.Config, &schema); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(schema.Required, []string{"command"}) || schema.Properties["config"] == nil || schema.Properties["args"] == nil {
			t.Errorf("config schema %s", sp.Config)
		}
	}
}

// A target that prints state only when its input ends: waiting for the
// echo times out, confirm: exit ends the target at each commit and starts
// it again.
func TestTargetConfirmingAtExit(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	os.Mkdir(out, 0o755)
	writeCSV(t, dir, "a.csv", 1, 5)
	statePath := filepath.Join(dir, "state.json")
	echo := map[string]any{"command": targetBin, "commit_timeout": "500ms", "config": map[string]any{"out": out, "mode": "noecho"}}
	_, err := execute(t, targetPipeline(t, dir, echo), engine.Options{StatePath: statePath})
	if err == nil || !strings.Contains(err.Error(), "target did not echo the state within 500ms (commit_timeout)") {
		t.Fatalf("err = %v", err)
	}
	if _, err := os.Stat(statePath); err == nil {
		b, _ := os.ReadFile(statePath)
		if strings.Contains(string(b), `"people"`) {
			t.Fatalf("state saved without confirmation: %s", b)
		}
	}
	os.Remove(filepath.Join(out, "people.jsonl"))
	os.Remove(filepath.Join(out, "starts.log"))

	exit := map[string]any{"command": targetBin, "confirm": "exit", "config": map[string]any{"out": out, "mode": "noecho"}}
	res, err := execute(t, targetPipeline(t, dir, exit), engine.Options{StatePath: statePath})
	if err != nil {
		t.Fatal(err)
	}
	if s := res.Streams[0]; s.Written != 5 {
		t.Fatalf("stream: %+v", s)
	}
	if recs := targetLines(t, filepath.Join(out, "people.jsonl")); len(recs) != 5 {
		t.Fatalf("target holds %d records", len(recs))
	}
	starts, _ := os.ReadFile(filepath.Join(out, "starts.log"))
	if n := strings.Count(string(starts), "start"); n < 3 {
		t.Fatalf("target started %d times, want once per commit", n)
	}
	// The target refuses a RECORD before its stream's SCHEMA, so every
	// process got the SCHEMA again.
	b, _ := os.ReadFile(statePath)
	if !strings.Contains(string(b), `"done": true`) {
		t.Fatalf("state %s", b)
	}
}

// stateRecorder notes, at each checkpoint, how many rows came before it.
type stateRecorder struct {
	rows    int
	batches []int
	at      []int
	states  []string
}

func (r *stateRecorder) Emit(_ context.Context, b *connector.Batch) error {
	r.rows += b.Len()
	r.batches = append(r.batches, b.Len())
	return nil
}
func (r *stateRecorder) Checkpoint(_ context.Context, _ string, s json.RawMessage) error {
	r.at = append(r.at, r.rows)
	r.states = append(r.states, string(s))
	return nil
}
func (r *stateRecorder) Reject(context.Context, connector.Reject) error { return nil }

// A tap sending STATE after every record: the states are held back while
// a batch fills, and each checkpoint comes after exactly the rows its
// state covers, even when a batch is cut there.
func TestStateAfterEveryRecord(t *testing.T) {
	for _, repeat := range []bool{false, true} {
		t.Run(fmt.Sprintf("repeat_schema=%v", repeat), func(t *testing.T) {
			dir := t.TempDir()
			writeUsers(t, filepath.Join(dir, "users.jsonl"), 1, 23)
			raw, _ := json.Marshal(map[string]any{"command": tapBin, "config": tapConfig(dir, map[string]any{"state_every": 1, "repeat_schema": repeat})})
			src, err := singer.NewSource(context.Background(), raw)
			if err != nil {
				t.Fatal(err)
			}
			rec := &stateRecorder{}
			err = src.Read(context.Background(), connector.ReadRequest{
				Streams: []connector.Stream{{Name: "users", SyncMode: connector.IncrementalAppend}}, BatchSize: 5}, rec)
			if err != nil {
				t.Fatal(err)
			}
			if rec.rows != 23 {
				t.Fatalf("%d rows", rec.rows)
			}
			if len(rec.at) >= 23 || len(rec.at) < 2 {
				t.Fatalf("%d checkpoints for 23 states: not held back, or not passed at batch ends", len(rec.at))
			}
			for i, s := range rec.states {
				var cp struct {
					Singer struct {
						Bookmarks map[string]map[string]string `json:"bookmarks"`
					} `json:"singer"`
				}
				if err := json.Unmarshal([]byte(s), &cp); err != nil {
					t.Fatal(err)
				}
				ts, err := time.Parse(time.RFC3339, cp.Singer.Bookmarks["users"]["updated_at"])
				if err != nil {
					t.Fatal(err)
				}
				if covered := ts.Hour(); covered != rec.at[i] {
					t.Errorf("checkpoint %d covers %d records but came after %d rows", i, covered, rec.at[i])
				}
			}
			for _, n := range rec.batches {
				if n > 5 {
					t.Errorf("batch of %d rows", n)
				}
			}
			if len(rec.batches) > 10 {
				t.Errorf("%d batches for 23 rows: %v", len(rec.batches), rec.batches)
			}
		})
	}
}
