// Package specfile converts pipeline and connection documents between
// their file form (YAML, keys in the author's order) and their stored form
// (JSON), and compares two documents: a list of changed JSON paths and a
// unified diff of their YAML forms. The API's version diff and the apply
// command's plan share it.
package specfile
