package jobs

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
)

func TestRunIDsOnLogLines(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(withRunIDs(slog.NewJSONHandler(&buf, nil), "r1", "p1"))
	log.Info("claimed", "attempt", 1)
	log.With("pipeline", "people", "run_id", "r1").Info("read", "rows", 3)
	log.Info("explicit", "run_id", "r1")
	var lines []map[string]any
	for l := range strings.SplitSeq(strings.TrimSpace(buf.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatal(err)
		}
		if n := strings.Count(l, `"run_id"`); n != 1 {
			t.Errorf("run_id %d times in %s", n, l)
		}
		lines = append(lines, m)
	}
	if len(lines) != 3 {
		t.Fatalf("lines %v", lines)
	}
	for _, m := range lines {
		if m["run_id"] != "r1" || m["pipeline_id"] != "p1" {
			t.Errorf("line without ids: %v", m)
		}
	}
	if lines[1]["pipeline"] != "people" {
		t.Errorf("engine line %v", lines[1])
	}
}
