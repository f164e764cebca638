package quality

import (
	"fmt"
	"math"
	"slices"
	"time"
)

// RunStats is what anomaly detection compares between runs of one
// pipeline (or one stream of it).
type RunStats struct {
	RowsRead        int64         `json:"rows_read"`
	RowsWritten     int64         `json:"rows_written"`
	QuarantineRatio float64       `json:"quarantine_ratio"`
	Duration        time.Duration `json:"duration"`
}

// AnomalyOptions tune [DetectAnomalies]; zero values take the defaults.
type AnomalyOptions struct {
	// Threshold is the robust z-score from which a value is an anomaly
	// (default 3.5, the usual cut for the modified z-score).
	Threshold float64
	// MinHistory is how many earlier runs are needed before anything is
	// called an anomaly (default 5).
	MinHistory int
}

// Anomaly is one metric of a run far from the pipeline's history.
type Anomaly struct {
	Metric    string  `json:"metric"` // rows_read, rows_written, quarantine_ratio, duration_seconds
	Value     float64 `json:"value"`
	Median    float64 `json:"median"`
	Score     float64 `json:"score"`     // robust z-score
	Direction string  `json:"direction"` // high or low
	Message   string  `json:"message"`
}

// metric describes how one number of a run is judged.
type metric struct {
	name  string
	get   func(RunStats) float64
	lowOK bool // a drop is good news (fewer rejects, a faster run)
	// floor is the smallest scale of normal variation: a history that
	// barely moves must not turn every small change into an alarm.
	floor func(median float64) float64
}

var metrics = []metric{
	{"rows_read", func(s RunStats) float64 { return float64(s.RowsRead) }, false, relativeFloor(0.01, 1)},
	{"rows_written", func(s RunStats) float64 { return float64(s.RowsWritten) }, false, relativeFloor(0.01, 1)},
	{"quarantine_ratio", func(s RunStats) float64 { return s.QuarantineRatio }, true, relativeFloor(0.05, 0.001)},
	{"duration_seconds", func(s RunStats) float64 { return s.Duration.Seconds() }, true, relativeFloor(0.05, 1)},
}

func relativeFloor(share, least float64) func(float64) float64 {
	return func(median float64) float64 { return max(least, share*math.Abs(median)) }
}

// DetectAnomalies compares the current run with the history of earlier
// runs, metric by metric, with the modified z-score 0.6745·(x − median)/MAD,
// which a few earlier outliers do not distort the way a mean and standard
// deviation would. When MAD is 0 (over half the runs had the same value)
// the mean absolute deviation stands in (scaled by 1.2533 to estimate the
// same spread); the spread never drops below a floor (1% of the median or
// one row for volumes, 5% of the median or 0.1 points for the quarantine
// ratio, 5% or one second for duration), so a perfectly steady history
// still tolerates small changes. Volumes are anomalous in both directions;
// the quarantine ratio and duration only when they rise.
func DetectAnomalies(history []RunStats, current RunStats, opts AnomalyOptions) []Anomaly {
	if opts.Threshold <= 0 {
		opts.Threshold = 3.5
	}
	if opts.MinHistory <= 0 {
		opts.MinHistory = 5
	}
	if len(history) < opts.MinHistory {
		return nil
	}
	var out []Anomaly
	xs := make([]float64, len(history))
	for _, m := range metrics {
		for i, h := range history {
			xs[i] = m.get(h)
		}
		x := m.get(current)
		med, scale := spread(xs)
		scale = max(scale, m.floor(med))
		z := (x - med) / scale
		if math.Abs(z) < opts.Threshold || (z < 0 && m.lowOK) {
			continue
		}
		a := Anomaly{Metric: m.name, Value: x, Median: med, Score: math.Round(z*100) / 100, Direction: "high"}
		if z < 0 {
			a.Direction = "low"
		}
		a.Message = fmt.Sprintf("%s is %s: %s against a median of %s over %d runs (robust z-score %.1f, threshold %.1f)",
			m.name, a.Direction, formatMetric(x), formatMetric(med), len(history), z, opts.Threshold)
		out = append(out, a)
	}
	return out
}

// spread returns the median of xs and the robust estimate of its standard
// deviation: MAD/0.6745, or 1.2533 times the mean absolute deviation when
// MAD is 0. It sorts xs.
func spread(xs []float64) (median, scale float64) {
	slices.Sort(xs)
	median = middle(xs)
	dev := make([]float64, len(xs))
	sum := 0.0
	for i, x := range xs {
		dev[i] = math.Abs(x - median)
		sum += dev[i]
	}
	slices.Sort(dev)
	if mad := middle(dev); mad > 0 {
		return median, mad / 0.6745
	}
	return median, 1.2533 * sum / float64(len(xs))
}

func middle(sorted []float64) float64 {
	n := len(sorted)
	if n%2 == 1 {
		return sorted[n/2]
	}
	return (sorted[n/2-1] + sorted[n/2]) / 2
}

func formatMetric(v float64) string {
	if v == math.Trunc(v) && math.Abs(v) < 1e15 {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.4g", v)
}
