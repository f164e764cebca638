package filesink

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"github.com/tributary-data/tributary/connector"
)

// quarantine appends rejected records to a stream's quarantine file. Its
// committed length lives in the manifest: whatever lies past it was written
// by a load that never committed, and is cut off when the stream is opened.
type quarantine struct {
	path   string
	f      *os.File
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

func openQuarantine(path string, committed int64) (*quarantine, error) {
	q := &quarantine{path: path}
	st, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return q, nil
	case err != nil:
		return nil, fmt.Errorf("quarantine: %w", err)
	}
	size := st.Size()
	if size > committed {
		if err := os.Truncate(path, committed); err != nil {
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
		f, err := os.OpenFile(q.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
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
	if err := os.Truncate(q.path, n); err != nil && !errors.Is(err, fs.ErrNotExist) {
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
