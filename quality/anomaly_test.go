package quality

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func steady(n int, rows int64, d time.Duration) []RunStats {
	h := make([]RunStats, n)
	for i := range h {
		h[i] = RunStats{RowsRead: rows, RowsWritten: rows, Duration: d}
	}
	return h
}

func TestDetectAnomaliesCases(t *testing.T) {
	noisy := []RunStats{}
	for i, r := range []int64{1000, 1040, 980, 1010, 995, 1020, 970, 1005, 5000} { // one old outlier
		noisy = append(noisy, RunStats{RowsRead: r, RowsWritten: r, Duration: time.Duration(60+i) * time.Second})
	}
	tests := []struct {
		name    string
		history []RunStats
		current RunStats
		opts    AnomalyOptions
		want    []string // metric/direction
	}{
		{"too little history", steady(4, 1000, time.Minute), RunStats{RowsRead: 1}, AnomalyOptions{}, nil},
		{"min history lowered", steady(4, 1000, time.Minute), RunStats{RowsRead: 1, RowsWritten: 1000, Duration: time.Minute}, AnomalyOptions{MinHistory: 3}, []string{"rows_read/low"}},
		{"normal run", noisy, RunStats{RowsRead: 1015, RowsWritten: 1015, Duration: 63 * time.Second}, AnomalyOptions{}, nil},
		{"volume drop despite old outlier", noisy, RunStats{RowsRead: 400, RowsWritten: 400, Duration: 62 * time.Second}, AnomalyOptions{}, []string{"rows_read/low", "rows_written/low"}},
		{"slow run", noisy, RunStats{RowsRead: 1000, RowsWritten: 1000, Duration: 10 * time.Minute}, AnomalyOptions{}, []string{"duration_seconds/high"}},
		{"fast run is fine", noisy, RunStats{RowsRead: 1000, RowsWritten: 1000, Duration: time.Second}, AnomalyOptions{}, nil},
		{"quarantine jump", noisy, RunStats{RowsRead: 1000, RowsWritten: 900, QuarantineRatio: 0.1, Duration: 61 * time.Second}, AnomalyOptions{}, []string{"rows_written/low", "quarantine_ratio/high"}},
		// MAD 0: a static table; a tiny change stays under the floor, a
		// real one is flagged.
		{"constant history small change", steady(10, 5000, time.Minute), RunStats{RowsRead: 5010, RowsWritten: 5010, Duration: time.Minute}, AnomalyOptions{}, nil},
		{"constant history jump", steady(10, 5000, time.Minute), RunStats{RowsRead: 6000, RowsWritten: 6000, Duration: time.Minute}, AnomalyOptions{}, []string{"rows_read/high", "rows_written/high"}},
		{"mean absolute deviation fallback", append(steady(6, 100, time.Minute), RunStats{RowsRead: 200, RowsWritten: 100, Duration: time.Minute}), RunStats{RowsRead: 180, RowsWritten: 100, Duration: time.Minute}, AnomalyOptions{}, []string{"rows_read/high"}},
		{"higher threshold", steady(10, 5000, time.Minute), RunStats{RowsRead: 6000, RowsWritten: 6000, Duration: time.Minute}, AnomalyOptions{Threshold: 100}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, a := range DetectAnomalies(tt.history, tt.current, tt.opts) {
				got = append(got, a.Metric+"/"+a.Direction)
				if a.Message == "" || math.IsInf(a.Score, 0) || math.IsNaN(a.Score) {
					t.Errorf("anomaly %+v", a)
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("anomalies %v, want %v", got, tt.want)
			}
		})
	}
}

// TestDetectAnomaliesSynthetic runs detection over many generated run
// histories, a known share of them with an anomaly injected into the
// current run, and measures precision and recall per run.
func TestDetectAnomaliesSynthetic(t *testing.T) {
	rng := rand.New(rand.NewPCG(2024, 6))
	const series = 4000
	var tp, fp, fn, injected int
	for range series {
		n := 5 + rng.IntN(55)
		base := math.Exp(math.Log(1e3) + rng.Float64()*math.Log(1e4)) // 1k to 10M rows
		noise := 0.01 + rng.Float64()*0.07                            // 1% to 8% day to day
		if rng.IntN(10) == 0 {
			noise = 0 // a static table
		}
		qBase := rng.Float64() * 0.01
		dBase := 5 + rng.Float64()*600
		run := func() RunStats {
			read := base * (1 + noise*rng.NormFloat64())
			q := max(0, qBase*(1+0.3*rng.NormFloat64()))
			d := dBase * (1 + 0.1*rng.NormFloat64())
			return RunStats{RowsRead: int64(read), RowsWritten: int64(read * (1 - q)), QuarantineRatio: q, Duration: time.Duration(d * float64(time.Second))}
		}
		history := make([]RunStats, n)
		for i := range history {
			history[i] = run()
			if rng.IntN(30) == 0 { // an old incident in the history
				history[i].RowsRead *= 3
			}
		}
		current := run()
		anomalous := rng.IntN(5) == 0
		if anomalous {
			injected++
			switch rng.IntN(4) {
			case 0: // the source lost most of its data
				f := 0.05 + rng.Float64()*0.5
				current.RowsRead = int64(float64(current.RowsRead) * f)
				current.RowsWritten = int64(float64(current.RowsWritten) * f)
			case 1: // a duplicated feed
				f := 1.6 + rng.Float64()*3
				current.RowsRead = int64(float64(current.RowsRead) * f)
				current.RowsWritten = int64(float64(current.RowsWritten) * f)
			case 2: // a broken upstream format
				current.QuarantineRatio += 0.02 + rng.Float64()*0.3
				current.RowsWritten = int64(float64(current.RowsRead) * (1 - current.QuarantineRatio))
			default: // a slow destination
				current.Duration = time.Duration(float64(current.Duration) * (2 + rng.Float64()*4))
			}
		}
		flagged := len(DetectAnomalies(history, current, AnomalyOptions{})) > 0
		switch {
		case flagged && anomalous:
			tp++
		case flagged:
			fp++
		case anomalous:
			fn++
		}
	}
	precision := float64(tp) / float64(tp+fp)
	recall := float64(tp) / float64(injected)
	t.Logf("%d series, %d with an injected anomaly: %d found, %d false alarms, %d missed: precision %.3f, recall %.3f",
		series, injected, tp, fp, fn, precision, recall)
	if precision < 0.9 || recall < 0.8 {
		t.Errorf("precision %.3f (want >= 0.9), recall %.3f (want >= 0.8)", precision, recall)
	}
}
