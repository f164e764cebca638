// Package pgcluster starts private PostgreSQL clusters for tests: initdb
// into a temporary directory, a free loopback port, server settings of the
// test's choosing (wal_level=logical for change data capture, say), and
// stop and start in the middle of a test. The machine's shared server is
// never touched, so a test may restart its own cluster while others run.
package pgcluster
