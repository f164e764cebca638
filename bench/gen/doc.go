// Command gen writes the benchmark's people file, as CSV or JSON Lines:
// the same rows for the same -rows, so runs on different days compare.
//
//	go run ./bench/gen -rows 1000000 -out bench/data/people.csv
//	go run ./bench/gen -rows 1000000 -format jsonl -out bench/data/people.jsonl
package main
