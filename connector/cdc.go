package connector

// DeletedAtField is the reserved column through which a source that reads
// changes (change data capture) marks deletes. Such a source adds it, as a
// nullable timestamp, to every schema of the stream: null on a row inserted
// or updated, the time of the delete on a row deleted, whose fields other
// than the primary key may then be null.
//
// A destination loading the stream with incremental_dedup applies a row
// whose DeletedAtField is set to the row with the same primary key: either
// it keeps the row and sets the column (soft delete), or it deletes the row
// (hard delete), as its configuration says. A later row with the key and a
// null DeletedAtField brings the row back. Every other destination and mode
// loads the column as an ordinary one.
const DeletedAtField = "_tributary_deleted_at"
