package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/sse"

	"github.com/tributary-data/tributary/engine"
	"github.com/tributary-data/tributary/quality"
	"github.com/tributary-data/tributary/store"
)

// StreamCounts are a stream's row counts in a run: final once the run is
// done, the latest progress while it runs.
type StreamCounts struct {
	Name         string `json:"name"`
	Read         int64  `json:"read"`
	Written      int64  `json:"written"`
	Quarantined  int64  `json:"quarantined"`
	Filtered     int64  `json:"filtered"`
	Deduplicated int64  `json:"deduplicated"`
}

// Run is a run as returned.
type Run struct {
	ID          string          `json:"id"`
	PipelineID  string          `json:"pipeline_id"`
	Version     int             `json:"version"`
	Status      store.RunStatus `json:"status" enum:"queued,running,succeeded,failed,cancelled"`
	Trigger     store.Trigger   `json:"trigger" doc:"What started the run: manual, schedule, dependency or replay"`
	FullRefresh bool            `json:"full_refresh"`
	Error       string          `json:"error,omitempty"`
	Attempts    int             `json:"attempts"`
	CreatedAt   time.Time       `json:"created_at"`
	StartedAt   *time.Time      `json:"started_at,omitempty"`
	FinishedAt  *time.Time      `json:"finished_at,omitempty"`
	// DurationSeconds is from start to finish, or to now while running.
	DurationSeconds *float64       `json:"duration_seconds,omitempty" doc:"From start to finish; so far while running"`
	Streams         []StreamCounts `json:"streams"`
	Result          any            `json:"result,omitempty" doc:"The engine's full result (profiles, checks, merges) once finished; only on GET of one run"`
}

func runOf(r *store.Run, full bool) Run {
	out := Run{ID: r.ID, PipelineID: r.PipelineID, Version: r.Version, Status: r.Status, Trigger: r.Trigger, FullRefresh: r.FullRefresh,
		Error: r.Error, Attempts: r.Attempts, CreatedAt: r.CreatedAt, StartedAt: r.StartedAt, FinishedAt: r.FinishedAt, Streams: []StreamCounts{}}
	if r.StartedAt != nil {
		end := time.Now()
		if r.FinishedAt != nil {
			end = *r.FinishedAt
		}
		d := end.Sub(*r.StartedAt).Seconds()
		out.DurationSeconds = &d
	}
	if len(r.Result) > 0 {
		var res struct{ Streams []StreamCounts }
		if json.Unmarshal(r.Result, &res) == nil && res.Streams != nil {
			out.Streams = res.Streams
		}
		if full && r.Status.Done() {
			_ = json.Unmarshal(r.Result, &out.Result)
		}
	}
	return out
}

// runRowOf is runOf for a list row, whose counts the store read apart
// from the result.
func runRowOf(r *store.RunRow) Run {
	out := runOf(&r.Run, false)
	if len(r.Streams) > 0 {
		out.Streams = make([]StreamCounts, len(r.Streams))
		for i, c := range r.Streams {
			out.Streams[i] = StreamCounts(c)
		}
	}
	return out
}

// StreamDetail is one stream of a run in depth.
type StreamDetail struct {
	StreamCounts
	DurationSeconds float64                 `json:"duration_seconds"`
	RowsPerSecond   float64                 `json:"rows_per_second"`
	Profile         []quality.ColumnProfile `json:"profile" doc:"Per column of the rows written: null ratio, distinct estimate, min/max, top values"`
	Checks          []quality.CheckResult   `json:"checks" doc:"The stream's data quality check results"`
	Anomalies       []quality.Anomaly       `json:"anomalies" doc:"Rows read, rows written or quarantine ratio far from the stream's recent succeeded runs"`
	// Quarantine says how many of the stream's quarantined rows the store
	// kept for browsing and replay.
	Quarantine *store.QuarantineCount `json:"quarantine,omitempty"`
}

// RunDetail is one run with everything known of it.
type RunDetail struct {
	Run
	ReplayOf string `json:"replay_of,omitempty" doc:"The run whose quarantined rows this replay run feeds again"`
	// Streams repeats Run.Streams in depth; the JSON field is the same.
	Streams   []StreamDetail    `json:"streams"`
	Anomalies []quality.Anomaly `json:"anomalies" doc:"The run's duration far from the pipeline's recent succeeded runs"`
	// QuarantineTruncated says the store kept fewer quarantined rows than
	// the run quarantined; the destination's quarantine has them all.
	QuarantineTruncated bool `json:"quarantine_truncated"`
}

// runDetailOf builds the detail of a run from its stored result.
func (s *server) runDetailOf(ctx context.Context, r *store.Run) (*RunDetail, error) {
	d := &RunDetail{Run: runOf(r, true), Anomalies: []quality.Anomaly{}}
	var res engine.Result
	if len(r.Result) > 0 {
		if err := json.Unmarshal(r.Result, &res); err != nil {
			return nil, fmt.Errorf("run %s result: %w", r.ID, err)
		}
	}
	if res.Anomalies != nil {
		d.Anomalies = res.Anomalies
	}
	counts, err := s.store.QuarantineCounts(ctx, r.ID)
	if err != nil {
		return nil, err
	}
	byStream := map[string]store.QuarantineCount{}
	for _, c := range counts {
		byStream[c.Stream] = c
		if c.Kept < c.Total {
			d.QuarantineTruncated = true
		}
	}
	d.Streams = make([]StreamDetail, len(res.Streams))
	for i, st := range res.Streams {
		sd := StreamDetail{
			StreamCounts:    StreamCounts{Name: st.Name, Read: st.Read, Written: st.Written, Quarantined: st.Quarantined, Filtered: st.Filtered, Deduplicated: st.Deduplicated},
			DurationSeconds: st.Duration.Seconds(), RowsPerSecond: st.RowsPerSecond,
			Profile: orNone(st.Profile), Checks: orNone(st.Checks), Anomalies: orNone(st.Anomalies),
		}
		if c, ok := byStream[st.Name]; ok {
			sd.Quarantine = &c
		}
		d.Streams[i] = sd
	}
	if d.ReplayOf, err = s.store.ReplayOf(ctx, r.ID); err != nil {
		return nil, err
	}
	return d, nil
}

func orNone[T any](xs []T) []T {
	if xs == nil {
		return []T{}
	}
	return xs
}

type runDetailOut struct{ Body *RunDetail }

// RunFilterIn are the filters and order of run lists.
type RunFilterIn struct {
	Status      []store.RunStatus `query:"status" enum:"queued,running,succeeded,failed,cancelled" doc:"Keep runs with any of these statuses, comma-separated (status=failed,cancelled)"`
	Trigger     store.Trigger     `query:"trigger" doc:"Keep runs started this way: manual, schedule, dependency or replay"`
	CreatedFrom time.Time         `query:"created_from" doc:"Keep runs created at or after this time (RFC 3339)" example:"2026-11-24T00:00:00Z"`
	CreatedTo   time.Time         `query:"created_to" doc:"Keep runs created before this time (RFC 3339)" example:"2026-11-25T00:00:00Z"`
	Sort        store.RunSort     `query:"sort" enum:"-created_at,created_at,-duration,duration" default:"-created_at" doc:"Order: by creation time or by duration (start to finish); a leading minus sorts descending. Runs not finished come last in both duration orders"`
	PageIn
}

func (f RunFilterIn) filter(pipelineID string) (store.RunFilter, error) {
	if !f.CreatedFrom.IsZero() && !f.CreatedTo.IsZero() && !f.CreatedTo.After(f.CreatedFrom) {
		return store.RunFilter{}, huma.Error422UnprocessableEntity("empty time range", &huma.ErrorDetail{
			Location: "query.created_to", Message: "must be after created_from", Value: f.CreatedTo.Format(time.RFC3339Nano),
		})
	}
	return store.RunFilter{PipelineID: pipelineID, Statuses: f.Status, Trigger: f.Trigger, CreatedFrom: f.CreatedFrom, CreatedTo: f.CreatedTo, Sort: f.Sort}, nil
}

type runOut struct{ Body Run }

type runsOut struct{ Body List[Run] }

type queuedOut struct {
	Body struct {
		ID     string          `json:"id"`
		Status store.RunStatus `json:"status"`
	}
}

type logsOut struct{ Body List[store.RunLog] }

func (s *server) runs(api huma.API) {
	huma.Register(api, huma.Operation{
		OperationID: "create-run", Method: http.MethodPost, Path: "/api/v1/pipelines/{id}/runs", Tags: []string{"runs"},
		Summary:       "Queue a run of the pipeline's current version",
		Description:   "Runs of one pipeline execute one at a time, in the order workers pick them up.",
		DefaultStatus: http.StatusAccepted,
	}, func(ctx context.Context, in *struct {
		ID          string `path:"id"`
		FullRefresh bool   `query:"full_refresh" doc:"Ignore saved state and read every stream from the beginning"`
	}) (*queuedOut, error) {
		p, err := s.store.Pipeline(ctx, in.ID)
		if err != nil {
			return nil, s.fail(ctx, err)
		}
		if !p.Enabled {
			return nil, huma.Error409Conflict("pipeline " + p.Name + " is disabled")
		}
		run, err := s.store.CreateRun(ctx, store.NewRun{PipelineID: in.ID, FullRefresh: in.FullRefresh})
		if err != nil {
			return nil, s.fail(ctx, err)
		}
		if err := s.queue.Enqueue(ctx, run.ID); err != nil {
			_ = s.store.FinishRun(context.WithoutCancel(ctx), run.ID, store.Failed, err.Error(), nil)
			s.log.ErrorContext(ctx, "enqueue run", "run_id", run.ID, "error", err)
			return nil, huma.Error503ServiceUnavailable("could not queue the run")
		}
		out := &queuedOut{}
		out.Body.ID, out.Body.Status = run.ID, run.Status
		return out, nil
	})
	huma.Register(api, huma.Operation{
		OperationID: "list-pipeline-runs", Method: http.MethodGet, Path: "/api/v1/pipelines/{id}/runs", Tags: []string{"runs"},
		Summary: "List a pipeline's runs, newest first",
	}, func(ctx context.Context, in *struct {
		ID string `path:"id"`
		RunFilterIn
	}) (*runsOut, error) {
		if _, err := s.store.Pipeline(ctx, in.ID); err != nil {
			return nil, s.fail(ctx, err)
		}
		return s.listRuns(ctx, in.ID, in.RunFilterIn)
	})
	huma.Register(api, huma.Operation{
		OperationID: "list-runs", Method: http.MethodGet, Path: "/api/v1/runs", Tags: []string{"runs"},
		Summary: "List runs of every pipeline, newest first",
	}, func(ctx context.Context, in *struct {
		Pipeline string `query:"pipeline" doc:"Keep the runs of this pipeline (its id)"`
		RunFilterIn
	}) (*runsOut, error) {
		if in.Pipeline != "" {
			_, err := s.store.Pipeline(ctx, in.Pipeline)
			if errors.Is(err, store.ErrNotFound) {
				return nil, huma.Error422UnprocessableEntity("unknown pipeline", &huma.ErrorDetail{Location: "query.pipeline", Message: "no pipeline has this id", Value: in.Pipeline})
			} else if err != nil {
				return nil, s.fail(ctx, err)
			}
		}
		return s.listRuns(ctx, in.Pipeline, in.RunFilterIn)
	})
	huma.Register(api, huma.Operation{
		OperationID: "get-run", Method: http.MethodGet, Path: "/api/v1/runs/{id}", Tags: []string{"runs"},
		Summary:     "Get a run: status, trigger, attempts, timings, per-stream counts, profiles, checks, anomalies and quarantine",
		Description: "While the run is running, the counts are its latest progress (every few seconds). `result` is the engine's full result once the run is finished.",
	}, func(ctx context.Context, in *idPath) (*runDetailOut, error) {
		r, err := s.store.Run(ctx, in.ID)
		if err != nil {
			return nil, s.fail(ctx, err)
		}
		d, err := s.runDetailOf(ctx, r)
		if err != nil {
			return nil, s.fail(ctx, err)
		}
		return &runDetailOut{Body: d}, nil
	})
	huma.Register(api, huma.Operation{
		OperationID: "cancel-run", Method: http.MethodPost, Path: "/api/v1/runs/{id}/cancel", Tags: []string{"runs"},
		Summary:     "Cancel a queued or running run",
		Description: "A running run stops at its worker's next lease renewal (within about ten seconds); data committed before then stays.",
	}, func(ctx context.Context, in *idPath) (*runOut, error) {
		err := s.store.CancelRun(ctx, in.ID)
		if errors.Is(err, store.ErrRunDone) {
			return nil, huma.Error409Conflict(err.Error())
		} else if err != nil {
			return nil, s.fail(ctx, err)
		}
		r, err := s.store.Run(ctx, in.ID)
		if err != nil {
			return nil, s.fail(ctx, err)
		}
		return &runOut{Body: runOf(r, true)}, nil
	})
	huma.Register(api, huma.Operation{
		OperationID: "list-run-logs", Method: http.MethodGet, Path: "/api/v1/runs/{id}/logs", Tags: []string{"runs"},
		Summary: "List a run's log lines, oldest first",
	}, func(ctx context.Context, in *struct {
		ID string `path:"id"`
		PageIn
	}) (*logsOut, error) {
		if _, err := s.store.Run(ctx, in.ID); err != nil {
			return nil, s.fail(ctx, err)
		}
		ls, err := s.store.RunLogs(ctx, in.ID, in.page())
		if err != nil {
			return nil, s.fail(ctx, err)
		}
		return &logsOut{Body: list(ls, in.PageIn)}, nil
	})
	s.runLogStream(api)
}

func (s *server) listRuns(ctx context.Context, pipelineID string, in RunFilterIn) (*runsOut, error) {
	f, err := in.filter(pipelineID)
	if err != nil {
		return nil, err
	}
	rs, err := s.store.RunList(ctx, f, in.page())
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	items := make([]Run, len(rs))
	for i := range rs {
		items[i] = runRowOf(&rs[i])
	}
	return &runsOut{Body: list(items, in.PageIn)}, nil
}

// runEnd is the last event of a live log tail: the run's final status.
type runEnd struct {
	Status store.RunStatus `json:"status" enum:"succeeded,failed,cancelled"`
	Error  string          `json:"error,omitempty"`
}

// Live tails poll the store: a run's log lines come from whichever worker
// executes it, possibly on another host.
const (
	logPoll = 300 * time.Millisecond
	// logEndGrace is how long a tail keeps reading after it saw the run
	// finished: a worker writes its last lines just after the outcome.
	logEndGrace = time.Second
)

func (s *server) runLogStream(api huma.API) {
	closing := &serverClosing{servers: map[*http.Server]chan struct{}{}}
	sse.Register(api, huma.Operation{
		OperationID: "stream-run-logs", Method: http.MethodGet, Path: "/api/v1/runs/{id}/logs/stream", Tags: []string{"runs"},
		Summary: "Follow a run's log lines live (server-sent events)",
		Description: "A `text/event-stream` of `log` events, one per log line, each with the line's id as its event id, from the first line " +
			"(or after `Last-Event-ID`, which browsers send when they reconnect, or the `after` parameter). Once the run is finished " +
			"and its last lines are sent, an `end` event carries its final status and the stream closes. A run retried after a failed " +
			"attempt is not finished: the tail goes on through its next attempt.",
		Middlewares: huma.Middlewares{s.streamable(api, closing)},
	}, map[string]any{"log": store.RunLog{}, "end": runEnd{}}, func(ctx context.Context, in *struct {
		ID          string `path:"id"`
		LastEventID int64  `header:"Last-Event-ID" minimum:"0" doc:"Send only lines after this log id"`
		After       int64  `query:"after" minimum:"0" doc:"Send only lines after this log id (for clients that cannot set Last-Event-ID)"`
	}, send sse.Sender) {
		s.tailLogs(ctx, closing.of(ctx), in.ID, max(in.LastEventID, in.After), send)
	})
}

// serverClosing tells live tails that their HTTP server is shutting down:
// Shutdown waits for handlers, and a tail would otherwise keep it waiting
// until the run ends. Clients reconnect with Last-Event-ID.
type serverClosing struct {
	mu      sync.Mutex
	servers map[*http.Server]chan struct{}
}

// of returns a channel closed when the server of the request in ctx starts
// shutting down; nil (never closed) outside an http.Server.
func (c *serverClosing) of(ctx context.Context) <-chan struct{} {
	srv, ok := ctx.Value(http.ServerContextKey).(*http.Server)
	if !ok {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	ch, ok := c.servers[srv]
	if !ok {
		ch = make(chan struct{})
		c.servers[srv] = ch
		srv.RegisterOnShutdown(func() { close(ch) })
	}
	return ch
}

func (s *server) tailLogs(ctx context.Context, closing <-chan struct{}, runID string, after int64, send sse.Sender) {
	poll := time.NewTicker(logPoll)
	defer poll.Stop()
	var finishedAt time.Time
	for {
		logs, err := s.store.RunLogsAfter(ctx, runID, after, store.MaxLimit)
		if err != nil {
			if ctx.Err() == nil {
				s.log.ErrorContext(ctx, "live run log", "run_id", runID, "error", err)
			}
			return
		}
		for _, l := range logs {
			if err := send(sse.Message{ID: int(l.ID), Data: l}); err != nil {
				return
			}
			after = l.ID
		}
		if len(logs) == store.MaxLimit {
			continue
		}
		r, err := s.store.Run(ctx, runID)
		if err != nil {
			// A run deleted with its pipeline just ends its tail.
			if ctx.Err() == nil && !errors.Is(err, store.ErrNotFound) {
				s.log.ErrorContext(ctx, "live run log", "run_id", runID, "error", err)
			}
			return
		}
		switch {
		case !r.Status.Done():
			finishedAt = time.Time{}
		case finishedAt.IsZero():
			finishedAt = time.Now()
		case time.Since(finishedAt) >= logEndGrace:
			_ = send(sse.Message{Data: runEnd{Status: r.Status, Error: r.Error}})
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-closing:
			return
		case <-poll.C:
		}
	}
}

// streamable answers 404 before a stream starts for a run that does not
// exist, watches for the server's shutdown, and gives the stream a body writer that flushes and sets write
// deadlines through http.ResponseController, whatever wraps the
// ResponseWriter.
func (s *server) streamable(api huma.API, closing *serverClosing) func(huma.Context, func(huma.Context)) {
	return func(ctx huma.Context, next func(huma.Context)) {
		// Hear of a shutdown before the client hears the stream is open.
		closing.of(ctx.Context())
		if _, err := s.store.Run(ctx.Context(), ctx.Param("id")); err != nil {
			var se huma.StatusError
			if !errors.As(s.fail(ctx.Context(), err), &se) {
				se = huma.Error500InternalServerError("internal error")
			}
			_ = huma.WriteErr(api, ctx, se.GetStatus(), se.Error())
			return
		}
		w, ok := ctx.BodyWriter().(http.ResponseWriter)
		if !ok {
			next(ctx)
			return
		}
		next(&streamContext{humaContext: ctx, body: &streamBody{ResponseWriter: w, rc: http.NewResponseController(w)}})
	}
}

// humaContext names the embedded context: its Context method would clash
// with a field named Context.
type humaContext = huma.Context

type streamContext struct {
	humaContext
	body *streamBody
}

// BodyWriter is asked for once the stream's headers are set: sending them
// now tells the client the stream is open, though the first event may be a
// long way off (a queued run).
func (c *streamContext) BodyWriter() io.Writer {
	c.body.Flush()
	return c.body
}

func (c *streamContext) Unwrap() huma.Context { return c.humaContext }

type streamBody struct {
	http.ResponseWriter
	rc *http.ResponseController
}

func (b *streamBody) Flush() { _ = b.rc.Flush() }

func (b *streamBody) SetWriteDeadline(t time.Time) error { return b.rc.SetWriteDeadline(t) }

func (b *streamBody) Unwrap() http.ResponseWriter { return b.ResponseWriter }
