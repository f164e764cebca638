package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"golang.org/x/sync/errgroup"

	"github.com/tributary-data/tributary/connector"
	"github.com/tributary-data/tributary/pipeline"
	"github.com/tributary-data/tributary/quality"
	"github.com/tributary-data/tributary/transform"
)

// Defaults for a pipeline's options.
const (
	DefaultBatchSize      = 10_000
	DefaultCommitRows     = 200_000
	DefaultCommitInterval = 5 * time.Second
)

// Options tune one run.
type Options struct {
	// RunID identifies the run; a new UUID when empty.
	RunID string
	// StatePath is the local state file, used when the destination cannot
	// hold state. Empty means no local state: every run starts over.
	StatePath string
	// FullRefresh ignores saved state and reads everything again.
	FullRefresh bool
	Logger      *slog.Logger
	// Quarantine, when set, hears of quarantined rows once the commit that
	// makes them durable at the destination succeeded, so a store can keep
	// them per run. An error is logged, never fatal: the destination's
	// quarantine holds the rows whatever happens here.
	Quarantine func(ctx context.Context, rejects []connector.Reject) error
	// Replay, when set, is read instead of the spec's source: a replay of
	// quarantined rows (see [NewReplaySource]). Such a run neither loads
	// nor saves state, appends to streams the spec overwrites, and commits
	// each stream once, at its end, so a replay interrupted midway can be
	// replayed again without loading rows twice.
	Replay connector.Source
}

// Run is one execution of a pipeline. Create it with [New], start it with
// [Run.Execute]; [Run.Progress] may be called from other goroutines.
type Run struct {
	spec    *pipeline.Spec
	opts    Options
	streams []connector.Stream
	stats   map[string]*counters
	order   []*counters
	log     *slog.Logger
	started time.Time

	commitRows     int64
	commitInterval time.Duration

	// lag is the source, while it reads, when it reports consumer lag.
	lag atomic.Pointer[connector.LagReporter]

	mergeMu  sync.Mutex
	merges   []transform.Merge
	profiles map[string][]quality.ColumnProfile
	checks   map[string][]quality.CheckResult
}

func (r *Run) setQuality(stream string, p []quality.ColumnProfile, c []quality.CheckResult) {
	r.mergeMu.Lock()
	defer r.mergeMu.Unlock()
	r.profiles[stream], r.checks[stream] = p, c
}

// holdsRows reports whether a step of the stream keeps rows back until the
// stream ends (dedup keeping the last or most complete row).
func (r *Run) holdsRows(stream string) bool {
	chain, err := r.spec.Steps(stream)
	if err != nil {
		return false
	}
	for _, s := range chain {
		if h, ok := s.(interface{ HoldsRows() bool }); ok && h.HoldsRows() {
			return true
		}
	}
	return false
}

// MaxMerges bounds the merges a run result lists; the count is exact
// beyond it.
const MaxMerges = 10_000

func (r *Run) addMerges(stream string, ms []transform.Merge) {
	if len(ms) == 0 {
		return
	}
	r.mergeMu.Lock()
	defer r.mergeMu.Unlock()
	for _, m := range ms {
		if len(r.merges) >= MaxMerges {
			return
		}
		m.Stream = stream
		r.merges = append(r.merges, m)
	}
}

// New prepares a run of a validated spec.
func New(spec *pipeline.Spec, opts Options) (*Run, error) {
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	if opts.RunID == "" {
		opts.RunID = uuid.NewString()
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	r := &Run{
		spec:           spec,
		opts:           opts,
		streams:        spec.ConnectorStreams(),
		stats:          map[string]*counters{},
		profiles:       map[string][]quality.ColumnProfile{},
		checks:         map[string][]quality.CheckResult{},
		log:            opts.Logger.With("pipeline", spec.Name, "run_id", opts.RunID),
		commitRows:     DefaultCommitRows,
		commitInterval: DefaultCommitInterval,
	}
	if n := spec.Options.CommitRows; n > 0 {
		r.commitRows = int64(n)
	}
	if spec.Options.CommitInterval != "" {
		r.commitInterval, _ = time.ParseDuration(spec.Options.CommitInterval)
	}
	for _, s := range r.streams {
		c := &counters{name: s.Name}
		r.stats[s.Name] = c
		r.order = append(r.order, c)
	}
	return r, nil
}

// ID is the run's id.
func (r *Run) ID() string { return r.opts.RunID }

// Pipeline is the name of the pipeline the run executes.
func (r *Run) Pipeline() string { return r.spec.Name }

// Progress returns the counts so far.
func (r *Run) Progress() []StreamStats {
	now := time.Now()
	var lag map[string]int64
	if lr := r.lag.Load(); lr != nil {
		lag = (*lr).Lag()
	}
	out := make([]StreamStats, len(r.order))
	for i, c := range r.order {
		out[i] = c.stats(now)
		if n, ok := lag[c.name]; ok {
			out[i].Lag = &n
		}
	}
	return out
}

// Execute runs the pipeline to the end. The returned error is also recorded
// in the result, which is never nil.
func (r *Run) Execute(ctx context.Context) (*Result, error) {
	r.started = time.Now()
	res := &Result{RunID: r.opts.RunID, Pipeline: r.spec.Name, StartedAt: r.started.UTC()}
	err := r.execute(ctx, res)
	res.FinishedAt = time.Now().UTC()
	res.Duration = res.FinishedAt.Sub(res.StartedAt)
	res.Streams = r.Progress()
	r.mergeMu.Lock()
	res.Merges = r.merges
	for i := range res.Streams {
		res.Streams[i].Profile = r.profiles[res.Streams[i].Name]
		res.Streams[i].Checks = r.checks[res.Streams[i].Name]
	}
	r.mergeMu.Unlock()
	switch {
	case err == nil:
		res.Status = Succeeded
	case errors.Is(err, context.Canceled) && ctx.Err() != nil:
		res.Status, res.Error = Cancelled, err.Error()
	default:
		res.Status, res.Error = Failed, err.Error()
	}
	r.log.Info("run finished", "status", res.Status, "duration", res.Duration, "error", res.Error)
	return res, err
}

func (r *Run) execute(ctx context.Context, res *Result) error {
	src := r.opts.Replay
	if src == nil {
		var err error
		if src, err = OpenSource(ctx, r.spec); err != nil {
			return err
		}
	}
	defer src.Close()
	if lr, ok := src.(connector.LagReporter); ok {
		r.lag.Store(&lr)
		defer r.lag.Store(nil)
	}
	dst, err := OpenDestination(ctx, r.spec)
	if err != nil {
		return err
	}
	defer dst.Close()

	var backend stateBackend
	if ss, ok := dst.(connector.StateStore); ok && r.opts.Replay == nil {
		backend = destinationState{ss}
	} else if r.opts.StatePath != "" && r.opts.Replay == nil {
		backend = &fileState{path: r.opts.StatePath}
	}
	req := connector.ReadRequest{Streams: r.streams, BatchSize: r.spec.Options.BatchSize, State: map[string]json.RawMessage{}}
	if req.BatchSize == 0 {
		req.BatchSize = DefaultBatchSize
	}
	if backend != nil {
		res.StateStore = backend.String()
		stored, err := backend.load(ctx, r.spec.Name)
		if err != nil {
			return fmt.Errorf("load state: %w", err)
		}
		for _, s := range r.streams {
			env, err := unwrap(stored[s.Name])
			if err != nil {
				return fmt.Errorf("stream %s: %w", s.Name, err)
			}
			// Full refreshes resume only an unfinished read; incremental
			// streams always continue from the cursor.
			if !r.opts.FullRefresh && env.State != nil && (s.SyncMode.Incremental() || !env.Done) {
				req.State[s.Name] = env.State
			}
		}
	}

	g, gctx := errgroup.WithContext(ctx)
	// Two batches queued let the source run ahead of the loader; more only
	// add live heap, which the collector walks and the RSS holds.
	events := make(chan event, 2)
	em := &emitter{run: r, events: events, chains: map[string]transform.Chain{}}
	g.Go(func() error {
		defer close(events)
		if err := src.Read(gctx, req, em); err != nil {
			em.drain(gctx)
			return fmt.Errorf("read: %w", err)
		}
		if err := em.flush(gctx); err != nil {
			return err
		}
		return em.send(gctx, event{kind: evEnd})
	})
	obs, err := newObserver(r)
	if err != nil {
		return err
	}
	defer obs.close()
	ld := &loader{run: r, dst: dst, backend: backend, writers: map[string]*streamWriter{}, obs: obs}
	if cl, ok := src.(connector.CommitListener); ok && r.opts.Replay == nil {
		ld.listener = cl
	}
	g.Go(func() error { return ld.loop(gctx, events) })
	if err := g.Wait(); err != nil {
		ld.abort(context.WithoutCancel(ctx))
		return err
	}
	return nil
}

type eventKind int

const (
	evBatch eventKind = iota
	evCheckpoint
	evRejects
	evEnd   // the source read everything: publish the loads
	evDrain // the source failed: commit what checkpoints cover, then close done
)

type event struct {
	kind    eventKind
	stream  string
	batch   *connector.Batch
	state   json.RawMessage
	rejects []connector.Reject
	done    chan struct{}
}

// emitter receives the source's output, runs the transform steps in the
// source's goroutine and hands the results to the loader.
type emitter struct {
	run    *Run
	events chan<- event
	mu     sync.Mutex
	chains map[string]transform.Chain
}

func (e *emitter) counters(stream string) (*counters, error) {
	c, ok := e.run.stats[stream]
	if !ok {
		return nil, fmt.Errorf("source emitted stream %q, which the pipeline did not select", stream)
	}
	c.start(time.Now())
	return c, nil
}

// drain has the loader commit what the source's checkpoints cover before
// the run fails, so the next run resumes after them instead of reading
// again what already arrived.
func (e *emitter) drain(ctx context.Context) {
	if ctx.Err() != nil {
		return
	}
	done := make(chan struct{})
	if e.send(ctx, event{kind: evDrain, done: done}) != nil {
		return
	}
	select {
	case <-done:
	case <-ctx.Done():
	}
}

func (e *emitter) send(ctx context.Context, ev event) error {
	select {
	case e.events <- ev:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (e *emitter) Emit(ctx context.Context, b *connector.Batch) error {
	return e.emitFrom(ctx, b, 0)
}

// emitFrom passes a batch through the stream's steps from the one at index
// from on: a replayed row re-enters the pipeline where it left it.
func (e *emitter) emitFrom(ctx context.Context, b *connector.Batch, from int) error {
	c, err := e.counters(b.Stream)
	if err != nil {
		return err
	}
	n := b.Len()
	c.read.Add(int64(n))
	e.mu.Lock()
	chain, ok := e.chains[b.Stream]
	if !ok {
		chain, err = e.run.spec.Steps(b.Stream)
		if err != nil {
			e.mu.Unlock()
			return err
		}
		e.chains[b.Stream] = chain
	}
	stream := b.Stream
	out, tr, err := chain[min(from, len(chain)):].Apply(ctx, b)
	e.mu.Unlock()
	if err != nil {
		return fmt.Errorf("stream %s: %w", stream, err)
	}
	return e.forward(ctx, c, stream, out, tr)
}

// forward counts what the steps did and hands their output to the loader.
func (e *emitter) forward(ctx context.Context, c *counters, stream string, out *connector.Batch, tr transform.Result) error {
	c.filtered.Add(int64(tr.Filtered))
	c.dedup.Add(int64(tr.Deduplicated))
	e.run.addMerges(stream, tr.Merges)
	if len(tr.Rejects) > 0 {
		for i := range tr.Rejects {
			tr.Rejects[i].Stream = stream
		}
		c.quarantined.Add(int64(len(tr.Rejects)))
		if err := e.send(ctx, event{kind: evRejects, stream: stream, rejects: tr.Rejects}); err != nil {
			return err
		}
	}
	if out == nil || out.Len() == 0 {
		return nil
	}
	return e.send(ctx, event{kind: evBatch, stream: stream, batch: out})
}

// flush ends every stream's steps once the source is done, releasing rows
// that steps such as dedup held back.
func (e *emitter) flush(ctx context.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, s := range e.run.streams {
		chain, ok := e.chains[s.Name]
		if !ok {
			continue
		}
		batches, tr, err := chain.Flush(ctx)
		if err != nil {
			return fmt.Errorf("stream %s: %w", s.Name, err)
		}
		c := e.run.stats[s.Name]
		if err := e.forward(ctx, c, s.Name, nil, tr); err != nil {
			return err
		}
		for _, b := range batches {
			if err := e.send(ctx, event{kind: evBatch, stream: s.Name, batch: b}); err != nil {
				return err
			}
		}
	}
	return nil
}

func (e *emitter) Checkpoint(ctx context.Context, stream string, state json.RawMessage) error {
	if _, err := e.counters(stream); err != nil {
		return err
	}
	return e.send(ctx, event{kind: evCheckpoint, stream: stream, state: append(json.RawMessage(nil), state...)})
}

func (e *emitter) Reject(ctx context.Context, rj connector.Reject) error {
	c, err := e.counters(rj.Stream)
	if err != nil {
		return err
	}
	if rj.Step == "" {
		rj.Step = "read"
	}
	c.read.Add(1)
	c.quarantined.Add(1)
	return e.send(ctx, event{kind: evRejects, stream: rj.Stream, rejects: []connector.Reject{rj}})
}

// quarantineSample renders the first few rejects of a run for an error
// message, so a failed run says why without opening the quarantine.
func quarantineSample(rs []connector.Reject) string {
	var b strings.Builder
	for i, r := range rs {
		if i == 3 {
			fmt.Fprintf(&b, "; and %d more", len(rs)-3)
			break
		}
		if i > 0 {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "%s: %s", r.Origin, r.Reason)
	}
	return b.String()
}
