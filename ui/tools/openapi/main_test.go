package main

import (
	"bytes"
	"encoding/json"
	"testing"
)

func TestRunPrintsTheServedDocument(t *testing.T) {
	var buf bytes.Buffer
	if err := run(&buf); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		OpenAPI string                     `json:"openapi"`
		Paths   map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatalf("not JSON: %v", err)
	}
	if doc.OpenAPI == "" {
		t.Error("no openapi version")
	}
	// The routes the UI calls must be in the document its client is built from.
	for _, p := range []string{"/api/v1/dashboard", "/api/v1/runs", "/api/v1/runs/{id}/logs/stream", "/api/v1/pipelines/{id}/runs"} {
		if _, ok := doc.Paths[p]; !ok {
			t.Errorf("path %s missing", p)
		}
	}
	var again bytes.Buffer
	if err := run(&again); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), again.Bytes()) {
		t.Error("two runs printed different documents, so the staleness check would never pass")
	}
}
