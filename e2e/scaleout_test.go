package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/tributary-data/tributary/internal/pgcluster"
)

// lockedBuffer collects a process's output while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// workerProc is a running `tributary worker`.
type workerProc struct {
	cmd    *exec.Cmd
	logs   *lockedBuffer
	exited chan struct{}
	err    error
	killed bool
}

// startWorker starts `tributary worker` with a data directory of its own
// and waits until it executes runs; the test's end stops it with an
// interrupt unless the test killed it.
func startWorker(t *testing.T, dir string, env []string, args ...string) *workerProc {
	t.Helper()
	data, err := os.MkdirTemp(dir, "worker")
	if err != nil {
		t.Fatal(err)
	}
	return startProc(t, dir, env, "tributary worker executing runs", append([]string{"worker", "--data", data}, args...)...)
}

// startProc starts the binary and waits until its output holds ready.
func startProc(t *testing.T, dir string, env []string, ready string, args ...string) *workerProc {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	w := &workerProc{cmd: cmd, logs: &lockedBuffer{}, exited: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = w.logs, w.logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		w.err = cmd.Wait()
		close(w.exited)
	}()
	t.Cleanup(func() {
		if w.killed {
			return
		}
		cmd.Process.Signal(os.Interrupt)
		select {
		case <-w.exited:
			if w.err != nil {
				t.Errorf("%s %d exited with %v:\n%s", args[0], w.pid(), w.err, w.logs)
			}
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			t.Errorf("%s %d did not stop on interrupt:\n%s", args[0], w.pid(), w.logs)
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(w.logs.String(), ready) {
		select {
		case <-w.exited:
			t.Fatalf("%s exited: %v\n%s", args[0], w.err, w.logs)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready:\n%s", args[0], w.logs)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return w
}

func (w *workerProc) pid() int { return w.cmd.Process.Pid }

// signal sends sig and waits for the worker to exit: SIGKILL leaves no
// chance to shut down; SIGTERM must end it cleanly.
func (w *workerProc) signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	w.killed = true
	if err := w.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	select {
	case <-w.exited:
	case <-time.After(30 * time.Second):
		w.cmd.Process.Kill()
		t.Fatalf("worker %d did not exit on %s:\n%s", w.pid(), sig, w.logs)
	}
	if sig != syscall.SIGKILL && w.err != nil {
		t.Errorf("worker %d exited with %v on %s:\n%s", w.pid(), w.err, sig, w.logs)
	}
}

// pgSchemas creates schemas on the machine's PostgreSQL, dropped when the
// test ends, each named prefix_ID.
func pgSchemas(t *testing.T, conn *pgx.Conn, prefixes ...string) []string {
	t.Helper()
	ctx := context.Background()
	id := strings.ReplaceAll(uuid.NewString()[:8], "-", "")
	var out []string
	for _, p := range prefixes {
		name := p + "_" + id
		if _, err := conn.Exec(ctx, `CREATE SCHEMA `+name); err != nil {
			t.Fatal(err)
		}
		out = append(out, name)
	}
	t.Cleanup(func() {
		for _, s := range out {
			if _, err := conn.Exec(context.Background(), `DROP SCHEMA IF EXISTS `+s+` CASCADE`); err != nil {
				t.Error(err)
			}
		}
	})
	return out
}

// writeRows writes rows ids [0, n) as CSV over files of at most per rows,
// named base0.csv, base1.csv, ...
func writeRows(t *testing.T, base string, n, per int) {
	t.Helper()
	for f := 0; f*per < n; f++ {
		path := fmt.Sprintf("%s%d.csv", base, f)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		fh, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		w := bufio.NewWriterSize(fh, 1<<20)
		fmt.Fprintln(w, "id,name,amount,updated_at")
		for i := f * per; i < min(n, (f+1)*per); i++ {
			fmt.Fprintf(w, "%d,name %d,%d.%02d,2026-01-%02d 10:00:00\n", i, i, i%1000, i%100, 1+i%28)
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		if err := fh.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

type apiAttempt struct {
	Attempt int    `json:"attempt"`
	Worker  string `json:"worker"`
	Outcome string `json:"outcome"`
	Error   string `json:"error"`
}

type apiAttempts struct {
	Items         []apiAttempt `json:"items"`
	NextAttemptAt *time.Time   `json:"next_attempt_at"`
}

type apiRunAttempts struct {
	apiRun
	Attempts int `json:"attempts"`
}

func (s *server) attempts(runID string) apiAttempts {
	s.t.Helper()
	var out apiAttempts
	s.json(200, "GET", "/api/v1/runs/"+runID+"/attempts", nil, &out)
	return out
}

func (s *server) runLog(runID string) string {
	s.t.Helper()
	var out struct {
		Items []struct {
			Level   string `json:"level"`
			Message string `json:"message"`
		} `json:"items"`
	}
	s.json(200, "GET", "/api/v1/runs/"+runID+"/logs?limit=500", nil, &out)
	var b strings.Builder
	for _, l := range out.Items {
		b.WriteString(l.Level + " " + l.Message + "\n")
	}
	return b.String()
}

// waitRun polls the run until it is finished.
func (s *server) waitFinished(runID string, timeout time.Duration) apiRunAttempts {
	s.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		var run apiRunAttempts
		s.json(200, "GET", "/api/v1/runs/"+runID, nil, &run)
		if run.Status != "queued" && run.Status != "running" {
			return run
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("run %s still %s after %s; log:\n%s", runID, run.Status, timeout, s.runLog(runID))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (s *server) createPipeline(spec map[string]any) string {
	s.t.Helper()
	var created struct {
		ID string `json:"id"`
	}
	s.json(201, "POST", "/api/v1/pipelines", spec, &created)
	return created.ID
}

// bigSpec loads rows*.csv into a PostgreSQL destination in small commits,
// so a kill or an outage lands between many checkpoints.
func bigSpec(name, dir string, dest map[string]any, options map[string]any) map[string]any {
	opts := map[string]any{"batch_size": 5000, "commit_rows": 10000, "commit_interval": "200ms"}
	for k, v := range options {
		opts[k] = v
	}
	return map[string]any{
		"version": 1, "name": name,
		"source": map[string]any{
			"connector": "csv",
			"config":    map[string]any{"path": filepath.Join(dir, "data", "rows*.csv")},
			"streams": []any{map[string]any{
				"name": "rows", "sync_mode": "incremental_append", "cursor_field": "updated_at",
				"schema": map[string]any{"id": "int64", "amount": "decimal", "updated_at": "timestamp"},
			}},
		},
		"destination": dest,
		"options":     opts,
	}
}

// verifyOnce checks that table holds each id of [0, n) exactly once.
func verifyOnce(t *testing.T, conn *pgx.Conn, table string, n int64) {
	t.Helper()
	var total, distinct, lo, hi int64
	if err := conn.QueryRow(context.Background(), "SELECT count(*), count(DISTINCT id), min(id), max(id) FROM "+table).Scan(&total, &distinct, &lo, &hi); err != nil {
		t.Fatal(err)
	}
	if total != n || distinct != n || lo != 0 || hi != n-1 {
		t.Fatalf("%s: %d rows, %d distinct ids in [%d, %d]; want each of %d ids exactly once", table, total, distinct, lo, hi, n)
	}
}

// committedRows counts the rows the destination committed so far; 0
// before the table exists.
func committedRows(conn *pgx.Conn, table string) int64 {
	var n int64
	if err := conn.QueryRow(context.Background(), "SELECT count(*) FROM "+table).Scan(&n); err != nil {
		return 0
	}
	return n
}

// waitCommitted waits until the destination holds part of the rows while
// the run is still running, so what follows lands mid-run.
func waitCommitted(t *testing.T, s *server, conn *pgx.Conn, table, runID string, total int64) {
	t.Helper()
	deadline := time.Now().Add(120 * time.Second)
	for {
		if n := committedRows(conn, table); n > 0 && n < total {
			return
		}
		var run apiRun
		s.json(200, "GET", "/api/v1/runs/"+runID, nil, &run)
		if run.Status != "queued" && run.Status != "running" {
			t.Fatalf("run %s before any interruption: the run is too short to prove anything", run.Status)
		}
		if time.Now().After(deadline) {
			t.Fatalf("no rows committed yet; run %s", run.Status)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestScaleOut: three worker processes and an API-only server share one
// PostgreSQL store; 30 runs of 10 pipelines each execute exactly once,
// spread over the three workers, with exact row counts.
func TestScaleOut(t *testing.T) {
	conn := needPostgres(t)
	ss := pgSchemas(t, conn, "e2e_scale_meta", "e2e_scale")
	meta, dest := ss[0], ss[1]
	env := pgStoreEnv(pgURL + "&search_path=" + meta)
	dir := t.TempDir()
	s := serve(t, dir, env, "--workers", "0")
	var workers []*workerProc
	for range 3 {
		workers = append(workers, startWorker(t, dir, env, "--workers", "2"))
	}
	s.json(201, "POST", "/api/v1/connections", map[string]any{
		"name": "warehouse", "connector": "postgres", "config": map[string]any{"url": pgURL, "schema": dest},
	}, &struct{}{})

	const pipelines, rounds = 10, 3
	rows := make([]int64, pipelines)
	ids := make([]string, pipelines)
	for i := range pipelines {
		rows[i] = int64(200 + 37*i)
		writeRows(t, filepath.Join(dir, fmt.Sprintf("p%d/rows", i)), int(rows[i]), int(rows[i]))
		ids[i] = s.createPipeline(map[string]any{
			"version": 1, "name": fmt.Sprintf("scale-%d", i),
			"source": map[string]any{
				"connector": "csv",
				"config":    map[string]any{"path": filepath.Join(dir, fmt.Sprintf("p%d/rows*.csv", i))},
				"streams":   []any{map[string]any{"name": fmt.Sprintf("p%d", i), "sync_mode": "full_refresh_append", "schema": map[string]any{"id": "int64"}}},
			},
			"destination": map[string]any{"connection": "warehouse"},
		})
	}
	type queued struct {
		id       string
		pipeline int
	}
	var runs []queued
	for range rounds {
		for i := range pipelines {
			runs = append(runs, queued{s.trigger(ids[i]), i})
		}
	}

	byWorker := map[string]int{}
	for _, r := range runs {
		got := s.waitFinished(r.id, 3*time.Minute)
		if got.Status != "succeeded" || got.Attempts != 1 || len(got.Streams) != 1 || got.Streams[0].Written != rows[r.pipeline] {
			t.Errorf("run %s of pipeline %d: %+v; want succeeded in one attempt with %d rows\n%s", r.id, r.pipeline, got, rows[r.pipeline], s.runLog(r.id))
			continue
		}
		as := s.attempts(r.id)
		if len(as.Items) != 1 || as.Items[0].Outcome != "succeeded" {
			t.Errorf("run %s attempts %+v; want one that succeeded", r.id, as.Items)
			continue
		}
		byWorker[as.Items[0].Worker]++
	}
	for i := range pipelines {
		table := fmt.Sprintf("%s.p%d", dest, i)
		if n := committedRows(conn, table); n != rounds*rows[i] {
			t.Errorf("%s holds %d rows; want %d: %d runs of %d rows, each loaded once", table, n, rounds*rows[i], rounds, rows[i])
		}
	}
	for _, w := range workers {
		n := 0
		for name, c := range byWorker {
			if strings.HasSuffix(name, ":"+strconv.Itoa(w.pid())) {
				n += c
			}
		}
		if n == 0 {
			t.Errorf("worker %d executed no run; runs by worker: %v", w.pid(), byWorker)
		}
	}
	t.Logf("runs by worker: %v", byWorker)
}

// TestWorkerLostMidRun: the worker executing a 500k-row run goes away once
// part of the rows are committed, killed with SIGKILL or stopped with
// SIGTERM. The other worker resumes the run from the last checkpoint (at
// once after a stop, which queues the run again; once the lease expires
// after a kill) and every row is loaded exactly once. The run's attempts
// and log tell what happened.
func TestWorkerLostMidRun(t *testing.T) {
	const total = 500_000
	conn := needPostgres(t)
	dir := t.TempDir()
	writeRows(t, filepath.Join(dir, "data", "rows"), total, total/4)
	cases := []struct {
		name    string
		sig     syscall.Signal
		outcome string
		log     string
	}{
		{"killed", syscall.SIGKILL, "lost", "worker %s lost; resumed from checkpoint by %s"},
		{"stopped", syscall.SIGTERM, "stopped", "worker %s stopped; resumed from checkpoint by %s"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ss := pgSchemas(t, conn, "e2e_lost_meta", "e2e_lost")
			meta, dest := ss[0], ss[1]
			env := pgStoreEnv(pgURL + "&search_path=" + meta)
			s := serve(t, dir, env, "--workers", "0")
			workers := []*workerProc{
				startWorker(t, dir, env, "--workers", "1", "--rescue-after", "4s"),
				startWorker(t, dir, env, "--workers", "1", "--rescue-after", "4s"),
			}
			pl := s.createPipeline(bigSpec("lost-"+c.name, dir, map[string]any{"connector": "postgres", "config": map[string]any{"url": pgURL, "schema": dest}}, nil))
			runID := s.trigger(pl)

			table := dest + ".rows"
			waitCommitted(t, s, conn, table, runID, total)
			as := s.attempts(runID)
			if len(as.Items) != 1 || as.Items[0].Outcome != "" {
				t.Fatalf("attempts before the %s: %+v", c.sig, as.Items)
			}
			gone, survivor := workers[0], workers[1]
			if !strings.HasSuffix(as.Items[0].Worker, ":"+strconv.Itoa(gone.pid())) {
				gone, survivor = survivor, gone
			}
			if !strings.HasSuffix(as.Items[0].Worker, ":"+strconv.Itoa(gone.pid())) {
				t.Fatalf("attempt by %s, which is neither worker %d nor %d", as.Items[0].Worker, gone.pid(), survivor.pid())
			}
			before := committedRows(conn, table)
			gone.signal(t, c.sig)
			at := time.Now()

			got := s.waitFinished(runID, 3*time.Minute)
			if got.Status != "succeeded" {
				t.Fatalf("run %+v\n%s\nsurvivor:\n%s", got, s.runLog(runID), survivor.logs)
			}
			t.Logf("%s with %d of %d rows committed; the run finished %s later", c.sig, before, total, time.Since(at).Round(time.Millisecond))
			verifyOnce(t, conn, table, total)

			as = s.attempts(runID)
			last := as.Items[len(as.Items)-1]
			if len(as.Items) < 2 || as.Items[0].Outcome != c.outcome || last.Outcome != "succeeded" || !strings.HasSuffix(last.Worker, ":"+strconv.Itoa(survivor.pid())) {
				t.Fatalf("attempts %+v; want the first %s, the last succeeded by worker %d", as.Items, c.outcome, survivor.pid())
			}
			mustContain(t, "run log", s.runLog(runID), fmt.Sprintf(c.log, as.Items[0].Worker, as.Items[1].Worker))
		})
	}
}

// TestEmbeddedServerKilled: `tributary serve` on the embedded SQLite
// store is killed with SIGKILL during a run; once restarted, it takes the
// run over when the dead process's lease expires and finishes it from the
// last checkpoint, every row loaded once.
func TestEmbeddedServerKilled(t *testing.T) {
	const total = 500_000
	conn := needPostgres(t)
	dest := pgSchemas(t, conn, "e2e_embedded")[0]
	dir := t.TempDir()
	writeRows(t, filepath.Join(dir, "data", "rows"), total, total/4)
	start := func() (*workerProc, *server) {
		addr := freeAddr(t)
		p := startProc(t, dir, nil, "tributary serving",
			"serve", "--addr", addr, "--data", filepath.Join(dir, "tributary-data"), "--workers", "1", "--rescue-after", "3s")
		return p, &server{t: t, base: "http://" + addr, logs: &lockedBuffer{}}
	}
	first, s := start()
	runID := s.trigger(s.createPipeline(bigSpec("embedded", dir, map[string]any{"connector": "postgres", "config": map[string]any{"url": pgURL, "schema": dest}}, nil)))
	table := dest + ".rows"
	waitCommitted(t, s, conn, table, runID, total)
	first.signal(t, syscall.SIGKILL)

	second, s := start()
	got := s.waitFinished(runID, 3*time.Minute)
	if got.Status != "succeeded" {
		t.Fatalf("run %+v\n%s\n%s", got, s.runLog(runID), second.logs)
	}
	verifyOnce(t, conn, table, total)
	as := s.attempts(runID)
	last := as.Items[len(as.Items)-1]
	if as.Items[0].Outcome != "lost" || !strings.HasSuffix(as.Items[0].Worker, ":"+strconv.Itoa(first.pid())) ||
		last.Outcome != "succeeded" || !strings.HasSuffix(last.Worker, ":"+strconv.Itoa(second.pid())) {
		t.Fatalf("attempts %+v; want the first lost by process %d, the last succeeded by %d", as.Items, first.pid(), second.pid())
	}
	mustContain(t, "run log", s.runLog(runID), fmt.Sprintf("worker %s lost; resumed from checkpoint by %s", as.Items[0].Worker, as.Items[1].Worker))
}

// TestDestinationOutage: the destination PostgreSQL stops for 20 s in the
// middle of a run; the failed attempts are retried with backoff until it
// is back, and the run finishes with every row loaded exactly once.
func TestDestinationOutage(t *testing.T) {
	const total = 500_000
	conn := needPostgres(t)
	meta := pgSchemas(t, conn, "e2e_outage_meta")[0]
	pg := pgcluster.Start(t)
	env := pgStoreEnv(pgURL + "&search_path=" + meta)
	dir := t.TempDir()
	writeRows(t, filepath.Join(dir, "data", "rows"), total, total/4)
	s := serve(t, dir, env)
	spec := bigSpec("outage", dir, map[string]any{"connector": "postgres", "config": map[string]any{"url": pg.URL(""), "schema": "outage"}},
		map[string]any{"retries": 12, "retry_backoff": "500ms"})
	runID := s.trigger(s.createPipeline(spec))

	ctx := context.Background()
	dconn, err := pgx.Connect(ctx, pg.URL(""))
	if err != nil {
		t.Fatal(err)
	}
	waitCommitted(t, s, dconn, "outage.rows", runID, total)
	dconn.Close(ctx)
	pg.Stop()
	down := time.Now()
	time.Sleep(20 * time.Second)
	var during apiRun
	s.json(200, "GET", "/api/v1/runs/"+runID, nil, &during)
	pg.Start()
	t.Logf("destination down for %s; run %s meanwhile", time.Since(down).Round(time.Millisecond), during.Status)

	got := s.waitFinished(runID, 3*time.Minute)
	if got.Status != "succeeded" {
		t.Fatalf("run %+v\n%s", got, s.runLog(runID))
	}
	dconn, err = pgx.Connect(ctx, pg.URL(""))
	if err != nil {
		t.Fatal(err)
	}
	defer dconn.Close(ctx)
	verifyOnce(t, dconn, "outage.rows", total)

	as := s.attempts(runID)
	failed := 0
	for _, a := range as.Items[:len(as.Items)-1] {
		if a.Outcome == "failed" && a.Error != "" {
			failed++
		}
	}
	if failed == 0 || as.Items[len(as.Items)-1].Outcome != "succeeded" {
		b, _ := json.Marshal(as)
		t.Fatalf("attempts %s; want failed attempts during the outage, then success", b)
	}
	t.Logf("%d attempts, %d failed", len(as.Items), failed)
	mustContain(t, "run log", s.runLog(runID), "attempt 1 failed: ", "retry 1 of 12 at")
}
