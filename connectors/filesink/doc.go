// Package filesink holds what the file destinations (csv, jsonl, parquet)
// share: the directory layout of a stream, the manifest that says which
// parts are committed, atomic part and manifest writes, the state kept in
// the manifest, the crash-safe quarantine file, schema evolution between
// batches, the overwrite swap and the merge of incremental_dedup loads.
//
// A format only supplies a [Format]: an encoder for a part and a decoder to
// read one back.
//
// Layout of a destination directory:
//
//	<path>/<stream>/_manifest.json     committed parts, schema, state, generation
//	<path>/<stream>/part-<gen>-<seq>.<ext>
//	<path>/<stream>.quarantine.jsonl   rejected records, one JSON object a line
//
// where <stream> is the stream name made safe by [SafeName]. A part is
// written under a temporary name, synced and renamed into place; then the
// manifest is replaced atomically (temporary file, fsync, rename). Files the
// manifest does not list were left by a killed run and are removed when the
// stream is opened next, so readers that follow the manifest see every
// committed row exactly once.
package filesink
