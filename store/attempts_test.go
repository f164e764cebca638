package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/tributary-data/tributary/store"
)

func newRun(t *testing.T, s store.Store, name string) *store.Run {
	t.Helper()
	ctx := context.Background()
	p := &store.Pipeline{Name: name}
	if err := s.CreatePipeline(ctx, p, json.RawMessage(`{"version":1}`)); err != nil {
		t.Fatal(err)
	}
	r, err := s.CreateRun(ctx, store.NewRun{PipelineID: p.ID})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestAttemptLease walks a run through a failed attempt with a retry, a
// worker that dies (rescued by the sweep) and one taken over directly, and
// checks that only the attempt holding the run may renew or end it.
func TestAttemptLease(t *testing.T) {
	each(t, func(t *testing.T, s store.Store) {
		ctx := context.Background()
		run := newRun(t, s, "leased")
		live := time.Now().Add(time.Minute)

		r1, prev, err := s.ClaimAttempt(ctx, run.ID, "a:1", live)
		if err != nil || prev != nil || r1.Attempts != 1 {
			t.Fatalf("first claim: %+v, prev %+v, %v", r1, prev, err)
		}
		if _, _, err := s.ClaimAttempt(ctx, run.ID, "b:2", live); !errors.Is(err, store.ErrLeaseHeld) || !errors.Is(err, store.ErrBusy) {
			t.Fatalf("claim of a held run: %v, want ErrLeaseHeld", err)
		}
		if st, err := s.RenewAttempt(ctx, run.ID, 1, live, json.RawMessage(`{"streams":[]}`)); err != nil || st != store.Running {
			t.Fatalf("renew: %s, %v", st, err)
		}
		retryAt := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
		if err := s.EndAttempt(ctx, run.ID, 1, store.AttemptEnd{Outcome: store.AttemptFailed, Status: store.Queued, Error: "boom", RetryAt: &retryAt}); err != nil {
			t.Fatal(err)
		}
		got, err := s.Run(ctx, run.ID)
		if err != nil || got.Status != store.Queued || got.Error != "boom" || got.FinishedAt != nil {
			t.Fatalf("run after a failed attempt with a retry: %+v, %v", got, err)
		}
		if err := s.EndAttempt(ctx, run.ID, 1, store.AttemptEnd{Outcome: store.AttemptSucceeded, Status: store.Succeeded}); !errors.Is(err, store.ErrLeaseLost) {
			t.Fatalf("second end of one attempt: %v, want ErrLeaseLost", err)
		}

		// Attempt 2 dies: its lease expires and a sweep queues the run again.
		if _, prev, err = s.ClaimAttempt(ctx, run.ID, "b:2", time.Now().Add(-time.Second)); err != nil || prev == nil || prev.Outcome != store.AttemptFailed {
			t.Fatalf("claim after a failure: prev %+v, %v", prev, err)
		}
		lost, err := s.RescueRuns(ctx, time.Now())
		if err != nil || len(lost) != 1 || lost[0].Worker != "b:2" || lost[0].Attempt != 2 || lost[0].Outcome != store.AttemptLost {
			t.Fatalf("rescue: %+v, %v", lost, err)
		}
		if again, err := s.RescueRuns(ctx, time.Now()); err != nil || len(again) != 0 {
			t.Fatalf("second rescue: %+v, %v", again, err)
		}
		if _, err := s.RenewAttempt(ctx, run.ID, 2, live, nil); !errors.Is(err, store.ErrLeaseLost) {
			t.Fatalf("renewal by a rescued attempt: %v, want ErrLeaseLost", err)
		}
		if _, prev, err = s.ClaimAttempt(ctx, run.ID, "c:3", time.Now().Add(-time.Second)); err != nil || prev.Worker != "b:2" || prev.Outcome != store.AttemptLost {
			t.Fatalf("claim after a rescue: prev %+v, %v", prev, err)
		}

		// Attempt 3 dies too, and attempt 4 takes its expired lease over
		// before any sweep.
		r4, prev, err := s.ClaimAttempt(ctx, run.ID, "d:4", live)
		if err != nil || r4.Attempts != 4 || prev.Worker != "c:3" || prev.Outcome != store.AttemptLost {
			t.Fatalf("takeover: %+v, prev %+v, %v", r4, prev, err)
		}
		if _, err := s.RenewAttempt(ctx, run.ID, 3, live, nil); !errors.Is(err, store.ErrLeaseLost) {
			t.Fatalf("renewal by a taken-over attempt: %v, want ErrLeaseLost", err)
		}
		if err := s.EndAttempt(ctx, run.ID, 3, store.AttemptEnd{Outcome: store.AttemptSucceeded, Status: store.Succeeded}); !errors.Is(err, store.ErrLeaseLost) {
			t.Fatalf("end by a taken-over attempt: %v, want ErrLeaseLost", err)
		}
		if err := s.EndAttempt(ctx, run.ID, 4, store.AttemptEnd{Outcome: store.AttemptSucceeded, Status: store.Succeeded, Result: json.RawMessage(`{"streams":[{"name":"s","read":3}]}`)}); err != nil {
			t.Fatal(err)
		}
		got, err = s.Run(ctx, run.ID)
		if err != nil || got.Status != store.Succeeded || got.FinishedAt == nil || got.Error != "" || got.Attempts != 4 {
			t.Fatalf("finished run: %+v, %v", got, err)
		}

		as, err := s.Attempts(ctx, run.ID)
		if err != nil {
			t.Fatal(err)
		}
		want := []struct {
			worker  string
			outcome store.Outcome
		}{{"a:1", store.AttemptFailed}, {"b:2", store.AttemptLost}, {"c:3", store.AttemptLost}, {"d:4", store.AttemptSucceeded}}
		if len(as) != len(want) {
			t.Fatalf("attempts %+v", as)
		}
		for i, w := range want {
			a := as[i]
			if a.Attempt != i+1 || a.Worker != w.worker || a.Outcome != w.outcome || a.FinishedAt == nil {
				t.Errorf("attempt %d = %+v, want %s %s", i+1, a, w.worker, w.outcome)
			}
		}
		if as[0].Error != "boom" || as[0].RetryAt == nil || !as[0].RetryAt.Equal(retryAt) {
			t.Errorf("failed attempt %+v, want error boom and retry at %v", as[0], retryAt)
		}
		if _, err := s.Attempts(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("attempts of a missing run: %v", err)
		}
	})
}

// TestAttemptCancelled: a run cancelled while an attempt runs stays
// cancelled; the renewal says so and the attempt's end records the result.
func TestAttemptCancelled(t *testing.T) {
	each(t, func(t *testing.T, s store.Store) {
		ctx := context.Background()
		run := newRun(t, s, "cancelled")
		if _, _, err := s.ClaimAttempt(ctx, run.ID, "a:1", time.Now().Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		if err := s.CancelRun(ctx, run.ID); err != nil {
			t.Fatal(err)
		}
		if st, n, err := s.RunState(ctx, run.ID); err != nil || st != store.Cancelled || n != 1 {
			t.Fatalf("state: %s %d %v", st, n, err)
		}
		if st, err := s.RenewAttempt(ctx, run.ID, 1, time.Now().Add(time.Minute), nil); err != nil || st != store.Cancelled {
			t.Fatalf("renewal of a cancelled run: %s, %v", st, err)
		}
		if err := s.EndAttempt(ctx, run.ID, 1, store.AttemptEnd{Outcome: store.AttemptFailed, Status: store.Failed, Error: "context canceled",
			Result: json.RawMessage(`{"streams":[{"name":"s","read":2}]}`)}); err != nil {
			t.Fatal(err)
		}
		got, err := s.Run(ctx, run.ID)
		if err != nil || got.Status != store.Cancelled || string(got.Result) == "" {
			t.Fatalf("run %+v, %v", got, err)
		}
		as, err := s.Attempts(ctx, run.ID)
		if err != nil || len(as) != 1 || as[0].Outcome != store.AttemptCancelled {
			t.Fatalf("attempts %+v, %v", as, err)
		}
		if lost, err := s.RescueRuns(ctx, time.Now().Add(time.Hour)); err != nil || len(lost) != 0 {
			t.Fatalf("a cancelled run is not rescued: %+v, %v", lost, err)
		}
	})
}
