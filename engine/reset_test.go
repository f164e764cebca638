package engine_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	_ "github.com/tributary-data/tributary/connectors/csv"
	_ "github.com/tributary-data/tributary/connectors/jsonl"
	"github.com/tributary-data/tributary/engine"
	"github.com/tributary-data/tributary/pipeline"
)

// TestResetState runs an incremental CSV → JSONL pipeline with two
// streams, resets one and checks that only that one is read again; then a
// reset without streams forgets both.
func TestResetState(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"a.csv", "b.csv"} {
		body := "id,name\n1,x\n2,y\n3,z\n"
		if err := os.WriteFile(filepath.Join(dir, f), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	doc := fmt.Sprintf(`version: 1
name: reset-me
source:
  connector: csv
  config:
    streams:
      - {name: a, path: %[1]s/a.csv}
      - {name: b, path: %[1]s/b.csv}
  streams:
    - {name: a, sync_mode: incremental_append, cursor_field: id}
    - {name: b, sync_mode: incremental_append, cursor_field: id}
destination:
  connector: jsonl
  config: {path: %[1]s/out}
`, dir)
	spec, err := pipeline.Parse([]byte(doc), nil)
	if err != nil {
		t.Fatal(err)
	}
	run := func() map[string]int64 {
		t.Helper()
		r, err := engine.New(spec, engine.Options{})
		if err != nil {
			t.Fatal(err)
		}
		res, err := r.Execute(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		read := map[string]int64{}
		for _, s := range res.Streams {
			read[s.Name] = s.Read
		}
		return read
	}
	ctx := context.Background()
	steps := []struct {
		name  string
		reset []string
		want  map[string]int64
	}{
		{"first run reads everything", nil, map[string]int64{"a": 3, "b": 3}},
		{"second run reads nothing new", nil, map[string]int64{"a": 0, "b": 0}},
		{"after resetting a, a is read again", []string{"a"}, map[string]int64{"a": 3, "b": 0}},
		{"after resetting all, both are read again", []string{}, map[string]int64{"a": 3, "b": 3}},
	}
	for _, st := range steps {
		if st.reset != nil {
			where, err := engine.ResetState(ctx, spec, "", st.reset...)
			if err != nil || where != "destination" {
				t.Fatalf("%s: reset in %q: %v", st.name, where, err)
			}
		}
		got := run()
		if got["a"] != st.want["a"] || got["b"] != st.want["b"] {
			t.Errorf("%s: read %v, want %v", st.name, got, st.want)
		}
	}
}
