// Package engine runs pipelines: it reads a source's streams, passes every
// batch through the stream's transform steps, loads it into the
// destination, quarantines what cannot be kept, counts every row, and saves
// state only after the destination committed the rows it covers.
//
// Reading and transforming run in one goroutine, loading in another, joined
// by a short channel, so parsing and loading overlap while memory stays
// bounded by a few batches whatever the input size.
package engine
