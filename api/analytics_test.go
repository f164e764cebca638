package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"reflect"
	"testing"
	"time"

	"github.com/tributary-data/tributary/api"
	"github.com/tributary-data/tributary/jobs"
	"github.com/tributary-data/tributary/store"
	"github.com/tributary-data/tributary/store/storetest"
)

type opsEnv struct {
	t   *testing.T
	s   store.Store
	q   *jobs.Queue
	url string
	dir string
}

// startOps serves the API on a real store whose queue only enqueues, so
// runs are recorded as a worker would record them and the figures are
// known exactly.
func startOps(t *testing.T, kind string) *opsEnv {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	s := storetest.Open(t, kind, dir)
	q, err := jobs.NewQueue(ctx, s, &jobs.Runner{Store: s}, jobs.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	srv := httptest.NewServer(api.New(api.Config{Store: s, Queue: q, DataDir: dir, Version: "v9.9.9"}))
	t.Cleanup(srv.Close)
	return &opsEnv{t: t, s: s, q: q, url: srv.URL, dir: dir}
}

func (e *opsEnv) call(method, path string, body any, out any) int {
	e.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, e.url+path, rd)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			e.t.Fatalf("%s %s: %v in %s", method, path, err, raw)
		}
	}
	return resp.StatusCode
}

func (e *opsEnv) get(path string, out any) {
	e.t.Helper()
	if code := e.call("GET", path, nil, out); code != 200 {
		e.t.Fatalf("GET %s = %d: %+v", path, code, out)
	}
}

func (e *opsEnv) pipeline(name string) string {
	e.t.Helper()
	p := &store.Pipeline{Name: name}
	if err := e.s.CreatePipeline(context.Background(), p, json.RawMessage(`{"name":"`+name+`"}`)); err != nil {
		e.t.Fatal(err)
	}
	return p.ID
}

// finish records a run of the pipeline as a worker does: claimed, then
// finished with the engine's result.
func (e *opsEnv) finish(pipelineID string, status store.RunStatus, d time.Duration, read, written, quarantined int64) {
	e.t.Helper()
	ctx := context.Background()
	run, err := e.s.CreateRun(ctx, store.NewRun{PipelineID: pipelineID})
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.s.ClaimRun(ctx, run.ID, time.Now().Add(time.Minute)); err != nil {
		e.t.Fatal(err)
	}
	res := fmt.Sprintf(`{"status":%q,"duration_ns":%d,"streams":[{"name":"a","read":%d,"written":%d,"quarantined":%d}]}`, status, d, read, written, quarantined)
	if err := e.s.FinishRun(ctx, run.ID, status, map[bool]string{true: "boom"}[status == store.Failed], json.RawMessage(res)); err != nil {
		e.t.Fatal(err)
	}
}

type problem struct {
	Status int `json:"status"`
	Errors []struct {
		Location string `json:"location"`
		Message  string `json:"message"`
	} `json:"errors"`
}

func (p problem) at(loc string) bool {
	for _, e := range p.Errors {
		if e.Location == loc {
			return true
		}
	}
	return false
}

func TestAnalytics(t *testing.T) {
	for _, kind := range []string{"sqlite", "postgres"} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			e := startOps(t, kind)
			// idle has no runs: it counts in the totals, not in the rankings.
			orders, people := e.pipeline("orders"), e.pipeline("people")
			e.pipeline("idle")
			e.finish(orders, store.Succeeded, 1*time.Second, 100, 90, 10)
			e.finish(orders, store.Succeeded, 3*time.Second, 100, 100, 0)
			e.finish(orders, store.Failed, 0, 0, 0, 0)
			e.finish(people, store.Succeeded, 2*time.Second, 50, 49, 1)
			e.finish(people, store.Failed, 0, 5, 0, 0)
			e.finish(people, store.Failed, 0, 5, 0, 0)
			// The last run of people failed; orders' too.

			var d api.Dashboard
			e.get("/api/v1/dashboard", &d)
			if d.Totals.Pipelines != 3 || d.Totals.EnabledPipelines != 3 || d.Totals.Connections != 0 {
				t.Errorf("totals %+v", d.Totals)
			}
			if d.Runs[store.Succeeded] != 3 || d.Runs[store.Failed] != 3 || d.Runs[store.Queued] != 0 {
				t.Errorf("runs %v", d.Runs)
			}
			if d.Rows != (api.RowTotals{Read: 260, Written: 239, Quarantined: 11}) {
				t.Errorf("rows %+v", d.Rows)
			}
			if d.SuccessRate == nil || *d.SuccessRate != 0.5 {
				t.Errorf("success rate %v", d.SuccessRate)
			}
			if len(d.FailingPipelines) != 2 || d.FailingPipelines[0].Pipeline != "people" || d.FailingPipelines[1].Pipeline != "orders" {
				t.Errorf("failing %+v", d.FailingPipelines)
			}
			if len(d.RecentActivity) != 6 || d.RecentActivity[0].Pipeline != "people" || d.RecentActivity[0].Status != store.Failed {
				t.Errorf("recent %+v", d.RecentActivity)
			}
			if d.Window.To.Sub(d.Window.From) != 24*time.Hour {
				t.Errorf("window %+v", d.Window)
			}

			now := time.Now().UTC()
			hour := now.Truncate(time.Hour)
			for _, c := range []struct {
				query string
				want  float64
			}{
				{"metric=rows_written", 239},
				{"metric=rows_read", 260},
				{"metric=rows_quarantined", 11},
				{"metric=runs", 6},
				{"metric=failures", 3},
				{"metric=rows_written&pipeline=" + people, 49},
			} {
				var ts api.TimeSeries
				from := hour.Add(-2 * time.Hour).Add(17 * time.Minute)
				e.get("/api/v1/analytics/timeseries?bucket=hour&from="+url.QueryEscape(from.Format(time.RFC3339))+"&"+c.query, &ts)
				if len(ts.Points) != 3 || !ts.Points[0].Start.Equal(hour.Add(-2*time.Hour)) || ts.Points[0].Value != 0 || ts.Points[1].Value != 0 ||
					ts.Points[2].Value != c.want || !ts.Points[2].Start.Equal(hour) {
					t.Errorf("%s: %+v", c.query, ts)
				}
			}
			var days api.TimeSeries
			e.get("/api/v1/analytics/timeseries?metric=runs&bucket=day", &days)
			if len(days.Points) != 31 && len(days.Points) != 30 || days.Points[len(days.Points)-1].Value != 6 || days.Points[0].Value != 0 {
				t.Errorf("daily series of 30 days: %d points, last %+v", len(days.Points), days.Points[len(days.Points)-1])
			}

			for _, c := range []struct {
				query, location string
			}{
				{"metric=bytes", "query.metric"},
				{"metric=runs&bucket=week", "query.bucket"},
				{"metric=runs&from=yesterday", "query.from"},
				{"metric=runs&to=2026-13-01", "query.to"},
				{"metric=runs&from=2030-01-02&to=2030-01-01", "query.from"},
				{"metric=runs&bucket=hour&from=2000-01-01", "query.from"},
				{"metric=runs&pipeline=nope", "query.pipeline"},
			} {
				var p problem
				if code := e.call("GET", "/api/v1/analytics/timeseries?"+c.query, nil, &p); code != 422 || !p.at(c.location) {
					t.Errorf("%s: %d %+v, want 422 at %s", c.query, code, p, c.location)
				}
			}

			var top api.Top
			e.get("/api/v1/analytics/top?by=rows", &top)
			if len(top.Items) != 2 || top.Items[0].Pipeline != "orders" || top.Items[0].Value != 190 || top.Items[0].Runs != 3 ||
				top.Items[1].Pipeline != "people" || top.Items[1].Value != 49 {
				t.Errorf("top by rows %+v", top.Items)
			}
			e.get("/api/v1/analytics/top?by=failures&limit=1", &top)
			if len(top.Items) != 1 || top.Items[0].Pipeline != "people" || top.Items[0].Value != 2 {
				t.Errorf("top by failures %+v", top.Items)
			}
			e.get("/api/v1/analytics/top?by=duration", &top)
			// A tie (both average 2 s) is broken by name.
			if len(top.Items) != 2 || top.Items[0].Pipeline != "orders" || top.Items[0].Value != 2 || top.Items[1].Value != 2 {
				t.Errorf("top by duration %+v", top.Items)
			}

			e.get("/api/v1/analytics/top?by=rows&from=2001-01-01&to=2001-02-01", &top)
			if len(top.Items) != 0 || !top.Window.From.Equal(time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)) {
				t.Errorf("top of an empty window %+v", top)
			}
			var bad problem
			if code := e.call("GET", "/api/v1/analytics/top?to=2026-13-01", nil, &bad); code != 422 || !bad.at("query.to") {
				t.Errorf("top with a bad window: %d %+v, want 422 at query.to", code, bad)
			}

			var durs api.Durations
			e.get("/api/v1/analytics/durations", &durs)
			if durs.Overall.Runs != 3 || durs.Overall.P50Seconds != 2 || durs.Overall.P95Seconds != 3 || durs.Overall.MaxSeconds != 3 {
				t.Errorf("overall durations %+v", durs.Overall)
			}
			if len(durs.Pipelines) != 2 || durs.Pipelines[0].Pipeline != "orders" || durs.Pipelines[0].P50Seconds != 1 || durs.Pipelines[0].P95Seconds != 3 ||
				durs.Pipelines[1].Pipeline != "people" || durs.Pipelines[1].P50Seconds != 2 {
				t.Errorf("durations per pipeline %+v", durs.Pipelines)
			}
			e.get("/api/v1/analytics/durations?from=2001-01-01&to=2001-02-01", &durs)
			if durs.Overall.Runs != 0 || len(durs.Pipelines) != 0 {
				t.Errorf("durations of an empty window %+v", durs)
			}

			var qr api.QuarantineRatios
			e.get("/api/v1/analytics/quarantine", &qr)
			if len(qr.Pipelines) != 2 || qr.Pipelines[0].Pipeline != "orders" || qr.Pipelines[0].Ratio != 0.05 || qr.Pipelines[0].RowsRead != 200 ||
				qr.Pipelines[1].RowsQuarantined != 1 || qr.Pipelines[1].Ratio != 1.0/60 {
				t.Errorf("quarantine ratios %+v", qr.Pipelines)
			}
		})
	}
}

func TestHealthPage(t *testing.T) {
	for _, kind := range []string{"sqlite", "postgres"} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			e := startOps(t, kind)
			ctx := context.Background()
			run, err := e.s.CreateRun(ctx, store.NewRun{PipelineID: e.pipeline("waiting")})
			if err != nil {
				t.Fatal(err)
			}
			if err := e.q.Enqueue(ctx, run.ID); err != nil {
				t.Fatal(err)
			}
			beatCtx, stop := context.WithCancel(ctx)
			done := make(chan struct{})
			go func() {
				defer close(done)
				(&jobs.Heartbeat{Store: e.s, Interval: 50 * time.Millisecond, Workers: 3, InFlight: func() int { return 2 }, Version: "v9.9.9"}).Run(beatCtx)
			}()
			defer func() { stop(); <-done }()
			time.Sleep(200 * time.Millisecond)

			var h api.Health
			e.get("/api/v1/monitoring/health", &h)
			if h.Status != "ok" || h.Version != "v9.9.9" || !h.Store.OK || h.Store.LatencyMS <= 0 {
				t.Errorf("health %+v", h)
			}
			if !h.Queue.OK || h.Queue.Depth["available"] != 1 || h.Queue.Waiting != 1 || h.Queue.OldestWaitingAgeSeconds <= 0 {
				t.Errorf("queue %+v", h.Queue)
			}
			host, _ := os.Hostname()
			if len(h.Workers) != 1 || !h.Workers[0].Alive || h.Workers[0].Host != host || h.Workers[0].Workers != 3 || h.Workers[0].RunsInFlight != 2 {
				t.Errorf("workers %+v", h.Workers)
			}
			if h.Disk == nil || h.Disk.Path != e.dir || h.Disk.FreeBytes == 0 || h.Disk.TotalBytes < h.Disk.FreeBytes || h.Disk.Error != "" {
				t.Errorf("disk %+v", h.Disk)
			}
			stop()
			<-done
			e.get("/api/v1/monitoring/health", &h)
			if len(h.Workers) != 1 || h.Workers[0].Alive || h.Workers[0].StoppedAt == nil {
				t.Errorf("stopped worker %+v", h.Workers)
			}
		})
	}
}

func TestRetentionSettings(t *testing.T) {
	for _, kind := range []string{"sqlite", "postgres"} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			e := startOps(t, kind)
			days := func(n int) *int { return &n }
			var r api.Retention
			e.get("/api/v1/settings/retention", &r)
			if !reflect.DeepEqual(r, api.Retention{RunsDays: 90, LogsDays: 30, QuarantineDays: 30, AuditDays: days(365)}) {
				t.Errorf("defaults %+v", r)
			}
			// audit_days left out keeps what was set.
			want := api.Retention{RunsDays: 7, LogsDays: 0, QuarantineDays: 3, AuditDays: days(365)}
			if code := e.call("PUT", "/api/v1/settings/retention", map[string]any{"runs_days": 7, "logs_days": 0, "quarantine_days": 3}, &r); code != 200 || !reflect.DeepEqual(r, want) {
				t.Fatalf("put %d %+v", code, r)
			}
			want.AuditDays = days(0)
			if code := e.call("PUT", "/api/v1/settings/retention", want, &r); code != 200 || !reflect.DeepEqual(r, want) {
				t.Fatalf("put %d %+v", code, r)
			}
			e.get("/api/v1/settings/retention", &r)
			if !reflect.DeepEqual(r, want) {
				t.Errorf("after put %+v", r)
			}
			var p problem
			if code := e.call("PUT", "/api/v1/settings/retention", map[string]any{"runs_days": 7, "logs_days": -1, "quarantine_days": 3}, &p); code != 422 || !p.at("body.logs_days") {
				t.Errorf("negative days: %d %+v", code, p)
			}
		})
	}
}
