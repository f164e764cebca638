package engine_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/tributary-data/tributary/connector"
	_ "github.com/tributary-data/tributary/connectors/csv"
	_ "github.com/tributary-data/tributary/connectors/sqlite"
	"github.com/tributary-data/tributary/engine"
	"github.com/tributary-data/tributary/pipeline"
)

// replaySpec is a CSV → SQLite pipeline that renames a field before it
// validates the country against countries.
func replaySpec(t *testing.T, dir, mode, countries string) *pipeline.Spec {
	t.Helper()
	doc := fmt.Sprintf(`version: 1
name: replay
source:
  connector: csv
  config: {path: %q}
  streams:
    - name: people
      sync_mode: %s
      schema: {id: int64, amount: decimal}
transforms:
  - rename: {name: full_name}
  - validate:
      on_fail: quarantine
      rules:
        - {field: country, rule: enum, values: [%s]}
destination:
  connector: sqlite
  config: {path: %q}
checks:
  - {check: row_count, min: 2, severity: fail}
  - {check: null_ratio, field: full_name, max: 0, severity: fail}
`, filepath.Join(dir, "people.csv"), mode, countries, filepath.Join(dir, "out.db"))
	s, err := pipeline.Parse([]byte(doc), nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

type kept struct {
	mu   sync.Mutex
	rows []connector.Reject
}

func (k *kept) hook(_ context.Context, rs []connector.Reject) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.rows = append(k.rows, rs...)
	return nil
}

func (k *kept) records() []engine.ReplayRecord {
	var out []engine.ReplayRecord
	for _, r := range k.rows {
		out = append(out, engine.ReplayRecord{Stream: r.Stream, Origin: r.Origin, Raw: r.Raw, Step: r.Step})
	}
	return out
}

func run(t *testing.T, spec *pipeline.Spec, opts engine.Options) engine.StreamStats {
	t.Helper()
	r, err := engine.New(spec, opts)
	if err != nil {
		t.Fatal(err)
	}
	res, err := r.Execute(context.Background())
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	st := res.Streams[0]
	if st.Read != st.Written+st.Quarantined+st.Filtered+st.Deduplicated {
		t.Fatalf("read %d != written %d + quarantined %d + filtered %d + deduplicated %d", st.Read, st.Written, st.Quarantined, st.Filtered, st.Deduplicated)
	}
	return st
}

func names(t *testing.T, dir string) []string {
	t.Helper()
	db, err := sql.Open("sqlite", filepath.Join(dir, "out.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT full_name || ':' || amount || ':' || country FROM people ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	return out
}

// TestReplay quarantines a row refused while reading and one refused by a
// step, fixes the step and replays both: the step's row re-enters at the
// step (it is not renamed twice) and loads; the unreadable row is
// quarantined again; the pipeline's state is untouched.
func TestReplay(t *testing.T) {
	for _, mode := range []string{"incremental_append", "full_refresh_overwrite"} {
		t.Run(mode, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "people.csv"), []byte("id,name,amount,country\n1,Ann,1.50,DE\n2,Bob,x,FR\n3,Eve,3.25,IT\n4,Joe,4.00,DE\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			var first kept
			st := run(t, replaySpec(t, dir, mode, "DE, FR"), engine.Options{Quarantine: first.hook})
			if st.Read != 4 || st.Written != 2 || st.Quarantined != 2 {
				t.Fatalf("first run %+v", st)
			}
			steps := []string{first.rows[0].Step, first.rows[1].Step}
			if !slices.Equal(steps, []string{"read", "validate"}) || first.rows[0].Origin == "" || first.rows[1].Origin != filepath.Join(dir, "people.csv")+":4" {
				t.Fatalf("kept rejects %+v", first.rows)
			}

			fixed := replaySpec(t, dir, mode, "DE, FR, IT")
			// Half the replayed rows fail again: no reason to fail the replay.
			ratio := 0.05
			fixed.Options.MaxQuarantineRatio = &ratio
			var again kept
			st = run(t, fixed, engine.Options{Quarantine: again.hook, Replay: engine.NewReplaySource(fixed, first.records(), nil)})
			if st.Read != 2 || st.Written != 1 || st.Quarantined != 1 {
				t.Fatalf("replay %+v", st)
			}
			if len(again.rows) != 1 || again.rows[0].Origin != first.rows[0].Origin || again.rows[0].Step != "read" {
				t.Fatalf("quarantined again %+v", again.rows)
			}
			if got, want := names(t, dir), []string{"Ann:1.50:DE", "Eve:3.25:IT", "Joe:4.00:DE"}; !slices.Equal(got, want) {
				t.Fatalf("destination %v, want %v", got, want)
			}
			if mode == "incremental_append" {
				// The replay kept the state: the next run has nothing new.
				fixed.Options.MaxQuarantineRatio = nil
				fixed.Checks = nil // nothing new fails a row count
				if st := run(t, fixed, engine.Options{}); st.Read != 0 {
					t.Fatalf("run after the replay read %d rows again", st.Read)
				}
			}
		})
	}
}

func TestReplayRefusesRowsOfAStreamGone(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "people.csv"), []byte("id,name,amount,country\n1,Ann,1.50,DE\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	spec := replaySpec(t, dir, "incremental_append", "DE")
	r, err := engine.New(spec, engine.Options{Replay: engine.NewReplaySource(spec, []engine.ReplayRecord{{Stream: "orders", Raw: `{"id": 1}`, Step: "load"}}, nil)})
	if err != nil {
		t.Fatal(err)
	}
	res, err := r.Execute(context.Background())
	if err == nil || res.Status != engine.Failed {
		t.Fatalf("replay of a stream the pipeline lost: %v, %s", err, res.Status)
	}
}
