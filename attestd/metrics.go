package attestd

import (
	"errors"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/sgxops/sgxops/store"
)

// Attestation results, the "result" label of attestd_attestations_total.
const (
	resultOK                    = "ok"
	resultInvalidRequest        = "invalid_request"
	resultInvalidQuote          = "invalid_quote"
	resultCollateralUnavailable = "collateral_unavailable"
	resultRejected              = "rejected"      // reference values (policy.Appraise)
	resultPolicyDenied          = "policy_denied" // MAA policy
	resultError                 = "error"
)

// metrics are attestd's Prometheus series, on their own registry.
type metrics struct {
	reg            *prometheus.Registry
	attestations   *prometheus.CounterVec
	latency        *prometheus.HistogramVec
	phase          *prometheus.HistogramVec
	httpRequests   *prometheus.CounterVec
	adminOps       *prometheus.CounterVec
	collAge        *prometheus.GaugeVec
	collRemaining  *prometheus.GaugeVec
	ready          prometheus.Gauge
	storeLatency   *prometheus.HistogramVec
	storeConflicts *prometheus.CounterVec
}

// latencyBuckets cover a fast in-process path (sub-millisecond) to slow
// collateral fetches.
var latencyBuckets = []float64{.0005, .001, .002, .004, .008, .016, .032, .064, .128, .256, .512, 1, 2, 5, 10}

func newMetrics() *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	m.attestations = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "attestd_attestations_total",
		Help: "Attestation requests by attestation type, result, TCB status and whether the evidence was simulated.",
	}, []string{"type", "result", "tcb_status", "simulated"})
	m.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "attestd_attestation_duration_seconds",
		Help:    "Time to answer an attestation request, by attestation type and result.",
		Buckets: latencyBuckets,
	}, []string{"type", "result"})
	m.phase = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "attestd_attestation_phase_duration_seconds",
		Help:    "Time spent in each phase of an attestation: collateral, verify, appraise, sign.",
		Buckets: latencyBuckets,
	}, []string{"phase"})
	m.httpRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "attestd_http_requests_total",
		Help: "HTTP requests by route and status code.",
	}, []string{"route", "code"})
	m.adminOps = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "attestd_admin_operations_total",
		Help: "Admin and policy-management operations by operation and result.",
	}, []string{"op", "result"})
	m.collAge = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "attestd_collateral_age_seconds",
		Help: "Age of the TCB Info last used for a platform (now - issueDate), by FMSPC.",
	}, []string{"fmspc"})
	m.collRemaining = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "attestd_collateral_expiry_seconds",
		Help: "Seconds until the collateral last used for a platform expires (earliest nextUpdate or certificate NotAfter), by FMSPC.",
	}, []string{"fmspc"})
	m.ready = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "attestd_ready",
		Help: "1 when /readyz reports ready at its last call.",
	})
	m.storeLatency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "attestd_store_operation_duration_seconds",
		Help:    "Latency of store operations (Kubernetes API calls of the cluster store and the signing-key Secret), by operation and result.",
		Buckets: latencyBuckets,
	}, []string{"op", "result"})
	m.storeConflicts = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "attestd_store_conflicts_total",
		Help: "Writes refused because another replica changed the object first (resourceVersion conflicts), by operation.",
	}, []string{"op"})
	m.reg.MustRegister(m.attestations, m.latency, m.phase, m.httpRequests, m.adminOps, m.collAge, m.collRemaining, m.ready,
		m.storeLatency, m.storeConflicts,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

func (m *metrics) observePhase(phase string, start time.Time) {
	m.phase.WithLabelValues(phase).Observe(time.Since(start).Seconds())
}

// observeStore records one store operation: its latency, and a conflict
// when another writer won (store.ErrConflict, or the signing-key Secret
// changed under a write).
func (m *metrics) observeStore(op string, d time.Duration, err error) {
	result := "ok"
	switch {
	case err == nil:
	case errors.Is(err, store.ErrConflict) || errors.Is(err, errKeySetChanged) || apierrors.IsConflict(err) || apierrors.IsAlreadyExists(err):
		result = "conflict"
		m.storeConflicts.WithLabelValues(op).Inc()
	default:
		result = "error"
	}
	m.storeLatency.WithLabelValues(op, result).Observe(d.Seconds())
}
