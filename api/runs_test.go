package api_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tributary-data/tributary/api"
	"github.com/tributary-data/tributary/store"
)

// TestLogTailEndsOnShutdown: a live tail of a run that stays queued must
// not keep a graceful shutdown waiting.
func TestLogTailEndsOnShutdown(t *testing.T) {
	ctx := context.Background()
	s, err := store.Open(ctx, store.Options{DataDir: filepath.Join(t.TempDir(), "data")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	p := &store.Pipeline{Name: "p"}
	if err := s.CreatePipeline(ctx, p, json.RawMessage(`{}`)); err != nil {
		t.Fatal(err)
	}
	run, err := s.CreateRun(ctx, store.NewRun{PipelineID: p.ID})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.AddRunLog(ctx, run.ID, "INFO", "waiting"); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(api.New(api.Config{Store: s}))
	defer srv.Close()
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Get(srv.URL + "/api/v1/runs/" + run.ID + "/logs/stream")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != 200 || ct != "text/event-stream" {
		t.Fatalf("tail: %d %s", resp.StatusCode, ct)
	}
	body := make(chan string, 1)
	go func() {
		b, _ := io.ReadAll(resp.Body)
		body <- string(b)
	}()
	time.Sleep(500 * time.Millisecond)
	shut, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	start := time.Now()
	if err := srv.Config.Shutdown(shut); err != nil {
		t.Fatalf("shutdown with a live tail open: %v after %s", err, time.Since(start))
	}
	got := <-body
	if !strings.Contains(got, "event: log") || !strings.Contains(got, `"message":"waiting"`) || strings.Contains(got, "event: end") {
		t.Errorf("tail of a queued run: %q", got)
	}
}
