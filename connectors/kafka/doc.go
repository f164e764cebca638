// Package kafka is the kafka connector: a source reading topics (by name
// or pattern) from offsets saved with the destination's commit, bounded to
// the high-water marks at the start of a run or continuous, and a
// destination producing each row as a JSON record through an idempotent
// producer.
package kafka
