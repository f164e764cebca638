// Package people generates the deterministic rows of the benchmark's
// people table, both as CSV text (for the files psql and the csv source
// read) and as typed rows (for loader benchmarks without a source).
package people
