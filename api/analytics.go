package api

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/tributary-data/tributary/store"
)

// Window is the time range figures cover: runs finished from From
// (inclusive) to To (exclusive).
type Window struct {
	From time.Time `json:"from" example:"2026-11-24T00:00:00Z"`
	To   time.Time `json:"to" example:"2026-11-25T00:00:00Z"`
}

// RowTotals are row counts summed over runs.
type RowTotals struct {
	Read        int64 `json:"read" example:"120000"`
	Written     int64 `json:"written" example:"119880"`
	Quarantined int64 `json:"quarantined" example:"120"`
}

// Dashboard is the summary of the server.
type Dashboard struct {
	Window Window `json:"window"`
	Totals struct {
		Pipelines        int64 `json:"pipelines" example:"12"`
		EnabledPipelines int64 `json:"enabled_pipelines" example:"10"`
		Connections      int64 `json:"connections" example:"4"`
	} `json:"totals"`
	Runs map[store.RunStatus]int64 `json:"runs" doc:"Runs by status: those created in the window, and every run still queued or running" example:"{\"queued\":1,\"running\":2,\"succeeded\":40,\"failed\":3,\"cancelled\":0}"`
	Rows RowTotals                 `json:"rows" doc:"Rows of the runs finished in the window"`
	// SuccessRate is nil when no run succeeded or failed in the window.
	SuccessRate      *float64                `json:"success_rate" doc:"Succeeded / (succeeded + failed) of the runs finished in the window; null when none" example:"0.93"`
	FailingPipelines []store.FailingPipeline `json:"failing_pipelines" doc:"Pipelines whose latest succeeded or failed run failed, most recent failure first"`
	RecentActivity   []store.Activity        `json:"recent_activity" doc:"The 20 most recent runs, newest first"`
}

type dashboardOut struct{ Body Dashboard }

// Point is one bucket of a time series.
type Point struct {
	Start time.Time `json:"start" example:"2026-11-24T13:00:00Z"`
	Value float64   `json:"value" example:"4200"`
}

// TimeSeries is a metric per bucket; buckets without runs are zero.
type TimeSeries struct {
	Metric     string  `json:"metric" example:"rows_written"`
	Bucket     string  `json:"bucket" example:"hour"`
	Window     Window  `json:"window"`
	PipelineID string  `json:"pipeline_id,omitempty"`
	Points     []Point `json:"points"`
}

type timeSeriesOut struct{ Body TimeSeries }

// PipelineValue is a pipeline's figure in a ranking.
type PipelineValue struct {
	PipelineID string  `json:"pipeline_id" example:"9b2f3c1e-8a51-4c0e-9d0a-3f6f1d2a7b10"`
	Pipeline   string  `json:"pipeline" example:"orders"`
	Runs       int64   `json:"runs" doc:"Runs finished in the window" example:"24"`
	Value      float64 `json:"value" doc:"Rows written, failed runs, or mean duration in seconds" example:"48000"`
}

// Top ranks pipelines by one figure.
type Top struct {
	By     string          `json:"by" example:"rows"`
	Window Window          `json:"window"`
	Items  []PipelineValue `json:"items"`
}

type topOut struct{ Body Top }

// DurationStats are percentiles of run durations.
type DurationStats struct {
	PipelineID string  `json:"pipeline_id,omitempty"`
	Pipeline   string  `json:"pipeline,omitempty"`
	Runs       int     `json:"runs" example:"24"`
	P50Seconds float64 `json:"p50_seconds" example:"12.5"`
	P95Seconds float64 `json:"p95_seconds" example:"31.2"`
	MaxSeconds float64 `json:"max_seconds" example:"40.1"`
}

// Durations are the percentiles of succeeded runs, overall and per
// pipeline.
type Durations struct {
	Window    Window          `json:"window"`
	Overall   DurationStats   `json:"overall"`
	Pipelines []DurationStats `json:"pipelines"`
}

type durationsOut struct{ Body Durations }

// QuarantineRatio is the share of a pipeline's rows that were quarantined.
type QuarantineRatio struct {
	PipelineID      string  `json:"pipeline_id"`
	Pipeline        string  `json:"pipeline" example:"orders"`
	Runs            int64   `json:"runs" example:"24"`
	RowsRead        int64   `json:"rows_read" example:"10000"`
	RowsQuarantined int64   `json:"rows_quarantined" example:"25"`
	Ratio           float64 `json:"ratio" doc:"rows_quarantined / rows_read; 0 when nothing was read" example:"0.0025"`
}

// QuarantineRatios rank pipelines by the share of rows quarantined.
type QuarantineRatios struct {
	Window    Window            `json:"window"`
	Pipelines []QuarantineRatio `json:"pipelines"`
}

type quarantineRatiosOut struct{ Body QuarantineRatios }

// Health is the state of the server and what it depends on.
type Health struct {
	Status  string `json:"status" enum:"ok,degraded" doc:"degraded when the store does not answer" example:"ok"`
	Version string `json:"version" example:"v0.4.0"`
	Store   struct {
		OK        bool    `json:"ok" example:"true"`
		LatencyMS float64 `json:"latency_ms" doc:"Time a ping of the store took" example:"0.8"`
		Error     string  `json:"error,omitempty"`
	} `json:"store"`
	Queue struct {
		OK                      bool             `json:"ok" example:"true"`
		Depth                   map[string]int64 `json:"depth" doc:"Jobs not yet finished, by River state" example:"{\"available\":3,\"running\":2}"`
		Waiting                 int64            `json:"waiting" doc:"Jobs waiting for a worker (available, scheduled, retryable)" example:"3"`
		OldestWaitingAgeSeconds float64          `json:"oldest_waiting_age_seconds" doc:"Age of the oldest job available to workers; 0 when none" example:"1.5"`
		Error                   string           `json:"error,omitempty"`
	} `json:"queue"`
	Workers []WorkerSeen `json:"workers" doc:"Processes executing runs seen in the last 24 hours, most recent first"`
	Disk    *DiskUsage   `json:"disk,omitempty" doc:"Space on the file system of the data directory"`
}

// WorkerSeen is a process executing runs, as last seen.
type WorkerSeen struct {
	store.WorkerBeat
	Alive bool `json:"alive" doc:"Seen within three heartbeats and not stopped" example:"true"`
}

// DiskUsage is the space of a file system.
type DiskUsage struct {
	Path       string `json:"path" example:"./tributary-data"`
	FreeBytes  uint64 `json:"free_bytes" example:"52613349376"`
	TotalBytes uint64 `json:"total_bytes" example:"107374182400"`
	Error      string `json:"error,omitempty"`
}

type healthPageOut struct{ Body Health }

// Retention says after how many days things are purged (daily); 0 keeps
// them forever.
type Retention struct {
	RunsDays       int  `json:"runs_days" minimum:"0" maximum:"36500" doc:"Finished runs, with their logs, quarantined rows and figures" example:"90"`
	LogsDays       int  `json:"logs_days" minimum:"0" maximum:"36500" doc:"Run log lines" example:"30"`
	QuarantineDays int  `json:"quarantine_days" minimum:"0" maximum:"36500" doc:"Quarantined rows kept for browsing and replay" example:"30"`
	AuditDays      *int `json:"audit_days,omitempty" minimum:"0" maximum:"36500" doc:"Audit log entries; kept as set before when omitted" example:"365"`
}

func retentionOf(r store.RetentionSettings) Retention {
	return Retention{RunsDays: r.RunsDays, LogsDays: r.LogsDays, QuarantineDays: r.QuarantineDays, AuditDays: &r.AuditDays}
}

type retentionOut struct{ Body Retention }

// figuresIn is the time range and pipeline of an analytics query.
type figuresIn struct {
	From string `query:"from" doc:"Start of the window, RFC 3339 or YYYY-MM-DD (UTC); 7 days before 'to' when empty" example:"2026-11-18T00:00:00Z"`
	To   string `query:"to" doc:"End of the window (exclusive); now when empty" example:"2026-11-25T00:00:00Z"`
}

// heartbeatAlive is how long after its last heartbeat a process counts as
// alive: three of the default heartbeats.
const heartbeatAlive = 15 * time.Second

// maxPoints bounds the buckets of one time series.
const maxPoints = 2000

func parseWhen(field, v string) (time.Time, error) {
	v = strings.TrimSpace(v)
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, huma.Error422UnprocessableEntity("invalid time", &huma.ErrorDetail{
		Location: "query." + field, Message: "must be a time in RFC 3339 (2026-11-25T13:00:00Z) or a date (2026-11-25)", Value: v,
	})
}

// window resolves from/to, defaulting to def before now.
func window(from, to string, def time.Duration) (Window, error) {
	w := Window{To: time.Now().UTC()}
	var err error
	if to != "" {
		if w.To, err = parseWhen("to", to); err != nil {
			return w, err
		}
	}
	w.From = w.To.Add(-def)
	if from != "" {
		if w.From, err = parseWhen("from", from); err != nil {
			return w, err
		}
	}
	if !w.From.Before(w.To) {
		return w, huma.Error422UnprocessableEntity("empty window", &huma.ErrorDetail{
			Location: "query.from", Message: "must be before 'to' (" + w.To.Format(time.RFC3339) + ")", Value: w.From.Format(time.RFC3339),
		})
	}
	return w, nil
}

func (s *server) analytics(api huma.API) {
	huma.Register(api, huma.Operation{
		OperationID: "get-dashboard", Method: http.MethodGet, Path: "/api/v1/dashboard", Tags: []string{"analytics"},
		Summary:     "Totals, runs and rows of a recent window, success rate, failing pipelines and recent activity",
		Description: "Figures come from the runs in the store: rows are the per-stream counts of runs finished in the window.",
	}, func(ctx context.Context, in *struct {
		Hours int `query:"hours" minimum:"1" maximum:"8760" default:"24" doc:"The window: this many hours up to now"`
	}) (*dashboardOut, error) {
		to := time.Now().UTC()
		from := to.Add(-time.Duration(in.Hours) * time.Hour)
		d, err := s.store.Dashboard(ctx, from)
		if err != nil {
			return nil, s.fail(ctx, err)
		}
		out := &dashboardOut{}
		b := &out.Body
		b.Window = Window{From: from, To: to}
		b.Totals.Pipelines, b.Totals.EnabledPipelines, b.Totals.Connections = d.Pipelines, d.EnabledPipelines, d.Connections
		b.Runs = d.RunsByStatus
		b.Rows = RowTotals{Read: d.RowsRead, Written: d.RowsWritten, Quarantined: d.RowsQuarantined}
		if n := d.Succeeded + d.Failed; n > 0 {
			r := float64(d.Succeeded) / float64(n)
			b.SuccessRate = &r
		}
		b.FailingPipelines, b.RecentActivity = d.Failing, d.Recent
		return out, nil
	})

	huma.Register(api, huma.Operation{
		OperationID: "get-timeseries", Method: http.MethodGet, Path: "/api/v1/analytics/timeseries", Tags: []string{"analytics"},
		Summary: "A figure of finished runs per hour or day, gaps filled with zero",
		Description: "Buckets are aligned to whole UTC hours or days and cover the window; a run counts in the bucket it finished in. " +
			"runs counts finished runs of every status, failures the failed ones, rows_* sum the runs' stream counts. " +
			"The window defaults to the last 24 hours for hourly buckets and the last 30 days for daily ones.",
	}, func(ctx context.Context, in *struct {
		Metric   string `query:"metric" required:"true" enum:"runs,rows_written,rows_read,rows_quarantined,failures" example:"rows_written"`
		Bucket   string `query:"bucket" enum:"hour,day" default:"hour"`
		From     string `query:"from" doc:"Start of the window, RFC 3339 or YYYY-MM-DD (UTC)" example:"2026-11-24T00:00:00Z"`
		To       string `query:"to" doc:"End of the window (exclusive); now when empty" example:"2026-11-25T00:00:00Z"`
		Pipeline string `query:"pipeline" doc:"Only runs of this pipeline (id)"`
	}) (*timeSeriesOut, error) {
		step, def := time.Hour, 24*time.Hour
		if in.Bucket == "day" {
			step, def = 24*time.Hour, 30*24*time.Hour
		}
		w, err := window(in.From, in.To, def)
		if err != nil {
			return nil, err
		}
		first := w.From.Truncate(step)
		n := int(w.To.Sub(first) / step)
		if !first.Add(time.Duration(n) * step).Equal(w.To) {
			n++
		}
		if n > maxPoints {
			return nil, huma.Error422UnprocessableEntity("window too long", &huma.ErrorDetail{
				Location: "query.from", Message: fmt.Sprintf("the window holds %d %s buckets; at most %d", n, in.Bucket, maxPoints), Value: in.From,
			})
		}
		if in.Pipeline != "" {
			if err := s.knownPipeline(ctx, in.Pipeline); err != nil {
				return nil, err
			}
		}
		figs, err := s.store.RunFigures(ctx, first, first.Add(time.Duration(n)*step), in.Pipeline)
		if err != nil {
			return nil, s.fail(ctx, err)
		}
		out := &timeSeriesOut{Body: TimeSeries{Metric: in.Metric, Bucket: in.Bucket, Window: Window{From: first, To: first.Add(time.Duration(n) * step)}, PipelineID: in.Pipeline}}
		pts := make([]Point, n)
		for i := range pts {
			pts[i].Start = first.Add(time.Duration(i) * step)
		}
		for _, f := range figs {
			i := int(f.FinishedAt.Sub(first) / step)
			if i < 0 || i >= n {
				continue
			}
			switch in.Metric {
			case "runs":
				pts[i].Value++
			case "failures":
				if f.Status == store.Failed {
					pts[i].Value++
				}
			case "rows_written":
				pts[i].Value += float64(f.RowsWritten)
			case "rows_read":
				pts[i].Value += float64(f.RowsRead)
			case "rows_quarantined":
				pts[i].Value += float64(f.RowsQuarantined)
			}
		}
		out.Body.Points = pts
		return out, nil
	})

	huma.Register(api, huma.Operation{
		OperationID: "get-top-pipelines", Method: http.MethodGet, Path: "/api/v1/analytics/top", Tags: []string{"analytics"},
		Summary:     "Pipelines ranked by rows written, failed runs or mean duration in a window",
		Description: "by=rows ranks by rows written, by=failures by failed runs (pipelines without failures left out), by=duration by the mean duration of succeeded runs in seconds.",
	}, func(ctx context.Context, in *struct {
		By    string `query:"by" enum:"rows,failures,duration" default:"rows"`
		Limit int    `query:"limit" minimum:"1" maximum:"100" default:"10"`
		// The window's parameters are spelled out: huma reads no
		// parameters of an embedded unexported struct.
		From string `query:"from" doc:"Start of the window, RFC 3339 or YYYY-MM-DD (UTC); 7 days before 'to' when empty" example:"2026-11-18T00:00:00Z"`
		To   string `query:"to" doc:"End of the window (exclusive); now when empty" example:"2026-11-25T00:00:00Z"`
	}) (*topOut, error) {
		w, figs, err := s.figures(ctx, figuresIn{From: in.From, To: in.To})
		if err != nil {
			return nil, err
		}
		type acc struct {
			PipelineValue
			n int64
		}
		by := map[string]*acc{}
		for _, f := range figs {
			a := by[f.PipelineID]
			if a == nil {
				a = &acc{PipelineValue: PipelineValue{PipelineID: f.PipelineID, Pipeline: f.Pipeline}}
				by[f.PipelineID] = a
			}
			a.Runs++
			switch in.By {
			case "rows":
				a.Value += float64(f.RowsWritten)
			case "failures":
				if f.Status == store.Failed {
					a.Value++
				}
			case "duration":
				if f.Status == store.Succeeded {
					a.Value += f.Duration.Seconds()
					a.n++
				}
			}
		}
		items := []PipelineValue{}
		for _, a := range by {
			switch in.By {
			case "failures":
				if a.Value == 0 {
					continue
				}
			case "duration":
				if a.n == 0 {
					continue
				}
				a.Value = round3(a.Value / float64(a.n))
			}
			items = append(items, a.PipelineValue)
		}
		slices.SortFunc(items, func(a, b PipelineValue) int {
			if a.Value != b.Value {
				if a.Value > b.Value {
					return -1
				}
				return 1
			}
			return strings.Compare(a.Pipeline, b.Pipeline)
		})
		if len(items) > in.Limit {
			items = items[:in.Limit]
		}
		return &topOut{Body: Top{By: in.By, Window: w, Items: items}}, nil
	})

	huma.Register(api, huma.Operation{
		OperationID: "get-durations", Method: http.MethodGet, Path: "/api/v1/analytics/durations", Tags: []string{"analytics"},
		Summary:     "p50 and p95 durations of succeeded runs, overall and per pipeline",
		Description: "Nearest-rank percentiles of the runs that succeeded in the window, slowest pipelines (by p95) first.",
	}, func(ctx context.Context, in *figuresIn) (*durationsOut, error) {
		w, figs, err := s.figures(ctx, *in)
		if err != nil {
			return nil, err
		}
		var all []time.Duration
		per := map[string][]time.Duration{}
		names := map[string]string{}
		for _, f := range figs {
			if f.Status != store.Succeeded {
				continue
			}
			all = append(all, f.Duration)
			per[f.PipelineID] = append(per[f.PipelineID], f.Duration)
			names[f.PipelineID] = f.Pipeline
		}
		out := &durationsOut{Body: Durations{Window: w, Overall: durationStats(all), Pipelines: []DurationStats{}}}
		for id, ds := range per {
			st := durationStats(ds)
			st.PipelineID, st.Pipeline = id, names[id]
			out.Body.Pipelines = append(out.Body.Pipelines, st)
		}
		slices.SortFunc(out.Body.Pipelines, func(a, b DurationStats) int {
			if a.P95Seconds != b.P95Seconds {
				if a.P95Seconds > b.P95Seconds {
					return -1
				}
				return 1
			}
			return strings.Compare(a.Pipeline, b.Pipeline)
		})
		return out, nil
	})

	huma.Register(api, huma.Operation{
		OperationID: "get-quarantine-ratios", Method: http.MethodGet, Path: "/api/v1/analytics/quarantine", Tags: []string{"analytics"},
		Summary:     "Share of rows quarantined per pipeline in a window, highest first",
		Description: "Pipelines that finished runs in the window; the ratio is rows quarantined over rows read.",
	}, func(ctx context.Context, in *figuresIn) (*quarantineRatiosOut, error) {
		w, figs, err := s.figures(ctx, *in)
		if err != nil {
			return nil, err
		}
		by := map[string]*QuarantineRatio{}
		for _, f := range figs {
			q := by[f.PipelineID]
			if q == nil {
				q = &QuarantineRatio{PipelineID: f.PipelineID, Pipeline: f.Pipeline}
				by[f.PipelineID] = q
			}
			q.Runs++
			q.RowsRead += f.RowsRead
			q.RowsQuarantined += f.RowsQuarantined
		}
		out := &quarantineRatiosOut{Body: QuarantineRatios{Window: w, Pipelines: []QuarantineRatio{}}}
		for _, q := range by {
			if q.RowsRead > 0 {
				q.Ratio = float64(q.RowsQuarantined) / float64(q.RowsRead)
			}
			out.Body.Pipelines = append(out.Body.Pipelines, *q)
		}
		slices.SortFunc(out.Body.Pipelines, func(a, b QuarantineRatio) int {
			if a.Ratio != b.Ratio {
				if a.Ratio > b.Ratio {
					return -1
				}
				return 1
			}
			return strings.Compare(a.Pipeline, b.Pipeline)
		})
		return out, nil
	})

	huma.Register(api, huma.Operation{
		OperationID: "get-health", Method: http.MethodGet, Path: "/api/v1/monitoring/health", Tags: []string{"monitoring"},
		Summary: "Store latency, queue depth, workers seen, disk space of the data directory and version",
		Description: "Answers 200 whatever it finds; status is degraded when the store does not answer. " +
			"/readyz is the probe for load balancers.",
	}, func(ctx context.Context, _ *struct{}) (*healthPageOut, error) {
		out := &healthPageOut{}
		h := &out.Body
		h.Status, h.Version, h.Workers = "ok", s.version, []WorkerSeen{}
		start := time.Now()
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := s.store.Ping(pctx)
		cancel()
		h.Store.LatencyMS = round3(float64(time.Since(start).Microseconds()) / 1000)
		h.Store.OK = err == nil
		if err != nil {
			h.Status, h.Store.Error = "degraded", err.Error()
		}
		h.Queue.Depth = map[string]int64{}
		if q, err := s.store.QueueStats(ctx); err != nil {
			h.Queue.Error = err.Error()
		} else {
			h.Queue.OK, h.Queue.Depth, h.Queue.Waiting = true, q.ByState, q.Waiting()
			if q.OldestAvailable != nil {
				h.Queue.OldestWaitingAgeSeconds = round3(max(0, time.Since(*q.OldestAvailable).Seconds()))
			}
		}
		if ws, err := s.store.Workers(ctx, time.Now().Add(-24*time.Hour)); err == nil {
			for _, w := range ws {
				h.Workers = append(h.Workers, WorkerSeen{WorkerBeat: w, Alive: w.StoppedAt == nil && time.Since(w.LastSeen) < heartbeatAlive})
			}
		} else if !errors.Is(err, context.Canceled) {
			s.log.WarnContext(ctx, "list workers", "error", err)
		}
		if s.data != "" {
			h.Disk = diskUsage(s.data)
		}
		return out, nil
	})

	huma.Register(api, huma.Operation{
		OperationID: "get-retention", Method: http.MethodGet, Path: "/api/v1/settings/retention", Tags: []string{"settings"},
		Summary: "After how many days runs, logs, quarantined rows and audit entries are purged",
	}, func(ctx context.Context, _ *struct{}) (*retentionOut, error) {
		r, err := s.store.Retention(ctx)
		if err != nil {
			return nil, s.fail(ctx, err)
		}
		return &retentionOut{Body: retentionOf(r)}, nil
	})
	huma.Register(api, huma.Operation{
		OperationID: "put-retention", Method: http.MethodPut, Path: "/api/v1/settings/retention", Tags: []string{"settings"},
		Summary:     "Set after how many days runs, logs, quarantined rows and audit entries are purged",
		Description: "The server purges once a day (and on start). 0 keeps them forever. Runs still queued or running are never purged.",
	}, func(ctx context.Context, in *struct{ Body Retention }) (*retentionOut, error) {
		r, err := s.store.Retention(ctx)
		if err != nil {
			return nil, s.fail(ctx, err)
		}
		r.RunsDays, r.LogsDays, r.QuarantineDays = in.Body.RunsDays, in.Body.LogsDays, in.Body.QuarantineDays
		if in.Body.AuditDays != nil {
			r.AuditDays = *in.Body.AuditDays
		}
		if err := s.store.SetRetention(ctx, r); err != nil {
			var fe *store.FieldError
			if errors.As(err, &fe) {
				return nil, huma.Error422UnprocessableEntity("invalid retention settings", &huma.ErrorDetail{Location: "body." + fe.Field, Message: fe.Msg})
			}
			return nil, s.fail(ctx, err)
		}
		return &retentionOut{Body: retentionOf(r)}, nil
	})
}

// figures reads the runs finished in the query's window.
func (s *server) figures(ctx context.Context, in figuresIn) (Window, []store.RunFigure, error) {
	w, err := window(in.From, in.To, 7*24*time.Hour)
	if err != nil {
		return w, nil, err
	}
	figs, err := s.store.RunFigures(ctx, w.From, w.To, "")
	if err != nil {
		return w, nil, s.fail(ctx, err)
	}
	return w, figs, nil
}

func (s *server) knownPipeline(ctx context.Context, id string) error {
	_, err := s.store.Pipeline(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return huma.Error422UnprocessableEntity("unknown pipeline", &huma.ErrorDetail{Location: "query.pipeline", Message: "no pipeline has this id", Value: id})
	}
	if err != nil {
		return s.fail(ctx, err)
	}
	return nil
}

func durationStats(ds []time.Duration) DurationStats {
	slices.Sort(ds)
	st := DurationStats{Runs: len(ds)}
	if len(ds) > 0 {
		st.P50Seconds = round3(store.Percentile(ds, 50).Seconds())
		st.P95Seconds = round3(store.Percentile(ds, 95).Seconds())
		st.MaxSeconds = round3(ds[len(ds)-1].Seconds())
	}
	return st
}

func round3(f float64) float64 { return math.Round(f*1000) / 1000 }
