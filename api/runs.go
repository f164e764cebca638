package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"

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
	FullRefresh bool            `json:"full_refresh"`
	Error       string          `json:"error,omitempty"`
	Attempts    int             `json:"attempts"`
	CreatedAt   time.Time       `json:"created_at"`
	StartedAt   *time.Time      `json:"started_at,omitempty"`
	FinishedAt  *time.Time      `json:"finished_at,omitempty"`
	Streams     []StreamCounts  `json:"streams"`
	Result      any             `json:"result,omitempty" doc:"The engine's full result (profiles, checks, merges) once finished; only on GET of one run"`
}

func runOf(r *store.Run, full bool) Run {
	out := Run{ID: r.ID, PipelineID: r.PipelineID, Version: r.Version, Status: r.Status, FullRefresh: r.FullRefresh,
		Error: r.Error, Attempts: r.Attempts, CreatedAt: r.CreatedAt, StartedAt: r.StartedAt, FinishedAt: r.FinishedAt, Streams: []StreamCounts{}}
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
		PageIn
	}) (*runsOut, error) {
		if _, err := s.store.Pipeline(ctx, in.ID); err != nil {
			return nil, s.fail(ctx, err)
		}
		return s.listRuns(ctx, in.ID, in.PageIn)
	})
	huma.Register(api, huma.Operation{
		OperationID: "list-runs", Method: http.MethodGet, Path: "/api/v1/runs", Tags: []string{"runs"},
		Summary: "List runs of every pipeline, newest first",
	}, func(ctx context.Context, in *PageIn) (*runsOut, error) {
		return s.listRuns(ctx, "", *in)
	})
	huma.Register(api, huma.Operation{
		OperationID: "get-run", Method: http.MethodGet, Path: "/api/v1/runs/{id}", Tags: []string{"runs"},
		Summary: "Get a run: status, timings, per-stream counts and, once finished, the full result",
	}, func(ctx context.Context, in *idPath) (*runOut, error) {
		r, err := s.store.Run(ctx, in.ID)
		if err != nil {
			return nil, s.fail(ctx, err)
		}
		return &runOut{Body: runOf(r, true)}, nil
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
}

func (s *server) listRuns(ctx context.Context, pipelineID string, p PageIn) (*runsOut, error) {
	rs, err := s.store.Runs(ctx, store.RunFilter{PipelineID: pipelineID}, p.page())
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	items := make([]Run, len(rs))
	for i := range rs {
		items[i] = runOf(&rs[i], false)
	}
	return &runsOut{Body: list(items, p)}, nil
}
