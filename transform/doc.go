// Package transform owns the transform steps a pipeline applies to every
// batch between source and destination, and the registry that builds them
// from their pipeline-file settings. A step sees whole batches, computes its
// output schema once per input schema, and reports rows it refuses as
// rejects with a reason instead of failing the run.
package transform
