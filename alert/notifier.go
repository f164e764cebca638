package alert

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/tributary-data/tributary/store"
)

// Notifier turns events into pending deliveries: one per enabled rule
// that wants the event and each of the rule's channels. It is a run
// observer of the workers and the late-pipeline notifier of the scheduler.
type Notifier struct {
	Store store.Store
	// BaseURL is the server's address as users reach it
	// (http://tributary.example:8080); events link to their run there.
	BaseURL string
	Logger  *slog.Logger
	// Dispatcher, when set, is woken after deliveries are recorded.
	Dispatcher *Dispatcher
}

func (n *Notifier) logger() *slog.Logger {
	if n.Logger == nil {
		return slog.Default()
	}
	return n.Logger
}

// RunFinished records the deliveries of the events a finished run
// raises. It never fails the run: problems are logged.
func (n *Notifier) RunFinished(ctx context.Context, run *store.Run) {
	if err := n.runFinished(ctx, run); err != nil {
		n.logger().ErrorContext(ctx, "alerts for a finished run", "run_id", run.ID, "pipeline_id", run.PipelineID, "error", err)
	}
}

func (n *Notifier) runFinished(ctx context.Context, run *store.Run) error {
	if !run.Status.Done() {
		return nil
	}
	rules, err := n.Store.EnabledAlertRules(ctx)
	if err != nil || len(rules) == 0 {
		return err
	}
	p, err := n.Store.Pipeline(ctx, run.PipelineID)
	if err != nil {
		return err
	}
	var previous store.RunStatus
	if run.Status == store.Succeeded && wanted(rules, RunRecovered, p.ID) {
		if previous, err = n.Store.PreviousRunStatus(ctx, p.ID, run.ID); err != nil {
			return fmt.Errorf("previous run: %w", err)
		}
	}
	events, err := RunEvents(run, p, previous, n.link("/api/v1/runs/"+run.ID))
	if err != nil {
		return err
	}
	return n.record(ctx, rules, events)
}

// PipelineLate records the deliveries of a pipeline that has no
// successful run for a schedule slot. The scheduler calls it.
func (n *Notifier) PipelineLate(ctx context.Context, p *store.Pipeline, slot time.Time) {
	if err := n.Notify(ctx, LateEvent(p, slot, n.link("/api/v1/pipelines/"+p.ID))); err != nil {
		n.logger().ErrorContext(ctx, "alerts for a late pipeline", "pipeline_id", p.ID, "slot", slot, "error", err)
	}
}

// Notify records the deliveries of one event.
func (n *Notifier) Notify(ctx context.Context, e Event) error {
	rules, err := n.Store.EnabledAlertRules(ctx)
	if err != nil {
		return err
	}
	return n.record(ctx, rules, []Event{e})
}

func (n *Notifier) link(path string) string {
	if n.BaseURL == "" {
		return ""
	}
	return strings.TrimRight(n.BaseURL, "/") + path
}

// wanted reports whether some rule wants events of kind for the pipeline.
func wanted(rules []store.AlertRule, kind, pipelineID string) bool {
	for i := range rules {
		if Matches(&rules[i], kind, pipelineID) {
			return true
		}
	}
	return false
}

// Matches reports whether an enabled rule wants events of kind from the
// pipeline.
func Matches(r *store.AlertRule, kind, pipelineID string) bool {
	return r.Enabled && slices.Contains(r.Events, kind) &&
		(len(r.PipelineIDs) == 0 || slices.Contains(r.PipelineIDs, pipelineID))
}

func (n *Notifier) record(ctx context.Context, rules []store.AlertRule, events []Event) error {
	channels := map[string]*store.AlertChannel{}
	var ds []*store.AlertDelivery
	for _, e := range events {
		pipelineID := ""
		if e.Pipeline != nil {
			pipelineID = e.Pipeline.ID
		}
		payload, err := json.Marshal(e)
		if err != nil {
			return fmt.Errorf("encode %s event: %w", e.Kind, err)
		}
		for i := range rules {
			r := &rules[i]
			if !Matches(r, e.Kind, pipelineID) {
				continue
			}
			for _, chID := range r.ChannelIDs {
				d := &store.AlertDelivery{
					RuleID: r.ID, RuleName: r.Name, ChannelID: chID, Event: e.Kind, PipelineID: pipelineID,
					Key: e.key(), Payload: payload, Status: store.DeliveryPending,
				}
				if e.Run != nil {
					d.RunID = e.Run.ID
				}
				ch, ok := channels[chID]
				if !ok {
					ch, err = n.Store.AlertChannel(ctx, chID)
					if err != nil && !errors.Is(err, store.ErrNotFound) {
						return err
					}
					channels[chID] = ch
				}
				if ch == nil {
					// Recorded as failed, not skipped: the rule's owner
					// sees why nobody was told.
					d.ChannelName = chID
					d.Status = store.DeliveryFailed
					d.LastError = "channel " + chID + " no longer exists"
				} else {
					d.ChannelName = ch.Name
				}
				ds = append(ds, d)
			}
		}
	}
	if len(ds) == 0 {
		return nil
	}
	added, err := n.Store.AddAlertDeliveries(ctx, ds)
	if err != nil {
		return err
	}
	n.logger().InfoContext(ctx, "alert deliveries recorded", "deliveries", added, "events", len(events))
	if added > 0 && n.Dispatcher != nil {
		n.Dispatcher.Wake()
	}
	return nil
}
