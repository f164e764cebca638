package engine

import (
	"github.com/tributary-data/tributary/quality"
)

// DetectAnomalies compares a finished run with earlier runs of the same
// pipeline (history, in any order) and records what stands out: each
// stream's rows read, rows written and quarantine ratio against the same
// stream in history, in the stream's Anomalies, and the run's duration in
// res.Anomalies. Runs of history that did not have the stream do not
// count for it. Only a succeeded run is judged: the volumes of a failed or
// cancelled one are partial by nature.
func DetectAnomalies(res *Result, history []Result, opts quality.AnomalyOptions) {
	if res.Status != Succeeded {
		return
	}
	durations := make([]quality.RunStats, len(history))
	for i, h := range history {
		durations[i] = quality.RunStats{Duration: h.Duration}
	}
	for _, a := range quality.DetectAnomalies(durations, quality.RunStats{Duration: res.Duration}, opts) {
		if a.Metric == "duration_seconds" {
			res.Anomalies = append(res.Anomalies, a)
		}
	}
	for i := range res.Streams {
		s := &res.Streams[i]
		var past []quality.RunStats
		for _, h := range history {
			for _, hs := range h.Streams {
				if hs.Name == s.Name {
					past = append(past, volume(hs))
				}
			}
		}
		for _, a := range quality.DetectAnomalies(past, volume(*s), opts) {
			if a.Metric != "duration_seconds" {
				s.Anomalies = append(s.Anomalies, a)
			}
		}
	}
}

// volume is what a stream's volume anomalies are judged on; durations are
// the run's, judged once.
func volume(s StreamStats) quality.RunStats {
	st := quality.RunStats{RowsRead: s.Read, RowsWritten: s.Written}
	if s.Read > 0 {
		st.QuarantineRatio = float64(s.Quarantined) / float64(s.Read)
	}
	return st
}
