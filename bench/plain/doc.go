// Command plain is the yardstick of the transforms benchmark: the same
// four operations as the benchmark pipeline (filter active rows, normalize
// email and country, compute amount_cents, hash the email with a salt)
// written as an ordinary single-goroutine Go program over the standard
// library, with no framework: read a line, decode it into a struct, change
// it, encode it. Its output is byte for byte what the pipeline writes, so
// the benchmark can compare the two files.
//
// With -decode scan it is the hand-tuned version instead: values found by
// scanning the bytes of lines of a known shape, untouched values copied
// through as written. That is the lower bound of a program written for
// this one file, reported beside the ordinary one.
//
//	BENCH_SALT=secret go run ./bench/plain -in bench/data/people_1000000.jsonl -out /tmp/plain.jsonl
package main
