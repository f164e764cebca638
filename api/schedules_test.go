package api_test

import (
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// problemAt lists the "location: message" pairs of a problem's errors.
func problemAt(problem map[string]any) []string {
	errs, _ := problem["errors"].([]any)
	var out []string
	for _, e := range errs {
		m, _ := e.(map[string]any)
		loc, _ := m["location"].(string)
		out = append(out, loc+": "+m["message"].(string))
	}
	return out
}

func hasLocation(locs []string, loc, msgPart string) bool {
	for _, l := range locs {
		if strings.HasPrefix(l, loc+": ") && strings.Contains(l, msgPart) {
			return true
		}
	}
	return false
}

func TestSchedulePreview(t *testing.T) {
	e := start(t, "sqlite")
	cases := []struct {
		cron     string
		count    string
		status   int
		timezone string
		want     int
		errLoc   string
	}{
		{"*/15 * * * *", "", 200, "UTC", 5, ""},
		{"@every 10m", "3", 200, "UTC", 3, ""},
		{"CRON_TZ=Europe/Paris 0 6 * * 1-5", "7", 200, "Europe/Paris", 7, ""},
		{"0 25 * * *", "", 422, "", 0, "query.cron"},
		{"CRON_TZ=Nowhere/City @daily", "", 422, "", 0, "query.cron"},
	}
	for _, c := range cases {
		path := "/api/v1/schedules/preview?cron=" + url.QueryEscape(c.cron)
		if c.count != "" {
			path += "&count=" + c.count
		}
		status, _, out := e.do("GET", path, nil)
		if status != c.status {
			t.Fatalf("%s: %d %v, want %d", c.cron, status, out, c.status)
		}
		if c.status != 200 {
			if locs := problemAt(out); !hasLocation(locs, c.errLoc, "") {
				t.Errorf("%s: problem at %v, want %s", c.cron, locs, c.errLoc)
			}
			continue
		}
		runs, _ := out["next_runs"].([]any)
		if out["timezone"] != c.timezone || len(runs) != c.want {
			t.Fatalf("%s: %v", c.cron, out)
		}
		var prev time.Time
		for _, r := range runs {
			at, err := time.Parse(time.RFC3339, r.(string))
			if err != nil {
				t.Fatal(err)
			}
			if !at.After(prev) || !at.After(time.Now()) {
				t.Errorf("%s: due times %v not rising from now", c.cron, runs)
			}
			prev = at
		}
		if c.timezone == "Europe/Paris" {
			at, _ := time.Parse(time.RFC3339, runs[0].(string))
			paris, _ := time.LoadLocation("Europe/Paris")
			if at.In(paris).Hour() != 6 || at.In(paris).Weekday() == time.Saturday || at.In(paris).Weekday() == time.Sunday {
				t.Errorf("%s: first due time %v is not 06:00 on a weekday in Paris", c.cron, at.In(paris))
			}
		}
	}
}

func TestDependsOnAndScheduleThroughTheAPI(t *testing.T) {
	kinds(t, func(t *testing.T, e *env) {
		csv := filepath.Join(e.dir, "people.csv")
		dest := map[string]any{"connector": "jsonl", "config": map[string]any{"path": filepath.Join(e.dir, "out")}}
		with := func(name string, extra map[string]any) map[string]any {
			s := spec(name, csv, dest)
			for k, v := range extra {
				s[k] = v
			}
			return s
		}

		// A bad schedule and an unknown upstream, each at its path.
		status, _, out := e.do("POST", "/api/v1/pipelines", with("bad", map[string]any{"schedule": "every day"}))
		if status != 422 || !hasLocation(problemAt(out), "body.schedule", "expected exactly 5 fields") {
			t.Fatalf("bad schedule: %d %v", status, out)
		}
		status, _, out = e.do("POST", "/api/v1/pipelines", with("orphan", map[string]any{"depends_on": []string{"nowhere"}}))
		if status != 422 || !hasLocation(problemAt(out), "body.depends_on[0]", `no pipeline named "nowhere"`) {
			t.Fatalf("unknown upstream: %d %v", status, out)
		}

		a := e.must(201, "POST", "/api/v1/pipelines", with("a", map[string]any{"schedule": "CRON_TZ=Europe/Paris 0 6 * * *", "options": map[string]any{"late_after": "2h"}}))
		e.must(201, "POST", "/api/v1/pipelines", with("b", map[string]any{"depends_on": []string{"a"}}))
		c := e.must(201, "POST", "/api/v1/pipelines", with("c", map[string]any{"depends_on": []string{"b"}}))

		// a → b → c → a would be a cycle.
		status, _, out = e.do("PUT", "/api/v1/pipelines/"+a["id"].(string), with("a", map[string]any{"depends_on": []string{"c"}}))
		if status != 422 || !hasLocation(problemAt(out), "body.depends_on", "dependency cycle: a → c → b → a") {
			t.Fatalf("cycle: %d %v", status, out)
		}
		// Renaming a would leave b depending on nothing.
		status, _, out = e.do("PUT", "/api/v1/pipelines/"+a["id"].(string), with("a2", nil))
		if status != 422 || !hasLocation(problemAt(out), "body.name", `pipelines "b" depend on "a"`) {
			t.Fatalf("rename: %d %v", status, out)
		}

		sched := e.must(200, "GET", "/api/v1/pipelines/"+a["id"].(string)+"/schedule", nil)
		runs, _ := sched["next_runs"].([]any)
		if sched["schedule"] != "CRON_TZ=Europe/Paris 0 6 * * *" || sched["timezone"] != "Europe/Paris" || len(runs) != 5 ||
			sched["late"] != false || sched["late_after"] != "2h" || sched["enabled"] != true {
			t.Fatalf("schedule of a: %v", sched)
		}
		e.must(200, "PATCH", "/api/v1/pipelines/"+a["id"].(string), map[string]any{"enabled": false})
		sched = e.must(200, "GET", "/api/v1/pipelines/"+a["id"].(string)+"/schedule", nil)
		if runs, _ := sched["next_runs"].([]any); len(runs) != 0 || sched["enabled"] != false {
			t.Fatalf("schedule of disabled a: %v", sched)
		}

		sched = e.must(200, "GET", "/api/v1/pipelines/"+c["id"].(string)+"/schedule", nil)
		ups, _ := sched["upstreams"].([]any)
		if sched["schedule"] != "" || len(ups) != 1 {
			t.Fatalf("schedule of c: %v", sched)
		}
		up := ups[0].(map[string]any)
		if up["name"] != "b" || up["pipeline_id"] == "" || up["ready"] != false {
			t.Fatalf("upstream of c: %v", up)
		}
		slots := e.must(200, "GET", "/api/v1/pipelines/"+a["id"].(string)+"/slots", nil)
		if items, _ := slots["items"].([]any); len(items) != 0 {
			t.Fatalf("slots before any fired: %v", slots)
		}
		e.must(404, "GET", "/api/v1/pipelines/nope/schedule", nil)
	})
}
