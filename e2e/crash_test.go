package e2e

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/tributary-data/tributary/connectors/filesink"
)

const crashRows = 200_000

// writeCrashData writes crashRows rows over four files, so a kill can land
// inside a file or between files.
func writeCrashData(t *testing.T, dir string) {
	t.Helper()
	per := crashRows / 4
	for f := range 4 {
		path := filepath.Join(dir, fmt.Sprintf("data/rows%d.csv", f))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		fh, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		w := bufio.NewWriterSize(fh, 1<<20)
		fmt.Fprintln(w, "id,name,amount,updated_at")
		for i := f * per; i < (f+1)*per; i++ {
			fmt.Fprintf(w, "%d,name %d,%d.%02d,2026-01-%02d 10:00:00\n", i, i, i%1000, i%100, 1+i%28)
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		fh.Close()
	}
}

// crashPipeline writes a pipeline loading the crash data with small
// commits, so a kill usually lands between two of many checkpoints.
func crashPipeline(t *testing.T, dir, mode, dest string) string {
	t.Helper()
	path := filepath.Join(dir, "crash.yaml")
	writeFile(t, path, fmt.Sprintf(`version: 1
name: crash-%s
source:
  connector: csv
  config: {path: ./data/rows*.csv}
  streams:
    - name: rows
      sync_mode: %s
      primary_key: [id]
      cursor_field: updated_at
      schema: {id: int64, amount: decimal, updated_at: timestamp}
destination:
%s
options:
  batch_size: 5000
  commit_rows: 10000
  commit_interval: 200ms
`, mode, mode, dest))
	return path
}

// killWhen starts `tributary run` and SIGKILLs it as soon as due reports
// true (polled every two milliseconds); it reports whether the run was
// still going when killed.
func killWhen(t *testing.T, dir string, env []string, due func(started time.Time) bool) bool {
	t.Helper()
	cmd := exec.Command(bin, "run", "crash.yaml")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	started := time.Now()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("run failed before the kill: %v", err)
			}
			return false
		case <-tick.C:
			if due(started) {
				_ = cmd.Process.Signal(syscall.SIGKILL)
				<-done
				return true
			}
		}
	}
}

// crashLoop runs ten iterations of: fresh destination, one to three
// SIGKILLs, a run to completion, then verify. The first kill of an
// iteration waits until the destination holds some committed rows, so
// every iteration resumes from a real checkpoint whatever the machine's
// speed; the others land at random moments, before or between
// checkpoints. committed counts the rows the destination holds.
func crashLoop(t *testing.T, env []string, reset func(), committed func() int64, verify func(iteration int), dir string) {
	t.Helper()
	// Time one clean run to aim the random kills inside it.
	reset()
	start := time.Now()
	if r := tributary(t, dir, env, "run", "crash.yaml"); r.code != 0 {
		t.Fatalf("clean run failed: %s", r.stderr)
	}
	full := time.Since(start)
	verify(-1)
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	killedMidway, partial := 0, 0
	for i := range 10 {
		reset()
		afterCommit := func(time.Time) bool { n := committed(); return n > 0 && n < crashRows }
		if killWhen(t, dir, env, afterCommit) {
			killedMidway++
		}
		if n := committed(); n > 0 && n < crashRows {
			partial++
		}
		for range rng.IntN(3) {
			d := time.Duration(float64(full) * rng.Float64())
			if killWhen(t, dir, env, func(s time.Time) bool { return time.Since(s) >= d }) {
				killedMidway++
			}
		}
		if r := tributary(t, dir, env, "run", "crash.yaml"); r.code != 0 {
			t.Fatalf("iteration %d: resumed run failed: %s", i, r.stderr)
		}
		verify(i)
	}
	t.Logf("clean run %s; %d kills landed during a run; %d of 10 iterations killed with part of the rows committed", full.Round(time.Millisecond), killedMidway, partial)
	if partial < 8 {
		t.Errorf("only %d iterations were killed with part of the rows committed", partial)
	}
	if killedMidway < 10 {
		t.Errorf("only %d kills landed during a run; the loop proves little", killedMidway)
	}
}

func TestCrashPostgres(t *testing.T) {
	conn := needPostgres(t)
	ctx := context.Background()
	for _, mode := range []string{"incremental_append", "incremental_dedup"} {
		t.Run(mode, func(t *testing.T) {
			dir := t.TempDir()
			writeCrashData(t, dir)
			schema := "crash_" + mode
			crashPipeline(t, dir, mode, fmt.Sprintf("  connector: postgres\n  config: {url: %q, schema: %s}", pgURL, schema))
			reset := func() {
				if _, err := conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+schema+" CASCADE"); err != nil {
					t.Fatal(err)
				}
			}
			committed := func() int64 {
				var n int64
				if err := conn.QueryRow(ctx, "SELECT count(*) FROM "+schema+".rows").Scan(&n); err != nil {
					return 0 // not created yet
				}
				return n
			}
			verify := func(i int) {
				var total, distinct, lo, hi int64
				err := conn.QueryRow(ctx, "SELECT count(*), count(DISTINCT id), min(id), max(id) FROM "+schema+".rows").Scan(&total, &distinct, &lo, &hi)
				if err != nil {
					t.Fatalf("iteration %d: %v", i, err)
				}
				if total != crashRows || distinct != crashRows || lo != 0 || hi != crashRows-1 {
					t.Fatalf("iteration %d: %d rows, %d distinct ids in [%d, %d]; want each of %d ids exactly once", i, total, distinct, lo, hi, crashRows)
				}
			}
			crashLoop(t, nil, reset, committed, verify, dir)
			reset()
		})
	}
}

func TestCrashJSONL(t *testing.T) {
	dir := t.TempDir()
	writeCrashData(t, dir)
	crashPipeline(t, dir, "incremental_append", "  connector: jsonl\n  config: {path: ./out/}")
	reset := func() {
		if err := os.RemoveAll(filepath.Join(dir, "out")); err != nil {
			t.Fatal(err)
		}
	}
	verify := func(i int) {
		ids := jsonlIDs(t, filepath.Join(dir, "out"), "rows")
		seen := make([]bool, crashRows)
		for _, id := range ids {
			if id < 0 || id >= crashRows || seen[id] {
				t.Fatalf("iteration %d: id %d out of range or loaded twice", i, id)
			}
			seen[id] = true
		}
		if len(ids) != crashRows {
			t.Fatalf("iteration %d: %d rows, want %d", i, len(ids), crashRows)
		}
	}
	committed := func() int64 {
		n, err := filesink.Rows(filepath.Join(dir, "out"), "rows")
		if err != nil {
			return 0
		}
		return n
	}
	crashLoop(t, nil, reset, committed, verify, dir)
}
