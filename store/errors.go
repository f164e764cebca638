package store

import "errors"

var (
	// ErrNotFound means no record has the given id or name.
	ErrNotFound = errors.New("not found")
	// ErrConflict means a record with the same unique name exists.
	ErrConflict = errors.New("already exists")
	// ErrBusy means another run of the pipeline holds a live lease.
	ErrBusy = errors.New("another run of the pipeline is running")
	// ErrRunDone means the run already has a final status.
	ErrRunDone = errors.New("run already finished")
)
