package store_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tributary-data/tributary/store"
)

// finishRun creates a run of the pipeline, claims it and records the
// outcome with the given per-stream counts, as a worker does.
func finishRun(t *testing.T, s store.Store, pipelineID string, status store.RunStatus, streams ...[3]int64) *store.Run {
	t.Helper()
	ctx := context.Background()
	run, err := s.CreateRun(ctx, store.NewRun{PipelineID: pipelineID})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.ClaimRun(ctx, run.ID, time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	type stream struct {
		Name        string `json:"name"`
		Read        int64  `json:"read"`
		Written     int64  `json:"written"`
		Quarantined int64  `json:"quarantined"`
	}
	res := struct {
		Status   store.RunStatus `json:"status"`
		Duration int64           `json:"duration_ns"`
		Streams  []stream        `json:"streams"`
	}{Status: status, Duration: int64(1500 * time.Millisecond), Streams: []stream{}}
	for i, c := range streams {
		res.Streams = append(res.Streams, stream{Name: fmt.Sprint("s", i), Read: c[0], Written: c[1], Quarantined: c[2]})
	}
	body, _ := json.Marshal(res)
	errMsg := ""
	if status == store.Failed {
		errMsg = "boom"
	}
	if err := s.FinishRun(ctx, run.ID, status, errMsg, body); err != nil {
		t.Fatal(err)
	}
	if err := s.RecordRunStats(ctx, run.ID); err != nil {
		t.Fatal(err)
	}
	return run
}

func newPipeline(t *testing.T, s store.Store, name string) *store.Pipeline {
	t.Helper()
	p := &store.Pipeline{Name: name}
	if err := s.CreatePipeline(context.Background(), p, json.RawMessage(`{"name":"`+name+`"}`)); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDashboard(t *testing.T) {
	each(t, func(t *testing.T, s store.Store) {
		ctx := context.Background()
		start := time.Now().Add(-time.Minute)
		a, b, c := newPipeline(t, s, "a"), newPipeline(t, s, "b"), newPipeline(t, s, "c")
		if err := s.SetPipelineEnabled(ctx, c.ID, false); err != nil {
			t.Fatal(err)
		}
		if err := s.CreateConnection(ctx, &store.Connection{Name: "shop", Connector: "csv"}); err != nil {
			t.Fatal(err)
		}
		finishRun(t, s, a.ID, store.Succeeded, [3]int64{10, 9, 1}, [3]int64{5, 5, 0})
		finishRun(t, s, a.ID, store.Failed, [3]int64{2, 0, 0})
		finishRun(t, s, b.ID, store.Failed)
		lastB := finishRun(t, s, b.ID, store.Succeeded, [3]int64{7, 7, 0})
		// A run cancelled while queued never reaches a worker: the figures
		// still count it.
		queued, err := s.CreateRun(ctx, store.NewRun{PipelineID: c.ID})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.CancelRun(ctx, queued.ID); err != nil {
			t.Fatal(err)
		}
		waiting, err := s.CreateRun(ctx, store.NewRun{PipelineID: c.ID})
		if err != nil {
			t.Fatal(err)
		}

		d, err := s.Dashboard(ctx, start)
		if err != nil {
			t.Fatal(err)
		}
		if d.Pipelines != 3 || d.EnabledPipelines != 2 || d.Connections != 1 {
			t.Errorf("totals %d pipelines, %d enabled, %d connections", d.Pipelines, d.EnabledPipelines, d.Connections)
		}
		want := map[store.RunStatus]int64{store.Queued: 1, store.Running: 0, store.Succeeded: 2, store.Failed: 2, store.Cancelled: 1}
		for st, n := range want {
			if d.RunsByStatus[st] != n {
				t.Errorf("runs %s = %d, want %d", st, d.RunsByStatus[st], n)
			}
		}
		if d.RowsRead != 24 || d.RowsWritten != 21 || d.RowsQuarantined != 1 || d.Succeeded != 2 || d.Failed != 2 {
			t.Errorf("rows %d/%d/%d, runs %d succeeded %d failed", d.RowsRead, d.RowsWritten, d.RowsQuarantined, d.Succeeded, d.Failed)
		}
		if len(d.Failing) != 1 || d.Failing[0].Pipeline != "a" || d.Failing[0].Error != "boom" {
			t.Errorf("failing %+v", d.Failing)
		}
		if len(d.Recent) != 6 || d.Recent[0].RunID != waiting.ID || d.Recent[1].RunID != queued.ID || d.Recent[2].RunID != lastB.ID ||
			d.Recent[2].RowsWritten != 7 || d.Recent[2].Pipeline != "b" {
			t.Errorf("recent %+v", d.Recent)
		}

		// A window that starts later sees none of these runs but the
		// queued one.
		later, err := s.Dashboard(ctx, time.Now().Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if later.RowsWritten != 0 || later.RunsByStatus[store.Queued] != 1 || later.RunsByStatus[store.Succeeded] != 0 {
			t.Errorf("later window %+v", later)
		}

		figs, err := s.RunFigures(ctx, start, time.Now().Add(time.Minute), a.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(figs) != 2 || figs[0].Status != store.Succeeded || figs[0].RowsWritten != 14 || figs[0].Duration != 1500*time.Millisecond ||
			figs[1].Status != store.Failed || figs[0].Pipeline != "a" {
			t.Errorf("figures of a: %+v", figs)
		}
		all, err := s.RunFigures(ctx, start, time.Now().Add(time.Minute), "")
		if err != nil {
			t.Fatal(err)
		}
		if len(all) != 5 || all[4].RunID != queued.ID || all[4].Status != store.Cancelled {
			t.Errorf("all figures: %+v", all)
		}
	})
}

func TestPercentile(t *testing.T) {
	ds := []time.Duration{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	for _, c := range []struct {
		p    float64
		want time.Duration
	}{{50, 5}, {95, 10}, {90, 9}, {10, 1}, {100, 10}} {
		if got := store.Percentile(ds, c.p); got != c.want {
			t.Errorf("p%v = %v, want %v", c.p, got, c.want)
		}
	}
	if store.Percentile(nil, 50) != 0 {
		t.Error("percentile of nothing")
	}
}

func TestWorkers(t *testing.T) {
	each(t, func(t *testing.T, s store.Store) {
		ctx := context.Background()
		started := time.Now().Add(-time.Hour).UTC().Truncate(time.Millisecond)
		w := &store.WorkerBeat{ID: "w1", Host: "h1", PID: 42, Version: "dev", StartedAt: started, LastSeen: started, Workers: 2}
		if err := s.Heartbeat(ctx, w); err != nil {
			t.Fatal(err)
		}
		old := &store.WorkerBeat{ID: "w0", Host: "h0", PID: 1, Version: "dev", StartedAt: started.Add(-10 * 24 * time.Hour), LastSeen: started.Add(-8 * 24 * time.Hour)}
		if err := s.Heartbeat(ctx, old); err != nil {
			t.Fatal(err)
		}
		w.LastSeen, w.RunsInFlight = time.Now().UTC().Truncate(time.Millisecond), 1
		if err := s.Heartbeat(ctx, w); err != nil {
			t.Fatal(err)
		}
		ws, err := s.Workers(ctx, time.Now().Add(-time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		if len(ws) != 1 || ws[0].ID != "w1" || ws[0].RunsInFlight != 1 || !ws[0].StartedAt.Equal(started) || !ws[0].LastSeen.Equal(w.LastSeen) || ws[0].StoppedAt != nil {
			t.Fatalf("workers seen %+v", ws)
		}
		stopped := time.Now().UTC().Truncate(time.Millisecond)
		w.StoppedAt, w.LastSeen, w.RunsInFlight = &stopped, stopped, 0
		if err := s.Heartbeat(ctx, w); err != nil {
			t.Fatal(err)
		}
		ws, err = s.Workers(ctx, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		if len(ws) != 2 || ws[0].StoppedAt == nil || !ws[0].StoppedAt.Equal(stopped) || ws[1].ID != "w0" {
			t.Fatalf("all workers %+v", ws)
		}
		res, err := s.Purge(ctx, store.RetentionSettings{}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if res.Workers != 1 {
			t.Errorf("purged %d workers, want the one not seen for a week", res.Workers)
		}
	})
}

func TestRetention(t *testing.T) {
	each(t, func(t *testing.T, s store.Store) {
		ctx := context.Background()
		got, err := s.Retention(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got != store.DefaultRetention {
			t.Errorf("default retention %+v", got)
		}
		set := store.RetentionSettings{RunsDays: 10, LogsDays: 5, QuarantineDays: 5}
		if err := s.SetRetention(ctx, set); err != nil {
			t.Fatal(err)
		}
		if got, err = s.Retention(ctx); err != nil || got != set {
			t.Errorf("retention after save %+v, %v", got, err)
		}
		var fe *store.FieldError
		if err := s.SetRetention(ctx, store.RetentionSettings{RunsDays: -1}); !errors.As(err, &fe) || fe.Field != "runs_days" {
			t.Errorf("negative days: %v", err)
		}

		p := newPipeline(t, s, "p")
		old := finishRun(t, s, p.ID, store.Succeeded, [3]int64{1, 1, 0})
		if err := s.AddRunLog(ctx, old.ID, "INFO", "old line"); err != nil {
			t.Fatal(err)
		}
		// Enough old lines for the purge to take several batches.
		db := s.(interface{ DB() *sql.DB }).DB()
		q := `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 4500)
			INSERT INTO run_logs (run_id, at, level, message) SELECT ?, ?, 'INFO', 'bulk' FROM n`
		if _, isPG := s.(*store.Postgres); isPG {
			q = strings.Replace(strings.Replace(q, "?", "$1", 1), "?", "$2", 1)
		}
		if _, err := db.ExecContext(ctx, q, old.ID, time.Now().UTC().Add(-time.Millisecond)); err != nil {
			t.Fatal(err)
		}
		bad := func(n int) []store.QuarantinedRow {
			var rows []store.QuarantinedRow
			for i := range n {
				rows = append(rows, store.QuarantinedRow{Stream: "s", Origin: fmt.Sprint("line ", i), Raw: "x", Reason: "bad", Step: "read"})
			}
			return rows
		}
		if err := s.AddQuarantined(ctx, old.ID, bad(2)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
		cut := time.Now()
		time.Sleep(20 * time.Millisecond)
		keep := finishRun(t, s, p.ID, store.Failed)
		if err := s.AddRunLog(ctx, keep.ID, "INFO", "new line"); err != nil {
			t.Fatal(err)
		}
		if err := s.AddQuarantined(ctx, keep.ID, bad(1)); err != nil {
			t.Fatal(err)
		}
		if err := s.AddRunLog(ctx, old.ID, "INFO", "late line of the old run"); err != nil {
			t.Fatal(err)
		}
		running, err := s.CreateRun(ctx, store.NewRun{PipelineID: p.ID})
		if err != nil {
			t.Fatal(err)
		}

		// Logs older than 5 days at cut+5d are those before cut; runs
		// finished before cut+10d-10d likewise.
		res, err := s.Purge(ctx, set, cut.Add(5*24*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if res.Logs != 4501 || res.Runs != 0 || res.Quarantine != 2 {
			t.Errorf("log and quarantine purge: %+v", res)
		}
		for _, c := range []struct {
			run         string
			total, kept int64
		}{{old.ID, 2, 0}, {keep.ID, 1, 1}} {
			rows, err := s.QuarantinedRows(ctx, c.run, "", store.Page{})
			if err != nil || int64(len(rows)) != c.kept {
				t.Errorf("quarantined rows kept: %d, %v; want %d", len(rows), err, c.kept)
			}
			counts, err := s.QuarantineCounts(ctx, c.run)
			if err != nil || len(counts) != 1 || counts[0].Total != c.total || counts[0].Kept != c.kept {
				t.Errorf("quarantine counts %+v %v, want total %d kept %d", counts, err, c.total, c.kept)
			}
		}
		logs, err := s.RunLogs(ctx, old.ID, store.Page{})
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range logs {
			if l.Message == "old line" {
				t.Errorf("old log line kept")
			}
		}
		if len(logs) == 0 || logs[len(logs)-1].Message != "late line of the old run" {
			t.Errorf("new log lines of the old run: %+v", logs)
		}

		runsOnly := store.RetentionSettings{RunsDays: 10}
		res, err = s.Purge(ctx, runsOnly, cut.Add(10*24*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if res.Runs != 1 || res.Logs != 0 {
			t.Errorf("run purge: %+v", res)
		}
		if _, err := s.Run(ctx, old.ID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("old run after purge: %v", err)
		}
		for _, id := range []string{keep.ID, running.ID} {
			if _, err := s.Run(ctx, id); err != nil {
				t.Errorf("run %s after purge: %v", id, err)
			}
		}
		if logs, err := s.RunLogs(ctx, keep.ID, store.Page{}); err != nil || len(logs) != 1 {
			t.Errorf("logs of the kept run: %v %v", logs, err)
		}
		figs, err := s.RunFigures(ctx, cut.Add(-time.Hour), cut.Add(time.Hour), "")
		if err != nil || len(figs) != 1 || figs[0].RunID != keep.ID {
			t.Errorf("figures after purge %+v %v", figs, err)
		}
		// Purging again deletes nothing more, and a queued run is kept
		// however old.
		res, err = s.Purge(ctx, set, cut.Add(1000*24*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if res.Runs != 1 {
			t.Errorf("second purge %+v", res)
		}
		if _, err := s.Run(ctx, running.ID); err != nil {
			t.Errorf("queued run purged: %v", err)
		}
		res, err = s.Purge(ctx, set, cut.Add(1000*24*time.Hour))
		if err != nil || res.Runs != 0 || res.Logs != 0 {
			t.Errorf("third purge %+v %v", res, err)
		}
	})
}

// TestRetentionPurgesAudit: audit entries older than audit_days go with
// the daily purge, newer ones stay, and 0 keeps them all.
func TestRetentionPurgesAudit(t *testing.T) {
	each(t, func(t *testing.T, s store.Store) {
		ctx := context.Background()
		now := time.Now().UTC()
		for _, age := range []time.Duration{400 * 24 * time.Hour, 10 * 24 * time.Hour} {
			if err := s.AppendAudit(ctx, &store.AuditEntry{At: now.Add(-age), Actor: "a@example.com", Action: "login", Target: "a"}); err != nil {
				t.Fatal(err)
			}
		}
		cases := []struct {
			days       int
			gone, left int
		}{{0, 0, 2}, {365, 1, 1}, {5, 1, 0}}
		for _, c := range cases {
			res, err := s.Purge(ctx, store.RetentionSettings{AuditDays: c.days}, now)
			if err != nil {
				t.Fatal(err)
			}
			left, err := s.AuditEntries(ctx, store.AuditFilter{}, store.Page{})
			if err != nil {
				t.Fatal(err)
			}
			if res.Audit != int64(c.gone) || len(left) != c.left {
				t.Errorf("audit_days %d: purged %d, %d left; want %d, %d", c.days, res.Audit, len(left), c.gone, c.left)
			}
		}
	})
}
