package engine

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/tributary-data/tributary/connector"
	"github.com/tributary-data/tributary/quality"
)

// observer profiles and checks every loaded batch in a goroutine of its
// own, so the load does not wait for the statistics.
type observer struct {
	batches chan observed
	done    sync.WaitGroup
	streams map[string]*streamQuality
}

type observed struct {
	stream string
	batch  *connector.Batch
}

type streamQuality struct {
	profiler *quality.Profiler
	checker  *quality.Checker
	checks   []quality.Check
}

func newObserver(r *Run) (*observer, error) {
	// No queue: the loader hands a batch over once the previous one is
	// observed. The profiler is faster than the source that feeds the
	// loader, so the loader seldom waits, and every queued batch would be
	// live heap that the collector walks and the run's RSS holds.
	o := &observer{batches: make(chan observed), streams: map[string]*streamQuality{}}
	profile := r.spec.Options.Profile == nil || *r.spec.Options.Profile
	for _, s := range r.streams {
		checks, err := r.spec.StreamChecks(s.Name)
		if err != nil {
			return nil, fmt.Errorf("stream %s: checks: %w", s.Name, err)
		}
		if r.opts.Replay != nil {
			// A replay loads a few old rows: how many, and how fresh, says
			// nothing of the stream. Checks of the rows themselves hold.
			checks = slices.DeleteFunc(checks, func(c quality.Check) bool { return c.Kind() == "row_count" || c.Kind() == "freshness" })
		}
		q := &streamQuality{checker: quality.NewChecker(checks...), checks: checks}
		if profile {
			q.profiler = quality.NewProfiler()
		}
		o.streams[s.Name] = q
	}
	o.done.Add(1)
	go func() {
		defer o.done.Done()
		for ob := range o.batches {
			if c := r.stats[ob.stream]; c != nil {
				c.bytes.Add(rowBytes(ob.batch))
			}
			q := o.streams[ob.stream]
			if q.profiler != nil {
				q.profiler.Observe(ob.batch)
			}
			if len(q.checks) > 0 {
				q.checker.Observe(ob.batch)
			}
		}
	}()
	return o, nil
}

// observe queues a batch the destination has taken. Batches are never
// reused after Write, so reading them concurrently with the next load is
// safe.
func (o *observer) observe(stream string, b *connector.Batch) {
	o.batches <- observed{stream, b}
}

// close waits until every queued batch is observed.
func (o *observer) close() {
	if o.batches != nil {
		close(o.batches)
		o.done.Wait()
		o.batches = nil
	}
}

// profile returns a stream's column profiles, none when profiling is off.
func (o *observer) profile(stream string) []quality.ColumnProfile {
	if p := o.streams[stream].profiler; p != nil {
		return p.Profile()
	}
	return nil
}

// hasFailChecks reports whether a stream has a check that stops the load:
// such a stream commits once, at the end, after its checks passed, so bad
// data never replaces good data.
func (o *observer) hasFailChecks(stream string) bool {
	for _, c := range o.streams[stream].checks {
		if c.Severity() == quality.SeverityFail {
			return true
		}
	}
	return false
}

// verdict returns the stream's check results, and an error naming the
// failed checks of severity fail. Call it after close.
func (o *observer) verdict(stream string) ([]quality.CheckResult, error) {
	res := o.streams[stream].checker.Results()
	var failed []string
	for _, r := range res {
		if r.Failed() {
			failed = append(failed, r.Message)
		}
	}
	if len(failed) > 0 {
		return res, fmt.Errorf("stream %s: check failed, nothing committed: %s", stream, strings.Join(failed, "; "))
	}
	return res, nil
}

// rowBytes is the size of a batch's rows as [StreamStats.Bytes] counts it.
func rowBytes(b *connector.Batch) int64 {
	var n int64
	for _, row := range b.Rows {
		for _, v := range row {
			switch x := v.(type) {
			case nil:
			case string:
				n += int64(len(x))
			case []byte:
				n += int64(len(x))
			case bool:
				n++
			case json.RawMessage:
				n += int64(len(x))
			case map[string]any, []any:
				if j, err := json.Marshal(x); err == nil {
					n += int64(len(j))
				}
			default:
				n += 8
			}
		}
	}
	return n
}
