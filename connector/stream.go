package connector

import (
	"context"
	"encoding/json"
)

// CommitListener is implemented by sources that must tell their system
// what the destination committed: a message stream commits a consumer
// group's offsets or acknowledges messages only once the rows they carried
// are durable, so that nothing is acknowledged and then lost.
//
// The engine calls Committed after a stream's checkpoint was committed at
// the destination (and saved), from a goroutine other than the one running
// Read, with the state the source passed to [Emitter.Checkpoint]. An error
// is logged, never fatal: the state of record is the one just committed,
// and the next run resumes from it whatever the system was told.
type CommitListener interface {
	Committed(ctx context.Context, stream string, state json.RawMessage) error
}

// LagReporter is implemented by sources that read unbounded streams and
// know how far behind the newest message they are. The engine reports it
// with the run's progress; Lag is called from any goroutine.
type LagReporter interface {
	// Lag returns, per stream, the messages published but not yet read.
	Lag() map[string]int64
}
