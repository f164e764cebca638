// Package pipeline owns the pipeline spec: the one Go type behind pipeline
// files (YAML) and API documents (JSON), its parsing with ${ENV}
// interpolation, and its validation with precise paths and line numbers.
package pipeline
