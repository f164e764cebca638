// Package examples ships the example pipelines and their data inside the
// binary, so `tributary serve --demo` can set up a working pipeline on a
// machine that has nothing but the binary.
package examples

import "embed"

// Demo holds the demo pipeline (people-to-sqlite.yaml) and its CSV data.
//
//go:embed people-to-sqlite.yaml data/people1.csv
var Demo embed.FS
