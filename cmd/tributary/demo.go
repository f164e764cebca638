package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/tributary-data/tributary/examples"
	"github.com/tributary-data/tributary/jobs"
	"github.com/tributary-data/tributary/pipeline"
	"github.com/tributary-data/tributary/store"
)

// demoPipeline is the name of the pipeline --demo creates.
const demoPipeline = "people-to-sqlite"

// demoOffer says how to get the example pipeline when the store has no
// pipeline yet, so a newcomer starting without --demo learns of it.
func demoOffer(ctx context.Context, st store.Store) (string, error) {
	existing, err := st.Pipelines(ctx, store.Page{Limit: 1})
	if err != nil || len(existing) > 0 {
		return "", err
	}
	return "no pipelines yet: restart with --demo to create the example pipeline " + demoPipeline + " (CSV into SQLite) and see it run", nil
}

// setupDemo gives an empty store the example pipeline, over the example
// CSV copied into DATA/demo, loading into DATA/demo/people.db, and queues
// its first run, so a newcomer sees a real run within a minute. A store
// that already has pipelines is left alone.
func setupDemo(ctx context.Context, st store.Store, q *jobs.Queue, dataDir string) (string, error) {
	existing, err := st.Pipelines(ctx, store.Page{Limit: 1})
	if err != nil {
		return "", err
	}
	if len(existing) > 0 {
		return "", nil
	}
	dir, err := filepath.Abs(filepath.Join(dataDir, "demo"))
	if err != nil {
		return "", err
	}
	csv, err := examples.Demo.ReadFile("data/people1.csv")
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Join(dir, "data"), 0o755); err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dir, "data", "people1.csv"), csv, 0o644); err != nil {
		return "", err
	}
	raw, err := examples.Demo.ReadFile("people-to-sqlite.yaml")
	if err != nil {
		return "", err
	}
	spec, err := pipeline.Parse(raw, nil)
	if err != nil {
		return "", err
	}
	// The example's paths are relative to examples/; the server's runs may
	// start anywhere, so make them absolute under the data directory.
	spec.Source.Config["path"] = filepath.Join(dir, "data", "people*.csv")
	spec.Destination.Config["path"] = filepath.Join(dir, "people.db")
	if err := spec.Validate(); err != nil {
		return "", fmt.Errorf("demo pipeline: %w", err)
	}
	doc, err := json.Marshal(spec)
	if err != nil {
		return "", err
	}
	p := &store.Pipeline{Name: demoPipeline, Enabled: true}
	if err := st.CreatePipeline(ctx, p, doc); err != nil {
		return "", err
	}
	run, err := st.CreateRun(ctx, store.NewRun{PipelineID: p.ID})
	if err != nil {
		return "", err
	}
	if err := q.Enqueue(ctx, run.ID); err != nil {
		return "", err
	}
	return fmt.Sprintf("demo: pipeline %s (id %s) loads %s into %s; first run %s queued", demoPipeline, p.ID, filepath.Join(dir, "data"), filepath.Join(dir, "people.db"), run.ID), nil
}
