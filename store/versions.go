package store

// VersionStore keeps pipeline version history: authors, diffs, restores.
type VersionStore interface{}

var versionMigration = migration{}
