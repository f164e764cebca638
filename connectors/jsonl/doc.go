// Package jsonl is the JSON Lines connector. The source (source*.go) reads
// files of one JSON object a line matched by a path pattern, gzip or not,
// typing fields from a sample (integral numbers int64, other numbers
// float64, RFC 3339 strings timestamp, objects and arrays json) and
// widening the schema when later lines bring new fields; a line that is not
// a valid JSON object is rejected with its file and line. The destination
// (destination*.go) writes JSON Lines parts through filesink.
package jsonl
