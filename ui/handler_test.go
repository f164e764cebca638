package ui

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/fstest"
)

func TestHandler(t *testing.T) {
	built := fstest.MapFS{
		"index.html":         {Data: []byte("<!doctype html><title>app</title>")},
		"assets/app-abc.js":  {Data: []byte("console.log(1)")},
		"favicon.svg":        {Data: []byte("<svg/>")},
		"assets/nested/x.md": {Data: []byte("x")},
	}
	tests := []struct {
		name     string
		files    fstest.MapFS
		method   string
		path     string
		status   int
		contains string
		cache    string
	}{
		{"root serves index", built, "GET", "/", 200, "<title>app</title>", "no-cache"},
		{"client route falls back to index", built, "GET", "/runs/123", 200, "<title>app</title>", "no-cache"},
		{"asset served immutable", built, "GET", "/assets/app-abc.js", 200, "console.log(1)", "public, max-age=31536000, immutable"},
		{"file outside assets", built, "GET", "/favicon.svg", 200, "<svg/>", ""},
		{"missing asset is 404", built, "GET", "/assets/app-old.js", 404, "not found", ""},
		{"head allowed", built, "HEAD", "/pipelines", 200, "", "no-cache"},
		{"post refused", built, "POST", "/", 405, "method not allowed", ""},
		{"unknown api route is 404", built, "GET", "/api/v1/nope", 404, "not found", ""},
		{"api root is 404", built, "GET", "/api", 404, "not found", ""},
		{"metrics never shadowed", built, "GET", "/metrics", 404, "not found", ""},
		{"healthz never shadowed", built, "GET", "/healthz", 404, "not found", ""},
		{"readyz never shadowed", built, "GET", "/readyz/x", 404, "not found", ""},
		{"not built page at root", fstest.MapFS{".keep": {}}, "GET", "/", 200, "UI not built: run make ui", "no-store"},
		{"not built page on client route", fstest.MapFS{".keep": {}}, "GET", "/runs", 200, "UI not built: run make ui", "no-store"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			NewHandler(tt.files).ServeHTTP(rec, httptest.NewRequest(tt.method, tt.path, nil))
			if rec.Code != tt.status {
				t.Fatalf("status %d, want %d (body %q)", rec.Code, tt.status, rec.Body.String())
			}
			if !strings.Contains(strings.ToLower(rec.Body.String()), strings.ToLower(tt.contains)) {
				t.Errorf("body %q does not contain %q", rec.Body.String(), tt.contains)
			}
			if got := rec.Header().Get("Cache-Control"); got != tt.cache {
				t.Errorf("Cache-Control %q, want %q", got, tt.cache)
			}
		})
	}
}

// The embedded folder always holds at least dist/.keep, so the handler
// builds on a fresh clone; whether it serves the app or the not-built page
// depends on `make ui` having run.
func TestEmbeddedHandlerAnswersRoot(t *testing.T) {
	rec := httptest.NewRecorder()
	Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	if rec.Code != http.StatusOK || !strings.Contains(rec.Header().Get("Content-Type"), "text/html") {
		t.Fatalf("GET / = %d %q", rec.Code, rec.Header().Get("Content-Type"))
	}
}
