package jobs

import (
	"context"
	"log/slog"
	"os"
	"time"

	"github.com/google/uuid"

	"github.com/tributary-data/tributary/store"
)

// DefaultHeartbeat is how often a process executing runs says it is alive.
const DefaultHeartbeat = 5 * time.Second

// Heartbeat records, every Interval, that this process executes runs:
// host, pid, start time, workers and runs in flight. The monitoring page
// lists the processes seen.
type Heartbeat struct {
	Store store.OpsStore
	// Interval is DefaultHeartbeat when zero.
	Interval time.Duration
	// Workers is how many runs the process executes at once.
	Workers int
	// InFlight counts the runs executing now.
	InFlight func() int
	Version  string
	Logger   *slog.Logger
}

// Run beats until ctx ends, then records that the process stopped.
func (h *Heartbeat) Run(ctx context.Context) {
	interval := h.Interval
	if interval <= 0 {
		interval = DefaultHeartbeat
	}
	log := h.Logger
	if log == nil {
		log = slog.Default()
	}
	host, err := os.Hostname()
	if err != nil {
		host = "unknown"
	}
	started := time.Now().UTC()
	w := &store.WorkerBeat{ID: uuid.NewString(), Host: host, PID: os.Getpid(), Version: h.Version, StartedAt: started, Workers: h.Workers}
	beat := func(ctx context.Context) {
		w.LastSeen = time.Now().UTC()
		if h.InFlight != nil {
			w.RunsInFlight = h.InFlight()
		}
		if err := h.Store.Heartbeat(ctx, w); err != nil && ctx.Err() == nil {
			log.Warn("record heartbeat", "error", err)
		}
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		beat(ctx)
		select {
		case <-ctx.Done():
			stop, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			at := time.Now().UTC()
			w.StoppedAt = &at
			beat(stop)
			cancel()
			return
		case <-t.C:
		}
	}
}
