// Package singer runs out-of-process connectors that speak the Singer
// specification: a tap executable as a source and a target executable as a
// destination, exchanging SCHEMA, RECORD and STATE messages as JSON lines.
//
// The package owns the process side (config, catalog and state files in a
// private temporary folder, stderr logged line by line with a tail kept
// for errors), the mapping between Singer JSON Schemas and connector
// schemas, record validation with quarantine by message line, and the
// mapping of Singer's single state object onto per-stream checkpoints.
package singer
