package alert_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tributary-data/tributary/alert"
	"github.com/tributary-data/tributary/store"
)

// TestRuleKinds runs a pipeline through a history of runs and checks
// that each rule fires for its event and for no other.
func TestRuleKinds(t *testing.T) {
	const (
		okResult      = `{"status":"succeeded","streams":[{"name":"orders","read":10,"written":10}]}`
		checkResult   = `{"status":"succeeded","streams":[{"name":"orders","read":10,"written":10,"checks":[{"check":"row_count >= 100","kind":"row_count","severity":"warn","passed":false,"observed":10},{"check":"unique(id)","kind":"unique","severity":"fail","passed":true,"observed":0}]}]}`
		anomalyResult = `{"status":"succeeded","streams":[{"name":"orders","read":1,"written":1}],"anomalies":[{"metric":"rows_read","value":1,"median":1000,"score":-9.5,"direction":"low","message":"far below"}]}`
		streamAnomaly = `{"status":"succeeded","streams":[{"name":"orders","read":1,"written":1,"anomalies":[{"metric":"duration_seconds","value":600,"median":60,"score":12,"direction":"high"}]}]}`
	)
	steps := []struct {
		name   string
		status store.RunStatus
		result string
		want   []string // rule names that fire, sorted
	}{
		{"first success: nothing to recover from", store.Succeeded, okResult, nil},
		{"failure", store.Failed, `{"status":"failed","error":"connection refused","streams":[]}`, []string{"any failure", "failures of orders"}},
		{"success after failure recovers", store.Succeeded, okResult, []string{"recovered"}},
		{"second success", store.Succeeded, okResult, nil},
		{"failed warn check", store.Succeeded, checkResult, []string{"checks"}},
		{"run anomaly", store.Succeeded, anomalyResult, []string{"anomalies"}},
		{"stream anomaly", store.Succeeded, streamAnomaly, []string{"anomalies"}},
		{"failure again", store.Failed, ``, []string{"any failure", "failures of orders"}},
		{"cancelled is neither", store.Cancelled, ``, nil},
		{"success after failure and cancel recovers", store.Succeeded, okResult, []string{"recovered"}},
	}
	eachStore(t, func(t *testing.T, s store.Store) {
		ctx := context.Background()
		p := &store.Pipeline{Name: "orders"}
		other := &store.Pipeline{Name: "other"}
		for _, pl := range []*store.Pipeline{p, other} {
			if err := s.CreatePipeline(ctx, pl, json.RawMessage(`{}`)); err != nil {
				t.Fatal(err)
			}
		}
		ch := mustChannel(t, s, "hook", alert.Webhook, map[string]any{"url": "http://127.0.0.1:1/", "secret": "k"})
		rules := []store.AlertRule{
			{Name: "any failure", Events: []string{alert.RunFailed}, Enabled: true},
			{Name: "failures of orders", Events: []string{alert.RunFailed}, PipelineIDs: []string{p.ID}, Enabled: true},
			{Name: "failures of other", Events: []string{alert.RunFailed}, PipelineIDs: []string{other.ID}, Enabled: true},
			{Name: "disabled", Events: alert.Kinds, Enabled: false},
			{Name: "recovered", Events: []string{alert.RunRecovered}, Enabled: true},
			{Name: "checks", Events: []string{alert.CheckFailed}, Enabled: true},
			{Name: "anomalies", Events: []string{alert.AnomalyDetected}, Enabled: true},
			{Name: "late", Events: []string{alert.PipelineLate}, PipelineIDs: []string{p.ID}, Enabled: true},
		}
		for i := range rules {
			rules[i].ChannelIDs = []string{ch.ID}
			if err := s.CreateAlertRule(ctx, &rules[i]); err != nil {
				t.Fatal(err)
			}
		}
		n := &alert.Notifier{Store: s, BaseURL: "http://tributary.test/"}
		for _, st := range steps {
			run, err := s.CreateRun(ctx, store.NewRun{PipelineID: p.ID})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.ClaimRun(ctx, run.ID, time.Now().Add(time.Minute)); err != nil {
				t.Fatal(err)
			}
			var res json.RawMessage
			if st.result != "" {
				res = json.RawMessage(st.result)
			}
			if st.status == store.Cancelled {
				err = s.CancelRun(ctx, run.ID)
			} else {
				err = s.FinishRun(ctx, run.ID, st.status, "connection refused", res)
			}
			if err != nil {
				t.Fatal(err)
			}
			stored, err := s.Run(ctx, run.ID)
			if err != nil {
				t.Fatal(err)
			}
			n.RunFinished(ctx, stored)
			n.RunFinished(ctx, stored) // told twice, delivered once
			ds, err := s.AlertDeliveries(ctx, store.DeliveryFilter{RunID: run.ID}, store.Page{})
			if err != nil {
				t.Fatal(err)
			}
			var fired []string
			for _, d := range ds {
				fired = append(fired, d.RuleName)
				if d.Status != store.DeliveryPending || d.ChannelName != "hook" || d.PipelineID != p.ID {
					t.Errorf("%s: delivery %+v", st.name, d)
				}
				var e alert.Event
				if err := json.Unmarshal(d.Payload, &e); err != nil {
					t.Fatal(err)
				}
				if e.Kind != d.Event || e.Pipeline.Name != "orders" || e.Run.ID != run.ID || e.Link != "http://tributary.test/api/v1/runs/"+run.ID {
					t.Errorf("%s: event %+v", st.name, e)
				}
				switch e.Kind {
				case alert.CheckFailed:
					if len(e.Checks) != 1 || e.Checks[0].Stream != "orders" || e.Checks[0].CheckResult.Check != "row_count >= 100" {
						t.Errorf("checks %+v", e.Checks)
					}
				case alert.AnomalyDetected:
					if len(e.Anomalies) != 1 || !strings.Contains(e.Summary, e.Anomalies[0].Metric) {
						t.Errorf("anomalies %+v in %q", e.Anomalies, e.Summary)
					}
				case alert.RunFailed:
					if !strings.Contains(e.Summary, "connection refused") || e.Run.Status != "failed" {
						t.Errorf("failure event %+v", e)
					}
				}
			}
			slices.Sort(fired)
			if !slices.Equal(fired, st.want) {
				t.Errorf("%s: rules fired %v, want %v", st.name, fired, st.want)
			}
		}

		slot := time.Date(2026, 1, 2, 3, 0, 0, 0, time.UTC)
		n.PipelineLate(ctx, p, slot)
		n.PipelineLate(ctx, p, slot)
		n.PipelineLate(ctx, other, slot) // the late rule is scoped to orders
		ds, err := s.AlertDeliveries(ctx, store.DeliveryFilter{Event: alert.PipelineLate}, store.Page{})
		if err != nil {
			t.Fatal(err)
		}
		if len(ds) != 1 || ds[0].RuleName != "late" || ds[0].PipelineID != p.ID {
			t.Fatalf("late deliveries %+v", ds)
		}
		var e alert.Event
		if err := json.Unmarshal(ds[0].Payload, &e); err != nil || e.Slot == nil || !e.Slot.Equal(slot) || e.Run != nil {
			t.Fatalf("late event %+v, %v", e, err)
		}
		n.PipelineLate(ctx, p, slot.Add(time.Hour))
		all, err := s.AlertDeliveries(ctx, store.DeliveryFilter{RuleID: ds[0].RuleID}, store.Page{})
		if err != nil || len(all) != 2 {
			t.Fatalf("late deliveries after the next slot: %d, %v", len(all), err)
		}
	})
}

// TestDeletedChannelRecorded: a rule naming a channel that no longer
// exists records a failed delivery instead of dropping the event.
func TestDeletedChannelRecorded(t *testing.T) {
	eachStore(t, func(t *testing.T, s store.Store) {
		ctx := context.Background()
		p := &store.Pipeline{Name: "orders"}
		if err := s.CreatePipeline(ctx, p, json.RawMessage(`{}`)); err != nil {
			t.Fatal(err)
		}
		r := &store.AlertRule{Name: "late", Events: []string{alert.PipelineLate}, ChannelIDs: []string{"gone"}, Enabled: true}
		if err := s.CreateAlertRule(ctx, r); err != nil {
			t.Fatal(err)
		}
		(&alert.Notifier{Store: s}).PipelineLate(ctx, p, time.Now())
		ds, err := s.AlertDeliveries(ctx, store.DeliveryFilter{}, store.Page{})
		if err != nil {
			t.Fatal(err)
		}
		if len(ds) != 1 || ds[0].Status != store.DeliveryFailed || !strings.Contains(ds[0].LastError, "no longer exists") {
			t.Fatalf("deliveries %+v", ds)
		}
	})
}
