package alert

import "github.com/prometheus/client_golang/prometheus"

// Metrics count delivery attempts, so that alerts that cannot reach
// anyone are seen on a dashboard.
type Metrics struct {
	// Attempts by channel type and outcome: sent, retry (failed, tried
	// again later) or failed (given up).
	Attempts *prometheus.CounterVec
}

// NewMetrics registers the delivery metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tributary_alert_delivery_attempts_total",
			Help: "Alert delivery attempts by channel type and outcome (sent, retry, failed).",
		}, []string{"type", "outcome"}),
	}
	reg.MustRegister(m.Attempts)
	return m
}

func (m *Metrics) count(typ string, status string, pending bool) {
	if m == nil {
		return
	}
	outcome := status
	if pending {
		outcome = "retry"
	}
	m.Attempts.WithLabelValues(typ, outcome).Inc()
}
