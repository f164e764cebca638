// Package store owns the platform's metadata: connections, pipelines and
// their versions, runs and run logs. Two implementations share one set of
// queries: the embedded SQLite file (the default, under the data directory)
// and PostgreSQL (when TRIBUTARY_DATABASE_URL is set). Both migrate
// themselves on open.
package store
