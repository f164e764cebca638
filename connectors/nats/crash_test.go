package nats_test

import (
	"context"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tributary-data/tributary/engine"
)

// TestCrashChild is the process TestKilledContinuousRunLosesNothing kills.
func TestCrashChild(t *testing.T) {
	name, dir := os.Getenv("TRIBUTARY_NATS_CRASH_STREAM"), os.Getenv("TRIBUTARY_NATS_CRASH_DIR")
	if name == "" {
		t.Skip("run by TestKilledContinuousRunLosesNothing")
	}
	r, err := engine.New(spec(t, name, dir, ", continuous: true", ", commit_rows: 50, commit_interval: 50ms"), engine.Options{})
	if err != nil {
		t.Fatal(err)
	}
	res, err := r.Execute(context.Background())
	t.Fatalf("a continuous run ended: %+v %v", res, err)
}

// A continuous run is killed (SIGKILL) while messages arrive, leaving
// messages delivered to its durable consumer and never acknowledged; the
// next run repositions the consumer at the committed sequence and loads
// every message exactly once.
func TestKilledContinuousRunLosesNothing(t *testing.T) {
	js, name := jetStream(t)
	dir := t.TempDir()
	child := exec.Command(os.Args[0], "-test.run=^TestCrashChild$")
	child.Env = append(os.Environ(), "TRIBUTARY_NATS_CRASH_STREAM="+name, "TRIBUTARY_NATS_CRASH_DIR="+dir)
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
	const total = 1000
	done := make(chan struct{})
	go func() {
		defer close(done)
		publish(t, js, name+".orders", 1, total)
	}()
	waitFor(t, 30*time.Second, "the child to load 200 rows", func() bool {
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("the child exited: %v\n%s", err, out.String())
		default:
		}
		return len(ids(t, dir)) >= 200
	})
	if err := child.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-exited
	exited <- nil
	<-done
	loaded := len(ids(t, dir))
	t.Logf("%d rows loaded when the child was killed", loaded)
	res := run(t, spec(t, name, dir, "", ""), engine.Options{})
	if got := ids(t, dir); !slices.Equal(got, seq(1, total)) {
		t.Fatalf("after the restart %d rows, want 1..%d once each", len(got), total)
	}
	if st := res.Streams[0]; st.Read != int64(total-loaded) {
		t.Errorf("the restart read %d, want the %d not committed", st.Read, total-loaded)
	}
	if n := ackFloor(t, js, name, "tributary_orders"); n != total {
		t.Errorf("consumer acknowledged up to %d, want %d", n, total)
	}
}
