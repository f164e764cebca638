// Package all links every built-in connector into a binary. Which
// connectors ship is this list of imports.
package all

import (
	_ "github.com/tributary-data/tributary/connectors/csv"
	_ "github.com/tributary-data/tributary/connectors/hubspot"
	_ "github.com/tributary-data/tributary/connectors/json"
	_ "github.com/tributary-data/tributary/connectors/jsonl"
	_ "github.com/tributary-data/tributary/connectors/kafka"
	_ "github.com/tributary-data/tributary/connectors/mysql"
	_ "github.com/tributary-data/tributary/connectors/nats"
	_ "github.com/tributary-data/tributary/connectors/parquet"
	_ "github.com/tributary-data/tributary/connectors/postgres"
	_ "github.com/tributary-data/tributary/connectors/rest"
	_ "github.com/tributary-data/tributary/connectors/salesforce"
	_ "github.com/tributary-data/tributary/connectors/singer"
	_ "github.com/tributary-data/tributary/connectors/sqlite"
	_ "github.com/tributary-data/tributary/connectors/xml"
)
