package jobs

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tributary-data/tributary/engine"
	"github.com/tributary-data/tributary/store"
)

// Metrics are the counters a worker process updates as runs finish.
type Metrics struct {
	RowsRead        *prometheus.CounterVec
	RowsWritten     *prometheus.CounterVec
	RowsQuarantined *prometheus.CounterVec
	BytesWritten    *prometheus.CounterVec
	Runs            *prometheus.CounterVec
	RunSeconds      *prometheus.HistogramVec
	// RunFailures counts failed runs, whether the engine failed or the run
	// could not start (its spec or connections did not resolve).
	RunFailures *prometheus.CounterVec
	// Lag is, per stream of a running run over a message stream, how many
	// messages are behind the last one loaded.
	Lag *prometheus.GaugeVec
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
		BytesWritten: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tributary_bytes_written_total", Help: "Bytes of the rows written to destinations (text and binary by length, other values by a fixed width), by pipeline.",
		}, []string{"pipeline"}),
		Runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tributary_runs_total", Help: "Finished runs, by pipeline and final status.",
		}, []string{"pipeline", "status"}),
		RunSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "tributary_run_duration_seconds", Help: "Duration of finished runs, by pipeline.",
			Buckets: prometheus.ExponentialBuckets(0.1, 4, 10),
		}, []string{"pipeline"}),
		RunFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tributary_run_failures_total", Help: "Failed runs, by pipeline.",
		}, []string{"pipeline"}),
		Lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "tributary_stream_lag", Help: "Messages behind the last one loaded, by pipeline and stream, while a run over a message stream runs.",
		}, []string{"pipeline", "stream"}),
	}
	reg.MustRegister(m.RowsRead, m.RowsWritten, m.RowsQuarantined, m.BytesWritten, m.Runs, m.RunSeconds, m.RunFailures, m.Lag)
	return m
}

// RegisterInFlight adds the gauge of runs the runner executes now.
func RegisterInFlight(reg prometheus.Registerer, r *Runner) {
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "tributary_runs_in_flight", Help: "Runs this process executes now.",
	}, func() float64 { return float64(r.InFlight()) }))
}

// FiguresObserver stores the totals of every finished run for the
// dashboard and analytics, and counts failures.
type FiguresObserver struct {
	Store   store.Store
	Metrics *Metrics
	Logger  *slog.Logger
}

// RunFinished implements [RunObserver].
func (o *FiguresObserver) RunFinished(ctx context.Context, run *store.Run) {
	if err := o.Store.RecordRunStats(ctx, run.ID); err != nil {
		log := o.Logger
		if log == nil {
			log = slog.Default()
		}
		// The dashboard records missing figures itself when it next reads
		// the run's time window.
		log.Warn("record run figures", "run_id", run.ID, "pipeline_id", run.PipelineID, "error", err)
	}
	if o.Metrics == nil || run.Status != store.Failed {
		return
	}
	name := run.PipelineID
	if p, err := o.Store.Pipeline(ctx, run.PipelineID); err == nil {
		name = p.Name
	}
	o.Metrics.RunFailures.WithLabelValues(name).Inc()
}

// QueueCollector reads the job queue's depth from the store at every
// scrape.
type QueueCollector struct {
	Store store.OpsStore
	// Timeout bounds the query; 2 s when zero.
	Timeout time.Duration
}

var (
	queueDepthDesc = prometheus.NewDesc("tributary_queue_depth", "Jobs in the run queue not yet finished, by River state.", []string{"state"}, nil)
	queueAgeDesc   = prometheus.NewDesc("tributary_queue_oldest_job_age_seconds", "Age of the oldest job waiting for a worker; 0 when none waits.", nil, nil)
	queueUpDesc    = prometheus.NewDesc("tributary_queue_up", "1 when the queue's depth could be read at this scrape.", nil, nil)
)

// Describe implements [prometheus.Collector].
func (c *QueueCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- queueDepthDesc
	ch <- queueAgeDesc
	ch <- queueUpDesc
}

// Collect implements [prometheus.Collector].
func (c *QueueCollector) Collect(ch chan<- prometheus.Metric) {
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = 2 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	q, err := c.Store.QueueStats(ctx)
	if err != nil {
		ch <- prometheus.MustNewConstMetric(queueUpDesc, prometheus.GaugeValue, 0)
		return
	}
	ch <- prometheus.MustNewConstMetric(queueUpDesc, prometheus.GaugeValue, 1)
	for _, st := range []string{"available", "scheduled", "retryable", "running", "pending"} {
		ch <- prometheus.MustNewConstMetric(queueDepthDesc, prometheus.GaugeValue, float64(q.ByState[st]), st)
	}
	age := 0.0
	if q.OldestAvailable != nil {
		age = max(0, time.Since(*q.OldestAvailable).Seconds())
	}
	ch <- prometheus.MustNewConstMetric(queueAgeDesc, prometheus.GaugeValue, age)
}

// observeLag sets the lag gauge of the run's streams that report one.
func (m *Metrics) observeLag(pipeline string, streams []engine.StreamStats) {
	if m == nil {
		return
	}
	for _, s := range streams {
		if s.Lag != nil {
			m.Lag.WithLabelValues(pipeline, s.Name).Set(float64(*s.Lag))
		}
	}
}
