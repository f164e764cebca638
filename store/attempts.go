package store

// AttemptStore keeps retries of failed runs and run timeouts.
type AttemptStore interface{}

var attemptMigration = migration{}
