// Package filesource holds what the file sources (csv, json, jsonl, xml,
// parquet) share: expanding a path pattern into a stable, sorted list of
// files; opening a file with transparent gzip (by the .gz suffix) and UTF-8
// BOM stripping; the state a file stream checkpoints (which files were read
// whole, and the position inside the file being read); the cursor bookkeeping
// of incremental reads; and the read loop that turns a [Format]'s records
// into batches, rejects and checkpoints.
//
// A format package only supplies a [Format]: schema inference from a sample
// and a [Scanner] that yields one record at a time with the position right
// after it, so that every batch can be followed by an exact checkpoint.
package filesource
