// Command api is the load generator of the REST API benchmark: it stores
// 1,000 pipelines and 100,000 runs in a fresh store (SQLite or
// PostgreSQL), serves the API on loopback and has 50 concurrent clients
// list pipelines and runs, reporting latency percentiles per route.
package main
