package alert_test

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/tributary-data/tributary/alert"
	"github.com/tributary-data/tributary/scheduler"
	"github.com/tributary-data/tributary/store"
)

// queued stands in for the run queue: late detection needs runs that
// stay queued.
type queued struct{}

func (queued) Enqueue(context.Context, string) error { return nil }

// TestLatePipelineThroughTheScheduler: the scheduler's late detection
// tells the notifier, and the webhook receives one signed pipeline_late
// notification per slot.
func TestLatePipelineThroughTheScheduler(t *testing.T) {
	eachStore(t, func(t *testing.T, s store.Store) {
		ctx := context.Background()
		rc := &receiver{t: t, secret: "late-secret"}
		srv := httptest.NewServer(rc)
		defer srv.Close()
		c := mustChannel(t, s, "late hook", alert.Webhook, map[string]any{"url": srv.URL, "secret": rc.secret})
		spec, _ := json.Marshal(map[string]any{
			"version": 1, "name": "hourly", "schedule": "@hourly", "options": map[string]any{"late_after": "10m"},
			"source":      map[string]any{"connection": "files", "streams": []any{map[string]any{"name": "x"}}},
			"destination": map[string]any{"connection": "warehouse"},
		})
		p := &store.Pipeline{Name: "hourly"}
		if err := s.CreatePipeline(ctx, p, spec); err != nil {
			t.Fatal(err)
		}
		if err := s.CreateAlertRule(ctx, &store.AlertRule{Name: "late", Events: []string{alert.PipelineLate}, ChannelIDs: []string{c.ID}, Enabled: true}); err != nil {
			t.Fatal(err)
		}
		d := dispatch(t, s, nil)
		n := &alert.Notifier{Store: s, BaseURL: "http://tributary.test", Dispatcher: d}
		sc := &scheduler.Scheduler{Store: s, Queue: queued{}, Notifier: n}
		slot := time.Date(2031, 1, 6, 9, 0, 0, 0, time.UTC)
		for _, at := range []time.Duration{-time.Minute, 0, 9 * time.Minute, 11 * time.Minute, 12 * time.Minute} {
			if err := sc.Tick(ctx, slot.Add(at)); err != nil {
				t.Fatal(err)
			}
		}
		ds := settled(t, s, store.DeliveryFilter{Event: alert.PipelineLate})
		if len(ds) != 1 || ds[0].Status != store.DeliverySent || ds[0].PipelineID != p.ID {
			t.Fatalf("late deliveries %+v", ds)
		}
		bodies, valid := rc.seen()
		if len(bodies) != 1 || !valid[0] {
			t.Fatalf("receiver saw %v (verified %v)", bodies, valid)
		}
		b := bodies[0]
		if b["event"] != "pipeline_late" || b["slot"] != "2031-01-06T09:00:00Z" || b["pipeline"].(map[string]any)["name"] != "hourly" ||
			b["link"] != "http://tributary.test/api/v1/pipelines/"+p.ID || b["run"] != nil {
			t.Fatalf("late body %v", b)
		}
	})
}
