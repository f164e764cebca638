package engine

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestResetStateFile forgets a stream in the local state file of a
// destination that holds no state.
func TestResetStateFile(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "state", "p.json")
	extra := "      sync_mode: incremental_append"
	s := spec(t, "reset-file", extra, 30, "", 0, false)
	for i, want := range []int64{30, 0, 30} {
		if i == 2 {
			where, err := ResetState(ctx, s, path, "s")
			if err != nil || where != path {
				t.Fatalf("reset in %q: %v", where, err)
			}
		}
		r, _ := New(s, Options{StatePath: path})
		res, err := r.Execute(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if res.Streams[0].Read != want {
			t.Errorf("run %d: read %d, want %d", i, res.Streams[0].Read, want)
		}
	}
	if _, err := ResetState(ctx, s, filepath.Join(t.TempDir(), "none.json")); err != nil {
		t.Errorf("reset without a state file: %v", err)
	}
	if err := os.WriteFile(path, []byte(`{"pipeline":"other","streams":{}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ResetState(ctx, s, path); err == nil || !strings.Contains(err.Error(), `belongs to pipeline "other"`) {
		t.Errorf("state file of another pipeline: %v", err)
	}
}
