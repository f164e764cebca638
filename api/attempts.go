package api

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/tributary-data/tributary/store"
)

type attemptsOut struct {
	Body struct {
		Items []store.Attempt `json:"items"`
		// NextAttemptAt is set while a failed run waits for its retry.
		NextAttemptAt *time.Time `json:"next_attempt_at,omitempty" doc:"When the next attempt is due, while a failed attempt waits for its retry"`
	}
}

type retryOut struct {
	Body struct {
		ID      string          `json:"id" doc:"The new run"`
		Status  store.RunStatus `json:"status"`
		RetryOf string          `json:"retry_of" doc:"The run retried"`
	}
}

// attempts registers the routes of retries of runs.
func (s *server) attempts(api huma.API) {
	huma.Register(api, huma.Operation{
		OperationID: "list-run-attempts", Method: http.MethodGet, Path: "/api/v1/runs/{id}/attempts", Tags: []string{"runs"},
		Summary: "List a run's attempts, oldest first",
		Description: "Each attempt names the worker (host:pid) that executed it and how it ended: succeeded, failed (with its error " +
			"and, when retried, when the next attempt is due), cancelled, stopped (its worker shut down and queued the run again) " +
			"or lost (its worker died; another resumed the run from its last checkpoint). An attempt without an outcome is running.",
	}, func(ctx context.Context, in *idPath) (*attemptsOut, error) {
		as, err := s.store.Attempts(ctx, in.ID)
		if err != nil {
			return nil, s.fail(ctx, err)
		}
		out := &attemptsOut{}
		out.Body.Items = as
		if n := len(as); n > 0 && as[n-1].RetryAt != nil {
			if status, attempt, err := s.store.RunState(ctx, in.ID); err == nil && status == store.Queued && attempt == as[n-1].Attempt {
				out.Body.NextAttemptAt = as[n-1].RetryAt
			}
		}
		return out, nil
	})
	huma.Register(api, huma.Operation{
		OperationID: "retry-run", Method: http.MethodPost, Path: "/api/v1/runs/{id}/retry", Tags: []string{"runs"},
		Summary: "Queue a new run to retry a failed or cancelled one",
		Description: "The new run executes the pipeline's current version (so a fix saved since is used) with the same full_refresh " +
			"setting, and resumes from the state the retried run left. Queued, running and succeeded runs answer 409, as does a disabled pipeline.",
		DefaultStatus: http.StatusAccepted,
	}, func(ctx context.Context, in *idPath) (*retryOut, error) {
		old, err := s.store.Run(ctx, in.ID)
		if err != nil {
			return nil, s.fail(ctx, err)
		}
		if old.Status != store.Failed && old.Status != store.Cancelled {
			return nil, huma.Error409Conflict(fmt.Sprintf("run %s is %s; only failed or cancelled runs can be retried", old.ID, old.Status))
		}
		p, err := s.store.Pipeline(ctx, old.PipelineID)
		if err != nil {
			return nil, s.fail(ctx, err)
		}
		if !p.Enabled {
			return nil, huma.Error409Conflict("pipeline " + p.Name + " is disabled")
		}
		run, err := s.store.CreateRun(ctx, store.NewRun{PipelineID: old.PipelineID, FullRefresh: old.FullRefresh, Trigger: store.TriggerRetry})
		if err != nil {
			return nil, s.fail(ctx, err)
		}
		_ = s.store.AddRunLog(ctx, run.ID, "INFO", "retry of run "+old.ID)
		_ = s.store.AddRunLog(ctx, old.ID, "INFO", "retried as run "+run.ID)
		if err := s.queue.Enqueue(ctx, run.ID); err != nil {
			_ = s.store.FinishRun(context.WithoutCancel(ctx), run.ID, store.Failed, err.Error(), nil)
			s.log.ErrorContext(ctx, "enqueue run", "run_id", run.ID, "error", err)
			return nil, huma.Error503ServiceUnavailable("could not queue the run")
		}
		out := &retryOut{}
		out.Body.ID, out.Body.Status, out.Body.RetryOf = run.ID, run.Status, old.ID
		return out, nil
	})
}
