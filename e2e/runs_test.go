package e2e

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

// runDetail is GET /api/v1/runs/{id} as the run pages read it.
type runDetail struct {
	ID              string    `json:"id"`
	Status          string    `json:"status"`
	Trigger         string    `json:"trigger"`
	Version         int       `json:"version"`
	Attempts        int       `json:"attempts"`
	ReplayOf        string    `json:"replay_of"`
	CreatedAt       time.Time `json:"created_at"`
	DurationSeconds *float64  `json:"duration_seconds"`
	Error           string    `json:"error"`
	Streams         []struct {
		Name        string `json:"name"`
		Read        int64  `json:"read"`
		Written     int64  `json:"written"`
		Quarantined int64  `json:"quarantined"`
		Filtered    int64  `json:"filtered"`
		Profile     []struct {
			Name string `json:"name"`
		} `json:"profile"`
		Checks     []json.RawMessage `json:"checks"`
		Anomalies  []anomaly         `json:"anomalies"`
		Quarantine *struct {
			Total int64 `json:"total"`
			Kept  int64 `json:"kept"`
		} `json:"quarantine"`
	} `json:"streams"`
	Anomalies           []anomaly `json:"anomalies"`
	QuarantineTruncated bool      `json:"quarantine_truncated"`
}

type anomaly struct {
	Metric    string `json:"metric"`
	Direction string `json:"direction"`
}

type quarantinePage struct {
	Items []struct {
		Stream string         `json:"stream"`
		Origin string         `json:"origin"`
		Raw    string         `json:"raw"`
		Row    map[string]any `json:"row"`
		Reason string         `json:"reason"`
		Step   string         `json:"step"`
	} `json:"items"`
	NextOffset *int `json:"next_offset"`
	Counts     []struct {
		Stream string `json:"stream"`
		Total  int64  `json:"total"`
		Kept   int64  `json:"kept"`
	} `json:"counts"`
	Truncated bool `json:"truncated"`
	MaxKept   int  `json:"max_kept"`
}

// sseEvent is one server-sent event.
type sseEvent struct {
	id    int64
	event string
	data  string
	at    time.Time
}

// readEvents reads a text/event-stream until an `end` event, calling
// seen with each event as it arrives.
func readEvents(t *testing.T, s *server, path string, lastID int64, seen func(sseEvent)) []sseEvent {
	t.Helper()
	req, err := http.NewRequest("GET", s.base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if lastID > 0 {
		req.Header.Set("Last-Event-ID", strconv.FormatInt(lastID, 10))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	resp, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("GET %s = %d %s", path, resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	var out []sseEvent
	ev := sseEvent{event: "message"}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if ev.data == "" {
				continue
			}
			ev.at = time.Now()
			out = append(out, ev)
			if seen != nil {
				seen(ev)
			}
			if ev.event == "end" {
				return out
			}
			ev = sseEvent{event: "message"}
		case strings.HasPrefix(line, "id: "):
			ev.id, _ = strconv.ParseInt(strings.TrimPrefix(line, "id: "), 10, 64)
		case strings.HasPrefix(line, "event: "):
			ev.event = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			ev.data += strings.TrimPrefix(line, "data: ")
		}
	}
	t.Fatalf("event stream ended without an end event (%v) after %d events", sc.Err(), len(out))
	return nil
}

func (s *server) waitRun(id string) runDetail {
	s.t.Helper()
	var r runDetail
	deadline := time.Now().Add(90 * time.Second)
	for {
		s.json(200, "GET", "/api/v1/runs/"+id, nil, &r)
		if r.Status != "queued" && r.Status != "running" {
			return r
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("run %s still %s:\n%s", id, r.Status, s.logs)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (s *server) trigger(pipelineID string) string {
	s.t.Helper()
	var q struct{ ID, Status string }
	s.json(202, "POST", "/api/v1/pipelines/"+pipelineID+"/runs", nil, &q)
	return q.ID
}

func runIDs(t *testing.T, s *server, path string) []string {
	t.Helper()
	var l struct {
		Items []struct {
			ID string `json:"id"`
		} `json:"items"`
	}
	s.json(200, "GET", path, nil, &l)
	var out []string
	for _, r := range l.Items {
		out = append(out, r.ID)
	}
	return out
}

// peopleSpec renames name to full_name, then validates the country.
func peopleSpec(name, dir string, countries ...string) map[string]any {
	return map[string]any{
		"version": 1, "name": name,
		"source": map[string]any{
			"connector": "csv",
			"config":    map[string]any{"path": filepath.Join(dir, "people*.csv")},
			"streams": []any{map[string]any{
				"name": "people", "sync_mode": "full_refresh_overwrite",
				"schema": map[string]any{"id": "int64", "amount": "decimal"},
			}},
		},
		"transforms": []any{
			map[string]any{"rename": map[string]any{"name": "full_name"}},
			map[string]any{"validate": map[string]any{"on_fail": "quarantine", "rules": []any{
				map[string]any{"field": "country", "rule": "enum", "values": countries},
			}}},
		},
		"destination": map[string]any{"connector": "sqlite", "config": map[string]any{"path": filepath.Join(dir, "out.db")}},
	}
}

// TestRuns drives runs in depth through the binary on both metadata
// stores: a live log tail over SSE while a run executes, run detail with
// profile, checks and quarantine counts, quarantined rows browsed and
// downloaded, a replay after a fix that loads the fixed row and quarantines
// the still bad one again, run list filters and sorts, and a volume
// anomaly against the pipeline's own history.
func TestRuns(t *testing.T) {
	for _, kind := range []string{"sqlite", "postgres"} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			var env []string
			if kind == "postgres" {
				conn := needPostgres(t)
				meta := "e2e_runs_" + strings.ReplaceAll(uuid.NewString()[:8], "-", "")
				if _, err := conn.Exec(context.Background(), `CREATE SCHEMA `+meta); err != nil {
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
			data, big := filepath.Join(dir, "people"), filepath.Join(dir, "big")
			writeFile(t, filepath.Join(data, "people.csv"), "id,name,amount,country\n1,Ann,1.50,DE\n2,Bob,x,FR\n3,Eve,3.25,IT\n4,Joe,4.00,DE\n5,Max,5.00,FR\n")
			var b strings.Builder
			b.WriteString("id,name,amount,country\n")
			// One row in 25 from a country the pipeline refuses: more
			// quarantined rows than the store keeps per run.
			for i := range 300_000 {
				country := "DE"
				if i%25 == 0 {
					country = "IT"
				}
				fmt.Fprintf(&b, "%d,name %d,%d.25,%s\n", i, i, i%1000, country)
			}
			writeFile(t, filepath.Join(big, "people.csv"), b.String())
			s := serve(t, dir, env)

			var created struct {
				ID string `json:"id"`
			}
			s.json(201, "POST", "/api/v1/pipelines", peopleSpec("big-"+kind, big, "DE"), &created)
			bigID := created.ID
			s.json(201, "POST", "/api/v1/pipelines", peopleSpec("people-"+kind, data, "DE", "FR"), &created)
			pid := created.ID

			t.Run("live log tail", func(t *testing.T) {
				runID := s.trigger(bigID)
				var liveStatus string
				events := readEvents(t, s, "/api/v1/runs/"+runID+"/logs/stream", 0, func(ev sseEvent) {
					if liveStatus == "" && ev.event == "log" {
						var r runDetail
						s.json(200, "GET", "/api/v1/runs/"+runID, nil, &r)
						liveStatus = r.Status
					}
				})
				if liveStatus != "queued" && liveStatus != "running" {
					t.Errorf("the first log line arrived when the run was %q, not while it ran", liveStatus)
				}
				end := events[len(events)-1]
				var final struct{ Status string }
				if err := json.Unmarshal([]byte(end.data), &final); err != nil || final.Status != "succeeded" {
					t.Fatalf("end event %q: %v", end.data, err)
				}
				logs := events[:len(events)-1]
				if len(logs) < 3 {
					t.Fatalf("%d log events: %+v", len(logs), logs)
				}
				for i, ev := range logs {
					var l struct {
						ID      int64  `json:"id"`
						Message string `json:"message"`
					}
					if err := json.Unmarshal([]byte(ev.data), &l); err != nil || ev.event != "log" || l.ID != ev.id || (i > 0 && ev.id <= logs[i-1].id) {
						t.Fatalf("event %d: %+v (%v)", i, ev, err)
					}
				}
				mustContain(t, "last log line", logs[len(logs)-1].data, "run finished")
				// A client reconnecting with Last-Event-ID gets what follows.
				again := readEvents(t, s, "/api/v1/runs/"+runID+"/logs/stream", logs[0].id, nil)
				if len(again) != len(events)-1 || again[0].id != logs[1].id {
					t.Errorf("after Last-Event-ID %d: %d events from id %d, want %d from %d", logs[0].id, len(again), again[0].id, len(events)-1, logs[1].id)
				}
				status, ctype, body := s.call("GET", "/api/v1/runs/"+uuid.NewString()+"/logs/stream", nil)
				if status != 404 || ctype != "application/problem+json" {
					t.Errorf("tail of a missing run: %d %s %s", status, ctype, body)
				}

				// 12,000 rows quarantined, 10,000 kept: the API says so.
				var r runDetail
				s.json(200, "GET", "/api/v1/runs/"+runID, nil, &r)
				if st := r.Streams[0]; st.Read != 300_000 || st.Written != 288_000 || st.Quarantined != 12_000 ||
					st.Quarantine == nil || st.Quarantine.Total != 12_000 || st.Quarantine.Kept != 10_000 || !r.QuarantineTruncated {
					t.Errorf("truncated quarantine: %+v %+v, truncated %v", st, st.Quarantine, r.QuarantineTruncated)
				}
				var p quarantinePage
				s.json(200, "GET", "/api/v1/runs/"+runID+"/quarantine?offset=9999", nil, &p)
				if len(p.Items) != 1 || p.NextOffset != nil || !p.Truncated || p.Counts[0].Total != 12_000 || p.Counts[0].Kept != 10_000 {
					t.Errorf("last page of a truncated quarantine: %+v", p)
				}
				resp, err := http.Get(s.base + "/api/v1/runs/" + runID + "/quarantine.jsonl")
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				lines := 0
				for sc := bufio.NewScanner(resp.Body); sc.Scan(); {
					lines++
				}
				if lines != 10_000 || resp.Header.Get("Tributary-Quarantine-Total") != "12000" || resp.Header.Get("Tributary-Quarantine-Kept") != "10000" {
					t.Errorf("download of a truncated quarantine: %d lines, headers %v", lines, resp.Header)
				}
			})

			first := s.waitRun(s.trigger(pid))
			t.Run("detail", func(t *testing.T) {
				r := first
				if r.Status != "succeeded" || r.Trigger != "manual" || r.Attempts != 1 || r.DurationSeconds == nil || *r.DurationSeconds <= 0 || len(r.Streams) != 1 {
					t.Fatalf("run %+v", r)
				}
				st := r.Streams[0]
				if st.Name != "people" || st.Read != 5 || st.Written != 3 || st.Quarantined != 2 || st.Filtered != 0 {
					t.Errorf("counts %+v", st)
				}
				if st.Quarantine == nil || st.Quarantine.Total != 2 || st.Quarantine.Kept != 2 || r.QuarantineTruncated {
					t.Errorf("quarantine %+v, truncated %v", st.Quarantine, r.QuarantineTruncated)
				}
				var cols []string
				for _, p := range st.Profile {
					cols = append(cols, p.Name)
				}
				if !slices.Contains(cols, "full_name") || !slices.Contains(cols, "amount") {
					t.Errorf("profile of columns %v", cols)
				}
				if st.Checks == nil || st.Anomalies == nil || r.Anomalies == nil {
					t.Errorf("checks %v, anomalies %v and %v: want lists", st.Checks, st.Anomalies, r.Anomalies)
				}
			})

			t.Run("quarantine", func(t *testing.T) {
				var p quarantinePage
				s.json(200, "GET", "/api/v1/runs/"+first.ID+"/quarantine?limit=1", nil, &p)
				if len(p.Items) != 1 || p.NextOffset == nil || *p.NextOffset != 1 || p.Truncated || p.MaxKept != 10_000 ||
					len(p.Counts) != 1 || p.Counts[0].Total != 2 || p.Counts[0].Kept != 2 {
					t.Fatalf("first page %+v", p)
				}
				read := p.Items[0]
				if read.Step != "read" || read.Raw != "2,Bob,x,FR" || !strings.HasSuffix(read.Origin, "people.csv:3") || read.Row != nil {
					t.Errorf("row refused while reading %+v", read)
				}
				s.json(200, "GET", "/api/v1/runs/"+first.ID+"/quarantine?limit=1&offset=1&stream=people", nil, &p)
				if len(p.Items) != 1 {
					t.Fatalf("second page %+v", p)
				}
				bad := p.Items[0]
				if bad.Step != "validate" || bad.Row["full_name"] != "Eve" || bad.Row["country"] != "IT" || !strings.HasSuffix(bad.Origin, "people.csv:4") {
					t.Errorf("row refused by validate %+v", bad)
				}
				s.json(200, "GET", "/api/v1/runs/"+first.ID+"/quarantine?stream=orders", nil, &p)
				if len(p.Items) != 0 {
					t.Errorf("rows of another stream: %+v", p.Items)
				}

				resp, err := http.Get(s.base + "/api/v1/runs/" + first.ID + "/quarantine.jsonl")
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/jsonl" ||
					resp.Header.Get("Tributary-Quarantine-Total") != "2" || resp.Header.Get("Tributary-Quarantine-Kept") != "2" {
					t.Fatalf("download: %d %v", resp.StatusCode, resp.Header)
				}
				var steps []string
				sc := bufio.NewScanner(resp.Body)
				for sc.Scan() {
					var row struct{ Step, Reason string }
					if err := json.Unmarshal(sc.Bytes(), &row); err != nil || row.Reason == "" {
						t.Fatalf("line %q: %v", sc.Text(), err)
					}
					steps = append(steps, row.Step)
				}
				if !slices.Equal(steps, []string{"read", "validate"}) {
					t.Errorf("downloaded rows of steps %v", steps)
				}
				status, ctype, _ := s.call("GET", "/api/v1/runs/"+uuid.NewString()+"/quarantine.jsonl", nil)
				if status != 404 || ctype != "application/problem+json" {
					t.Errorf("download for a missing run: %d %s", status, ctype)
				}
			})

			var replay runDetail
			t.Run("replay after a fix", func(t *testing.T) {
				var v struct{ Version int }
				s.json(200, "PUT", "/api/v1/pipelines/"+pid, peopleSpec("people-"+kind, data, "DE", "FR", "IT"), &v)
				if v.Version != 2 {
					t.Fatalf("fixed version %d", v.Version)
				}
				var q struct {
					ID       string `json:"id"`
					Status   string `json:"status"`
					ReplayOf string `json:"replay_of"`
					Rows     int    `json:"rows"`
				}
				s.json(202, "POST", "/api/v1/runs/"+first.ID+"/replay", nil, &q)
				if q.Status != "queued" || q.ReplayOf != first.ID || q.Rows != 2 {
					t.Fatalf("replay queued %+v", q)
				}
				replay = s.waitRun(q.ID)
				if replay.Status != "succeeded" || replay.Trigger != "replay" || replay.ReplayOf != first.ID || replay.Version != 2 || len(replay.Streams) != 1 {
					t.Fatalf("replay run %+v\n%s", replay, s.logs)
				}
				st := replay.Streams[0]
				if st.Read != 2 || st.Written != 1 || st.Quarantined != 1 || st.Read != st.Written+st.Quarantined+st.Filtered {
					t.Errorf("replay counts %+v", st)
				}
				var p quarantinePage
				s.json(200, "GET", "/api/v1/runs/"+replay.ID+"/quarantine", nil, &p)
				if len(p.Items) != 1 || p.Items[0].Raw != "2,Bob,x,FR" || !strings.Contains(p.Items[0].Reason, "amount") {
					t.Errorf("quarantined again %+v", p.Items)
				}
				// The overwritten table keeps its rows; the fixed one joins them.
				db, err := sql.Open("sqlite", filepath.Join(data, "out.db"))
				if err != nil {
					t.Fatal(err)
				}
				defer db.Close()
				rows, err := db.Query(`SELECT full_name FROM people ORDER BY id`)
				if err != nil {
					t.Fatal(err)
				}
				defer rows.Close()
				var names []string
				for rows.Next() {
					var n string
					if err := rows.Scan(&n); err != nil {
						t.Fatal(err)
					}
					names = append(names, n)
				}
				if !slices.Equal(names, []string{"Ann", "Eve", "Joe", "Max"}) {
					t.Errorf("destination rows %v", names)
				}
				status, _, body := s.call("POST", "/api/v1/runs/"+uuid.NewString()+"/replay", nil)
				if status != 404 {
					t.Errorf("replay of a missing run: %d %s", status, body)
				}
			})

			t.Run("filters", func(t *testing.T) {
				if got := runIDs(t, s, "/api/v1/runs?trigger=replay"); !slices.Equal(got, []string{replay.ID}) {
					t.Errorf("replays %v", got)
				}
				if got := runIDs(t, s, "/api/v1/pipelines/"+pid+"/runs?status=succeeded,failed&sort=created_at"); !slices.Equal(got, []string{first.ID, replay.ID}) {
					t.Errorf("oldest first %v", got)
				}
				from := url.QueryEscape(replay.CreatedAt.Format(time.RFC3339Nano))
				if got := runIDs(t, s, "/api/v1/runs?pipeline="+pid+"&created_from="+from); !slices.Equal(got, []string{replay.ID}) {
					t.Errorf("created from the replay %v", got)
				}
				if got := runIDs(t, s, "/api/v1/runs?pipeline="+pid+"&created_to="+from); !slices.Equal(got, []string{first.ID}) {
					t.Errorf("created before the replay %v", got)
				}
				if got := runIDs(t, s, "/api/v1/runs?status=failed"); len(got) != 0 {
					t.Errorf("failed runs %v", got)
				}
				var l struct {
					Items []struct {
						ID              string   `json:"id"`
						DurationSeconds *float64 `json:"duration_seconds"`
					} `json:"items"`
					NextOffset *int `json:"next_offset"`
				}
				s.json(200, "GET", "/api/v1/runs?sort=-duration", nil, &l)
				if len(l.Items) != 3 || l.Items[0].ID == first.ID || l.Items[0].ID == replay.ID {
					t.Errorf("longest first: %+v (the 300,000-row run is the longest)", l.Items)
				}
				for i := 1; i < len(l.Items); i++ {
					// SQLite orders by julianday, which holds milliseconds.
					if *l.Items[i].DurationSeconds > *l.Items[i-1].DurationSeconds+0.002 {
						t.Errorf("durations not descending: %+v", l.Items)
					}
				}
				s.json(200, "GET", "/api/v1/runs?limit=2", nil, &l)
				if len(l.Items) != 2 || l.NextOffset == nil || *l.NextOffset != 2 {
					t.Errorf("first page of 2: %+v", l)
				}
				for _, c := range []struct{ query, location string }{
					{"status=bogus", "query.status"},
					{"created_from=yesterday", "query.created_from"},
					{"created_from=" + from + "&created_to=" + from, "query.created_to"},
					{"pipeline=" + uuid.NewString(), "query.pipeline"},
					{"sort=name", "query.sort"},
				} {
					status, ctype, body := s.call("GET", "/api/v1/runs?"+c.query, nil)
					if status != 422 || ctype != "application/problem+json" {
						t.Errorf("%s: %d %s %s", c.query, status, ctype, body)
					}
					mustContain(t, c.query, string(body), `"location":"`+c.location)
				}
			})

			t.Run("anomaly", func(t *testing.T) {
				// Five ordinary runs make a history (replays do not count)...
				for range 4 {
					if r := s.waitRun(s.trigger(pid)); r.Status != "succeeded" || len(r.Streams[0].Anomalies) != 0 {
						t.Fatalf("ordinary run %+v", r)
					}
				}
				// ... against which a run reading forty times the rows stands out.
				var more strings.Builder
				more.WriteString("id,name,amount,country\n")
				for i := range 200 {
					fmt.Fprintf(&more, "%d,more %d,1.00,DE\n", 100+i, i)
				}
				writeFile(t, filepath.Join(data, "people2.csv"), more.String())
				r := s.waitRun(s.trigger(pid))
				if r.Status != "succeeded" || r.Streams[0].Read != 205 {
					t.Fatalf("bigger run %+v", r)
				}
				var metrics []string
				for _, a := range r.Streams[0].Anomalies {
					if a.Direction == "high" {
						metrics = append(metrics, a.Metric)
					}
				}
				if !slices.Contains(metrics, "rows_read") || !slices.Contains(metrics, "rows_written") {
					t.Errorf("anomalies %+v", r.Streams[0].Anomalies)
				}
				var logs struct {
					Items []struct{ Message string } `json:"items"`
				}
				s.json(200, "GET", "/api/v1/runs/"+r.ID+"/logs?limit=500", nil, &logs)
				var all strings.Builder
				for _, l := range logs.Items {
					all.WriteString(l.Message + "\n")
				}
				mustContain(t, "run log", all.String(), "anomaly: stream people: rows_read is high")
			})
		})
	}
}

// TestRunLogTailEndsOnShutdown keeps a live tail open on a run that stays
// queued (no workers) while the server is interrupted: the tail ends and
// the server stops cleanly instead of waiting for the run.
func TestRunLogTailEndsOnShutdown(t *testing.T) {
	ended := make(chan error, 1)
	// Registered before serve, so it runs after serve's cleanup interrupts
	// the server and checks that it exited cleanly.
	t.Cleanup(func() {
		select {
		case err := <-ended:
			if err != nil {
				t.Errorf("tail: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Error("the live tail did not end when the server stopped")
		}
	})
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "people", "people.csv"), "id,name,amount,country\n1,Ann,1.50,DE\n")
	s := serve(t, dir, nil, "--workers", "0")
	var created struct {
		ID string `json:"id"`
	}
	s.json(201, "POST", "/api/v1/pipelines", peopleSpec("queued", filepath.Join(dir, "people"), "DE"), &created)
	runID := s.trigger(created.ID)
	if status, _, body := s.call("POST", "/api/v1/runs/"+runID+"/replay", nil); status != 409 {
		t.Errorf("replay of a queued run: %d %s", status, body)
	}
	// The stream is open (headers sent) before its first event.
	client := &http.Client{Timeout: 60 * time.Second}
	resp, err := client.Get(s.base + "/api/v1/runs/" + runID + "/logs/stream")
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		t.Fatalf("tail: %d", resp.StatusCode)
	}
	go func() {
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err == nil && strings.Contains(string(b), "event: end") {
			err = fmt.Errorf("a queued run's tail ended with an end event: %s", b)
		}
		ended <- err
	}()
}
