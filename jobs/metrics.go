package jobs

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the counters a worker process updates as runs finish.
type Metrics struct {
	RowsRead        *prometheus.CounterVec
	RowsWritten     *prometheus.CounterVec
	RowsQuarantined *prometheus.CounterVec
	Runs            *prometheus.CounterVec
	RunSeconds      *prometheus.HistogramVec
}

// NewMetrics creates the metrics and registers them with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		RowsRead: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tributary_rows_read_total", Help: "Rows read from sources, by pipeline.",
		}, []string{"pipeline"}),
		RowsWritten: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tributary_rows_written_total", Help: "Rows written to destinations, by pipeline.",
		}, []string{"pipeline"}),
		RowsQuarantined: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tributary_rows_quarantined_total", Help: "Rows quarantined, by pipeline.",
		}, []string{"pipeline"}),
		Runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tributary_runs_total", Help: "Finished runs, by pipeline and final status.",
		}, []string{"pipeline", "status"}),
		RunSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "tributary_run_duration_seconds", Help: "Duration of finished runs, by pipeline.",
			Buckets: prometheus.ExponentialBuckets(0.1, 4, 10),
		}, []string{"pipeline"}),
	}
	reg.MustRegister(m.RowsRead, m.RowsWritten, m.RowsQuarantined, m.Runs, m.RunSeconds)
	return m
}
