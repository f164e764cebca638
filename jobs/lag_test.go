package jobs_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/tributary-data/tributary/connector"
	"github.com/tributary-data/tributary/jobs"
	"github.com/tributary-data/tributary/store"
)

// lagSource reads nothing until its context ends and reports a fixed lag,
// as a continuous read of a message stream behind its newest message.
type lagSource struct{ waitSource }

func (lagSource) Lag() map[string]int64 { return map[string]int64{"s": 42} }

func init() {
	connector.RegisterSource(connector.NewSpec[struct{}, struct{}]("jobs-test-lag", "reports a lag until its context ends"),
		func(context.Context, json.RawMessage) (connector.Source, error) { return lagSource{}, nil })
}

// TestLagGauge: a running run's lag reaches /metrics with each lease
// renewal and goes when the run ends.
func TestLagGauge(t *testing.T) {
	s := openStores(t)["sqlite"](t)
	dir := t.TempDir()
	src := map[string]any{"connector": "jobs-test-lag", "streams": []any{map[string]any{"name": "s"}}}
	pl := createPipeline(t, s, "lagging", src, nil, dir)
	reg := prometheus.NewRegistry()
	m := jobs.NewMetrics(reg)
	q := startQueue(t, s, &jobs.Runner{Store: s, DataDir: dir, Metrics: m, Lease: 300 * time.Millisecond})
	runID := queueRun(t, s, q, pl)
	waitStatus(t, s, runID, store.Running)
	lag := m.Lag.WithLabelValues("lagging", "s")
	deadline := time.Now().Add(10 * time.Second)
	for testutil.ToFloat64(lag) != 42 {
		if time.Now().After(deadline) {
			t.Fatal("the lag never reached the gauge")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := s.CancelRun(context.Background(), runID); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, s, runID, store.Cancelled)
	deadline = time.Now().Add(10 * time.Second)
	for testutil.CollectAndCount(m.Lag) != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the lag of a finished run stayed on the gauge")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
