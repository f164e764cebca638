package api_test

import (
	"regexp"
	"strings"
	"testing"
)

// TestReferencePage: /api/docs is an HTML page whose reference reads a
// document the server serves.
func TestReferencePage(t *testing.T) {
	e := start(t, "sqlite")
	code, h, out := e.do("GET", "/api/docs", nil)
	page, _ := out["_raw"].(string)
	if code != 200 || !strings.HasPrefix(h.Get("Content-Type"), "text/html") {
		t.Fatalf("/api/docs: %d %s", code, h.Get("Content-Type"))
	}
	m := regexp.MustCompile(`apiDescriptionUrl="([^"]+)"`).FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("/api/docs names no document:\n%s", page)
	}
	// The page's scripts must be allowed by its own security policy.
	csp := h.Get("Content-Security-Policy")
	code, h, out = e.do("GET", m[1], nil)
	if doc, _ := out["_raw"].(string); code != 200 || !strings.Contains(doc, "openapi: 3.1") && out["openapi"] != "3.1.0" {
		t.Errorf("%s: %d %s %.200s", m[1], code, h.Get("Content-Type"), doc)
	}
	for _, src := range regexp.MustCompile(`<script src="([^"]+)"`).FindAllStringSubmatch(page, -1) {
		if csp != "" && !strings.Contains(csp, src[1]) && !strings.Contains(csp, "script-src 'self'") {
			t.Errorf("script %s not allowed by %s", src[1], csp)
		}
	}
}
