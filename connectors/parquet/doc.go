// Package parquet is the Parquet connector. The source (source*.go) reads
// the files matched by a path pattern row group by row group, mapping
// logical types to SDK types (decimal to connector.Decimal, timestamps and
// legacy INT96 to UTC time.Time, dates, JSON, UUID and enum as text) and
// nested or repeated columns to json; the position it checkpoints is the
// row index. The destination (destination*.go) writes parquet parts
// through filesink.
package parquet
