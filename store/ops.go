package store

// OpsStore keeps figures for the dashboard, monitoring and analytics; workers seen; settings and retention.
type OpsStore interface{}

var opsMigration = migration{}
