package mysql

import (
	"context"
	"encoding/json"

	"github.com/tributary-data/tributary/connector"
	"github.com/tributary-data/tributary/connectors/sqlsource"
)

// SourceConfig configures the mysql source.
type SourceConfig struct {
	DSN       string   `json:"dsn,omitempty" secret:"true" jsonschema:"description=Go MySQL driver DSN (user:pass@tcp(host:3306)/db) or a mysql:// URL; either dsn or url"`
	URL       string   `json:"url,omitempty" secret:"true" jsonschema:"description=URL form: mysql://user:pass@host:3306/db?param=value"`
	Databases []string `json:"databases,omitempty" jsonschema:"description=Databases whose tables are offered as streams; default: the connection's database. With several, streams are named database.table"`
}

func init() {
	connector.RegisterSource(connector.NewSpec[SourceConfig, sqlsource.StreamConfig]("mysql", "MySQL and MariaDB: tables and custom queries, full or incremental"), NewSource)
	connector.RegisterDestination(connector.NewSpec[DestinationConfig, struct{}]("mysql", "MySQL and MariaDB: append, dedup merge and atomic overwrite, state kept with the data"), NewDestination)
}

// NewSource builds the mysql source from its JSON config.
func NewSource(_ context.Context, raw json.RawMessage) (connector.Source, error) {
	var cfg SourceConfig
	if err := connector.DecodeConfig(raw, &cfg); err != nil {
		return nil, err
	}
	dc, err := Conn{DSN: cfg.DSN, URL: cfg.URL}.config()
	if err != nil {
		return nil, err
	}
	db, err := open(dc)
	if err != nil {
		return nil, err
	}
	return sqlsource.New(db, Dialect{}, sqlsource.Options{Schemas: cfg.Databases}), nil
}
