package store

// RunStreamsBackfill is the statement that fills runs.streams for runs
// stored before the column existed.
func RunStreamsBackfill(postgres bool) string {
	stmts := runStreamsMigration.sqlite
	if postgres {
		stmts = runStreamsMigration.postgres
	}
	return stmts[len(stmts)-1]
}

// ParseStreamCounts reads the streams column.
var ParseStreamCounts = parseStreamCounts

// ParseStoredTime reads a time as the SQLite driver writes it.
var ParseStoredTime = parseStoredTime
