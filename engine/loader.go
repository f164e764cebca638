package engine

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/tributary-data/tributary/connector"
)

// loader owns the destination side of a run. It runs in one goroutine, so
// its maps need no lock.
type loader struct {
	run     *Run
	dst     connector.Destination
	backend stateBackend
	writers map[string]*streamWriter
	order   []*streamWriter
	obs     *observer
	// listener hears of every checkpoint committed, when the source asks.
	listener connector.CommitListener
}

// streamWriter is one stream's load in progress.
type streamWriter struct {
	name      string
	w         connector.Writer // opened with the first batch
	state     json.RawMessage  // newest checkpoint not yet committed
	committed json.RawMessage  // newest checkpoint committed
	rejects   []connector.Reject
	// durable holds the rejects handed to the destination's quarantine
	// since the last commit, for Options.Quarantine once it succeeds.
	durable     []connector.Reject
	sample      []connector.Reject // the first rejects of the run, for messages
	uncommitted int64
	// covered says the newest checkpoint covers every row written.
	covered    bool
	lastCommit time.Time
	// atEnd holds every checkpoint back to the end of the stream: when a
	// check of severity fail must pass first, or when a step holds rows
	// back that no checkpoint covers yet.
	atEnd bool
}

func (l *loader) stream(name string) *streamWriter {
	sw, ok := l.writers[name]
	if !ok {
		sw = &streamWriter{name: name, lastCommit: time.Now()}
		sw.atEnd = l.obs.hasFailChecks(name) || l.run.holdsRows(name) || l.run.opts.Replay != nil
		l.writers[name] = sw
		l.order = append(l.order, sw)
	}
	return sw
}

func (l *loader) open(ctx context.Context, sw *streamWriter, schema *connector.Schema) error {
	if sw.w != nil {
		return nil
	}
	var st connector.Stream
	for _, s := range l.run.streams {
		if s.Name == sw.name {
			st = s
		}
	}
	if l.run.opts.Replay != nil && st.SyncMode == connector.FullRefreshOverwrite {
		// Replayed rows join the table the last refresh made.
		st.SyncMode = connector.FullRefreshAppend
	}
	policy := connector.SchemaPolicy(l.run.spec.Options.SchemaPolicy)
	if policy == "" {
		policy = connector.SchemaEvolve
	}
	w, err := l.dst.Open(ctx, connector.Load{
		Pipeline:     l.run.spec.Name,
		RunID:        l.run.opts.RunID,
		Stream:       sw.name,
		Schema:       schema,
		SyncMode:     st.SyncMode,
		PrimaryKey:   st.PrimaryKey,
		CursorField:  st.CursorField,
		SchemaPolicy: policy,
	})
	if err != nil {
		return fmt.Errorf("stream %s: open destination: %w", sw.name, err)
	}
	sw.w = w
	return nil
}

func (l *loader) loop(ctx context.Context, events <-chan event) error {
	for ev := range events {
		if ev.kind == evEnd {
			// Finishing inside the loop keeps every destination call on the
			// run's context, which ends only when the run does.
			return l.finish(ctx)
		}
		if ev.kind == evDrain {
			err := l.drain(ctx)
			close(ev.done)
			if err != nil {
				return err
			}
			continue
		}
		sw := l.stream(ev.stream)
		c := l.run.stats[ev.stream]
		switch ev.kind {
		case evBatch:
			if sw.w == nil {
				if err := l.settle(ctx, sw); err != nil {
					return err
				}
			}
			if err := l.open(ctx, sw, ev.batch.Schema); err != nil {
				return err
			}
			if err := l.flushRejects(ctx, sw); err != nil {
				return err
			}
			n := int64(ev.batch.Len())
			if err := sw.w.Write(ctx, ev.batch); err != nil {
				return fmt.Errorf("stream %s: write: %w", sw.name, err)
			}
			c.written.Add(n)
			sw.uncommitted += n
			sw.covered = false
			l.obs.observe(sw.name, ev.batch)
		case evRejects:
			for i := range ev.rejects {
				ev.rejects[i].RunID = l.run.opts.RunID
				if ev.rejects[i].At.IsZero() {
					ev.rejects[i].At = time.Now().UTC()
				}
			}
			sw.rejects = append(sw.rejects, ev.rejects...)
			if room := 5 - len(sw.sample); room > 0 {
				sw.sample = append(sw.sample, ev.rejects[:min(room, len(ev.rejects))]...)
			}
		case evCheckpoint:
			sw.state, sw.covered = ev.state, true
			if !sw.atEnd && sw.uncommitted >= l.run.commitRows || time.Since(sw.lastCommit) >= l.run.commitInterval {
				if err := l.commit(ctx, sw, false); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// drain commits every stream whose written rows a checkpoint covers; the
// rest is rolled back when the run fails.
func (l *loader) drain(ctx context.Context) error {
	for _, sw := range l.order {
		if sw.w == nil || sw.atEnd || !sw.covered || sw.state == nil {
			continue
		}
		if err := l.commit(ctx, sw, false); err != nil {
			return err
		}
	}
	return nil
}

// settle commits the other streams whose written rows a checkpoint covers
// before the next stream's writer opens. A destination that allows one
// writing transaction at a time (SQLite) would otherwise have the new
// writer wait on a transaction this same goroutine holds open.
func (l *loader) settle(ctx context.Context, next *streamWriter) error {
	for _, sw := range l.order {
		if sw == next || sw.w == nil || sw.atEnd || sw.uncommitted == 0 || !sw.covered {
			continue
		}
		if err := l.commit(ctx, sw, false); err != nil {
			return err
		}
	}
	return nil
}

func (l *loader) flushRejects(ctx context.Context, sw *streamWriter) error {
	if len(sw.rejects) == 0 || sw.w == nil {
		return nil
	}
	if err := sw.w.Quarantine(ctx, sw.rejects); err != nil {
		return fmt.Errorf("stream %s: quarantine: %w", sw.name, err)
	}
	if l.run.opts.Quarantine != nil {
		sw.durable = append(sw.durable, sw.rejects...)
	}
	sw.rejects = sw.rejects[:0]
	return nil
}

// checkRatio fails a stream whose share of quarantined rows is over the
// pipeline's limit, before its rows are committed.
func (l *loader) checkRatio(sw *streamWriter, final bool) error {
	limit := l.run.spec.Options.MaxQuarantineRatio
	if limit == nil || l.run.opts.Replay != nil {
		// A replay reads only rows refused before: its share of rows
		// refused again says nothing of the source's health.
		return nil
	}
	c := l.run.stats[sw.name]
	read, q := c.read.Load(), c.quarantined.Load()
	// Early in a stream a few bad rows would swing the ratio; judge
	// intermediate checkpoints only once there is enough to judge.
	if read == 0 || (!final && read < 10_000) {
		return nil
	}
	if ratio := float64(q) / float64(read); ratio > *limit {
		return fmt.Errorf("stream %s: %d of %d rows quarantined (%.2f%%), over max_quarantine_ratio %g: %s",
			sw.name, q, read, ratio*100, *limit, quarantineSample(sw.sample))
	}
	return nil
}

func (l *loader) commit(ctx context.Context, sw *streamWriter, final bool) error {
	if err := l.checkRatio(sw, final); err != nil {
		return err
	}
	if sw.w == nil && len(sw.rejects) > 0 {
		// Every row of the stream was refused: open the destination anyway
		// so the quarantine holds them, with an empty schema.
		if err := l.open(ctx, sw, &connector.Schema{}); err != nil {
			return err
		}
	}
	if err := l.flushRejects(ctx, sw); err != nil {
		return err
	}
	state := sw.state
	if state == nil {
		state = sw.committed
	}
	wrapped := wrap(final, state)
	if l.run.opts.Replay != nil {
		// A replay's checkpoints are not the stream's: keep its state.
		wrapped = nil
	}
	if sw.w != nil {
		if err := sw.w.Commit(ctx, wrapped); err != nil {
			return fmt.Errorf("stream %s: commit: %w", sw.name, err)
		}
	}
	if l.backend != nil && (sw.w != nil || final) {
		if err := l.backend.save(l.run.spec.Name, sw.name, wrapped); err != nil {
			return fmt.Errorf("stream %s: save state: %w", sw.name, err)
		}
	}
	sw.committed, sw.state = state, nil
	sw.uncommitted = 0
	if l.listener != nil && state != nil && (sw.w != nil || final) {
		if err := l.listener.Committed(ctx, sw.name, state); err != nil {
			l.run.log.Warn("source not told of a committed checkpoint; the next run resumes from the committed state",
				"stream", sw.name, "error", err)
		}
	}
	l.keepQuarantined(ctx, sw)
	sw.lastCommit = time.Now()
	return nil
}

// keepQuarantined hands the rejects the last commit made durable to
// Options.Quarantine.
func (l *loader) keepQuarantined(ctx context.Context, sw *streamWriter) {
	if len(sw.durable) == 0 {
		return
	}
	if err := l.run.opts.Quarantine(ctx, sw.durable); err != nil {
		l.run.log.Warn("quarantined rows not kept with the run; the destination's quarantine has them",
			"stream", sw.name, "rows", len(sw.durable), "error", err)
	}
	sw.durable = sw.durable[:0]
}

// finish commits every stream's last checkpoint and publishes the loads.
func (l *loader) finish(ctx context.Context) error {
	// Every stream's checks are judged before any stream commits.
	l.obs.close()
	var failed error
	for _, s := range l.run.streams {
		res, err := l.obs.verdict(s.Name)
		l.run.setQuality(s.Name, l.obs.profile(s.Name), res)
		if err != nil && failed == nil {
			failed = err
		}
	}
	if failed != nil {
		return failed
	}
	// Streams holding uncommitted rows commit first: on a destination that
	// allows one writing transaction at a time, the other streams' final
	// commits would wait on theirs.
	order := slices.Clone(l.order)
	slices.SortStableFunc(order, func(a, b *streamWriter) int {
		return cmp.Compare(pendingRank(a), pendingRank(b))
	})
	for _, sw := range order {
		if err := l.commit(ctx, sw, true); err != nil {
			return err
		}
		if sw.w != nil {
			w := sw.w
			sw.w = nil
			if err := w.Close(ctx, true); err != nil {
				return fmt.Errorf("stream %s: publish: %w", sw.name, err)
			}
		}
		l.run.stats[sw.name].finished.Store(time.Now().UnixNano())
	}
	return nil
}

func pendingRank(sw *streamWriter) int {
	if sw.uncommitted > 0 {
		return 0
	}
	return 1
}

// abort rolls back whatever was not committed.
func (l *loader) abort(ctx context.Context) {
	for _, sw := range l.order {
		if sw.w != nil {
			if err := sw.w.Close(ctx, false); err != nil {
				l.run.log.Warn("roll back stream", "stream", sw.name, "error", err)
			}
			sw.w = nil
		}
	}
}
