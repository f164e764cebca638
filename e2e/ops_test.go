package e2e

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	_ "modernc.org/sqlite"
)

// opsSpec is a CSV → SQLite pipeline over csv.
func opsSpec(name, csv, out string) map[string]any {
	return map[string]any{
		"version": 1, "name": name,
		"source": map[string]any{
			"connector": "csv", "config": map[string]any{"path": csv},
			"streams": []any{map[string]any{"name": "people", "sync_mode": "full_refresh_overwrite", "schema": map[string]any{"id": "int64"}}},
		},
		"destination": map[string]any{"connector": "sqlite", "config": map[string]any{"path": out}},
	}
}

// runToEnd queues a run of the pipeline and waits until it finishes.
func (s *server) runToEnd(pipelineID string) apiRun {
	s.t.Helper()
	var run apiRun
	s.json(202, "POST", "/api/v1/pipelines/"+pipelineID+"/runs", nil, &run)
	deadline := time.Now().Add(60 * time.Second)
	for run.Status == "queued" || run.Status == "running" {
		if time.Now().After(deadline) {
			s.t.Fatalf("run still %s:\n%s", run.Status, s.logs)
		}
		time.Sleep(100 * time.Millisecond)
		s.json(200, "GET", "/api/v1/runs/"+run.ID, nil, &run)
	}
	return run
}

type opsFigures struct {
	dashboard struct {
		Totals struct {
			Pipelines int `json:"pipelines"`
		} `json:"totals"`
		Runs map[string]int `json:"runs"`
		Rows struct {
			Read, Written, Quarantined int64
		} `json:"rows"`
		SuccessRate      *float64 `json:"success_rate"`
		FailingPipelines []struct {
			Pipeline string `json:"pipeline"`
			Error    string `json:"error"`
		} `json:"failing_pipelines"`
		RecentActivity []struct {
			RunID string `json:"run_id"`
		} `json:"recent_activity"`
	}
	health struct {
		Status  string `json:"status"`
		Version string `json:"version"`
		Store   struct {
			OK bool `json:"ok"`
		} `json:"store"`
		Queue struct {
			OK bool `json:"ok"`
		} `json:"queue"`
		Workers []struct {
			Host    string `json:"host"`
			PID     int    `json:"pid"`
			Workers int    `json:"workers"`
			Alive   bool   `json:"alive"`
		} `json:"workers"`
		Disk *struct {
			FreeBytes uint64 `json:"free_bytes"`
		} `json:"disk"`
	}
}

// TestOps drives what an operator sees through the binary on both stores:
// the dashboard and analytics after real runs, the health page with the
// serving process as a worker, metrics, JSON logs with run ids, and
// retention settings.
func TestOps(t *testing.T) {
	for _, kind := range []string{"sqlite", "postgres"} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			var env []string
			if kind == "postgres" {
				env = append(env, pgStoreEnv(pgSchema(t))...)
			}
			dir := t.TempDir()
			csv := filepath.Join(dir, "people.csv")
			writeFile(t, csv, "id,name\n1,Ann\n2,Bob\nx,Eve\n3,Joe\n")
			s := serve(t, dir, env, "--log-format", "json", "--log-level", "info")

			var good, broken struct{ ID string }
			s.json(201, "POST", "/api/v1/pipelines", opsSpec("good", csv, filepath.Join(dir, "out.db")), &good)
			s.json(201, "POST", "/api/v1/pipelines", opsSpec("broken", csv, filepath.Join(csv, "not-a-directory", "out.db")), &broken)
			first := s.runToEnd(good.ID)
			if first.Status != "succeeded" {
				t.Fatalf("run of good: %+v\n%s", first, s.logs)
			}
			if r := s.runToEnd(broken.ID); r.Status != "failed" {
				t.Fatalf("run of broken: %+v", r)
			}
			if r := s.runToEnd(good.ID); r.Status != "succeeded" {
				t.Fatalf("second run of good: %+v", r)
			}

			var f opsFigures
			d := &f.dashboard
			s.json(200, "GET", "/api/v1/dashboard", nil, d)
			if d.Totals.Pipelines != 2 || d.Runs["succeeded"] != 2 || d.Runs["failed"] != 1 || d.Rows.Read != 8 || d.Rows.Written != 6 || d.Rows.Quarantined != 2 {
				t.Errorf("dashboard %+v", d)
			}
			if d.SuccessRate == nil || *d.SuccessRate < 0.66 || *d.SuccessRate > 0.67 || len(d.FailingPipelines) != 1 || d.FailingPipelines[0].Pipeline != "broken" || len(d.RecentActivity) != 3 {
				t.Errorf("dashboard %+v", d)
			}

			var ts struct {
				Points []struct {
					Value float64 `json:"value"`
				} `json:"points"`
			}
			s.json(200, "GET", "/api/v1/analytics/timeseries?metric=rows_written&bucket=hour", nil, &ts)
			var sum float64
			for _, p := range ts.Points {
				sum += p.Value
			}
			if len(ts.Points) < 24 || len(ts.Points) > 25 || sum != 6 || ts.Points[len(ts.Points)-1].Value != 6 {
				t.Errorf("hourly rows written: %d points, sum %v: %+v", len(ts.Points), sum, ts.Points)
			}
			var top struct {
				Items []struct {
					Pipeline string  `json:"pipeline"`
					Value    float64 `json:"value"`
				} `json:"items"`
			}
			s.json(200, "GET", "/api/v1/analytics/top?by=failures", nil, &top)
			if len(top.Items) != 1 || top.Items[0].Pipeline != "broken" || top.Items[0].Value != 1 {
				t.Errorf("top by failures %+v", top.Items)
			}
			var durs struct {
				Overall struct {
					Runs       int     `json:"runs"`
					P95Seconds float64 `json:"p95_seconds"`
				} `json:"overall"`
			}
			s.json(200, "GET", "/api/v1/analytics/durations", nil, &durs)
			if durs.Overall.Runs != 2 || durs.Overall.P95Seconds <= 0 {
				t.Errorf("durations %+v", durs)
			}
			var qr struct {
				Pipelines []struct {
					Pipeline string  `json:"pipeline"`
					Ratio    float64 `json:"ratio"`
				} `json:"pipelines"`
			}
			s.json(200, "GET", "/api/v1/analytics/quarantine", nil, &qr)
			if len(qr.Pipelines) != 2 || qr.Pipelines[0].Pipeline != "good" || qr.Pipelines[0].Ratio != 0.25 {
				t.Errorf("quarantine ratios %+v", qr.Pipelines)
			}

			h := &f.health
			s.json(200, "GET", "/api/v1/monitoring/health", nil, h)
			host, _ := os.Hostname()
			if h.Status != "ok" || h.Version == "" || !h.Store.OK || !h.Queue.OK || h.Disk == nil || h.Disk.FreeBytes == 0 ||
				len(h.Workers) != 1 || !h.Workers[0].Alive || h.Workers[0].Host != host || h.Workers[0].Workers != 1 || h.Workers[0].PID == os.Getpid() {
				t.Errorf("health %+v", h)
			}

			_, _, metrics := s.call("GET", "/metrics", nil)
			mustContain(t, "metrics", string(metrics),
				`tributary_rows_written_total{pipeline="good"} 6`,
				`tributary_runs_total{pipeline="good",status="succeeded"} 2`,
				`tributary_run_failures_total{pipeline="broken"} 1`,
				`tributary_queue_depth{state="available"} 0`,
				`tributary_queue_up 1`,
				`tributary_runs_in_flight 0`)

			var r struct {
				RunsDays int `json:"runs_days"`
			}
			s.json(200, "PUT", "/api/v1/settings/retention", map[string]any{"runs_days": 5, "logs_days": 2, "quarantine_days": 1}, &r)
			s.json(200, "GET", "/api/v1/settings/retention", nil, &r)
			if r.RunsDays != 5 {
				t.Errorf("retention after save %+v", r)
			}

			// Every process log line is a JSON object; the runs' lines carry
			// their run id and pipeline.
			withRun, runnerLines := 0, 0
			sc := bufio.NewScanner(strings.NewReader(s.logs.String()))
			for sc.Scan() {
				line := sc.Text()
				if !strings.HasPrefix(line, "{") {
					continue
				}
				var rec map[string]any
				if err := json.Unmarshal([]byte(line), &rec); err != nil {
					t.Errorf("log line is not JSON: %v: %s", err, line)
					continue
				}
				if rec["run_id"] == first.ID && rec["pipeline"] == "good" {
					withRun++
				}
				// The worker's own lines about the run (claimed, finished).
				if rec["run_id"] == first.ID && rec["pipeline_id"] == good.ID && rec["pipeline"] == nil {
					runnerLines++
				}
			}
			if withRun == 0 || runnerLines == 0 {
				t.Errorf("%d engine and %d worker JSON log lines with run_id %s:\n%s", withRun, runnerLines, first.ID, s.logs)
			}
		})
	}
}

// pgSchema makes a schema of its own for a store and returns the URL
// selecting it.
func pgSchema(t *testing.T) string {
	t.Helper()
	conn := needPostgres(t)
	schema := "e2e_ops_" + strings.ReplaceAll(uuid.NewString()[:8], "-", "")
	if _, err := conn.Exec(context.Background(), `CREATE SCHEMA `+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := conn.Exec(context.Background(), `DROP SCHEMA `+schema+` CASCADE`); err != nil {
			t.Error(err)
		}
	})
	return pgURL + "&search_path=" + schema
}

// TestBackupWhileServing snapshots the embedded store of a running
// server, opens the copy and serves it: the pipelines are there.
func TestBackupWhileServing(t *testing.T) {
	dir := t.TempDir()
	csv := filepath.Join(dir, "people.csv")
	writeFile(t, csv, "id,name\n1,Ann\n2,Bob\n")
	s := serve(t, dir, nil)
	var ids []string
	for i := range 3 {
		var p struct{ ID string }
		s.json(201, "POST", "/api/v1/pipelines", opsSpec(fmt.Sprint("p", i), csv, filepath.Join(dir, fmt.Sprint("out", i, ".db"))), &p)
		ids = append(ids, p.ID)
	}
	if r := s.runToEnd(ids[0]); r.Status != "succeeded" {
		t.Fatalf("run %+v", r)
	}
	// Writes go on during the backup.
	stop := make(chan struct{})
	writing := make(chan struct{})
	go func() {
		defer close(writing)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			b, _ := json.Marshal(opsSpec(fmt.Sprint("during", i), csv, filepath.Join(dir, "during.db")))
			resp, err := http.Post(s.base+"/api/v1/pipelines", "application/json", bytes.NewReader(b))
			if err != nil {
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}()
	backup := filepath.Join(t.TempDir(), "tributary-backup.db")
	r := tributary(t, dir, nil, "backup", "--data", filepath.Join(dir, "tributary-data"), "-o", backup)
	close(stop)
	<-writing
	if r.code != 0 {
		t.Fatalf("backup exited %d:\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	mustContain(t, "backup output", r.stdout, "integrity ok", "1 runs")

	db, err := sql.Open("sqlite", "file:"+backup+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM pipelines WHERE id IN (?, ?, ?)`, ids[0], ids[1], ids[2]).Scan(&n); err != nil || n != 3 {
		t.Fatalf("pipelines in the backup: %d, %v", n, err)
	}

	// A second backup to the same file is refused without --force.
	if r := tributary(t, dir, nil, "backup", "--data", filepath.Join(dir, "tributary-data"), "-o", backup); r.code == 0 || !strings.Contains(r.stderr, "--force") {
		t.Errorf("backup over an existing file: %d %s", r.code, r.stderr)
	}

	restored := t.TempDir()
	copyFile(t, backup, filepath.Join(restored, "tributary-data", "tributary.db"))
	s2 := serve(t, restored, nil, "--workers", "0")
	var list struct {
		Items []struct {
			ID string `json:"id"`
		} `json:"items"`
	}
	s2.json(200, "GET", "/api/v1/pipelines?limit=500", nil, &list)
	found := 0
	for _, p := range list.Items {
		for _, id := range ids {
			if p.ID == id {
				found++
			}
		}
	}
	if found != 3 {
		t.Errorf("served backup lists %d of the 3 pipelines: %+v", found, list.Items)
	}
}

// TestBackupPostgresGuidance: with a PostgreSQL store, backup says how to
// use pg_dump and writes nothing.
func TestBackupPostgresGuidance(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "store.dump")
	r := tributary(t, dir, []string{"TRIBUTARY_DATABASE_URL=postgres://ops:s3cret@db.example:5432/tributary?search_path=meta"}, "backup", "-o", out)
	if r.code != 2 {
		t.Fatalf("exit %d, want 2:\n%s%s", r.code, r.stdout, r.stderr)
	}
	mustContain(t, "guidance", r.stdout, "pg_dump --format=custom --schema=meta --file="+out, "pg_restore", "No backup was written")
	if strings.Contains(r.stdout, "s3cret") {
		t.Errorf("guidance repeats the password:\n%s", r.stdout)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("a file was written: %v", err)
	}
}

// TestWorkerMetrics: a `tributary worker` beside `serve --workers 0`
// executes a run; its counters are scrapeable on --metrics-addr, and the
// health page lists it.
func TestWorkerMetrics(t *testing.T) {
	env := pgStoreEnv(pgSchema(t))
	dir := t.TempDir()
	csv := filepath.Join(dir, "people.csv")
	writeFile(t, csv, "id,name\n1,Ann\n2,Bob\n3,Joe\n")
	s := serve(t, dir, env, "--workers", "0")

	addr := freeAddr(t)
	cmd := exec.Command(bin, "worker", "--workers", "1", "--data", filepath.Join(dir, "worker-data"), "--metrics-addr", addr, "--log-format", "json")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	logs := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("worker exited with %v:\n%s", err, logs)
			}
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			t.Errorf("worker did not stop:\n%s", logs)
		}
	})
	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		if code, _ := get("/healthz"); code == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("worker metrics never answered:\n%s", logs)
		}
		time.Sleep(100 * time.Millisecond)
	}

	var p struct{ ID string }
	s.json(201, "POST", "/api/v1/pipelines", opsSpec("by-worker", csv, filepath.Join(dir, "out.db")), &p)
	if r := s.runToEnd(p.ID); r.Status != "succeeded" {
		t.Fatalf("run %+v\n%s", r, logs)
	}
	code, body := get("/metrics")
	if code != 200 {
		t.Fatalf("worker /metrics: %d", code)
	}
	mustContain(t, "worker metrics", body, `tributary_rows_written_total{pipeline="by-worker"} 3`,
		`tributary_runs_total{pipeline="by-worker",status="succeeded"} 1`, "go_goroutines", "tributary_runs_in_flight 0")

	var h struct {
		Workers []struct {
			Workers int  `json:"workers"`
			Alive   bool `json:"alive"`
			PID     int  `json:"pid"`
		} `json:"workers"`
	}
	s.json(200, "GET", "/api/v1/monitoring/health", nil, &h)
	if len(h.Workers) != 1 || !h.Workers[0].Alive || h.Workers[0].PID != cmd.Process.Pid {
		t.Errorf("workers seen %+v (worker pid %d)", h.Workers, cmd.Process.Pid)
	}
}

// TestRetentionPurgeOnStart: a server starting on a PostgreSQL store
// beside another applies the retention settings at once: a run finished
// 100 days ago goes with its logs, a recent one stays.
func TestRetentionPurgeOnStart(t *testing.T) {
	url := pgSchema(t)
	env := pgStoreEnv(url)
	conn := needPostgres(t)
	schema := url[strings.LastIndex(url, "=")+1:]
	dir := t.TempDir()
	csv := filepath.Join(dir, "people.csv")
	writeFile(t, csv, "id,name\n1,Ann\n2,Bob\n")
	s := serve(t, dir, env)
	var p struct{ ID string }
	s.json(201, "POST", "/api/v1/pipelines", opsSpec("aging", csv, filepath.Join(dir, "out.db")), &p)
	old, recent := s.runToEnd(p.ID), s.runToEnd(p.ID)
	if old.Status != "succeeded" || recent.Status != "succeeded" {
		t.Fatalf("runs %+v %+v", old, recent)
	}
	if _, err := conn.Exec(context.Background(), `UPDATE `+schema+`.runs SET created_at = created_at - interval '100 days',
		finished_at = finished_at - interval '100 days' WHERE id = $1`, old.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(context.Background(), `UPDATE `+schema+`.run_logs SET at = at - interval '40 days' WHERE run_id = $1`, recent.ID); err != nil {
		t.Fatal(err)
	}

	s2 := serve(t, t.TempDir(), env, "--workers", "0")
	deadline := time.Now().Add(15 * time.Second)
	for {
		code, _, _ := s2.call("GET", "/api/v1/runs/"+old.ID, nil)
		if code == 404 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("run finished 100 days ago still there (%d):\n%s", code, s2.logs)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if code, _, body := s2.call("GET", "/api/v1/runs/"+recent.ID, nil); code != 200 {
		t.Errorf("recent run: %d %s", code, body)
	}
	var logs struct {
		Items []any `json:"items"`
	}
	s2.json(200, "GET", "/api/v1/runs/"+recent.ID+"/logs", nil, &logs)
	if len(logs.Items) != 0 {
		t.Errorf("log lines 40 days old kept: %v", logs.Items)
	}
}
