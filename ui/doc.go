// Package ui owns the web interface: its React sources live beside this file
// and are built by `make ui` into dist/, which is embedded in the binary and
// served at / by Handler. A build without dist/index.html (a fresh clone
// before `make ui`) answers / with a page saying how to build it.
package ui
