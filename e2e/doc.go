// Package e2e holds the end-to-end tests: they build the tributary binary
// and use it the way a user does, against the real databases on this
// machine, including the acceptance examples and the kill-loop crash tests.
package e2e
