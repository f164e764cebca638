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
	schemas, missing, err := engine.DiscoverSchemas(ctx, spec)
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
