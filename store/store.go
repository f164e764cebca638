package store

import (
	"context"
	"encoding/json"
	"time"
)

// Store is what the API and the workers need from the metadata store.
// Each concept beyond connections, pipelines and runs has its own
// interface, file and migration.
type Store interface {
	ScheduleStore
	QuarantineStore
	VersionStore
	OpsStore
	AlertStore
	AttemptStore
	AuthStore
	AuditStore
	ConnectionLister
	AlertLister

	CreateConnection(ctx context.Context, c *Connection) error
	// UpdateConnection replaces the connector and config of the connection
	// with c.ID.
	UpdateConnection(ctx context.Context, c *Connection) error
	Connection(ctx context.Context, id string) (*Connection, error)
	ConnectionByName(ctx context.Context, name string) (*Connection, error)
	Connections(ctx context.Context, page Page) ([]Connection, error)
	DeleteConnection(ctx context.Context, id string) error

	// CreatePipeline stores p with spec as its version 1.
	CreatePipeline(ctx context.Context, p *Pipeline, spec json.RawMessage) error
	// AddPipelineVersion stores spec as the pipeline's next version, renames
	// the pipeline to name and returns the new version number.
	AddPipelineVersion(ctx context.Context, id, name string, spec json.RawMessage) (int, error)
	Pipeline(ctx context.Context, id string) (*Pipeline, error)
	Pipelines(ctx context.Context, page Page) ([]Pipeline, error)
	PipelineVersion(ctx context.Context, id string, version int) (*PipelineVersion, error)
	PipelineVersions(ctx context.Context, id string, page Page) ([]PipelineVersion, error)
	SetPipelineEnabled(ctx context.Context, id string, enabled bool) error

	// CreateRun records a queued run of the pipeline's current version.
	CreateRun(ctx context.Context, req NewRun) (*Run, error)
	Run(ctx context.Context, id string) (*Run, error)
	// Runs lists the runs matching f, newest first unless f.Sort says
	// otherwise.
	Runs(ctx context.Context, f RunFilter, page Page) ([]Run, error)
	// RunList is Runs without the stored results, with each run's
	// per-stream counts: what run lists show.
	RunList(ctx context.Context, f RunFilter, page Page) ([]RunRow, error)
	// ClaimRun marks a queued run (or a running one whose lease expired)
	// running under a lease until leaseUntil. It returns [ErrBusy] while
	// another run of the same pipeline holds a live lease, so a pipeline
	// runs one run at a time.
	ClaimRun(ctx context.Context, id string, leaseUntil time.Time) (*Run, error)
	// RenewRun extends the lease and records the counts so far.
	RenewRun(ctx context.Context, id string, leaseUntil time.Time, progress json.RawMessage) error
	// FinishRun records the final status, error and result.
	FinishRun(ctx context.Context, id string, status RunStatus, errMsg string, result json.RawMessage) error
	// CancelRun marks a queued or running run cancelled; a running run's
	// worker notices at its next lease renewal and stops. It returns
	// [ErrRunDone] for a finished run.
	CancelRun(ctx context.Context, id string) error
	// RequeueRun puts a running run back in the queue (its worker stopped).
	RequeueRun(ctx context.Context, id string) error

	AddRunLog(ctx context.Context, runID, level, msg string) error
	RunLogs(ctx context.Context, runID string, page Page) ([]RunLog, error)
	// RunLogsAfter returns up to limit log lines of the run whose id is
	// greater than afterID, oldest first: what a live tail has not seen.
	RunLogsAfter(ctx context.Context, runID string, afterID int64, limit int) ([]RunLog, error)

	// Ping checks the store answers.
	Ping(ctx context.Context) error
	Close() error
}

// Page selects a slice of a list. A zero Limit means [DefaultLimit].
type Page struct {
	Limit  int
	Offset int
}

// DefaultLimit and MaxLimit bound list pages.
const (
	DefaultLimit = 50
	MaxLimit     = 500
)

func (p Page) norm() Page {
	if p.Limit <= 0 {
		p.Limit = DefaultLimit
	}
	if p.Limit > MaxLimit {
		p.Limit = MaxLimit
	}
	if p.Offset < 0 {
		p.Offset = 0
	}
	return p
}

// Connection is a configured connector instance.
type Connection struct {
	ID        string         `json:"id"`
	Name      string         `json:"name"`
	Connector string         `json:"connector"`
	Config    map[string]any `json:"config"`
	CreatedAt time.Time      `json:"created_at"`
	UpdatedAt time.Time      `json:"updated_at"`
}

// Pipeline is a named, versioned pipeline spec.
type Pipeline struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Version   int       `json:"version"`
	Enabled   bool      `json:"enabled"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// PipelineVersion is one saved spec of a pipeline.
type PipelineVersion struct {
	PipelineID string          `json:"pipeline_id"`
	Version    int             `json:"version"`
	Spec       json.RawMessage `json:"spec"`
	CreatedAt  time.Time       `json:"created_at"`
	// Author is who saved the version; empty for anonymous saves.
	Author string `json:"author"`
}

// RunStatus is where a run is in its life.
type RunStatus string

// Run statuses.
const (
	Queued    RunStatus = "queued"
	Running   RunStatus = "running"
	Succeeded RunStatus = "succeeded"
	Failed    RunStatus = "failed"
	Cancelled RunStatus = "cancelled"
)

// Trigger says what started a run.
type Trigger string

// Run triggers.
const (
	TriggerManual     Trigger = "manual"
	TriggerSchedule   Trigger = "schedule"
	TriggerDependency Trigger = "dependency"
	TriggerReplay     Trigger = "replay"
)

// NewRun asks for a queued run of a pipeline's current version.
type NewRun struct {
	PipelineID  string
	FullRefresh bool
	// Trigger is TriggerManual when empty.
	Trigger Trigger
}

// Done reports whether the status is final.
func (s RunStatus) Done() bool { return s == Succeeded || s == Failed || s == Cancelled }

// Run is one execution of a pipeline version. Result holds the engine's
// result once finished, or the latest progress while running.
type Run struct {
	ID          string          `json:"id"`
	PipelineID  string          `json:"pipeline_id"`
	Version     int             `json:"version"`
	Status      RunStatus       `json:"status"`
	FullRefresh bool            `json:"full_refresh"`
	Trigger     Trigger         `json:"trigger"`
	Error       string          `json:"error,omitempty"`
	Result      json.RawMessage `json:"result,omitempty"`
	Attempts    int             `json:"attempts"`
	CreatedAt   time.Time       `json:"created_at"`
	StartedAt   *time.Time      `json:"started_at,omitempty"`
	FinishedAt  *time.Time      `json:"finished_at,omitempty"`
	LeaseUntil  *time.Time      `json:"-"`
}

// RunLog is one line of a run's log.
type RunLog struct {
	ID      int64     `json:"id"`
	RunID   string    `json:"run_id"`
	At      time.Time `json:"at"`
	Level   string    `json:"level"`
	Message string    `json:"message"`
}
