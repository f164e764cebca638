package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/tributary-data/tributary/engine"
	"github.com/tributary-data/tributary/jobs"
	"github.com/tributary-data/tributary/pipeline"
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
	var compact bytes.Buffer
	if err := json.Compact(&compact, body); err != nil {
		return nil, nil, specProblem(pipeline.Errors{{Msg: "the body must be a JSON pipeline spec: " + err.Error()}})
	}
	spec, err := pipeline.Parse(body, nil)
	if err != nil {
		var pe pipeline.Errors
		if errors.As(err, &pe) {
			return nil, nil, specProblem(pe)
		}
		return nil, nil, specProblem(pipeline.Errors{{Msg: err.Error()}})
	}
	var errs pipeline.Errors
	if err := jobs.ResolveConnections(ctx, s.store, spec); err != nil {
		if !errors.As(err, &errs) {
			return nil, nil, s.fail(ctx, err)
		}
	}
	if err := spec.Validate(); err != nil {
		var more pipeline.Errors
		if !errors.As(err, &more) {
			return nil, nil, specProblem(pipeline.Errors{{Msg: err.Error()}})
		}
		errs = append(errs, more...)
	}
	if len(errs) > 0 {
		return nil, nil, specProblem(errs)
	}
	return spec, compact.Bytes(), nil
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
		p := &store.Pipeline{Name: spec.Name}
		if err := s.store.CreatePipeline(ctx, p, body); err != nil {
			return nil, s.fail(ctx, err)
		}
		out := &versionOut{}
		out.Body.ID, out.Body.Version = p.ID, p.Version
		return out, nil
	})
	huma.Register(api, huma.Operation{
		OperationID: "update-pipeline", Method: http.MethodPut, Path: "/api/v1/pipelines/{id}", Tags: []string{"pipelines"},
		Summary:          "Save a new version of a pipeline",
		SkipValidateBody: true,
	}, func(ctx context.Context, in *struct {
		ID      string `path:"id"`
		RawBody []byte `contentType:"application/json"`
	}) (*versionOut, error) {
		spec, body, err := s.checkSpec(ctx, in.RawBody)
		if err != nil {
			return nil, err
		}
		v, err := s.store.AddPipelineVersion(ctx, in.ID, spec.Name, body)
		if err != nil {
			return nil, s.fail(ctx, err)
		}
		out := &versionOut{}
		out.Body.ID, out.Body.Version = in.ID, v
		return out, nil
	})
	huma.Register(api, huma.Operation{
		OperationID: "list-pipelines", Method: http.MethodGet, Path: "/api/v1/pipelines", Tags: []string{"pipelines"},
		Summary: "List pipelines by name",
	}, func(ctx context.Context, in *PageIn) (*pipelinesOut, error) {
		ps, err := s.store.Pipelines(ctx, in.page())
		if err != nil {
			return nil, s.fail(ctx, err)
		}
		items := make([]Pipeline, len(ps))
		for i := range ps {
			items[i] = pipelineOf(&ps[i])
		}
		return &pipelinesOut{Body: list(items, *in)}, nil
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
	for _, op := range []*huma.Operation{api.OpenAPI().Paths["/api/v1/pipelines"].Post, api.OpenAPI().Paths["/api/v1/pipelines/{id}"].Put} {
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
