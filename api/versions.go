package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"

	"github.com/danielgtaylor/huma/v2"

	"github.com/tributary-data/tributary/engine"
	"github.com/tributary-data/tributary/internal/specfile"
	"github.com/tributary-data/tributary/lineage"
	"github.com/tributary-data/tributary/pipeline"
	"github.com/tributary-data/tributary/store"
)

type actorKey struct{}

// WithActor returns a context carrying the name of the user a request acts
// for. Authentication sets it; saved pipeline versions record it as their
// author.
func WithActor(ctx context.Context, name string) context.Context {
	return context.WithValue(ctx, actorKey{}, name)
}

// actor is the user the request acts for; empty for anonymous requests.
func actor(ctx context.Context) string {
	name, _ := ctx.Value(actorKey{}).(string)
	return name
}

type versionIn struct {
	ID      string `path:"id"`
	Version int    `path:"version" minimum:"1"`
}

type pipelineVersionOut struct{ Body store.PipelineVersion }

// SpecDiff is the difference between two versions of a pipeline.
type SpecDiff struct {
	From    int               `json:"from"`
	To      int               `json:"to"`
	Changes []specfile.Change `json:"changes" doc:"Values added, removed or changed, by JSON path in the spec, in path order"`
	Unified string            `json:"unified" doc:"A unified diff of the two specs in their YAML form; empty when equal"`
}

type diffOut struct{ Body SpecDiff }

type yamlOut struct {
	ContentType        string `header:"Content-Type"`
	ContentDisposition string `header:"Content-Disposition"`
	Body               []byte
}

// Imported says what an import did.
type Imported struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Version int    `json:"version"`
	Created bool   `json:"created" doc:"A new pipeline was created"`
	Changed bool   `json:"changed" doc:"A new version was saved (false when the spec equalled the current version)"`
}

type importOut struct {
	Status int
	Body   Imported
}

// Reset says where the state of a stream was forgotten.
type Reset struct {
	Pipeline string `json:"pipeline"`
	Stream   string `json:"stream"`
	// StateStore is "destination" or the local state file; empty when the
	// pipeline keeps no state anywhere.
	StateStore string `json:"state_store"`
}

type resetOut struct{ Body Reset }

// LineageOut is the column lineage of every stream of a pipeline.
type LineageOut struct {
	Streams []lineage.Stream `json:"streams"`
}

type lineageOut struct{ Body any }

// versions registers the routes of pipeline versions (one version, diff,
// restore), import and export as YAML, the reset of a stream's state and
// lineage.
func (s *server) versions(api huma.API) {
	huma.Register(api, huma.Operation{
		OperationID: "get-pipeline-version", Method: http.MethodGet, Path: "/api/v1/pipelines/{id}/versions/{version}", Tags: []string{"pipelines"},
		Summary: "Get one saved version of a pipeline with its author",
	}, func(ctx context.Context, in *versionIn) (*pipelineVersionOut, error) {
		_, pv, err := s.specOf(ctx, in.ID, in.Version)
		if err != nil {
			return nil, err
		}
		return &pipelineVersionOut{Body: *pv}, nil
	})
	huma.Register(api, huma.Operation{
		OperationID: "diff-pipeline-versions", Method: http.MethodGet, Path: "/api/v1/pipelines/{id}/diff", Tags: []string{"pipelines"},
		Summary: "Compare two versions of a pipeline: changed JSON paths and a unified diff of their YAML forms",
	}, func(ctx context.Context, in *struct {
		ID   string `path:"id"`
		From int    `query:"from" minimum:"0" doc:"The older version; the one before to when absent"`
		To   int    `query:"to" minimum:"0" doc:"The newer version; the current one when absent"`
	}) (*diffOut, error) {
		p, err := s.store.Pipeline(ctx, in.ID)
		if err != nil {
			return nil, s.fail(ctx, err)
		}
		to, from := in.To, in.From
		if to == 0 {
			to = p.Version
		}
		if from == 0 {
			from = max(to-1, 1)
		}
		var specs [2]*store.PipelineVersion
		for i, v := range []int{from, to} {
			pv, err := s.store.PipelineVersion(ctx, p.ID, v)
			if errors.Is(err, store.ErrNotFound) {
				name := [2]string{"from", "to"}[i]
				return nil, huma.Error404NotFound(fmt.Sprintf("pipeline %s has no version %d", p.Name, v), &huma.ErrorDetail{Location: "query." + name, Value: v})
			}
			if err != nil {
				return nil, s.fail(ctx, err)
			}
			specs[i] = pv
		}
		changes, err := specfile.Changes(specs[0].Spec, specs[1].Spec)
		if err != nil {
			return nil, s.fail(ctx, err)
		}
		unified, err := specfile.Unified("version "+strconv.Itoa(from), "version "+strconv.Itoa(to), specs[0].Spec, specs[1].Spec)
		if err != nil {
			return nil, s.fail(ctx, err)
		}
		return &diffOut{Body: SpecDiff{From: from, To: to, Changes: changes, Unified: unified}}, nil
	})
	huma.Register(api, huma.Operation{
		OperationID: "restore-pipeline-version", Method: http.MethodPost, Path: "/api/v1/pipelines/{id}/versions/{version}/restore", Tags: []string{"pipelines"},
		Summary:     "Save the spec of an earlier version as the pipeline's new version",
		Description: "The restored spec is validated like any save (its stored connections must exist). Restoring a spec equal to the current version saves nothing (`changed: false`).",
	}, func(ctx context.Context, in *versionIn) (*versionOut, error) {
		_, pv, err := s.specOf(ctx, in.ID, in.Version)
		if err != nil {
			return nil, err
		}
		return s.saveVersion(ctx, in.ID, pv.Spec)
	})
	huma.Register(api, huma.Operation{
		OperationID: "export-pipeline", Method: http.MethodGet, Path: "/api/v1/pipelines/{id}/export", Tags: []string{"pipelines"},
		Summary:     "The spec of a pipeline as a pipeline file (YAML)",
		Description: "The stored spec as saved: `${VAR}` references stay references. Keys keep the order they were saved in.",
		Responses: map[string]*huma.Response{"200": {
			Description: "A pipeline file",
			Content:     map[string]*huma.MediaType{"application/yaml": {Schema: &huma.Schema{Type: huma.TypeString}}},
		}},
	}, func(ctx context.Context, in *struct {
		ID      string `path:"id"`
		Version int    `query:"version" minimum:"0" doc:"The version to export; the current one when absent"`
	}) (*yamlOut, error) {
		p, pv, err := s.specOf(ctx, in.ID, in.Version)
		if err != nil {
			return nil, err
		}
		y, err := specfile.ToYAML(pv.Spec)
		if err != nil {
			return nil, s.fail(ctx, err)
		}
		return &yamlOut{ContentType: "application/yaml", ContentDisposition: fmt.Sprintf("attachment; filename=%q", p.Name+".yaml"), Body: y}, nil
	})
	huma.Register(api, huma.Operation{
		OperationID: "import-pipeline", Method: http.MethodPost, Path: "/api/v1/pipelines/import", Tags: []string{"pipelines"},
		Summary:          "Create or update a pipeline from a pipeline file (YAML or JSON), by its name",
		Description:      "201 when a pipeline of that name did not exist; 200 otherwise, with `changed: false` when the spec equalled the current version (no version is added).",
		SkipValidateBody: true,
	}, func(ctx context.Context, in *struct {
		RawBody []byte `contentType:"application/yaml"`
	}) (*importOut, error) {
		doc, err := specfile.ToJSON(in.RawBody)
		if err != nil {
			return nil, specProblem(pipeline.Errors{{Msg: "the body must be a pipeline file: " + err.Error()}})
		}
		spec, body, err := s.checkSpec(ctx, doc)
		if err != nil {
			return nil, err
		}
		out := &importOut{Status: http.StatusOK, Body: Imported{Name: spec.Name}}
		p, err := s.store.PipelineByName(ctx, spec.Name)
		if err == nil || errors.Is(err, store.ErrNotFound) {
			id := ""
			if p != nil {
				id = p.ID
			}
			if err := s.checkDependencies(ctx, id, spec); err != nil {
				return nil, err
			}
		}
		switch {
		case errors.Is(err, store.ErrNotFound):
			p = &store.Pipeline{Name: spec.Name}
			if err := s.store.CreatePipelineBy(ctx, p, body, actor(ctx)); err != nil {
				return nil, s.fail(ctx, err)
			}
			out.Status = http.StatusCreated
			out.Body.ID, out.Body.Version, out.Body.Created, out.Body.Changed = p.ID, p.Version, true, true
		case err != nil:
			return nil, s.fail(ctx, err)
		default:
			v, changed, err := s.store.SavePipelineVersion(ctx, p.ID, spec.Name, body, actor(ctx))
			if err != nil {
				return nil, s.fail(ctx, err)
			}
			out.Body.ID, out.Body.Version, out.Body.Changed = p.ID, v, changed
		}
		return out, nil
	})
	if op := api.OpenAPI().Paths["/api/v1/pipelines/import"].Post; op != nil {
		op.RequestBody.Required = true
		op.RequestBody.Content["application/yaml"].Schema = &huma.Schema{Type: huma.TypeString, Description: "A pipeline file"}
	}
	huma.Register(api, huma.Operation{
		OperationID: "reset-stream-state", Method: http.MethodPost, Path: "/api/v1/pipelines/{id}/streams/{stream}/reset", Tags: []string{"pipelines"},
		Summary:     "Forget the saved state of a stream, so the next run reads it from the start",
		Description: "The state is forgotten where runs keep it: in the destination (`_tributary_state`, file manifests) or in the server's local state file. Refused with 409 while a run of the pipeline is running.",
	}, func(ctx context.Context, in *struct {
		ID     string `path:"id"`
		Stream string `path:"stream"`
	}) (*resetOut, error) {
		p, pv, err := s.specOf(ctx, in.ID, 0)
		if err != nil {
			return nil, err
		}
		spec, _, err := s.checkSpec(ctx, pv.Spec)
		if err != nil {
			return nil, err
		}
		var names []string
		for _, st := range spec.Source.Streams {
			names = append(names, st.Name)
		}
		if !slices.Contains(names, in.Stream) {
			return nil, huma.Error404NotFound(fmt.Sprintf("pipeline %s has no stream %q (streams: %v)", p.Name, in.Stream, names),
				&huma.ErrorDetail{Location: "path.stream", Value: in.Stream})
		}
		statePath := ""
		if s.data != "" {
			// The same file the workers use (jobs.Runner).
			statePath = filepath.Join(s.data, "state", p.ID+".json")
		}
		var where string
		var resetErr error
		// No run may start between the check and the reset: it would load
		// the old state and save it again.
		err = s.store.WhileIdle(ctx, p.ID, func(ctx context.Context) error {
			where, resetErr = engine.ResetState(ctx, spec, statePath, in.Stream)
			return resetErr
		})
		switch {
		case errors.Is(err, store.ErrBusy):
			return nil, huma.Error409Conflict("a run of pipeline " + p.Name + " is running: wait for it or cancel it first")
		case resetErr != nil:
			return nil, huma.Error422UnprocessableEntity("reset state: " + resetErr.Error())
		case err != nil:
			return nil, s.fail(ctx, err)
		}
		s.log.InfoContext(ctx, "stream state reset", "pipeline_id", p.ID, "stream", in.Stream, "state_store", where, "actor", actor(ctx))
		return &resetOut{Body: Reset{Pipeline: p.ID, Stream: in.Stream, StateStore: where}}, nil
	})
	huma.Register(api, huma.Operation{
		OperationID: "pipeline-lineage", Method: http.MethodGet, Path: "/api/v1/pipelines/{id}/lineage", Tags: []string{"pipelines"},
		Summary:     "Column lineage of the current version: which source columns each destination column comes from",
		Description: "The source is asked for its catalog (discover) to learn the source columns; nothing is read or written. `format=openlineage` answers an OpenLineage run event instead.",
	}, func(ctx context.Context, in *struct {
		ID     string `path:"id"`
		Format string `query:"format" enum:"tributary,openlineage" default:"tributary"`
	}) (*lineageOut, error) {
		_, pv, err := s.specOf(ctx, in.ID, 0)
		if err != nil {
			return nil, err
		}
		spec, _, err := s.checkSpec(ctx, pv.Spec)
		if err != nil {
			return nil, err
		}
		schemas, missing, err := engine.DiscoverSchemas(ctx, spec)
		if err == nil && len(missing) > 0 {
			err = fmt.Errorf("stream %s is not in the source's catalog", spec.Source.Streams[missing[0]].Name)
		}
		if err != nil {
			return nil, huma.Error422UnprocessableEntity(err.Error())
		}
		streams, err := lineage.Columns(spec, schemas)
		if err != nil {
			return nil, huma.Error422UnprocessableEntity("lineage: " + err.Error())
		}
		if in.Format == "openlineage" {
			return &lineageOut{Body: lineage.OpenLineage(spec, streams, lineage.EventOptions{})}, nil
		}
		return &lineageOut{Body: LineageOut{Streams: streams}}, nil
	})
}
