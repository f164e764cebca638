package api

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/tributary-data/tributary/pipeline"
	"github.com/tributary-data/tributary/scheduler"
	"github.com/tributary-data/tributary/store"
)

// SchedulePreview is when an expression is due next.
type SchedulePreview struct {
	Cron     string `json:"cron"`
	Timezone string `json:"timezone" doc:"The time zone of the CRON_TZ= prefix; UTC without one"`
	// Every is set for @every schedules.
	Every    string      `json:"every,omitempty" doc:"The interval of an @every schedule"`
	NextRuns []time.Time `json:"next_runs" doc:"The next due times, in the schedule's time zone"`
}

// SlotOut is one due time of a pipeline's schedule and what came of it.
type SlotOut struct {
	Slot      time.Time        `json:"slot"`
	RunID     string           `json:"run_id,omitempty"`
	RunStatus *store.RunStatus `json:"run_status,omitempty"`
	Skipped   string           `json:"skipped,omitempty" doc:"Why no run was queued for the slot"`
	FiredAt   time.Time        `json:"fired_at"`
	LateAt    time.Time        `json:"late_at" doc:"When the pipeline is late without a succeeded run"`
	Late      bool             `json:"late"`
}

// Upstream is the state of one pipeline a pipeline depends on.
type Upstream struct {
	Name       string           `json:"name"`
	PipelineID string           `json:"pipeline_id,omitempty" doc:"Empty when no pipeline has the name"`
	LastStatus *store.RunStatus `json:"last_status,omitempty" doc:"Status of the upstream's latest run"`
	// LastSucceededAt is when its latest succeeded run finished.
	LastSucceededAt *time.Time `json:"last_succeeded_at,omitempty"`
	// Ready is true when it succeeded since the pipeline's own last run.
	Ready bool `json:"ready" doc:"The upstream succeeded since this pipeline's last run"`
}

// PipelineSchedule is the scheduler's view of one pipeline.
type PipelineSchedule struct {
	PipelineID string      `json:"pipeline_id"`
	Enabled    bool        `json:"enabled"`
	Schedule   string      `json:"schedule"`
	Timezone   string      `json:"timezone,omitempty"`
	LateAfter  string      `json:"late_after,omitempty" doc:"options.late_after; one schedule interval when empty"`
	NextRuns   []time.Time `json:"next_runs" doc:"The next due times (none while disabled or unscheduled)"`
	LastSlot   *SlotOut    `json:"last_slot,omitempty" doc:"The latest due time fired"`
	Late       bool        `json:"late" doc:"The latest due time whose grace period ended has no succeeded run since"`
	LateSlot   *time.Time  `json:"late_slot,omitempty" doc:"That due time, when late"`
	DependsOn  []string    `json:"depends_on"`
	Upstreams  []Upstream  `json:"upstreams"`
}

type slotsOut struct{ Body List[SlotOut] }

// checkDependencies answers 422 when saving spec as pipeline id (empty
// for a new one) would name unknown upstreams, close a cycle or break
// other pipelines' depends_on.
func (s *server) checkDependencies(ctx context.Context, id string, spec *pipeline.Spec) error {
	errs, err := scheduler.CheckDependencies(ctx, s.store, id, spec)
	if err != nil {
		return s.fail(ctx, err)
	}
	if len(errs) > 0 {
		return specProblem(errs)
	}
	return nil
}

func nextRuns(sched *pipeline.Schedule, from time.Time, n int) []time.Time {
	out := make([]time.Time, 0, n)
	at := from
	for range n {
		at = sched.Next(at)
		if at.IsZero() {
			break
		}
		out = append(out, at)
	}
	return out
}

// schedules registers the routes of schedule previews and the scheduler's view of pipelines.
func (s *server) schedules(api huma.API) {
	huma.Register(api, huma.Operation{
		OperationID: "preview-schedule", Method: http.MethodGet, Path: "/api/v1/schedules/preview", Tags: []string{"schedules"},
		Summary:     "The next due times of a schedule expression",
		Description: "Five-field cron expressions (`0 6 * * 1-5`), descriptors (`@hourly`, `@daily`, `@every 10m`), each optionally prefixed by a time zone: `CRON_TZ=Europe/Paris 0 6 * * *`. Without a prefix, UTC.",
	}, func(ctx context.Context, in *struct {
		Cron  string `query:"cron" required:"true" doc:"The schedule expression, as in a pipeline's schedule"`
		Count int    `query:"count" minimum:"1" maximum:"100" default:"5" doc:"How many due times"`
	}) (*struct{ Body SchedulePreview }, error) {
		sched, err := pipeline.ParseSchedule(in.Cron)
		if err != nil {
			return nil, huma.Error422UnprocessableEntity("invalid schedule", &huma.ErrorDetail{Location: "query.cron", Message: err.Error(), Value: in.Cron})
		}
		out := &struct{ Body SchedulePreview }{}
		out.Body = SchedulePreview{Cron: in.Cron, Timezone: sched.Location.String(), NextRuns: nextRuns(sched, time.Now(), in.Count)}
		if sched.Every > 0 {
			out.Body.Every = sched.Every.String()
		}
		return out, nil
	})
	huma.Register(api, huma.Operation{
		OperationID: "get-pipeline-schedule", Method: http.MethodGet, Path: "/api/v1/pipelines/{id}/schedule", Tags: []string{"schedules"},
		Summary: "A pipeline's schedule: next due times, latest slot, lateness, and its upstreams",
	}, func(ctx context.Context, in *idPath) (*struct{ Body PipelineSchedule }, error) {
		out, err := s.pipelineSchedule(ctx, in.ID, time.Now())
		if err != nil {
			return nil, err
		}
		return &struct{ Body PipelineSchedule }{Body: *out}, nil
	})
	huma.Register(api, huma.Operation{
		OperationID: "list-pipeline-slots", Method: http.MethodGet, Path: "/api/v1/pipelines/{id}/slots", Tags: []string{"schedules"},
		Summary: "List the due times of a pipeline's schedule that fired, newest first, with their runs",
	}, func(ctx context.Context, in *struct {
		ID string `path:"id"`
		PageIn
	}) (*slotsOut, error) {
		if _, err := s.store.Pipeline(ctx, in.ID); err != nil {
			return nil, s.fail(ctx, err)
		}
		slots, err := s.store.Slots(ctx, in.ID, in.page())
		if err != nil {
			return nil, s.fail(ctx, err)
		}
		items := make([]SlotOut, len(slots))
		for i := range slots {
			sl, err := s.slotOut(ctx, &slots[i])
			if err != nil {
				return nil, s.fail(ctx, err)
			}
			items[i] = *sl
		}
		return &slotsOut{Body: list(items, in.PageIn)}, nil
	})
}

func (s *server) slotOut(ctx context.Context, sl *store.Slot) (*SlotOut, error) {
	out := &SlotOut{Slot: sl.Slot, RunID: sl.RunID, Skipped: sl.Skipped, FiredAt: sl.FiredAt, LateAt: sl.LateAt, Late: sl.Late}
	if sl.RunID != "" {
		r, err := s.store.Run(ctx, sl.RunID)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
		if r != nil {
			out.RunStatus = &r.Status
		}
	}
	return out, nil
}

func (s *server) pipelineSchedule(ctx context.Context, id string, now time.Time) (*PipelineSchedule, error) {
	p, err := s.store.Pipeline(ctx, id)
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	v, err := s.store.PipelineVersion(ctx, p.ID, p.Version)
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	set, err := scheduler.SettingsOf(v.Spec)
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	out := &PipelineSchedule{PipelineID: p.ID, Enabled: p.Enabled, Schedule: set.Schedule, LateAfter: set.Options.LateAfter,
		NextRuns: []time.Time{}, DependsOn: set.DependsOn, Upstreams: []Upstream{}}
	if out.DependsOn == nil {
		out.DependsOn = []string{}
	}
	if set.Schedule != "" {
		if sched, err := pipeline.ParseSchedule(set.Schedule); err == nil {
			out.Timezone = sched.Location.String()
			if p.Enabled {
				out.NextRuns = nextRuns(sched, now, 5)
			}
		}
		slots, err := s.store.Slots(ctx, p.ID, store.Page{Limit: 1})
		if err != nil {
			return nil, s.fail(ctx, err)
		}
		if len(slots) > 0 {
			if out.LastSlot, err = s.slotOut(ctx, &slots[0]); err != nil {
				return nil, s.fail(ctx, err)
			}
		}
		due, err := s.store.LastDueSlot(ctx, p.ID, now)
		switch {
		case errors.Is(err, store.ErrNotFound):
		case err != nil:
			return nil, s.fail(ctx, err)
		case due.Late:
			out.Late, out.LateSlot = true, &due.Slot
		}
	}
	if len(set.DependsOn) == 0 {
		return out, nil
	}
	since := p.CreatedAt
	if last, err := s.store.LastRun(ctx, p.ID); err == nil {
		since = last.CreatedAt
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, s.fail(ctx, err)
	}
	specs, err := s.store.AllPipelines(ctx)
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	ids := map[string]string{}
	for _, ps := range specs {
		ids[ps.Name] = ps.ID
	}
	for _, name := range set.DependsOn {
		up := Upstream{Name: name, PipelineID: ids[name]}
		if up.PipelineID != "" {
			if last, err := s.store.LastRun(ctx, up.PipelineID); err == nil {
				up.LastStatus = &last.Status
			} else if !errors.Is(err, store.ErrNotFound) {
				return nil, s.fail(ctx, err)
			}
			if ok, err := s.store.LastSucceededRun(ctx, up.PipelineID); err == nil {
				up.LastSucceededAt = ok.FinishedAt
				up.Ready = ok.FinishedAt != nil && ok.FinishedAt.After(since)
			} else if !errors.Is(err, store.ErrNotFound) {
				return nil, s.fail(ctx, err)
			}
		}
		out.Upstreams = append(out.Upstreams, up)
	}
	return out, nil
}
