package filesink

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/tributary-data/tributary/connector"
	"github.com/tributary-data/tributary/connectors/location"
)

// quarantine appends rejected records to a stream's quarantine file. Its
// committed length lives in the manifest: whatever lies past it was written
// by a load that never committed, and is cut off when the stream is opened.
type quarantine struct {
	ctx    context.Context
	fs     location.FS
	path   string
	f      location.Appender
	buf    *bufio.Writer
	size   int64 // bytes written, committed or not
	synced int64 // bytes on disk at the last sync
}

// QuarantineRecord is one line of a quarantine file.
type QuarantineRecord struct {
	RunID    string    `json:"run_id"`
	Pipeline string    `json:"pipeline,omitempty"`
	Stream   string    `json:"stream"`
	Origin   string    `json:"origin"`
	Raw      string    `json:"raw"`
	Reason   string    `json:"reason"`
	Step     string    `json:"step,omitempty"`
	At       time.Time `json:"at"`
}

func openQuarantine(ctx context.Context, fsys location.FS, path string, committed int64) (*quarantine, error) {
	q := &quarantine{ctx: ctx, fs: fsys, path: path}
	st, err := fsys.Stat(ctx, path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return q, nil
	case err != nil:
		return nil, fmt.Errorf("quarantine: %w", err)
	}
	size := st.Size
	if size > committed {
		if err := fsys.Truncate(ctx, path, committed); err != nil {
			return nil, fmt.Errorf("quarantine: cut uncommitted records: %w", err)
		}
		size = committed
	}
	q.size, q.synced = size, size
	return q, nil
}

func (q *quarantine) write(load connector.Load, rejects []connector.Reject) error {
	if len(rejects) == 0 {
		return nil
	}
	if q.f == nil {
		f, err := q.fs.OpenAppend(q.ctx, q.path)
		if err != nil {
			return fmt.Errorf("quarantine: %w", err)
		}
		q.f, q.buf = f, bufio.NewWriterSize(f, 64<<10)
	}
	for _, r := range rejects {
		rec := QuarantineRecord{
			RunID: r.RunID, Pipeline: load.Pipeline, Stream: r.Stream, Origin: r.Origin,
			Raw: r.Raw, Reason: r.Reason, Step: r.Step, At: r.At.UTC(),
		}
		if rec.RunID == "" {
			rec.RunID = load.RunID
		}
		if rec.Stream == "" {
			rec.Stream = load.Stream
		}
		if rec.At.IsZero() {
			rec.At = time.Now().UTC()
		}
		b, err := json.Marshal(rec)
		if err != nil {
			return fmt.Errorf("quarantine: %w", err)
		}
		b = append(b, '\n')
		if _, err := q.buf.Write(b); err != nil {
			return fmt.Errorf("quarantine: %w", err)
		}
		q.size += int64(len(b))
	}
	return nil
}

// sync makes every record written so far durable.
func (q *quarantine) sync() error {
	if q.f == nil || q.size == q.synced {
		return nil
	}
	if err := q.buf.Flush(); err != nil {
		return fmt.Errorf("quarantine: %w", err)
	}
	if err := q.f.Sync(); err != nil {
		return fmt.Errorf("quarantine: %w", err)
	}
	q.synced = q.size
	return nil
}

// rollback cuts the file back to length n, dropping records not committed.
func (q *quarantine) rollback(n int64) error {
	if q.f != nil {
		q.buf.Reset(q.f) // drop what was never flushed
	}
	if q.size == n && q.synced == n {
		return nil
	}
	if err := q.fs.Truncate(q.ctx, q.path, n); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("quarantine: roll back: %w", err)
	}
	q.size, q.synced = n, min(q.synced, n)
	return nil
}

func (q *quarantine) close() error {
	if q.f == nil {
		return nil
	}
	err := q.f.Close()
	q.f = nil
	return err
}
