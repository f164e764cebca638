package engine

import (
	"sync/atomic"
	"time"

	"github.com/tributary-data/tributary/quality"
	"github.com/tributary-data/tributary/transform"
)

// Status of a run.
type Status string

// The statuses a finished run can have.
const (
	Succeeded Status = "succeeded"
	Failed    Status = "failed"
	Cancelled Status = "cancelled"
)

// Result is what a run did. The invariant read = written + quarantined +
// filtered + deduplicated holds for every stream of a finished run.
type Result struct {
	RunID      string        `json:"run_id"`
	Pipeline   string        `json:"pipeline"`
	Status     Status        `json:"status"`
	Error      string        `json:"error,omitempty"`
	StartedAt  time.Time     `json:"started_at"`
	FinishedAt time.Time     `json:"finished_at"`
	Duration   time.Duration `json:"duration_ns"`
	// StateStore says where state of record lives: "destination" or the
	// path of the local state file.
	StateStore string        `json:"state_store,omitempty"`
	Streams    []StreamStats `json:"streams"`
	// Merges lists rows merged away by dedup steps (at most MaxMerges).
	Merges []transform.Merge `json:"merges,omitempty"`
	// Anomalies are the run's duration far from the pipeline's history
	// (see [DetectAnomalies]); each stream has its own volume anomalies.
	Anomalies []quality.Anomaly `json:"anomalies,omitempty"`
}

// StreamStats counts one stream's rows.
type StreamStats struct {
	Name         string `json:"name"`
	Read         int64  `json:"read"`
	Written      int64  `json:"written"`
	Quarantined  int64  `json:"quarantined"`
	Filtered     int64  `json:"filtered"`
	Deduplicated int64  `json:"deduplicated"`
	// Bytes is the size of the rows written: text and binary values by
	// their length, JSON values by their encoded length, others by a fixed
	// width (8 bytes, 1 for a boolean).
	Bytes         int64         `json:"bytes"`
	Duration      time.Duration `json:"duration_ns"`
	RowsPerSecond float64       `json:"rows_per_second"`
	// Lag is, for a source reading a message stream, the messages
	// published but not yet read, while the run reads.
	Lag *int64 `json:"lag,omitempty"`
	// Profile describes every column of the rows written.
	Profile []quality.ColumnProfile `json:"profile,omitempty"`
	// Checks holds the stream's data quality check results.
	Checks []quality.CheckResult `json:"checks,omitempty"`
	// Anomalies are the stream's rows read and written, and its share of
	// quarantined rows, far from its history (see [DetectAnomalies]).
	Anomalies []quality.Anomaly `json:"anomalies,omitempty"`
}

// counters are updated by the run's goroutines and read by progress
// reporters at any time.
type counters struct {
	name                                 string
	read, written, quarantined, filtered atomic.Int64
	dedup, bytes                         atomic.Int64
	started, finished                    atomic.Int64 // unix nanos
}

func (c *counters) stats(now time.Time) StreamStats {
	s := StreamStats{
		Name:         c.name,
		Read:         c.read.Load(),
		Written:      c.written.Load(),
		Quarantined:  c.quarantined.Load(),
		Filtered:     c.filtered.Load(),
		Deduplicated: c.dedup.Load(),
		Bytes:        c.bytes.Load(),
	}
	if st := c.started.Load(); st != 0 {
		end := c.finished.Load()
		if end == 0 {
			end = now.UnixNano()
		}
		s.Duration = time.Duration(end - st)
		if s.Duration > 0 {
			s.RowsPerSecond = float64(s.Read) / s.Duration.Seconds()
		}
	}
	return s
}

func (c *counters) start(now time.Time) { c.started.CompareAndSwap(0, now.UnixNano()) }
