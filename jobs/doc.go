// Package jobs runs pipeline runs as River jobs: the job definition, the
// worker that claims a run's lease, resolves stored connections, executes
// the engine and records the result, and the queue set up on either store
// (riversqlite on the embedded file, riverpgxv5 on PostgreSQL).
package jobs
