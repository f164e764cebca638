package store

// QuarantineStore keeps quarantined rows kept per run for browsing, download and replay.
type QuarantineStore interface{}

var quarantineMigration = migration{}
