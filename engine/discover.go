package engine

import (
	"context"
	"fmt"

	"github.com/tributary-data/tributary/connector"
	"github.com/tributary-data/tributary/pipeline"
)

// Discover asks the source for the catalog of the pipeline's streams:
// through [connector.StreamDiscoverer] when the pipeline defines them,
// otherwise the source's whole catalog.
func Discover(ctx context.Context, src connector.Source, spec *pipeline.Spec) (*connector.Catalog, error) {
	if d, ok := src.(connector.StreamDiscoverer); ok {
		return d.DiscoverStreams(ctx, spec.ConnectorStreams())
	}
	return src.Discover(ctx)
}

// DiscoverSchemas opens the pipeline's source and returns each selected
// stream's schema with the types the spec declares applied, and the
// indexes of selected streams the source does not offer.
func DiscoverSchemas(ctx context.Context, spec *pipeline.Spec) (map[string]*connector.Schema, []int, error) {
	src, err := OpenSource(ctx, spec)
	if err != nil {
		return nil, nil, err
	}
	defer src.Close()
	cat, err := Discover(ctx, src, spec)
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
