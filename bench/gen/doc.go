// Command gen writes the benchmark's people CSV file: the same rows for
// the same -rows, so runs on different days compare.
//
//	go run ./bench/gen -rows 1000000 -out bench/data/people.csv
package main
