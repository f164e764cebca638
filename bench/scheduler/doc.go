// Command scheduler is the scheduler benchmark: it stores 1,000 pipelines
// scheduled every minute in a fresh store (SQLite or PostgreSQL), runs
// the scheduler and workers as `tributary serve` does (River, its elected
// leader's tick, real runs of a one-row CSV into JSON Lines), and reports
// how long after its slot each run started (run.started_at − slot).
package main
