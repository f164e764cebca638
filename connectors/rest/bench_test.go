package rest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"log/slog"

	"github.com/tributary-data/tributary/connector"
	"github.com/tributary-data/tributary/engine"
	"github.com/tributary-data/tributary/pipeline"

	_ "github.com/tributary-data/tributary/connectors/jsonl"
)

// countEmitter counts rows and drops them, so the benchmark measures the
// source alone.
type countEmitter struct{ rows int }

func (c *countEmitter) Emit(_ context.Context, b *connector.Batch) error {
	c.rows += b.Len()
	b.Release()
	return nil
}
func (c *countEmitter) Checkpoint(context.Context, string, json.RawMessage) error { return nil }
func (c *countEmitter) Reject(context.Context, connector.Reject) error            { return nil }

// BenchmarkPages reads 100,000 records over 1,000 pages of 100 from a
// local server whose pages are prepared up front, requesting one page at a
// time or four, with no added latency or 5 ms a request (a nearby API).
func BenchmarkPages(b *testing.B) {
	for _, latency := range []time.Duration{0, 5 * time.Millisecond} {
		for _, conc := range []int{1, 4} {
			b.Run(fmt.Sprintf("latency=%s/concurrency=%d", latency, conc), func(b *testing.B) { benchPages(b, latency, conc) })
		}
	}
}

// pagesServer serves 1,000 pages of 100 records, prepared up front, each
// answer held back by latency; requests counts them.
func pagesServer(b *testing.B, latency time.Duration, requests *atomic.Int64) *httptest.Server {
	const pages, per = 1000, 100
	bodies := make([][]byte, pages+1)
	for p := 1; p <= pages; p++ {
		recs := make([]map[string]any, per)
		for i := range recs {
			id := (p-1)*per + i + 1
			recs[i] = map[string]any{"id": id, "name": fmt.Sprintf("customer %d", id), "amount": fmt.Sprintf("%d.%02d", id, id%100),
				"updated_at": epoch.Add(time.Duration(id) * time.Second).Format(time.RFC3339), "active": id%2 == 0, "tags": []string{"a", "b"}}
		}
		bodies[p], _ = json.Marshal(map[string]any{"data": recs})
	}
	bodies[0] = []byte(`{"data":[]}`)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		time.Sleep(latency)
		p, _ := strconv.Atoi(r.URL.Query().Get("page"))
		if p < 1 || p > pages {
			p = 0
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(bodies[p])
	}))
	b.Cleanup(srv.Close)
	return srv
}

func benchPages(b *testing.B, latency time.Duration, conc int) {
	const pages, per = 1000, 100
	var requests atomic.Int64
	srv := pagesServer(b, latency, &requests)
	src, err := NewSource(Config{BaseURL: srv.URL}, Options{})
	if err != nil {
		b.Fatal(err)
	}
	st := connector.Stream{Name: "s", SyncMode: connector.FullRefreshAppend, Config: map[string]any{
		"path": "/items", "records": "$.data", "pagination": map[string]any{"type": "page", "size_param": "per_page", "size": per, "concurrency": conc},
	}}
	b.ResetTimer()
	start := time.Now()
	requests.Store(0)
	for b.Loop() {
		e := &countEmitter{}
		if err := src.Read(context.Background(), connector.ReadRequest{Streams: []connector.Stream{st}, BatchSize: 10000}, e); err != nil {
			b.Fatal(err)
		}
		if e.rows != pages*per {
			b.Fatalf("%d rows", e.rows)
		}
	}
	secs := time.Since(start).Seconds()
	b.ReportMetric(float64(b.N*pages*per)/secs, "rows/s")
	b.ReportMetric(float64(requests.Load())/secs, "requests/s")
}

// BenchmarkEngineToJSONL runs the same 100,000 records through the engine
// into JSON Lines files: the source's batch and checkpoint per page
// included.
func BenchmarkEngineToJSONL(b *testing.B) {
	var requests atomic.Int64
	srv := pagesServer(b, 0, &requests)
	start := time.Now()
	rows := 0
	for b.Loop() {
		doc := fmt.Sprintf(`version: 1
name: bench
source:
  connector: rest
  config: {base_url: %s}
  streams:
    - name: s
      path: /items
      pagination: {type: page, size_param: per_page, size: 100}
      sync_mode: full_refresh_append
destination:
  connector: jsonl
  config: {path: %s}
`, srv.URL, b.TempDir())
		spec, err := pipeline.Parse([]byte(doc), nil)
		if err != nil {
			b.Fatal(err)
		}
		r, err := engine.New(spec, engine.Options{Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			b.Fatal(err)
		}
		res, err := r.Execute(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		rows += int(res.Streams[0].Written)
	}
	b.ReportMetric(float64(rows)/time.Since(start).Seconds(), "rows/s")
}
