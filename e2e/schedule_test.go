package e2e

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

type scheduledRun struct {
	ID         string     `json:"id"`
	Status     string     `json:"status"`
	Trigger    string     `json:"trigger"`
	Error      string     `json:"error"`
	CreatedAt  time.Time  `json:"created_at"`
	StartedAt  *time.Time `json:"started_at"`
	FinishedAt *time.Time `json:"finished_at"`
}

// TestServeSchedulesAndDependencies drives the scheduler through the
// binary on both stores: a pipeline with `schedule: "@every 2s"` gets runs
// from `tributary serve` on its own, each started soon after its slot; a
// pipeline depending on it runs after it succeeds; disabled, it gets no
// more runs.
func TestServeSchedulesAndDependencies(t *testing.T) {
	for _, kind := range []string{"sqlite", "postgres"} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			var env []string
			if kind == "postgres" {
				conn := needPostgres(t)
				ctx := context.Background()
				meta := "e2e_sched_" + strings.ReplaceAll(uuid.NewString()[:8], "-", "")
				if _, err := conn.Exec(ctx, `CREATE SCHEMA `+meta); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() {
					if _, err := conn.Exec(context.Background(), `DROP SCHEMA `+meta+` CASCADE`); err != nil {
						t.Error(err)
					}
				})
				env = append(env, pgStoreEnv(pgURL+"&search_path="+meta)...)
			}
			dir := t.TempDir()
			writeFile(t, filepath.Join(dir, "data", "people.csv"), "id,name\n1,Ann\n2,Bob\n")
			s := serve(t, dir, env)

			pipe := func(name string, extra map[string]any) string {
				spec := map[string]any{
					"version": 1, "name": name,
					"source": map[string]any{"connector": "csv", "config": map[string]any{"path": filepath.Join(dir, "data", "people.csv")},
						"streams": []any{map[string]any{"name": "people", "sync_mode": "full_refresh_overwrite"}}},
					"destination": map[string]any{"connector": "jsonl", "config": map[string]any{"path": filepath.Join(dir, "out", name)}},
				}
				for k, v := range extra {
					spec[k] = v
				}
				var created struct {
					ID string `json:"id"`
				}
				s.json(201, "POST", "/api/v1/pipelines", spec, &created)
				return created.ID
			}
			runsOf := func(id string) []scheduledRun {
				var out struct {
					Items []scheduledRun `json:"items"`
				}
				s.json(200, "GET", "/api/v1/pipelines/"+id+"/runs?limit=500", nil, &out)
				return out.Items
			}

			ticker := pipe("ticker", map[string]any{"schedule": "@every 2s"})
			after := pipe("after-ticker", map[string]any{"depends_on": []string{"ticker"}})

			// Two scheduled runs of the ticker succeeded, and a dependency
			// run of the other one followed.
			deadline := time.Now().Add(60 * time.Second)
			for {
				done, deps := 0, 0
				for _, r := range runsOf(ticker) {
					if r.Trigger == "schedule" && r.Status == "succeeded" {
						done++
					}
				}
				for _, r := range runsOf(after) {
					if r.Trigger == "dependency" && r.Status == "succeeded" {
						deps++
					}
				}
				if done >= 2 && deps >= 1 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("after 60s: %d scheduled runs of ticker and %d dependency runs succeeded\nticker: %+v\nafter: %+v\n%s", done, deps, runsOf(ticker), runsOf(after), s.logs)
				}
				time.Sleep(200 * time.Millisecond)
			}

			var slots struct {
				Items []struct {
					Slot  time.Time `json:"slot"`
					RunID string    `json:"run_id"`
				} `json:"items"`
			}
			s.json(200, "GET", "/api/v1/pipelines/"+ticker+"/slots", nil, &slots)
			bySlot := map[string]time.Time{}
			for _, sl := range slots.Items {
				if sl.Slot.Unix()%2 != 0 || sl.Slot.Nanosecond() != 0 {
					t.Errorf("slot %v of @every 2s is not on an even second", sl.Slot)
				}
				if sl.RunID != "" {
					bySlot[sl.RunID] = sl.Slot
				}
			}
			var firstDone time.Time
			for _, r := range runsOf(ticker) {
				if r.Trigger != "schedule" {
					t.Errorf("ticker run %s triggered by %s", r.ID, r.Trigger)
					continue
				}
				slot, ok := bySlot[r.ID]
				if !ok {
					t.Errorf("run %s has no slot", r.ID)
					continue
				}
				// The benchmark holds runs to 5 s under a thousand-run burst;
				// here the bound leaves room for a loaded test machine.
				if r.StartedAt != nil && r.StartedAt.Sub(slot) > 15*time.Second {
					t.Errorf("run %s started %v after its slot %v", r.ID, r.StartedAt.Sub(slot), slot)
				}
				if r.Status == "succeeded" && (firstDone.IsZero() || r.FinishedAt.Before(firstDone)) {
					firstDone = *r.FinishedAt
				}
			}
			for _, r := range runsOf(after) {
				if r.Trigger != "dependency" || r.CreatedAt.Before(firstDone) {
					t.Errorf("run %s of after-ticker (%s, created %v) before ticker's first success at %v", r.ID, r.Trigger, r.CreatedAt, firstDone)
				}
			}

			var view struct {
				Schedule string      `json:"schedule"`
				Timezone string      `json:"timezone"`
				NextRuns []time.Time `json:"next_runs"`
				LastSlot *struct {
					RunID string `json:"run_id"`
				} `json:"last_slot"`
				Upstreams []struct {
					Name string `json:"name"`
				} `json:"upstreams"`
			}
			s.json(200, "GET", "/api/v1/pipelines/"+ticker+"/schedule", nil, &view)
			if view.Schedule != "@every 2s" || view.Timezone != "UTC" || len(view.NextRuns) != 5 || view.LastSlot == nil {
				t.Errorf("ticker's schedule %+v", view)
			}
			s.json(200, "GET", "/api/v1/pipelines/"+after+"/schedule", nil, &view)
			if len(view.Upstreams) != 1 || view.Upstreams[0].Name != "ticker" {
				t.Errorf("after-ticker's upstreams %+v", view.Upstreams)
			}

			// Disabled, the ticker gets no more runs.
			s.json(200, "PATCH", "/api/v1/pipelines/"+ticker, map[string]any{"enabled": false}, &struct{}{})
			time.Sleep(1500 * time.Millisecond) // a tick in flight may still fire
			before := len(runsOf(ticker))
			time.Sleep(5 * time.Second)
			if n := len(runsOf(ticker)); n != before {
				t.Errorf("disabled ticker got %d more runs", n-before)
			}
		})
	}
}

// TestSchedulerRunsInWorkers serves the API alone (`serve --workers 0`,
// no River client, no scheduler) beside one `tributary worker` on
// PostgreSQL: the worker, the only River client and so the leader, runs
// the scheduler, and a scheduled pipeline gets its runs.
func TestSchedulerRunsInWorkers(t *testing.T) {
	conn := needPostgres(t)
	ctx := context.Background()
	meta := "e2e_schedw_" + strings.ReplaceAll(uuid.NewString()[:8], "-", "")
	if _, err := conn.Exec(ctx, `CREATE SCHEMA `+meta); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := conn.Exec(context.Background(), `DROP SCHEMA `+meta+` CASCADE`); err != nil {
			t.Error(err)
		}
	})
	env := pgStoreEnv(pgURL + "&search_path=" + meta)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "data", "people.csv"), "id,name\n1,Ann\n2,Bob\n")
	s := serve(t, dir, env, "--workers", "0")
	startWorker(t, dir, env, "--workers", "1")

	var created struct {
		ID string `json:"id"`
	}
	s.json(201, "POST", "/api/v1/pipelines", map[string]any{
		"version": 1, "name": "ticker", "schedule": "@every 2s",
		"source": map[string]any{"connector": "csv", "config": map[string]any{"path": filepath.Join(dir, "data", "people.csv")},
			"streams": []any{map[string]any{"name": "people", "sync_mode": "full_refresh_overwrite"}}},
		"destination": map[string]any{"connector": "jsonl", "config": map[string]any{"path": filepath.Join(dir, "out")}},
	}, &created)
	deadline := time.Now().Add(60 * time.Second)
	for {
		var runs struct {
			Items []scheduledRun `json:"items"`
		}
		s.json(200, "GET", "/api/v1/pipelines/"+created.ID+"/runs", nil, &runs)
		done := 0
		for _, r := range runs.Items {
			if r.Trigger == "schedule" && r.Status == "succeeded" {
				done++
			}
		}
		if done >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 60s, %d scheduled runs succeeded: %+v\n%s", done, runs.Items, s.logs)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestValidateSchedule: `tributary validate` reports a bad schedule at its
// path and line.
func TestValidateSchedule(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "p.yaml"), `version: 1
name: nightly
source:
  connector: csv
  config: {path: ./in.csv}
  streams: [{name: in}]
destination:
  connector: jsonl
  config: {path: ./out/}
schedule: "CRON_TZ=Europe/Paris 0 25 * * *"
options: {late_after: soon}
`)
	r := tributary(t, dir, nil, "validate", "--offline", "p.yaml")
	if r.code != 1 {
		t.Fatalf("validate exited %d: %s%s", r.code, r.stdout, r.stderr)
	}
	mustContain(t, "validate output", r.stderr, "p.yaml:10: schedule: end of range (25) above maximum (23)", "p.yaml:11: options.late_after: must be a positive duration")
}
