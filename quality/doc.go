// Package quality owns what a run learns about the data it moves: column
// profiles built from every loaded batch with bounded memory, the data
// quality checks a pipeline declares, and anomaly detection of a run's
// volume, quarantine ratio and duration against the pipeline's history.
//
// Nothing here reads or writes a destination; the engine feeds batches in
// and stores what comes out with the run.
package quality
