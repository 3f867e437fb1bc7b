package webhook

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/kubegate/kubegate/images"
)

// Metrics are the webhook's Prometheus metrics, on a registry of their own.
type Metrics struct {
	registry  *prometheus.Registry
	requests  *prometheus.CounterVec
	decisions *prometheus.CounterVec
	denials   *prometheus.CounterVec
	latency   *prometheus.HistogramVec
	// DBRefreshFailures counts failed refreshes of the vulnerability DB.
	DBRefreshFailures prometheus.Counter
}

// NewMetrics registers the webhook's metrics and the Go runtime's.
func NewMetrics() *Metrics {
	m := &Metrics{
		registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kubegate_webhook_requests_total", Help: "Image review requests, by HTTP status.",
		}, []string{"code"}),
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kubegate_webhook_decisions_total", Help: "Image review decisions: allow or deny.",
		}, []string{"decision"}),
		denials: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kubegate_webhook_denials_total", Help: "Denied reviews, by the rule that denied (a review may count under several).",
		}, []string{"rule"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "kubegate_webhook_review_duration_seconds", Help: "Time to answer an image review.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 20, 30},
		}, []string{"decision"}),
	}
	m.DBRefreshFailures = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "kubegate_vulnerability_db_refresh_failures_total", Help: "Failed refreshes of the vulnerability DB.",
	})
	m.registry.MustRegister(m.requests, m.decisions, m.denials, m.latency, m.DBRefreshFailures,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// WatchDB reports the age of the vulnerability DB in use (-1 while none is open): an alert
// on it catches a refresh that keeps failing before reviews are denied as stale.
func (m *Metrics) WatchDB(db func() (images.DBInfo, bool)) {
	m.registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "kubegate_vulnerability_db_age_seconds", Help: "Age of the vulnerability DB in use (since it was built); -1 when none is open.",
	}, func() float64 {
		if info, ok := db(); ok {
			return time.Since(info.UpdatedAt).Seconds()
		}
		return -1
	}))
}

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{Registry: m.registry})
}

// observe counts one request; d is nil when the request was refused before a decision.
func (m *Metrics) observe(code int, d *Decision, took time.Duration) {
	m.requests.WithLabelValues(strconv.Itoa(code)).Inc()
	decision := "error"
	if d != nil {
		decision = "deny"
		if d.Allowed {
			decision = "allow"
		}
		m.decisions.WithLabelValues(decision).Inc()
		for _, r := range d.Rules {
			m.denials.WithLabelValues(r).Inc()
		}
	}
	m.latency.WithLabelValues(decision).Observe(took.Seconds())
}
