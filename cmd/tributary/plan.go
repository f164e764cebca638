package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/tributary-data/tributary/connector"
	"github.com/tributary-data/tributary/engine"
	"github.com/tributary-data/tributary/pipeline"
)

// checkAgainstSource plans every stream's steps on the schema the source
// discovers, so a step or rule naming a column the stream does not have is
// reported by validate, with its path, before any run. It returns an error
// only when the source cannot be asked.
func checkAgainstSource(ctx context.Context, spec *pipeline.Spec) (pipeline.Errors, error) {
	schemas, missing, err := sourceSchemas(ctx, spec)
	if err != nil {
		return nil, err
	}
	var errs pipeline.Errors
	for _, k := range missing {
		errs = append(errs, spec.FieldError(fmt.Sprintf("source.streams[%d].name", k), fmt.Sprintf("the source has no stream %q", spec.Source.Streams[k].Name)))
	}
	for _, st := range spec.ConnectorStreams() {
		schema, ok := schemas[st.Name]
		if !ok {
			continue
		}
		chain, err := spec.Steps(st.Name)
		if err != nil {
			return nil, err
		}
		// An empty batch makes each step plan its work on the schema
		// without touching data.
		b := connector.NewBatch(st.Name, schema, 0)
		for i, step := range chain {
			out, _, err := step.Apply(ctx, b)
			if err != nil {
				msg := strings.TrimPrefix(err.Error(), "step "+step.Name()+": ")
				errs = append(errs, spec.FieldError(spec.StepPath(st.Name, i), msg))
				break
			}
			b = out
		}
	}
	return errs, nil
}

// sourceSchemas asks the source for its catalog and returns each selected
// stream's schema with the pipeline's type overrides applied, and the
// indexes of selected streams the source does not offer.
func sourceSchemas(ctx context.Context, spec *pipeline.Spec) (map[string]*connector.Schema, []int, error) {
	src, err := engine.OpenSource(ctx, spec)
	if err != nil {
		return nil, nil, err
	}
	defer src.Close()
	cat, err := src.Discover(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("discover: %w", err)
	}
	schemas := map[string]*connector.Schema{}
	var missing []int
	for k, st := range spec.ConnectorStreams() {
		info := cat.Find(st.Name)
		if info == nil || info.Schema == nil {
			missing = append(missing, k)
			continue
		}
		s := info.Schema.Clone()
		for i, f := range s.Fields {
			if t, ok := st.Schema[f.Name]; ok {
				s.Fields[i].Type = t
			}
		}
		schemas[st.Name] = s
	}
	return schemas, missing, nil
}
