// Package lineage owns column-level lineage: for each destination column
// of a pipeline, the source columns it is computed from and the transform
// steps it passes through, worked out from the pipeline spec and the
// source schemas without reading any data, and its export as an
// OpenLineage run event for catalogs such as Marquez or DataHub.
package lineage
