package ui

import "embed"

// dist is the output of `make ui`; the committed dist/.keep keeps the
// pattern matching on a fresh clone, before the UI is built.
//
//go:embed all:dist
var dist embed.FS
