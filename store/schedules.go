package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
)

// ScheduleStore keeps the scheduler's view of pipelines: schedules, slots fired, lateness.
type ScheduleStore interface {
	// AllPipelines lists every pipeline, unpaged, for the scheduler.
	AllPipelines(ctx context.Context) ([]Pipeline, error)
	// CurrentSpecs lists every pipeline with the spec of its current
	// version.
	CurrentSpecs(ctx context.Context) ([]PipelineSpec, error)

	// ScheduleStates returns the schedule state of every pipeline that has
	// one, by pipeline id.
	ScheduleStates(ctx context.Context) (map[string]ScheduleState, error)
	// StartSchedule records schedule as the pipeline's schedule, first due
	// at next. A pipeline whose state already has this schedule keeps its
	// state: another scheduler got there first.
	StartSchedule(ctx context.Context, pipelineID, schedule string, next time.Time) error
	// AdvanceSchedule moves the next due time forward to next (never back),
	// without firing: the slots passed while the pipeline was disabled.
	AdvanceSchedule(ctx context.Context, pipelineID string, next time.Time) error
	// StopSchedule forgets the schedule state of a pipeline whose schedule
	// was removed.
	StopSchedule(ctx context.Context, pipelineID string) error
	// FireSlots records each slot and, unless its pipeline already has a
	// queued or running run, queues a scheduled run for it, all in one
	// transaction that also moves each pipeline's next due time to
	// fire.Next. A slot fires at most once: slots fired before, and slots of
	// disabled pipelines, are left out of the answer. A skipped slot comes
	// back with no run. Each pipeline may appear once.
	FireSlots(ctx context.Context, fires []SlotFire) ([]FiredSlot, error)
	// Slots lists the slots of a pipeline, newest first.
	Slots(ctx context.Context, pipelineID string, page Page) ([]Slot, error)
	// LastDueSlot is the pipeline's newest slot whose grace period ended by
	// now, with Late telling whether no run of the pipeline created since
	// the slot fired has succeeded. It returns [ErrNotFound] when there is
	// none.
	LastDueSlot(ctx context.Context, pipelineID string, now time.Time) (*Slot, error)
	// CheckLateSlots settles every slot whose grace period ended by now and
	// was not settled yet, and returns those that are late: no run of the
	// pipeline created since the slot fired has succeeded. Each slot is
	// returned once, across all schedulers.
	CheckLateSlots(ctx context.Context, now time.Time) ([]Slot, error)
	// PruneSlots deletes slot records older than before.
	PruneSlots(ctx context.Context, before time.Time) (int64, error)

	// FireDependency queues a run of the pipeline, triggered by
	// [TriggerDependency], when every upstream has a run that succeeded
	// after the pipeline's own last run was created (or, before its first
	// run, after the pipeline was created), and the pipeline has no queued
	// or running run. It returns (nil, nil) when that is not so.
	FireDependency(ctx context.Context, pipelineID string, upstreamIDs []string) (*Run, error)
	// LastSucceededRun is the pipeline's most recently finished succeeded
	// run, or [ErrNotFound].
	LastSucceededRun(ctx context.Context, pipelineID string) (*Run, error)
	// LastRun is the pipeline's most recently created run, or
	// [ErrNotFound].
	LastRun(ctx context.Context, pipelineID string) (*Run, error)
}

// PipelineSpec is a pipeline with the spec of its current version.
type PipelineSpec struct {
	Pipeline
	Spec json.RawMessage `json:"spec"`
}

// ScheduleState is where a pipeline's schedule stands.
type ScheduleState struct {
	PipelineID string    `json:"pipeline_id"`
	Schedule   string    `json:"schedule"`
	NextSlot   time.Time `json:"next_slot"`
}

// SlotFire asks for a pipeline's slot to fire.
type SlotFire struct {
	PipelineID string
	Slot       time.Time
	// Next is the slot after this one.
	Next time.Time
	// LateAt is when the pipeline is late without a succeeded run.
	LateAt time.Time
}

// FiredSlot is a slot just fired, with its run unless it was skipped.
type FiredSlot struct {
	Slot Slot
	Run  *Run
}

// Slot is one due time of a pipeline's schedule and what came of it.
type Slot struct {
	PipelineID string    `json:"pipeline_id"`
	Slot       time.Time `json:"slot"`
	// RunID is the run queued for the slot; empty when skipped.
	RunID string `json:"run_id,omitempty"`
	// Skipped says why no run was queued.
	Skipped string    `json:"skipped,omitempty"`
	FiredAt time.Time `json:"fired_at"`
	// LateAt is when the pipeline is late without a succeeded run.
	LateAt time.Time `json:"late_at"`
	// Late is set once the grace period ended without a succeeded run.
	Late bool `json:"late"`
}

var scheduleMigration = portable(
	`CREATE TABLE pipeline_schedules (
		pipeline_id TEXT PRIMARY KEY REFERENCES pipelines(id) ON DELETE CASCADE,
		schedule TEXT NOT NULL,
		next_slot TIMESTAMP NOT NULL,
		updated_at TIMESTAMP NOT NULL)`,
	`CREATE TABLE schedule_slots (
		pipeline_id TEXT NOT NULL REFERENCES pipelines(id) ON DELETE CASCADE,
		slot TIMESTAMP NOT NULL,
		run_id TEXT REFERENCES runs(id) ON DELETE SET NULL,
		skipped TEXT NOT NULL DEFAULT '',
		fired_at TIMESTAMP NOT NULL,
		late_at TIMESTAMP NOT NULL,
		settled BOOLEAN NOT NULL DEFAULT FALSE,
		late BOOLEAN NOT NULL DEFAULT FALSE,
		PRIMARY KEY (pipeline_id, slot))`,
	`CREATE INDEX schedule_slots_unsettled ON schedule_slots (settled, late_at) WHERE NOT settled`,
	`CREATE INDEX schedule_slots_run ON schedule_slots (run_id)`,
)

func (s *sqlStore) AllPipelines(ctx context.Context) ([]Pipeline, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+pipeCols+` FROM pipelines ORDER BY name`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Pipeline{}
	for rows.Next() {
		p, err := scanPipe(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *p)
	}
	return out, rows.Err()
}

func (s *sqlStore) CurrentSpecs(ctx context.Context) ([]PipelineSpec, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT p.id, p.name, p.version, p.enabled, p.created_at, p.updated_at, v.spec
		FROM pipelines p JOIN pipeline_versions v ON v.pipeline_id = p.id AND v.version = p.version ORDER BY p.name`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []PipelineSpec{}
	for rows.Next() {
		var ps PipelineSpec
		var spec []byte
		if err := rows.Scan(&ps.ID, &ps.Name, &ps.Version, &ps.Enabled, &ps.CreatedAt, &ps.UpdatedAt, &spec); err != nil {
			return nil, err
		}
		ps.CreatedAt, ps.UpdatedAt = ps.CreatedAt.UTC(), ps.UpdatedAt.UTC()
		ps.Spec = json.RawMessage(spec)
		out = append(out, ps)
	}
	return out, rows.Err()
}

func (s *sqlStore) ScheduleStates(ctx context.Context) (map[string]ScheduleState, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT pipeline_id, schedule, next_slot FROM pipeline_schedules`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]ScheduleState{}
	for rows.Next() {
		var st ScheduleState
		if err := rows.Scan(&st.PipelineID, &st.Schedule, &st.NextSlot); err != nil {
			return nil, err
		}
		st.NextSlot = st.NextSlot.UTC()
		out[st.PipelineID] = st
	}
	return out, rows.Err()
}

func (s *sqlStore) StartSchedule(ctx context.Context, pipelineID, schedule string, next time.Time) error {
	_, err := s.exec(ctx, s.q(`INSERT INTO pipeline_schedules (pipeline_id, schedule, next_slot, updated_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (pipeline_id) DO UPDATE SET schedule = excluded.schedule, next_slot = excluded.next_slot, updated_at = excluded.updated_at
		WHERE pipeline_schedules.schedule <> excluded.schedule`), pipelineID, schedule, next.UTC(), now())
	if isForeignKey(err) {
		return fmt.Errorf("pipeline %s: %w", pipelineID, ErrNotFound)
	}
	return err
}

func (s *sqlStore) AdvanceSchedule(ctx context.Context, pipelineID string, next time.Time) error {
	_, err := s.exec(ctx, s.q(`UPDATE pipeline_schedules SET next_slot = ?, updated_at = ? WHERE pipeline_id = ? AND next_slot < ?`),
		next.UTC(), now(), pipelineID, next.UTC())
	return err
}

func (s *sqlStore) StopSchedule(ctx context.Context, pipelineID string) error {
	_, err := s.exec(ctx, s.q(`DELETE FROM pipeline_schedules WHERE pipeline_id = ?`), pipelineID)
	return err
}

// lockPipeline takes the pipeline's row lock (PostgreSQL; SQLite's
// immediate transactions hold the database) so two schedulers, or a
// scheduler and a worker claiming a run, decide one after the other.
func (s *sqlStore) lockPipeline(ctx context.Context, tx *sql.Tx, id string) (enabled bool, err error) {
	res, err := tx.ExecContext(ctx, s.q(`UPDATE pipelines SET updated_at = updated_at WHERE id = ?`), id)
	if err := affected(res, err, "pipeline "+id); err != nil {
		return false, err
	}
	err = tx.QueryRowContext(ctx, s.q(`SELECT enabled FROM pipelines WHERE id = ?`), id).Scan(&enabled)
	return enabled, err
}

// insertRun queues a run of the pipeline's current version inside tx.
func (s *sqlStore) insertRun(ctx context.Context, tx *sql.Tx, pipelineID string, trigger Trigger, at time.Time) (*Run, error) {
	var version int
	if err := tx.QueryRowContext(ctx, s.q(`SELECT version FROM pipelines WHERE id = ?`), pipelineID).Scan(&version); err != nil {
		return nil, notFound(err, "pipeline "+pipelineID)
	}
	run := &Run{ID: uuid.NewString(), PipelineID: pipelineID, Version: version, Status: Queued, Trigger: trigger, CreatedAt: at}
	_, err := tx.ExecContext(ctx, s.q(`INSERT INTO runs (id, pipeline_id, version, status, full_refresh, triggered_by, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)`),
		run.ID, run.PipelineID, run.Version, run.Status, false, run.Trigger, run.CreatedAt)
	return run, err
}

func (s *sqlStore) FireSlots(ctx context.Context, fires []SlotFire) ([]FiredSlot, error) {
	if len(fires) == 0 {
		return nil, nil
	}
	var out []FiredSlot
	err := s.tx(ctx, func(tx *sql.Tx) error {
		out = nil
		ids := make([]any, len(fires))
		for i, f := range fires {
			ids[i] = f.PipelineID
		}
		in := marks(len(ids))
		// Rows are locked in one order, so schedulers on two hosts firing
		// overlapping sets wait for each other instead of deadlocking.
		lock := `SELECT id, enabled, version FROM pipelines WHERE id IN (` + in + `) ORDER BY id`
		if s.postgres {
			lock += ` FOR UPDATE`
		}
		enabled, version := map[string]bool{}, map[string]int{}
		if err := queryEach(ctx, tx, s.q(lock), ids, func(r *sql.Rows) error {
			var id string
			var on bool
			var v int
			if err := r.Scan(&id, &on, &v); err != nil {
				return err
			}
			enabled[id], version[id] = on, v
			return nil
		}); err != nil {
			return err
		}

		at := now()
		byNext := map[time.Time][]any{}
		slotSet := map[time.Time]bool{}
		for _, f := range fires {
			byNext[f.Next.UTC()] = append(byNext[f.Next.UTC()], f.PipelineID)
			slotSet[f.Slot.UTC()] = true
		}
		for next, group := range byNext {
			args := append([]any{next, at}, group...)
			if _, err := tx.ExecContext(ctx, s.q(`UPDATE pipeline_schedules SET next_slot = ?, updated_at = ? WHERE pipeline_id IN (`+marks(len(group))+`) AND next_slot < ?`),
				append(args, next)...); err != nil {
				return err
			}
		}

		fired := map[string]bool{}
		slots := make([]any, 0, len(slotSet))
		for sl := range slotSet {
			slots = append(slots, sl)
		}
		if err := queryEach(ctx, tx, s.q(`SELECT pipeline_id, slot FROM schedule_slots WHERE pipeline_id IN (`+in+`) AND slot IN (`+marks(len(slots))+`)`),
			append(slices.Clone(ids), slots...), func(r *sql.Rows) error {
				var id string
				var sl time.Time
				if err := r.Scan(&id, &sl); err != nil {
					return err
				}
				fired[id+"@"+strconv.FormatInt(sl.UnixMicro(), 10)] = true
				return nil
			}); err != nil {
			return err
		}
		active := map[string]string{}
		if err := queryEach(ctx, tx, s.q(`SELECT pipeline_id, id FROM runs WHERE pipeline_id IN (`+in+`) AND status IN (?, ?)`),
			append(slices.Clone(ids), Queued, Running), func(r *sql.Rows) error {
				var pid, id string
				if err := r.Scan(&pid, &id); err != nil {
					return err
				}
				active[pid] = id
				return nil
			}); err != nil {
			return err
		}

		var runArgs, slotArgs []any
		for _, f := range fires {
			slot := f.Slot.UTC()
			if !enabled[f.PipelineID] || fired[f.PipelineID+"@"+strconv.FormatInt(slot.UnixMicro(), 10)] {
				continue
			}
			fs := FiredSlot{Slot: Slot{PipelineID: f.PipelineID, Slot: slot, FiredAt: at, LateAt: f.LateAt.UTC()}}
			var runID any
			if busy := active[f.PipelineID]; busy != "" {
				fs.Slot.Skipped = fmt.Sprintf("run %s was still queued or running", busy)
			} else {
				fs.Run = &Run{ID: uuid.NewString(), PipelineID: f.PipelineID, Version: version[f.PipelineID], Status: Queued, Trigger: TriggerSchedule, CreatedAt: at}
				fs.Slot.RunID, runID = fs.Run.ID, fs.Run.ID
				runArgs = append(runArgs, fs.Run.ID, f.PipelineID, fs.Run.Version, fs.Run.Status, false, fs.Run.Trigger, at)
			}
			slotArgs = append(slotArgs, f.PipelineID, slot, runID, fs.Slot.Skipped, at, fs.Slot.LateAt)
			out = append(out, fs)
		}
		if len(runArgs) > 0 {
			if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO runs (id, pipeline_id, version, status, full_refresh, triggered_by, created_at) VALUES `+rowMarks(len(runArgs)/7, 7)),
				runArgs...); err != nil {
				return fmt.Errorf("queue runs: %w", err)
			}
		}
		if len(slotArgs) > 0 {
			if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO schedule_slots (pipeline_id, slot, run_id, skipped, fired_at, late_at) VALUES `+rowMarks(len(slotArgs)/6, 6)),
				slotArgs...); err != nil {
				return fmt.Errorf("record slots: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("fire %d slots: %w", len(fires), err)
	}
	return out, nil
}

// marks is n comma-separated placeholders.
func marks(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

// rowMarks is n rows of width placeholders for a multi-row VALUES.
func rowMarks(n, width int) string {
	row := "(" + marks(width) + ")"
	return strings.TrimSuffix(strings.Repeat(row+", ", n), ", ")
}

func queryEach(ctx context.Context, tx *sql.Tx, query string, args []any, f func(*sql.Rows) error) error {
	rows, err := tx.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := f(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}

const slotCols = `pipeline_id, slot, run_id, skipped, fired_at, late_at, late`

func scanSlot(r interface{ Scan(...any) error }) (*Slot, error) {
	var sl Slot
	var runID sql.NullString
	if err := r.Scan(&sl.PipelineID, &sl.Slot, &runID, &sl.Skipped, &sl.FiredAt, &sl.LateAt, &sl.Late); err != nil {
		return nil, err
	}
	sl.RunID = runID.String
	sl.Slot, sl.FiredAt, sl.LateAt = sl.Slot.UTC(), sl.FiredAt.UTC(), sl.LateAt.UTC()
	return &sl, nil
}

func (s *sqlStore) Slots(ctx context.Context, pipelineID string, page Page) ([]Slot, error) {
	page = page.norm()
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT `+slotCols+` FROM schedule_slots WHERE pipeline_id = ? ORDER BY slot DESC LIMIT ? OFFSET ?`),
		pipelineID, page.Limit, page.Offset)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Slot{}
	for rows.Next() {
		sl, err := scanSlot(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *sl)
	}
	return out, rows.Err()
}

// succeededSince is true for a slot row (aliased sl) when a run of its
// pipeline created since the slot fired has succeeded.
const succeededSince = `EXISTS (SELECT 1 FROM runs r WHERE r.pipeline_id = sl.pipeline_id AND r.status = ? AND r.created_at >= sl.fired_at)`

func (s *sqlStore) LastDueSlot(ctx context.Context, pipelineID string, at time.Time) (*Slot, error) {
	var ok bool
	sl, err := scanSlot(&multiScan{s.db.QueryRowContext(ctx, s.q(`SELECT `+prefixed("sl.", slotCols)+`, `+succeededSince+`
		FROM schedule_slots sl WHERE sl.pipeline_id = ? AND sl.late_at <= ? ORDER BY sl.slot DESC LIMIT 1`),
		Succeeded, pipelineID, at.UTC()), &ok})
	if err != nil {
		return nil, notFound(err, "due slot of pipeline "+pipelineID)
	}
	sl.Late = !ok
	return sl, nil
}

// multiScan appends extra destinations to a scan made for fewer columns.
type multiScan struct {
	row   interface{ Scan(...any) error }
	extra any
}

func (m *multiScan) Scan(dest ...any) error { return m.row.Scan(append(dest, m.extra)...) }

func prefixed(prefix, cols string) string {
	parts := strings.Split(cols, ", ")
	for i := range parts {
		parts[i] = prefix + parts[i]
	}
	return strings.Join(parts, ", ")
}

func (s *sqlStore) CheckLateSlots(ctx context.Context, at time.Time) ([]Slot, error) {
	at = at.UTC()
	// Most ticks have nothing to settle: look before writing, since a
	// write waits for SQLite's one writer.
	var pending int
	if err := s.db.QueryRowContext(ctx, s.q(`SELECT count(*) FROM schedule_slots WHERE settled = FALSE AND late_at <= ?`), at).Scan(&pending); err != nil || pending == 0 {
		return nil, err
	}
	// Slots whose pipeline has succeeded since are settled in one go: the
	// usual case, and one statement however many pipelines there are.
	if _, err := s.exec(ctx, s.q(`UPDATE schedule_slots SET settled = TRUE
		WHERE settled = FALSE AND late_at <= ? AND EXISTS (SELECT 1 FROM runs r WHERE r.pipeline_id = schedule_slots.pipeline_id AND r.status = ? AND r.created_at >= schedule_slots.fired_at)`),
		at, Succeeded); err != nil {
		return nil, fmt.Errorf("settle slots: %w", err)
	}
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT `+slotCols+` FROM schedule_slots WHERE settled = FALSE AND late_at <= ? ORDER BY late_at`), at)
	if err != nil {
		return nil, err
	}
	var due []Slot
	for rows.Next() {
		sl, err := scanSlot(rows)
		if err != nil {
			rows.Close()
			return nil, err
		}
		due = append(due, *sl)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	var late []Slot
	for _, sl := range due {
		// The conditional update makes one scheduler, and only one, the
		// one that reports the slot.
		res, err := s.exec(ctx, s.q(`UPDATE schedule_slots SET settled = TRUE, late = TRUE WHERE pipeline_id = ? AND slot = ? AND settled = FALSE`),
			sl.PipelineID, sl.Slot)
		if err != nil {
			return late, err
		}
		if n, err := res.RowsAffected(); err != nil {
			return late, err
		} else if n == 1 {
			sl.Late = true
			late = append(late, sl)
		}
	}
	return late, nil
}

func (s *sqlStore) PruneSlots(ctx context.Context, before time.Time) (int64, error) {
	res, err := s.exec(ctx, s.q(`DELETE FROM schedule_slots WHERE slot < ? AND settled = TRUE`), before.UTC())
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// dependencyReady tells whether every upstream succeeded after the
// pipeline's last run was created (or the pipeline itself, before its
// first run) and the pipeline has nothing queued or running.
func (s *sqlStore) dependencyReady(ctx context.Context, q querier, pipelineID string, upstreamIDs []string) (bool, error) {
	var since time.Time
	err := q.QueryRowContext(ctx, s.q(`SELECT created_at FROM runs WHERE pipeline_id = ? ORDER BY created_at DESC LIMIT 1`), pipelineID).Scan(&since)
	if errors.Is(err, sql.ErrNoRows) {
		err = q.QueryRowContext(ctx, s.q(`SELECT created_at FROM pipelines WHERE id = ?`), pipelineID).Scan(&since)
		err = notFound(err, "pipeline "+pipelineID)
	}
	if err != nil {
		return false, err
	}
	var active int
	if err := q.QueryRowContext(ctx, s.q(`SELECT count(*) FROM runs WHERE pipeline_id = ? AND status IN (?, ?)`), pipelineID, Queued, Running).Scan(&active); err != nil {
		return false, err
	}
	if active > 0 {
		return false, nil
	}
	for _, up := range upstreamIDs {
		var n int
		if err := q.QueryRowContext(ctx, s.q(`SELECT count(*) FROM runs WHERE pipeline_id = ? AND status = ? AND finished_at > ?`), up, Succeeded, since.UTC()).Scan(&n); err != nil {
			return false, err
		}
		if n == 0 {
			return false, nil
		}
	}
	return true, nil
}

type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func (s *sqlStore) FireDependency(ctx context.Context, pipelineID string, upstreamIDs []string) (*Run, error) {
	if len(upstreamIDs) == 0 {
		return nil, nil
	}
	// Most ticks find nothing to do: look before taking any lock.
	if ok, err := s.dependencyReady(ctx, s.db, pipelineID, upstreamIDs); err != nil || !ok {
		return nil, err
	}
	var run *Run
	err := s.tx(ctx, func(tx *sql.Tx) error {
		enabled, err := s.lockPipeline(ctx, tx, pipelineID)
		if err != nil || !enabled {
			return err
		}
		ok, err := s.dependencyReady(ctx, tx, pipelineID, upstreamIDs)
		if err != nil || !ok {
			return err
		}
		run, err = s.insertRun(ctx, tx, pipelineID, TriggerDependency, now())
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("dependency run of pipeline %s: %w", pipelineID, err)
	}
	return run, nil
}

func (s *sqlStore) LastSucceededRun(ctx context.Context, pipelineID string) (*Run, error) {
	r, err := scanRun(s.db.QueryRowContext(ctx, s.q(`SELECT `+runCols+` FROM runs WHERE pipeline_id = ? AND status = ? ORDER BY finished_at DESC LIMIT 1`),
		pipelineID, Succeeded))
	return r, notFound(err, "succeeded run of pipeline "+pipelineID)
}

func isForeignKey(err error) bool {
	return err != nil && (strings.Contains(err.Error(), "FOREIGN KEY constraint failed") || strings.Contains(err.Error(), "SQLSTATE 23503"))
}

func (s *sqlStore) LastRun(ctx context.Context, pipelineID string) (*Run, error) {
	r, err := scanRun(s.db.QueryRowContext(ctx, s.q(`SELECT `+runCols+` FROM runs WHERE pipeline_id = ? ORDER BY created_at DESC LIMIT 1`), pipelineID))
	return r, notFound(err, "run of pipeline "+pipelineID)
}
