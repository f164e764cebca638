package store

// AlertStore keeps notification channels, alert rules and deliveries.
type AlertStore interface{}

var alertMigration = migration{}
