package scheduler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/tributary-data/tributary/pipeline"
	"github.com/tributary-data/tributary/store"
)

// Notifier hears of pipelines that are late: no run succeeded within the
// grace period after a due time. Each slot is reported once.
type Notifier interface {
	PipelineLate(ctx context.Context, p *store.Pipeline, slot time.Time)
}

// Queue hands queued runs to the workers.
type Queue interface {
	Enqueue(ctx context.Context, runID string) error
}

// Store is what the scheduler reads and records.
type Store interface {
	store.ScheduleStore
	FinishRun(ctx context.Context, id string, status store.RunStatus, errMsg string, result json.RawMessage) error
}

// DefaultParallel is how many transactions fire slots at once when
// [Scheduler.Parallel] is zero.
const DefaultParallel = 4

// DefaultSlotRetention is how long slot records are kept when
// [Scheduler.SlotRetention] is zero.
const DefaultSlotRetention = 7 * 24 * time.Hour

// Scheduler fires the due slots and dependencies of the stored pipelines.
type Scheduler struct {
	Store Store
	Queue Queue
	// Notifier, when set, hears of late pipelines.
	Notifier Notifier
	Logger   *slog.Logger
	// Parallel is how many transactions fire slots at once (each for up
	// to a thousand pipelines); DefaultParallel when zero.
	Parallel int
	// SlotRetention is how long slot records are kept;
	// DefaultSlotRetention when zero.
	SlotRetention time.Duration

	mu        sync.Mutex
	plans     map[string]*plan
	lastPrune time.Time
}

// plan is what the scheduler needs of one pipeline version's spec.
type plan struct {
	version   int
	schedule  *pipeline.Schedule
	lateAfter string
	dependsOn []string
}

// Settings are the parts of a stored spec the scheduler reads. Specs are
// read as stored: no ${VAR} is resolved here, the scheduler's environment
// is not the workers'.
type Settings struct {
	Schedule  string   `json:"schedule"`
	DependsOn []string `json:"depends_on"`
	Options   struct {
		LateAfter string `json:"late_after"`
	} `json:"options"`
}

func (s *Scheduler) logger() *slog.Logger {
	if s.Logger == nil {
		return slog.Default()
	}
	return s.Logger
}

// Tick does what is due at now: it fires the slots that came (once, for
// the latest, however many passed while no scheduler ran), queues the runs
// of pipelines whose upstreams all succeeded since their last run, and
// reports slots whose grace period ended without a succeeded run. Ticks of
// one Scheduler run one at a time; ticks on several hosts are safe, the
// store deciding each slot and run once.
func (s *Scheduler) Tick(ctx context.Context, now time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	pipes, err := s.Store.AllPipelines(ctx)
	if err != nil {
		return fmt.Errorf("list pipelines: %w", err)
	}
	if err := s.refresh(ctx, pipes); err != nil {
		return err
	}
	states, err := s.Store.ScheduleStates(ctx)
	if err != nil {
		return fmt.Errorf("read schedule states: %w", err)
	}
	var errs []error
	byID := make(map[string]*store.Pipeline, len(pipes))
	byName := make(map[string]*store.Pipeline, len(pipes))
	var fires []store.SlotFire
	for i := range pipes {
		p := &pipes[i]
		byID[p.ID], byName[p.Name] = p, p
		pl := s.plans[p.ID]
		st, has := states[p.ID]
		switch {
		case pl.schedule == nil:
			if has {
				errs = append(errs, s.Store.StopSchedule(ctx, p.ID))
			}
		case !has || st.Schedule != pl.schedule.Expr:
			// A new or changed schedule starts from now: the first slot is
			// the next due time, not one in the past.
			errs = append(errs, s.Store.StartSchedule(ctx, p.ID, pl.schedule.Expr, pl.schedule.Next(now)))
		case now.Before(st.NextSlot):
		default:
			slot := pl.schedule.Latest(st.NextSlot, now)
			next := pl.schedule.Next(slot)
			if !p.Enabled {
				// A disabled pipeline's slots pass unfired; enabling it
				// again waits for the next one.
				errs = append(errs, s.Store.AdvanceSchedule(ctx, p.ID, next))
				continue
			}
			fires = append(fires, store.SlotFire{PipelineID: p.ID, Slot: slot, Next: next, LateAt: slot.Add(pl.schedule.Grace(pl.lateAfter, slot))})
		}
	}
	errs = append(errs, s.fire(ctx, fires, byID))
	errs = append(errs, s.dependencies(ctx, pipes, byName))
	errs = append(errs, s.late(ctx, now, byID))
	errs = append(errs, s.prune(ctx, now))
	return errors.Join(errs...)
}

// refresh reads the specs of pipelines whose current version the
// scheduler has not seen yet, all in one query.
func (s *Scheduler) refresh(ctx context.Context, pipes []store.Pipeline) error {
	if s.plans == nil {
		s.plans = map[string]*plan{}
	}
	seen := make(map[string]bool, len(pipes))
	stale := false
	for _, p := range pipes {
		seen[p.ID] = true
		if pl, ok := s.plans[p.ID]; !ok || pl.version != p.Version {
			stale = true
		}
	}
	for id := range s.plans {
		if !seen[id] {
			delete(s.plans, id)
		}
	}
	if !stale {
		return nil
	}
	specs, err := s.Store.CurrentSpecs(ctx)
	if err != nil {
		return fmt.Errorf("read pipeline specs: %w", err)
	}
	for _, ps := range specs {
		if pl, ok := s.plans[ps.ID]; ok && pl.version == ps.Version {
			continue
		}
		s.plans[ps.ID] = s.planOf(&ps)
	}
	// A pipeline created between the two queries is read next tick.
	for _, p := range pipes {
		if _, ok := s.plans[p.ID]; !ok {
			s.plans[p.ID] = &plan{version: -1}
		}
	}
	return nil
}

func (s *Scheduler) planOf(ps *store.PipelineSpec) *plan {
	pl := &plan{version: ps.Version}
	doc, err := SettingsOf(ps.Spec)
	if err != nil {
		s.logger().Error("pipeline spec unreadable; not scheduled", "pipeline_id", ps.ID, "pipeline", ps.Name, "version", ps.Version, "error", err)
		return pl
	}
	pl.dependsOn, pl.lateAfter = doc.DependsOn, doc.Options.LateAfter
	if doc.Schedule != "" {
		sched, err := pipeline.ParseSchedule(doc.Schedule)
		if err != nil {
			s.logger().Error("pipeline schedule invalid; not scheduled", "pipeline_id", ps.ID, "pipeline", ps.Name, "version", ps.Version, "schedule", doc.Schedule, "error", err)
			return pl
		}
		pl.schedule = sched
	}
	return pl
}

func (s *Scheduler) parallel() int {
	if s.Parallel > 0 {
		return s.Parallel
	}
	return DefaultParallel
}

// fireChunk is how many slots fire in one transaction, and whose runs are
// queued in one insert: a thousand pipelines due in the same second take
// one round of statements (on SQLite, one wait for the writer, not one
// behind the writes of the runs fired first), and the multi-row statements
// stay within both databases' parameter limits.
const fireChunk = 1000

// batchQueue enqueues many runs in one round trip.
type batchQueue interface {
	EnqueueMany(ctx context.Context, runIDs []string) error
}

func (s *Scheduler) fire(ctx context.Context, fires []store.SlotFire, byID map[string]*store.Pipeline) error {
	var g errgroup.Group
	g.SetLimit(s.parallel())
	var mu sync.Mutex
	var errs []error
	for chunk := range slices.Chunk(fires, fireChunk) {
		g.Go(func() error {
			if err := s.fireChunk(ctx, chunk, byID); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
			return nil
		})
	}
	_ = g.Wait()
	return errors.Join(errs...)
}

func (s *Scheduler) fireChunk(ctx context.Context, fires []store.SlotFire, byID map[string]*store.Pipeline) error {
	fired, err := s.Store.FireSlots(ctx, fires)
	if err != nil {
		return err
	}
	var runs []string
	for _, fs := range fired {
		p := byID[fs.Slot.PipelineID]
		if fs.Run == nil {
			s.logger().Warn("scheduled run skipped", "pipeline_id", p.ID, "pipeline", p.Name, "slot", fs.Slot.Slot, "reason", fs.Slot.Skipped)
			continue
		}
		s.logger().Info("scheduled run queued", "pipeline_id", p.ID, "pipeline", p.Name, "slot", fs.Slot.Slot, "run_id", fs.Run.ID)
		runs = append(runs, fs.Run.ID)
	}
	return s.enqueue(ctx, runs...)
}

// enqueue hands runs to the workers; runs that cannot be queued are
// recorded as failed, or they would hold their pipelines' later slots
// back.
func (s *Scheduler) enqueue(ctx context.Context, runIDs ...string) error {
	if len(runIDs) == 0 {
		return nil
	}
	// The runs are stored: a tick cancelled now (the process stopping)
	// still hands them over rather than failing them.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	var err error
	if bq, ok := s.Queue.(batchQueue); ok && len(runIDs) > 1 {
		err = bq.EnqueueMany(ctx, runIDs)
	} else {
		for i, id := range runIDs {
			if err = s.Queue.Enqueue(ctx, id); err != nil {
				runIDs = runIDs[i:] // those before are queued
				break
			}
		}
	}
	if err == nil {
		return nil
	}
	errs := []error{err}
	for _, id := range runIDs {
		if ferr := s.Store.FinishRun(context.WithoutCancel(ctx), id, store.Failed, "could not be queued: "+err.Error(), nil); ferr != nil {
			errs = append(errs, fmt.Errorf("record unqueued run %s: %w", id, ferr))
		}
	}
	return errors.Join(errs...)
}

func (s *Scheduler) dependencies(ctx context.Context, pipes []store.Pipeline, byName map[string]*store.Pipeline) error {
	var errs []error
	for i := range pipes {
		p := &pipes[i]
		pl := s.plans[p.ID]
		if !p.Enabled || len(pl.dependsOn) == 0 {
			continue
		}
		ups := make([]string, 0, len(pl.dependsOn))
		for _, name := range pl.dependsOn {
			up, ok := byName[name]
			if !ok {
				// Saves refuse this; a pipeline renamed since leaves it.
				ups = nil
				s.logger().Warn("pipeline depends on no pipeline of that name; not triggered", "pipeline_id", p.ID, "pipeline", p.Name, "depends_on", name)
				break
			}
			ups = append(ups, up.ID)
		}
		if len(ups) == 0 {
			continue
		}
		run, err := s.Store.FireDependency(ctx, p.ID, ups)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if run == nil {
			continue
		}
		s.logger().Info("dependency run queued", "pipeline_id", p.ID, "pipeline", p.Name, "run_id", run.ID, "depends_on", pl.dependsOn)
		errs = append(errs, s.enqueue(ctx, run.ID))
	}
	return errors.Join(errs...)
}

func (s *Scheduler) late(ctx context.Context, now time.Time, byID map[string]*store.Pipeline) error {
	slots, err := s.Store.CheckLateSlots(ctx, now)
	for _, sl := range slots {
		p := byID[sl.PipelineID]
		if p == nil {
			continue
		}
		s.logger().Warn("pipeline late", "pipeline_id", p.ID, "pipeline", p.Name, "slot", sl.Slot, "late_at", sl.LateAt)
		if s.Notifier != nil {
			s.Notifier.PipelineLate(ctx, p, sl.Slot)
		}
	}
	if err != nil {
		return fmt.Errorf("check late pipelines: %w", err)
	}
	return nil
}

// prune deletes old slot records about once an hour.
func (s *Scheduler) prune(ctx context.Context, now time.Time) error {
	if now.Sub(s.lastPrune) < time.Hour {
		return nil
	}
	keep := s.SlotRetention
	if keep <= 0 {
		keep = DefaultSlotRetention
	}
	n, err := s.Store.PruneSlots(ctx, now.Add(-keep))
	if err != nil {
		return fmt.Errorf("prune slots: %w", err)
	}
	s.lastPrune = now
	if n > 0 {
		s.logger().Info("old schedule slots pruned", "slots", n)
	}
	return nil
}

// SettingsOf reads the scheduling settings of a stored spec.
func SettingsOf(spec json.RawMessage) (Settings, error) {
	var doc Settings
	if err := json.Unmarshal(spec, &doc); err != nil {
		return doc, fmt.Errorf("read spec: %w", err)
	}
	return doc, nil
}
