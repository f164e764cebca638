package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/tributary-data/tributary/engine"
	"github.com/tributary-data/tributary/jobs"
	"github.com/tributary-data/tributary/pipeline"
	"github.com/tributary-data/tributary/scheduler"
	"github.com/tributary-data/tributary/store"
)

// Pipeline is a pipeline with the spec of its current version.
type Pipeline struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Version   int       `json:"version"`
	Enabled   bool      `json:"enabled"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	Spec      any       `json:"spec,omitempty" doc:"The pipeline spec of the current version (only on GET of one pipeline)"`
}

func pipelineOf(p *store.Pipeline) Pipeline {
	return Pipeline{ID: p.ID, Name: p.Name, Version: p.Version, Enabled: p.Enabled, CreatedAt: p.CreatedAt, UpdatedAt: p.UpdatedAt}
}

type specIn struct {
	RawBody []byte `contentType:"application/json"`
}

type versionOut struct {
	Body struct {
		ID      string `json:"id"`
		Version int    `json:"version"`
		// Changed is false when the saved spec equalled the current
		// version's, so no version was added.
		Changed *bool `json:"changed,omitempty"`
	}
}

type pipelineOut struct{ Body Pipeline }

type pipelinesOut struct{ Body List[Pipeline] }

type versionsOut struct {
	Body List[store.PipelineVersion]
}

// specProblem is the 422 answer listing every error in a spec with its
// path in the body.
func specProblem(errs pipeline.Errors) error {
	details := make([]error, len(errs))
	for i, e := range errs {
		loc := "body"
		if e.Path != "" {
			loc += "." + e.Path
		}
		details[i] = &huma.ErrorDetail{Location: loc, Message: e.Msg}
	}
	return huma.Error422UnprocessableEntity("invalid pipeline spec", details...)
}

// checkSpec parses and validates a spec document, with its stored
// connections resolved, and returns it compacted for storage. Stored
// connections are resolved for validation only: the stored spec keeps the
// reference, so a changed connection applies to the next run.
func (s *server) checkSpec(ctx context.Context, body []byte) (*pipeline.Spec, []byte, error) {
	spec, compact, errs, err := s.specErrors(ctx, body)
	if err != nil {
		return nil, nil, s.fail(ctx, err)
	}
	if len(errs) > 0 {
		return nil, nil, specProblem(errs)
	}
	return spec, compact, nil
}

// specErrors parses and validates a JSON spec document and lists every
// problem in it; err is set only when the store fails.
func (s *server) specErrors(ctx context.Context, body []byte) (*pipeline.Spec, []byte, pipeline.Errors, error) {
	var compact bytes.Buffer
	if err := json.Compact(&compact, body); err != nil {
		return nil, nil, pipeline.Errors{{Msg: "the body must be a JSON pipeline spec: " + err.Error()}}, nil
	}
	spec, err := pipeline.Parse(body, nil)
	if err != nil {
		var pe pipeline.Errors
		if errors.As(err, &pe) {
			return nil, nil, pe, nil
		}
		return nil, nil, pipeline.Errors{{Msg: err.Error()}}, nil
	}
	var errs pipeline.Errors
	if err := jobs.ResolveConnections(ctx, s.store, spec); err != nil {
		if !errors.As(err, &errs) {
			return nil, nil, nil, err
		}
	}
	if err := spec.Validate(); err != nil {
		var more pipeline.Errors
		if !errors.As(err, &more) {
			return nil, nil, pipeline.Errors{{Msg: err.Error()}}, nil
		}
		errs = append(errs, more...)
	}
	return spec, compact.Bytes(), errs, nil
}

// Validation is the answer of the validate routes.
type Validation struct {
	Valid  bool                  `json:"valid"`
	Errors []pipeline.FieldError `json:"errors" doc:"Every problem, with its path in the spec (source.streams[0].sync_mode)"`
}

type validationOut struct{ Body Validation }

func (s *server) validation(ctx context.Context, body []byte) (*validationOut, error) {
	_, _, errs, err := s.specErrors(ctx, body)
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	out := &validationOut{Body: Validation{Valid: len(errs) == 0, Errors: []pipeline.FieldError(errs)}}
	if out.Body.Errors == nil {
		out.Body.Errors = []pipeline.FieldError{}
	}
	return out, nil
}

// specOf loads the spec of a pipeline's current version, or of version v
// when v > 0.
func (s *server) specOf(ctx context.Context, id string, v int) (*store.Pipeline, *store.PipelineVersion, error) {
	p, err := s.store.Pipeline(ctx, id)
	if err != nil {
		return nil, nil, s.fail(ctx, err)
	}
	if v <= 0 {
		v = p.Version
	}
	pv, err := s.store.PipelineVersion(ctx, p.ID, v)
	if err != nil {
		return nil, nil, s.fail(ctx, err)
	}
	return p, pv, nil
}

// checkNoDependents answers 409 when other pipelines name pipeline id in
// their depends_on: deleting it would leave them waiting for ever.
func (s *server) checkNoDependents(ctx context.Context, id string) error {
	p, err := s.store.Pipeline(ctx, id)
	if err != nil {
		return s.fail(ctx, err)
	}
	specs, err := s.store.CurrentSpecs(ctx)
	if err != nil {
		return s.fail(ctx, err)
	}
	var users []string
	for _, ps := range specs {
		if ps.ID == id {
			continue
		}
		set, err := scheduler.SettingsOf(ps.Spec)
		if err != nil {
			return s.fail(ctx, fmt.Errorf("pipeline %s spec: %w", ps.Name, err))
		}
		if slices.Contains(set.DependsOn, p.Name) {
			users = append(users, strconv.Quote(ps.Name))
		}
	}
	if len(users) > 0 {
		slices.Sort(users)
		return huma.Error409Conflict(fmt.Sprintf("pipelines %s depend on %q: change their depends_on before deleting it", strings.Join(users, ", "), p.Name))
	}
	return nil
}

// listIn filters and sorts the pipeline list.
type listIn struct {
	PageIn
	Name    string `query:"name" doc:"Keep pipelines whose name contains this, ignoring case"`
	Enabled string `query:"enabled" enum:"true,false" doc:"Keep enabled (true) or disabled (false) pipelines"`
	Sort    string `query:"sort" enum:"name,-name,updated_at,-updated_at" default:"name" doc:"Sort key; a leading - sorts descending"`
}

func (in *listIn) query() store.PipelineQuery {
	q := store.PipelineQuery{NameContains: in.Name, Sort: strings.TrimPrefix(in.Sort, "-"), Desc: strings.HasPrefix(in.Sort, "-")}
	if in.Enabled != "" {
		on := in.Enabled == "true"
		q.Enabled = &on
	}
	return q
}

func (s *server) pipelines(api huma.API) {
	huma.Register(api, huma.Operation{
		OperationID: "create-pipeline", Method: http.MethodPost, Path: "/api/v1/pipelines", Tags: []string{"pipelines"},
		Summary:       "Create a pipeline from its spec (version 1)",
		Description:   "The body is the pipeline spec as JSON, the same document as a pipeline file. `source` and `destination` may name a stored connection: `{\"connection\": \"shop\", \"streams\": [...]}`.",
		DefaultStatus: http.StatusCreated,
		// The spec validates itself, reporting every error with its path.
		SkipValidateBody: true,
	}, func(ctx context.Context, in *specIn) (*versionOut, error) {
		spec, body, err := s.checkSpec(ctx, in.RawBody)
		if err != nil {
			return nil, err
		}
		if err := s.checkDependencies(ctx, "", spec); err != nil {
			return nil, err
		}
		p := &store.Pipeline{Name: spec.Name}
		if err := s.store.CreatePipelineBy(ctx, p, body, actor(ctx)); err != nil {
			return nil, s.fail(ctx, err)
		}
		out := &versionOut{}
		out.Body.ID, out.Body.Version = p.ID, p.Version
		return out, nil
	})
	huma.Register(api, huma.Operation{
		OperationID: "update-pipeline", Method: http.MethodPut, Path: "/api/v1/pipelines/{id}", Tags: []string{"pipelines"},
		Summary:          "Save a new version of a pipeline",
		Description:      "A spec equal to the current version's (as JSON values) saves no new version: the answer has the current version and `changed: false`.",
		SkipValidateBody: true,
	}, func(ctx context.Context, in *struct {
		ID      string `path:"id"`
		RawBody []byte `contentType:"application/json"`
	}) (*versionOut, error) {
		return s.saveVersion(ctx, in.ID, in.RawBody)
	})
	huma.Register(api, huma.Operation{
		OperationID: "list-pipelines", Method: http.MethodGet, Path: "/api/v1/pipelines", Tags: []string{"pipelines"},
		Summary: "List pipelines, filtered by name and enabled, sorted by name or updated_at",
	}, func(ctx context.Context, in *listIn) (*pipelinesOut, error) {
		ps, err := s.store.ListPipelines(ctx, in.query(), in.page())
		if err != nil {
			return nil, s.fail(ctx, err)
		}
		items := make([]Pipeline, len(ps))
		for i := range ps {
			items[i] = pipelineOf(&ps[i])
		}
		return &pipelinesOut{Body: list(items, in.PageIn)}, nil
	})
	huma.Register(api, huma.Operation{
		OperationID: "delete-pipeline", Method: http.MethodDelete, Path: "/api/v1/pipelines/{id}", Tags: []string{"pipelines"},
		Summary:       "Delete a pipeline with its versions, runs and their logs",
		Description:   "Refused with 409 while a run of the pipeline is queued or running (cancel it first) or while other pipelines name it in depends_on. State kept in the destination (`_tributary_state`, file manifests) and the loaded data stay where they are.",
		DefaultStatus: http.StatusNoContent,
	}, func(ctx context.Context, in *idPath) (*struct{}, error) {
		if err := s.checkNoDependents(ctx, in.ID); err != nil {
			return nil, err
		}
		err := s.store.DeletePipeline(ctx, in.ID)
		if errors.Is(err, store.ErrActiveRuns) {
			return nil, huma.Error409Conflict(err.Error())
		}
		if err != nil {
			return nil, s.fail(ctx, err)
		}
		if s.data != "" {
			// The local state file of a pipeline that no longer exists.
			if err := os.Remove(filepath.Join(s.data, "state", in.ID+".json")); err != nil && !errors.Is(err, fs.ErrNotExist) {
				s.log.WarnContext(ctx, "remove state file of a deleted pipeline", "pipeline_id", in.ID, "error", err)
			}
		}
		return nil, nil
	})
	huma.Register(api, huma.Operation{
		OperationID: "validate-spec", Method: http.MethodPost, Path: "/api/v1/pipelines/validate", Tags: []string{"pipelines"},
		Summary:          "Validate a pipeline spec without saving it",
		Description:      "Always 200 for a readable request: `valid` says whether the spec could be saved, `errors` lists every problem with its path.",
		SkipValidateBody: true,
	}, func(ctx context.Context, in *specIn) (*validationOut, error) {
		return s.validation(ctx, in.RawBody)
	})
	huma.Register(api, huma.Operation{
		OperationID: "validate-pipeline", Method: http.MethodPost, Path: "/api/v1/pipelines/{id}/validate", Tags: []string{"pipelines"},
		Summary: "Validate the current version of a stored pipeline against today's connections and environment",
	}, func(ctx context.Context, in *idPath) (*validationOut, error) {
		_, pv, err := s.specOf(ctx, in.ID, 0)
		if err != nil {
			return nil, err
		}
		return s.validation(ctx, pv.Spec)
	})
	huma.Register(api, huma.Operation{
		OperationID: "get-pipeline", Method: http.MethodGet, Path: "/api/v1/pipelines/{id}", Tags: []string{"pipelines"},
		Summary: "Get a pipeline and the spec of its current version",
	}, func(ctx context.Context, in *idPath) (*pipelineOut, error) {
		p, err := s.store.Pipeline(ctx, in.ID)
		if err != nil {
			return nil, s.fail(ctx, err)
		}
		v, err := s.store.PipelineVersion(ctx, p.ID, p.Version)
		if err != nil {
			return nil, s.fail(ctx, err)
		}
		out := &pipelineOut{Body: pipelineOf(p)}
		if err := json.Unmarshal(v.Spec, &out.Body.Spec); err != nil {
			return nil, s.fail(ctx, err)
		}
		return out, nil
	})
	huma.Register(api, huma.Operation{
		OperationID: "set-pipeline-enabled", Method: http.MethodPatch, Path: "/api/v1/pipelines/{id}", Tags: []string{"pipelines"},
		Summary: "Enable or disable a pipeline; a disabled pipeline accepts no new runs",
	}, func(ctx context.Context, in *struct {
		ID   string `path:"id"`
		Body struct {
			Enabled bool `json:"enabled"`
		}
	}) (*pipelineOut, error) {
		if err := s.store.SetPipelineEnabled(ctx, in.ID, in.Body.Enabled); err != nil {
			return nil, s.fail(ctx, err)
		}
		p, err := s.store.Pipeline(ctx, in.ID)
		if err != nil {
			return nil, s.fail(ctx, err)
		}
		return &pipelineOut{Body: pipelineOf(p)}, nil
	})
	huma.Register(api, huma.Operation{
		OperationID: "list-pipeline-versions", Method: http.MethodGet, Path: "/api/v1/pipelines/{id}/versions", Tags: []string{"pipelines"},
		Summary: "List the saved versions of a pipeline, newest first",
	}, func(ctx context.Context, in *struct {
		ID string `path:"id"`
		PageIn
	}) (*versionsOut, error) {
		vs, err := s.store.PipelineVersions(ctx, in.ID, in.page())
		if err != nil {
			return nil, s.fail(ctx, err)
		}
		return &versionsOut{Body: list(vs, in.PageIn)}, nil
	})
	huma.Register(api, huma.Operation{
		OperationID: "preview-pipeline", Method: http.MethodPost, Path: "/api/v1/pipelines/{id}/preview", Tags: []string{"pipelines"},
		Summary: "Run the current version on the first rows of each stream, writing nothing",
	}, func(ctx context.Context, in *struct {
		ID   string `path:"id"`
		Rows int    `query:"rows" minimum:"1" maximum:"10000" default:"20" doc:"Rows read per stream"`
	}) (*previewOut, error) {
		p, err := s.store.Pipeline(ctx, in.ID)
		if err != nil {
			return nil, s.fail(ctx, err)
		}
		v, err := s.store.PipelineVersion(ctx, p.ID, p.Version)
		if err != nil {
			return nil, s.fail(ctx, err)
		}
		spec, _, err := s.checkSpec(ctx, v.Spec)
		if err != nil {
			return nil, err
		}
		pv, err := engine.RunPreview(ctx, spec, in.Rows)
		if err != nil {
			return nil, huma.Error422UnprocessableEntity("preview failed: " + err.Error())
		}
		return &previewOut{Body: pv}, nil
	})
	// A raw body is documented as binary; say what it really is.
	for _, op := range []*huma.Operation{api.OpenAPI().Paths["/api/v1/pipelines"].Post, api.OpenAPI().Paths["/api/v1/pipelines/{id}"].Put, api.OpenAPI().Paths["/api/v1/pipelines/validate"].Post} {
		op.RequestBody.Required = true
		op.RequestBody.Content["application/json"].Schema = &huma.Schema{
			Type:        huma.TypeObject,
			Description: "A pipeline spec (version, name, source, destination, transforms, checks, options), as in a pipeline file",
			Required:    []string{"version", "name", "source", "destination"},
		}
	}
}

type previewOut struct {
	Body any
}

// saveVersion checks a spec and saves it as the pipeline's next version,
// unless it equals the current one.
func (s *server) saveVersion(ctx context.Context, id string, raw []byte) (*versionOut, error) {
	spec, body, err := s.checkSpec(ctx, raw)
	if err != nil {
		return nil, err
	}
	if err := s.checkDependencies(ctx, id, spec); err != nil {
		return nil, err
	}
	v, changed, err := s.store.SavePipelineVersion(ctx, id, spec.Name, body, actor(ctx))
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	out := &versionOut{}
	out.Body.ID, out.Body.Version, out.Body.Changed = id, v, &changed
	return out, nil
}
