package kafka_test

import (
	"context"
	"database/sql"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tributary-data/tributary/engine"
)

// TestCrashChild is the process TestKilledContinuousRunLosesNothing kills:
// a continuous run that only ends with the process.
func TestCrashChild(t *testing.T) {
	broker, dir := os.Getenv("TRIBUTARY_KAFKA_CRASH_BROKER"), os.Getenv("TRIBUTARY_KAFKA_CRASH_DIR")
	if broker == "" {
		t.Skip("run by TestKilledContinuousRunLosesNothing")
	}
	r, err := engine.New(spec(t, []string{broker}, dir, ", continuous: true", ", commit_rows: 50, commit_interval: 50ms"), engine.Options{})
	if err != nil {
		t.Fatal(err)
	}
	res, err := r.Execute(context.Background())
	t.Fatalf("a continuous run ended: %+v %v", res, err)
}

// A continuous run into SQLite is killed (SIGKILL) while messages keep
// arriving and micro-batches commit; a run started afterwards loads every
// message exactly once: offsets are saved in the destination's transaction,
// so the killed process's uncommitted micro-batch left nothing behind and
// is read again.
func TestKilledContinuousRunLosesNothing(t *testing.T) {
	addrs := cluster(t, "orders")
	cl := client(t, addrs)
	dir := t.TempDir()
	child := exec.Command(os.Args[0], "-test.run=^TestCrashChild$")
	child.Env = append(os.Environ(), "TRIBUTARY_KAFKA_CRASH_BROKER="+addrs[0], "TRIBUTARY_KAFKA_CRASH_DIR="+dir)
	var out strings.Builder
	child.Stdout, child.Stderr = &out, &out
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- child.Wait() }()
	t.Cleanup(func() {
		_ = child.Process.Kill()
		<-exited
	})

	const total = 2000
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 1; i <= total; i += 20 {
			produce(t, cl, "orders", i, i+19)
			time.Sleep(2 * time.Millisecond)
		}
	}()
	waitFor(t, 30*time.Second, "the child to load 500 rows", func() bool {
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("the child exited: %v\n%s", err, out.String())
		default:
		}
		return len(ids(t, dir)) >= 500
	})
	if err := child.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-exited
	exited <- nil
	<-done
	loaded := len(ids(t, dir))
	t.Logf("%d rows loaded when the child was killed", loaded)

	res := run(t, spec(t, addrs, dir, "", ""))
	if got := ids(t, dir); !slices.Equal(got, seq(1, total)) {
		t.Fatalf("after the restart %d rows, want 1..%d once each", len(got), total)
	}
	if st := res.Streams[0]; st.Read != int64(total-loaded) {
		t.Errorf("the restart read %d, want the %d not committed", st.Read, total-loaded)
	}
	db, err := sql.Open("sqlite", filepath.Join(dir, "out.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var state string
	if err := db.QueryRow(`SELECT state FROM _tributary_state`).Scan(&state); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(state, `"offsets"`) {
		t.Errorf("state = %s", state)
	}
}
