package scheduler

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/tributary-data/tributary/pipeline"
	"github.com/tributary-data/tributary/store"
)

// SpecLister lists the current spec of every pipeline.
type SpecLister interface {
	CurrentSpecs(ctx context.Context) ([]store.PipelineSpec, error)
}

// CheckDependencies reports what saving spec as pipeline id (empty for a
// new pipeline) would break in the dependency graph: upstream names that
// name no pipeline (depends_on[i]), a cycle through the pipeline
// (depends_on), and, for a rename, pipelines whose depends_on names the old
// name (name).
func CheckDependencies(ctx context.Context, st SpecLister, id string, spec *pipeline.Spec) (pipeline.Errors, error) {
	specs, err := st.CurrentSpecs(ctx)
	if err != nil {
		return nil, fmt.Errorf("read pipeline specs: %w", err)
	}
	graph := map[string][]string{}
	oldName := ""
	for _, ps := range specs {
		if ps.ID == id {
			oldName = ps.Name
			continue
		}
		doc, err := SettingsOf(ps.Spec)
		if err != nil {
			return nil, fmt.Errorf("pipeline %s spec: %w", ps.Name, err)
		}
		graph[ps.Name] = doc.DependsOn
	}
	var errs pipeline.Errors
	for i, up := range spec.DependsOn {
		if _, ok := graph[up]; !ok && up != spec.Name && strings.TrimSpace(up) != "" {
			errs = append(errs, spec.FieldError(fmt.Sprintf("depends_on[%d]", i), fmt.Sprintf("no pipeline named %q", up)))
		}
	}
	if oldName != "" && oldName != spec.Name {
		var users []string
		for name, deps := range graph {
			if slices.Contains(deps, oldName) {
				users = append(users, name)
			}
		}
		if len(users) > 0 {
			slices.Sort(users)
			errs = append(errs, spec.FieldError("name", fmt.Sprintf("pipelines %s depend on %q: change their depends_on before renaming it", strings.Join(quoted(users), ", "), oldName)))
		}
	}
	// Depending on itself is reported by the spec's own validation.
	graph[spec.Name] = slices.DeleteFunc(slices.Clone(spec.DependsOn), func(n string) bool { return n == spec.Name })
	if cycle := findCycle(graph, spec.Name); cycle != nil {
		errs = append(errs, spec.FieldError("depends_on", "dependency cycle: "+strings.Join(cycle, " → ")))
	}
	return errs, nil
}

// findCycle returns a path from start back to start following depends_on
// edges, or nil when there is none.
func findCycle(graph map[string][]string, start string) []string {
	done := map[string]bool{}
	var path []string
	var walk func(name string) bool
	walk = func(name string) bool {
		path = append(path, name)
		for _, up := range graph[name] {
			if up == start {
				path = append(path, start)
				return true
			}
			if done[up] {
				continue
			}
			done[up] = true
			if walk(up) {
				return true
			}
		}
		path = path[:len(path)-1]
		return false
	}
	if walk(start) {
		return path
	}
	return nil
}

func quoted(names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = fmt.Sprintf("%q", n)
	}
	return out
}
