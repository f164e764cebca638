package engine_test

import (
	"slices"
	"testing"
	"time"

	"github.com/tributary-data/tributary/engine"
	"github.com/tributary-data/tributary/quality"
)

func result(status engine.Status, d time.Duration, read, written, quarantined int64) engine.Result {
	return engine.Result{Status: status, Duration: d, Streams: []engine.StreamStats{{Name: "s", Read: read, Written: written, Quarantined: quarantined}}}
}

func TestDetectAnomalies(t *testing.T) {
	var history []engine.Result
	for i := range 8 {
		history = append(history, result(engine.Succeeded, time.Duration(10+i%3)*time.Second, 1000+int64(i), 990+int64(i), 10))
	}
	cases := []struct {
		name         string
		run          engine.Result
		history      []engine.Result
		runMetrics   []string
		streamMetric []string
	}{
		{"usual", result(engine.Succeeded, 11*time.Second, 1003, 993, 10), history, nil, nil},
		{"volume drop", result(engine.Succeeded, 11*time.Second, 20, 10, 10), history, nil, []string{"rows_read", "rows_written", "quarantine_ratio"}},
		{"slow", result(engine.Succeeded, 5*time.Minute, 1003, 993, 10), history, []string{"duration_seconds"}, nil},
		{"faster is fine", result(engine.Succeeded, time.Second, 1003, 993, 10), history, nil, nil},
		{"too little history", result(engine.Succeeded, 5*time.Minute, 20, 10, 10), history[:4], nil, nil},
		{"failed runs are not judged", result(engine.Failed, 5*time.Minute, 20, 10, 10), history, nil, nil},
	}
	metrics := func(as []quality.Anomaly) []string {
		var out []string
		for _, a := range as {
			out = append(out, a.Metric)
		}
		return out
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res := c.run
			engine.DetectAnomalies(&res, c.history, quality.AnomalyOptions{})
			if got := metrics(res.Anomalies); !slices.Equal(got, c.runMetrics) {
				t.Errorf("run anomalies %v, want %v", got, c.runMetrics)
			}
			if got := metrics(res.Streams[0].Anomalies); !slices.Equal(got, c.streamMetric) {
				t.Errorf("stream anomalies %v, want %v", got, c.streamMetric)
			}
		})
	}
}
