package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"

	"github.com/tributary-data/tributary/api"
	"github.com/tributary-data/tributary/store"
	"github.com/tributary-data/tributary/store/storetest"
)

// TestRunListStreams: run lists show each run's per-stream counts as GET
// of the run does, from the counts the store keeps beside the result.
func TestRunListStreams(t *testing.T) {
	for _, kind := range storetest.Kinds {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			s := storetest.Open(t, kind, t.TempDir())
			srv := httptest.NewServer(api.New(api.Config{Store: s}))
			t.Cleanup(srv.Close)
			get := func(path string, out any) {
				t.Helper()
				resp, err := http.Get(srv.URL + path)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				if resp.StatusCode != 200 {
					t.Fatalf("GET %s: %d", path, resp.StatusCode)
				}
				if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
					t.Fatalf("GET %s: %v", path, err)
				}
			}

			p := &store.Pipeline{Name: "orders"}
			if err := s.CreatePipeline(ctx, p, json.RawMessage(`{"name":"orders"}`)); err != nil {
				t.Fatal(err)
			}
			results := []string{
				"",
				`{"status":"succeeded","streams":[
					{"name":"users","read":10,"written":8,"quarantined":1,"filtered":1,"deduplicated":0,"duration_ns":7,"profile":[{"column":"id"}],"checks":[{"name":"c"}]},
					{"name":"ünïcode \"q\"","read":7,"written":4,"quarantined":0,"filtered":2,"deduplicated":1}]}`,
				`{"error":"no source","streams":null}`,
			}
			ids := map[string]bool{}
			for _, res := range results {
				r, err := s.CreateRun(ctx, store.NewRun{PipelineID: p.ID})
				if err != nil {
					t.Fatal(err)
				}
				ids[r.ID] = true
				if res != "" {
					if err := s.FinishRun(ctx, r.ID, store.Succeeded, "", json.RawMessage(res)); err != nil {
						t.Fatal(err)
					}
				}
			}

			type list struct {
				Items      []map[string]any `json:"items"`
				NextOffset *int             `json:"next_offset"`
			}
			for _, path := range []string{"/api/v1/runs", "/api/v1/pipelines/" + p.ID + "/runs", "/api/v1/runs?pipeline=" + p.ID + "&status=succeeded,queued"} {
				var l list
				get(path, &l)
				if len(l.Items) != len(results) || l.NextOffset != nil {
					t.Fatalf("%s: %d items, next %v", path, len(l.Items), l.NextOffset)
				}
				for _, item := range l.Items {
					id, _ := item["id"].(string)
					if !ids[id] {
						t.Fatalf("%s: unknown run %v", path, item["id"])
					}
					if _, ok := item["result"]; ok {
						t.Errorf("%s: run %s lists its result", path, id)
					}
					var one map[string]any
					get("/api/v1/runs/"+id, &one)
					// The detail adds timings, profiles and checks to each
					// stream; the list has the counts.
					want := []any{}
					for _, st := range one["streams"].([]any) {
						c := map[string]any{}
						for _, k := range []string{"name", "read", "written", "quarantined", "filtered", "deduplicated"} {
							c[k] = st.(map[string]any)[k]
						}
						want = append(want, c)
					}
					if !reflect.DeepEqual(item["streams"], want) {
						t.Errorf("%s: run %s streams %v, GET of the run %v", path, id, item["streams"], want)
					}
				}
			}
			var l list
			get("/api/v1/runs?limit=2", &l)
			if len(l.Items) != 2 || l.NextOffset == nil || *l.NextOffset != 2 {
				t.Errorf("first page: %d items, next %v", len(l.Items), l.NextOffset)
			}
			var users map[string]any
			for _, item := range func() []map[string]any { var l list; get("/api/v1/runs", &l); return l.Items }() {
				if sts := item["streams"].([]any); len(sts) == 2 {
					users = sts[0].(map[string]any)
				}
			}
			if want := map[string]any{"name": "users", "read": 10.0, "written": 8.0, "quarantined": 1.0, "filtered": 1.0, "deduplicated": 0.0}; !reflect.DeepEqual(users, want) {
				t.Errorf("users stream %v, want %v", users, want)
			}

			// The document still describes streams as an array of counts.
			var doc struct {
				Components struct {
					Schemas map[string]struct {
						Properties map[string]struct {
							Type  any `json:"type"`
							Items struct {
								Ref string `json:"$ref"`
							} `json:"items"`
						} `json:"properties"`
					} `json:"schemas"`
				} `json:"components"`
			}
			get("/api/openapi.json", &doc)
			st := doc.Components.Schemas["Run"].Properties["streams"]
			if !reflect.DeepEqual(st.Type, []any{"array", "null"}) && st.Type != "array" || st.Items.Ref != "#/components/schemas/StreamCounts" {
				t.Errorf("Run.streams in the document: %+v", st)
			}
		})
	}
}
