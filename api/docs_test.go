package api_test

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestReferencePage: /api/docs is an HTML reference of every operation of
// the served OpenAPI document, rendered by the server with no script, so
// it reads the same without internet and under the security policy.
func TestReferencePage(t *testing.T) {
	e := start(t, "sqlite")
	code, h, out := e.do("GET", "/api/docs", nil)
	page, _ := out["_raw"].(string)
	if code != 200 || !strings.HasPrefix(h.Get("Content-Type"), "text/html") {
		t.Fatalf("/api/docs: %d %s", code, h.Get("Content-Type"))
	}
	if strings.Contains(page, "<script") {
		t.Error("the reference page runs a script")
	}
	var doc struct {
		Paths map[string]map[string]struct {
			OperationID string `json:"operationId"`
		} `json:"paths"`
	}
	code, _, out = e.do("GET", "/api/openapi.json", nil)
	raw, _ := json.Marshal(out)
	if code != 200 || json.Unmarshal(raw, &doc) != nil || len(doc.Paths) == 0 {
		t.Fatalf("/api/openapi.json: %d", code)
	}
	if !strings.Contains(page, `href="/api/openapi.json"`) {
		t.Error("the page does not link the OpenAPI document")
	}
	for path, ops := range doc.Paths {
		for method, op := range ops {
			if !strings.Contains(page, `id="`+op.OperationID+`"`) || !strings.Contains(page, "<code>"+path+"</code>") {
				t.Errorf("%s %s (%s) missing from the reference", strings.ToUpper(method), path, op.OperationID)
			}
		}
	}
	if !strings.Contains(page, "POST /api/v1/pipelines") || !strings.Contains(page, "Request body: application/json") {
		t.Error("the reference lacks the pipeline operations or request bodies")
	}
}
