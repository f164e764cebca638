package alert

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/tributary-data/tributary/quality"
	"github.com/tributary-data/tributary/store"
)

// Event kinds a rule can subscribe to.
const (
	RunFailed       = "run_failed"
	RunRecovered    = "run_recovered"
	CheckFailed     = "check_failed"
	AnomalyDetected = "anomaly_detected"
	PipelineLate    = "pipeline_late"
	// Test is the kind of the notification sent by a channel's test.
	Test = "test"
)

// Kinds are the event kinds rules may name.
var Kinds = []string{RunFailed, RunRecovered, CheckFailed, AnomalyDetected, PipelineLate}

// Event is what happened, as every channel tells it.
type Event struct {
	Kind    string    `json:"event"`
	Summary string    `json:"summary"`
	Time    time.Time `json:"time"`
	// Pipeline is absent only from a channel's test.
	Pipeline  *PipelineRef `json:"pipeline,omitempty"`
	Run       *RunInfo     `json:"run,omitempty"`
	Counts    *Counts      `json:"counts,omitempty"`
	Checks    []Check      `json:"checks,omitempty"`
	Anomalies []Anomaly    `json:"anomalies,omitempty"`
	// Slot is the schedule slot a late pipeline has not run for.
	Slot *time.Time `json:"slot,omitempty"`
	Link string     `json:"link,omitempty"`
}

// PipelineRef names a pipeline.
type PipelineRef struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// RunInfo describes the run an event is about.
type RunInfo struct {
	ID         string         `json:"id"`
	Status     string         `json:"status"`
	Error      string         `json:"error,omitempty"`
	Trigger    string         `json:"trigger,omitempty"`
	Attempts   int            `json:"attempts"`
	StartedAt  *time.Time     `json:"started_at,omitempty"`
	FinishedAt *time.Time     `json:"finished_at,omitempty"`
	Streams    []StreamCounts `json:"streams"`
}

// StreamCounts are one stream's row counts.
type StreamCounts struct {
	Name         string `json:"name"`
	Read         int64  `json:"read"`
	Written      int64  `json:"written"`
	Quarantined  int64  `json:"quarantined"`
	Filtered     int64  `json:"filtered"`
	Deduplicated int64  `json:"deduplicated"`
}

// Counts are the run's totals over its streams.
type Counts struct {
	Read         int64 `json:"read"`
	Written      int64 `json:"written"`
	Quarantined  int64 `json:"quarantined"`
	Filtered     int64 `json:"filtered"`
	Deduplicated int64 `json:"deduplicated"`
}

// Check is a failed data quality check of one stream.
type Check struct {
	Stream string `json:"stream"`
	quality.CheckResult
}

// Anomaly is a metric of the run far from the pipeline's history; Stream
// is empty for the run as a whole.
type Anomaly struct {
	Stream string `json:"stream,omitempty"`
	quality.Anomaly
}

// runResult is the part of a stored run result that events read: the
// engine's per-stream counts and checks, and anomalies, wherever the run
// recorded them (for the whole run or per stream).
type runResult struct {
	Streams []struct {
		StreamCounts
		Checks    []quality.CheckResult `json:"checks"`
		Anomalies []quality.Anomaly     `json:"anomalies"`
	} `json:"streams"`
	Anomalies []Anomaly `json:"anomalies"`
}

// RunEvents are the events a finished run raises. previous is the status
// of the pipeline's run that finished before it (empty when none), which
// tells a recovery. link is where to read about the run, if known.
func RunEvents(run *store.Run, p *store.Pipeline, previous store.RunStatus, link string) ([]Event, error) {
	var res runResult
	if len(run.Result) > 0 {
		if err := json.Unmarshal(run.Result, &res); err != nil {
			return nil, fmt.Errorf("read result of run %s: %w", run.ID, err)
		}
	}
	at := time.Now().UTC()
	if run.FinishedAt != nil {
		at = *run.FinishedAt
	}
	info := &RunInfo{ID: run.ID, Status: string(run.Status), Error: run.Error, Trigger: string(run.Trigger), Attempts: run.Attempts,
		StartedAt: run.StartedAt, FinishedAt: run.FinishedAt, Streams: []StreamCounts{}}
	counts := &Counts{}
	var checks []Check
	anomalies := res.Anomalies
	for _, s := range res.Streams {
		info.Streams = append(info.Streams, s.StreamCounts)
		counts.Read += s.Read
		counts.Written += s.Written
		counts.Quarantined += s.Quarantined
		counts.Filtered += s.Filtered
		counts.Deduplicated += s.Deduplicated
		for _, c := range s.Checks {
			if !c.Passed {
				checks = append(checks, Check{Stream: s.Name, CheckResult: c})
			}
		}
		for _, a := range s.Anomalies {
			anomalies = append(anomalies, Anomaly{Stream: s.Name, Anomaly: a})
		}
	}
	base := Event{Time: at, Pipeline: &PipelineRef{ID: p.ID, Name: p.Name}, Run: info, Counts: counts, Link: link}
	var out []Event
	add := func(kind, summary string, f func(*Event)) {
		e := base
		e.Kind, e.Summary = kind, summary
		if f != nil {
			f(&e)
		}
		out = append(out, e)
	}
	switch run.Status {
	case store.Failed:
		msg := fmt.Sprintf("Pipeline %s failed", p.Name)
		if run.Error != "" {
			msg += ": " + firstLine(run.Error)
		}
		add(RunFailed, msg, nil)
	case store.Succeeded:
		if previous == store.Failed {
			add(RunRecovered, fmt.Sprintf("Pipeline %s succeeded again after a failed run", p.Name), nil)
		}
	}
	if len(checks) > 0 {
		names := make([]string, len(checks))
		for i, c := range checks {
			names[i] = c.Stream + ": " + c.CheckResult.Check
		}
		add(CheckFailed, fmt.Sprintf("Pipeline %s: %d check(s) failed (%s)", p.Name, len(checks), strings.Join(names, "; ")),
			func(e *Event) { e.Checks = checks })
	}
	if len(anomalies) > 0 {
		names := make([]string, len(anomalies))
		for i, a := range anomalies {
			names[i] = a.Metric + " " + a.Direction
			if a.Stream != "" {
				names[i] = a.Stream + ": " + names[i]
			}
		}
		add(AnomalyDetected, fmt.Sprintf("Pipeline %s: anomaly detected (%s)", p.Name, strings.Join(names, "; ")),
			func(e *Event) { e.Anomalies = anomalies })
	}
	return out, nil
}

// LateEvent is the event of a scheduled pipeline with no successful run
// for its slot.
func LateEvent(p *store.Pipeline, slot time.Time, link string) Event {
	slot = slot.UTC()
	return Event{
		Kind: PipelineLate, Time: time.Now().UTC(),
		Summary:  fmt.Sprintf("Pipeline %s is late: no successful run for its %s slot", p.Name, slot.Format(time.RFC3339)),
		Pipeline: &PipelineRef{ID: p.ID, Name: p.Name}, Slot: &slot, Link: link,
	}
}

// TestEvent is the notification a channel's test sends.
func TestEvent(channel string) Event {
	return Event{Kind: Test, Time: time.Now().UTC(), Summary: fmt.Sprintf("Test notification from Tributary to channel %s", channel)}
}

// key identifies an event, so that an event told twice is delivered once.
func (e *Event) key() string {
	switch {
	case e.Run != nil:
		return e.Kind + ":" + e.Run.ID
	case e.Slot != nil && e.Pipeline != nil:
		return e.Kind + ":" + e.Pipeline.ID + ":" + e.Slot.UTC().Format(time.RFC3339Nano)
	}
	return ""
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
