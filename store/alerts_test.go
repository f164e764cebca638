package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/tributary-data/tributary/store"
)

func TestAlertChannelsAndRules(t *testing.T) {
	each(t, func(t *testing.T, s store.Store) {
		ctx := context.Background()
		c := &store.AlertChannel{Name: "ops", Type: "webhook", Config: map[string]any{"url": "http://x", "secret": "k"}}
		if err := s.CreateAlertChannel(ctx, c); err != nil {
			t.Fatal(err)
		}
		if err := s.CreateAlertChannel(ctx, &store.AlertChannel{Name: "ops", Type: "email"}); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("duplicate channel: %v", err)
		}
		c.Config["url"] = "http://y"
		if err := s.UpdateAlertChannel(ctx, c); err != nil {
			t.Fatal(err)
		}
		got, err := s.AlertChannel(ctx, c.ID)
		if err != nil || got.Config["url"] != "http://y" || got.Config["secret"] != "k" || got.Type != "webhook" {
			t.Fatalf("channel %+v, %v", got, err)
		}
		r := &store.AlertRule{Name: "failures", Events: []string{"run_failed"}, ChannelIDs: []string{c.ID}, Enabled: true}
		if err := s.CreateAlertRule(ctx, r); err != nil {
			t.Fatal(err)
		}
		off := &store.AlertRule{Name: "off", Events: []string{"pipeline_late"}, PipelineIDs: []string{"p"}, ChannelIDs: []string{c.ID}}
		if err := s.CreateAlertRule(ctx, off); err != nil {
			t.Fatal(err)
		}
		if err := s.CreateAlertRule(ctx, &store.AlertRule{Name: "off"}); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("duplicate rule: %v", err)
		}
		enabled, err := s.EnabledAlertRules(ctx)
		if err != nil || len(enabled) != 1 || enabled[0].ID != r.ID || len(enabled[0].PipelineIDs) != 0 {
			t.Fatalf("enabled rules %+v, %v", enabled, err)
		}
		off.Enabled, off.Events = true, []string{"pipeline_late", "run_failed"}
		if err := s.UpdateAlertRule(ctx, off); err != nil {
			t.Fatal(err)
		}
		all, err := s.AlertRules(ctx, store.Page{Limit: 1, Offset: 1})
		if err != nil || len(all) != 1 || all[0].Name != "off" || !all[0].Enabled || len(all[0].Events) != 2 || all[0].PipelineIDs[0] != "p" {
			t.Fatalf("rules page %+v, %v", all, err)
		}
		if err := s.DeleteAlertRule(ctx, off.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := s.AlertRule(ctx, off.ID); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("deleted rule: %v", err)
		}
		if err := s.DeleteAlertChannel(ctx, c.ID); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteAlertChannel(ctx, c.ID); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("delete twice: %v", err)
		}
	})
}

func TestAlertDeliveryClaims(t *testing.T) {
	each(t, func(t *testing.T, s store.Store) {
		ctx := context.Background()
		var ds []*store.AlertDelivery
		for i := range 30 {
			ds = append(ds, &store.AlertDelivery{RuleID: "r", ChannelID: "c", ChannelName: "ops", Event: "run_failed",
				RunID: fmt.Sprintf("run%02d", i), Key: fmt.Sprintf("run_failed:run%02d", i), Payload: json.RawMessage(`{"event":"run_failed"}`)})
		}
		if n, err := s.AddAlertDeliveries(ctx, ds); err != nil || n != 30 {
			t.Fatalf("added %d, %v", n, err)
		}
		again := []*store.AlertDelivery{{RuleID: "r", ChannelID: "c", Event: "run_failed", Key: "run_failed:run00"},
			{RuleID: "r2", ChannelID: "c", Event: "run_failed", Key: "run_failed:run00"}}
		if n, err := s.AddAlertDeliveries(ctx, again); err != nil || n != 1 {
			t.Fatalf("same event again: added %d, %v; want only the other rule's", n, err)
		}

		// Four senders claim at once: every delivery goes to exactly one.
		var mu sync.Mutex
		claimed := map[string]int{}
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				for {
					got, err := s.ClaimAlertDeliveries(ctx, 5, time.Now().Add(time.Minute))
					if err != nil {
						t.Error(err)
						return
					}
					if len(got) == 0 {
						return
					}
					mu.Lock()
					for _, d := range got {
						claimed[d.ID]++
						if d.Status != store.DeliverySending || d.Attempts != 1 {
							t.Errorf("claimed %+v", d)
						}
					}
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if len(claimed) != 31 {
			t.Fatalf("%d deliveries claimed, want 31", len(claimed))
		}
		for id, n := range claimed {
			if n != 1 {
				t.Errorf("delivery %s claimed %d times", id, n)
			}
		}

		// Outcomes: one sent, one retried later, one retried now.
		first := ds[0]
		for i, d := range ds[:3] {
			d.Attempts = 1
			switch i {
			case 0:
				at := time.Now()
				d.Status, d.SentAt = store.DeliverySent, &at
			case 1:
				d.Status, d.LastError, d.NextAttemptAt = store.DeliveryPending, "503", time.Now().Add(time.Hour)
			case 2:
				d.Status, d.LastError, d.NextAttemptAt = store.DeliveryPending, "timeout", time.Now().Add(-time.Second)
			}
			if err := s.FinishAlertDelivery(ctx, d); err != nil {
				t.Fatal(err)
			}
		}
		got, err := s.ClaimAlertDeliveries(ctx, 10, time.Now().Add(-time.Second))
		if err != nil || len(got) != 1 || got[0].ID != ds[2].ID || got[0].Attempts != 2 || got[0].LastError != "timeout" {
			t.Fatalf("due again: %+v, %v", got, err)
		}
		// Its lease has already expired (its sender died): claimed again.
		got, err = s.ClaimAlertDeliveries(ctx, 10, time.Now().Add(time.Minute))
		if err != nil || len(got) != 1 || got[0].ID != ds[2].ID || got[0].Attempts != 3 {
			t.Fatalf("expired lease: %+v, %v", got, err)
		}

		one, err := s.AlertDelivery(ctx, first.ID)
		if err != nil || one.Status != store.DeliverySent || one.SentAt == nil || string(one.Payload) == "" {
			t.Fatalf("sent delivery %+v, %v", one, err)
		}
		list := func(f store.DeliveryFilter, p store.Page) []store.AlertDelivery {
			t.Helper()
			out, err := s.AlertDeliveries(ctx, f, p)
			if err != nil {
				t.Fatal(err)
			}
			return out
		}
		if n := len(list(store.DeliveryFilter{Status: []store.DeliveryStatus{store.DeliverySent, store.DeliveryPending}}, store.Page{})); n != 2 {
			t.Errorf("sent or pending: %d, want 2", n)
		}
		if l := list(store.DeliveryFilter{RunID: "run01", Event: "run_failed"}, store.Page{}); len(l) != 1 || l[0].ID != ds[1].ID {
			t.Errorf("by run: %+v", l)
		}
		if n := len(list(store.DeliveryFilter{RuleID: "r2"}, store.Page{})); n != 1 {
			t.Errorf("by rule: %d", n)
		}
		if n := len(list(store.DeliveryFilter{From: time.Now().Add(time.Hour)}, store.Page{})); n != 0 {
			t.Errorf("from the future: %d", n)
		}
		if n := len(list(store.DeliveryFilter{From: time.Now().Add(-time.Hour), To: time.Now().Add(time.Hour)}, store.Page{Limit: 10, Offset: 25})); n != 6 {
			t.Errorf("last page: %d, want 6", n)
		}
	})
}

func TestPreviousRunStatus(t *testing.T) {
	each(t, func(t *testing.T, s store.Store) {
		ctx := context.Background()
		p := &store.Pipeline{Name: "orders"}
		if err := s.CreatePipeline(ctx, p, json.RawMessage(`{}`)); err != nil {
			t.Fatal(err)
		}
		steps := []struct {
			status, previous store.RunStatus
		}{
			{store.Failed, ""},
			{store.Cancelled, store.Failed},
			{store.Succeeded, store.Failed}, // the cancelled run does not count
			{store.Succeeded, store.Succeeded},
		}
		for i, st := range steps {
			r, err := s.CreateRun(ctx, store.NewRun{PipelineID: p.ID})
			if err != nil {
				t.Fatal(err)
			}
			if st.status == store.Cancelled {
				err = s.CancelRun(ctx, r.ID)
			} else {
				err = s.FinishRun(ctx, r.ID, st.status, "", nil)
			}
			if err != nil {
				t.Fatal(err)
			}
			prev, err := s.PreviousRunStatus(ctx, p.ID, r.ID)
			if err != nil || prev != st.previous {
				t.Fatalf("run %d (%s): previous %q, %v; want %q", i, st.status, prev, err, st.previous)
			}
		}
	})
}
