package api_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// waitFor polls GET path until ok accepts the answer.
func (e *env) waitFor(path string, ok func(map[string]any) bool) map[string]any {
	e.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		out := e.must(200, "GET", path, nil)
		if ok(out) {
			return out
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("GET %s: still %v", path, out)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func finished(out map[string]any) bool {
	s := out["status"]
	return s == "succeeded" || s == "failed" || s == "cancelled"
}

// TestRunAttemptsAndRetry: a failed attempt with a retry left shows its
// error and the next attempt's time; after a fix the retry succeeds. A
// failed run without retries is retried through the API as a new run.
func TestRunAttemptsAndRetry(t *testing.T) {
	kinds(t, func(t *testing.T, e *env) {
		csv := filepath.Join(e.dir, "people.csv")
		if err := os.WriteFile(csv, []byte("id,name\n1,Ann\n2,Bob\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		// A file where the destination's directory should be fails every
		// attempt until it is removed.
		blocker := filepath.Join(e.dir, "blocked")
		if err := os.WriteFile(blocker, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		dest := map[string]any{"connector": "sqlite", "config": map[string]any{"path": filepath.Join(blocker, "out.db")}}
		sp := spec("retried", csv, dest)
		sp["options"] = map[string]any{"retries": 1, "retry_backoff": "4s"}
		pl := e.must(201, "POST", "/api/v1/pipelines", sp)["id"].(string)
		run := e.must(202, "POST", "/api/v1/pipelines/"+pl+"/runs", nil)["id"].(string)

		att := e.waitFor("/api/v1/runs/"+run+"/attempts", func(out map[string]any) bool { return out["next_attempt_at"] != nil })
		items := att["items"].([]any)
		first := items[0].(map[string]any)
		if len(items) != 1 || first["outcome"] != "failed" || first["error"] == "" || first["retry_at"] != att["next_attempt_at"] || first["worker"] == "" {
			t.Fatalf("attempts while waiting for the retry: %v", att)
		}
		next, err := time.Parse(time.RFC3339Nano, att["next_attempt_at"].(string))
		if err != nil || time.Until(next) <= 0 {
			t.Fatalf("next attempt at %v (%v), want in the future", att["next_attempt_at"], err)
		}
		waiting := e.must(200, "GET", "/api/v1/runs/"+run, nil)
		if waiting["status"] != "queued" || waiting["error"] != first["error"] {
			t.Fatalf("run waiting for its retry: %v", waiting)
		}
		if err := os.Remove(blocker); err != nil {
			t.Fatal(err)
		}
		done := e.waitFor("/api/v1/runs/"+run, finished)
		if done["status"] != "succeeded" || done["attempts"] != 2.0 {
			t.Fatalf("run after the fix: %v", done)
		}
		att = e.must(200, "GET", "/api/v1/runs/"+run+"/attempts", nil)
		if items := att["items"].([]any); len(items) != 2 || items[1].(map[string]any)["outcome"] != "succeeded" || att["next_attempt_at"] != nil {
			t.Fatalf("attempts after success: %v", att)
		}
		if status, _, out := e.do("POST", "/api/v1/runs/"+run+"/retry", nil); status != 409 || !strings.Contains(out["detail"].(string), "only failed or cancelled") {
			t.Fatalf("retry of a succeeded run: %d %v", status, out)
		}

		// Without retries the run fails at once; a retry is a new run.
		blocker2 := filepath.Join(e.dir, "blocked2")
		if err := os.WriteFile(blocker2, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		pl2 := e.must(201, "POST", "/api/v1/pipelines", spec("once", csv, map[string]any{"connector": "sqlite", "config": map[string]any{"path": filepath.Join(blocker2, "out.db")}}))["id"].(string)
		failed := e.must(202, "POST", "/api/v1/pipelines/"+pl2+"/runs", nil)["id"].(string)
		if got := e.waitFor("/api/v1/runs/"+failed, finished); got["status"] != "failed" || got["attempts"] != 1.0 {
			t.Fatalf("run without retries: %v", got)
		}
		if err := os.Remove(blocker2); err != nil {
			t.Fatal(err)
		}
		retried := e.must(202, "POST", "/api/v1/runs/"+failed+"/retry", nil)
		if retried["retry_of"] != failed || retried["status"] != "queued" || retried["id"] == failed {
			t.Fatalf("retry: %v", retried)
		}
		if got := e.waitFor("/api/v1/runs/"+retried["id"].(string), finished); got["status"] != "succeeded" {
			t.Fatalf("retry run: %v", got)
		}
		logs := e.must(200, "GET", "/api/v1/runs/"+failed+"/logs", nil)
		if !strings.Contains(toString(logs), "retried as run "+retried["id"].(string)) {
			t.Errorf("the failed run's log does not name its retry: %v", logs)
		}
		for _, path := range []string{"/api/v1/runs/nope/attempts", "/api/v1/runs/nope/retry"} {
			method := "GET"
			if strings.HasSuffix(path, "retry") {
				method = "POST"
			}
			if status, _, _ := e.do(method, path, nil); status != 404 {
				t.Errorf("%s %s = %d, want 404", method, path, status)
			}
		}
	})
}

func toString(v any) string {
	var b strings.Builder
	var walk func(any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			for _, y := range x {
				walk(y)
			}
		case []any:
			for _, y := range x {
				walk(y)
			}
		case string:
			b.WriteString(x + "\n")
		}
	}
	walk(v)
	return b.String()
}
