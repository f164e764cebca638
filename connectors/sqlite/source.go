package sqlite

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/tributary-data/tributary/connector"
	"github.com/tributary-data/tributary/connectors/sqlsource"
)

// SourceConfig configures the sqlite source.
type SourceConfig struct {
	Path string `json:"path" jsonschema:"required,description=Path of the SQLite database file"`
}

func init() {
	connector.RegisterSource(connector.NewSpec[SourceConfig, sqlsource.StreamConfig]("sqlite", "SQLite database file: tables and custom queries, full or incremental"), NewSource)
	connector.RegisterDestination(connector.NewSpec[DestinationConfig, struct{}]("sqlite", "SQLite database file: append, dedup merge and atomic overwrite, state kept with the data"), NewDestination)
}

// NewSource builds the sqlite source from its JSON config. The file must
// exist: reading a mistyped path would otherwise create an empty database.
func NewSource(_ context.Context, raw json.RawMessage) (connector.Source, error) {
	var cfg SourceConfig
	if err := connector.DecodeConfig(raw, &cfg); err != nil {
		return nil, err
	}
	if cfg.Path == "" {
		return nil, errors.New("path is required")
	}
	if _, err := os.Stat(cfg.Path); err != nil {
		return nil, fmt.Errorf("database file: %w", err)
	}
	db, err := Open(cfg.Path)
	if err != nil {
		return nil, err
	}
	return sqlsource.New(db, Dialect{}, sqlsource.Options{}), nil
}
