package engine

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/tributary-data/tributary/connector"
	"github.com/tributary-data/tributary/pipeline"
)

// OpenSource builds the spec's source connector from its config.
func OpenSource(ctx context.Context, spec *pipeline.Spec) (connector.Source, error) {
	cfg, err := configJSON(spec.Source.Config)
	if err != nil {
		return nil, fmt.Errorf("source config: %w", err)
	}
	return connector.NewSource(ctx, spec.Source.Connector, cfg)
}

// OpenDestination builds the spec's destination connector from its config.
func OpenDestination(ctx context.Context, spec *pipeline.Spec) (connector.Destination, error) {
	cfg, err := configJSON(spec.Destination.Config)
	if err != nil {
		return nil, fmt.Errorf("destination config: %w", err)
	}
	return connector.NewDestination(ctx, spec.Destination.Connector, cfg)
}

// configJSON encodes a connector config; an absent one is an empty object,
// which connectors decode as all defaults.
func configJSON(m map[string]any) (json.RawMessage, error) {
	if m == nil {
		return json.RawMessage("{}"), nil
	}
	return json.Marshal(m)
}
