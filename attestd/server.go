package attestd

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sgxops/sgxops/attestd/config"
	"github.com/sgxops/sgxops/registry"
	"github.com/sgxops/sgxops/store"
)

// Options are the dependencies of a Server. Config must have passed
// config.Config.Validate; Store, Registry (on that store), Verifier and SigningKey are
// required.
type Options struct {
	Config   config.Config
	Store    store.Store
	Registry *registry.Registry
	Verifier Verifier
	// SigningKey signs tokens; its issuer must equal Config.Issuer.
	SigningKey *SigningKey
	// PolicySigners are the policy-signing certificates (isolated mode).
	PolicySigners []*x509.Certificate
	// JWT verifies admin bearer JWTs. Nil: no JWT authentication.
	JWT *jwtVerifier
	// MTLS enables client-certificate authentication (the listener must ask
	// for certificates).
	MTLS bool
	// CollateralReady reports whether collateral is usable, for /readyz.
	// Nil: always usable.
	CollateralReady func(context.Context) error
	// SimulationTrusted says a simulation root is configured: apps accept
	// simulated evidence unless their rules say otherwise.
	SimulationTrusted bool
	// Logger receives the service log. Nil: discard.
	Logger *slog.Logger
	// Now is the clock. Nil: time.Now.
	Now func() time.Time
	// SNPTime is the time SEV-SNP certificates (VCEK/VLEK, ASK, ARK) are
	// checked at. Nil: Now.
	SNPTime func() time.Time
	// StoreReady reports, for /readyz, whether the store is reachable and
	// in sync. Nil: a read of the audit head must succeed.
	StoreReady func(context.Context) error
	// KeysReady reports, for /readyz, whether the signing keys follow their
	// shared copy (cluster mode). Nil: always.
	KeysReady func() error

	// keys persists the signing key set. Nil: the files in Config.DataDir.
	keys keyStore
	// metrics, when set, are the series to serve (Start creates them before
	// the store, whose latency they record). Nil: new ones.
	metrics *metrics
}

// Server is the attestd HTTP service.
type Server struct {
	cfg       config.Config
	log       *slog.Logger
	now       func() time.Time
	snpTime   func() time.Time
	key       atomic.Pointer[SigningKey]
	keyMu     sync.Mutex // serializes changes of key (rotations and followed Secret versions)
	rotateMu  sync.Mutex // serializes signing-key rotations
	keys      keyStore
	draining  atomic.Bool
	storeOK   func(context.Context) error
	keysOK    func() error
	reg       *registry.Registry
	store     store.Store
	verifier  Verifier
	auth      *authenticator
	signers   *policySigners
	metrics   *metrics
	trust     *trustCache
	policies  *policyCache
	collReady func(context.Context) error
	fmspcAge  *ageTracker
	mux       *http.ServeMux
	// slots bounds concurrent attestations to two per CPU (2×GOMAXPROCS):
	// requests beyond it wait in line (FIFO) instead of time-sharing the
	// CPUs, which keeps tail latency low near saturation.
	slots chan struct{}
}

// New assembles a Server.
func New(opts Options) (*Server, error) {
	switch {
	case opts.Store == nil || opts.Registry == nil:
		return nil, errors.New("attestd: Options.Store and Options.Registry are required")
	case opts.Verifier == nil:
		return nil, errors.New("attestd: Options.Verifier is required")
	case opts.SigningKey == nil:
		return nil, errors.New("attestd: Options.SigningKey is required")
	case opts.SigningKey.Issuer() != opts.Config.Issuer:
		return nil, fmt.Errorf("attestd: signing key is for issuer %q, config says %q", opts.SigningKey.Issuer(), opts.Config.Issuer)
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	if opts.SNPTime == nil {
		opts.SNPTime = now
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	pc, err := newPolicyCache(opts.Registry, now)
	if err != nil {
		return nil, err
	}
	m := opts.metrics
	if m == nil {
		m = newMetrics()
	}
	keys := opts.keys
	if keys == nil {
		keys = fileKeyStore{dir: opts.Config.DataDir}
	}
	s := &Server{
		slots:     make(chan struct{}, 2*runtime.GOMAXPROCS(0)),
		cfg:       opts.Config,
		log:       log,
		now:       now,
		snpTime:   opts.SNPTime,
		reg:       opts.Registry,
		store:     opts.Store,
		verifier:  opts.Verifier,
		auth:      newAuthenticator(opts.Config.Auth, opts.MTLS, opts.JWT),
		signers:   newPolicySigners(opts.PolicySigners, opts.Registry, now),
		metrics:   m,
		keys:      keys,
		storeOK:   opts.StoreReady,
		keysOK:    opts.KeysReady,
		trust:     newTrustCache(opts.Registry, opts.Config.Appraisal, opts.SimulationTrusted, now),
		policies:  pc,
		collReady: opts.CollateralReady,
		fmspcAge:  &ageTracker{entries: map[string]ageEntry{}},
		mux:       http.NewServeMux(),
	}
	s.key.Store(opts.SigningKey)
	s.routes()
	return s, nil
}

func (s *Server) routes() {
	h := func(route string, fn func(http.ResponseWriter, *http.Request) error) {
		s.mux.Handle(route, s.wrap(route, fn))
	}
	h("POST /attest/{type}", s.handleAttest)
	h("GET /certs", s.handleCerts)
	h("GET /certs/", s.handleCerts)
	h("GET /.well-known/openid-configuration", s.handleOpenID)
	h("/policies/{spec}", s.handlePolicies)
	h("GET /certificates", s.handleCertificates)
	h("POST /{certop}", s.handleCertificateOps)
	h("GET /admin/v1/releases", s.handleListReleases)
	h("POST /admin/v1/releases", s.handleRegister)
	h("GET /admin/v1/releases/{app}", s.handleListReleases)
	h("GET /admin/v1/releases/{app}/{name}", s.handleGetRelease)
	h("POST /admin/v1/releases/{app}/{name}/{op}", s.handleTransition)
	h("POST /admin/v1/sweep", s.handleSweep)
	h("POST /admin/v1/signing-key/rotate", s.handleRotateSigningKey)
	h("GET /admin/v1/audit", s.handleAudit)
	h("GET /admin/v1/audit/verify", s.handleAuditVerify)
	h("GET /healthz", s.handleHealthz)
	h("GET /livez", s.handleHealthz)
	h("GET /readyz", s.handleReadyz)
	h("GET /version", s.handleVersion)
	s.mux.Handle("GET /metrics", s.metrics.handler())
	h("/", func(w http.ResponseWriter, r *http.Request) error {
		return apiErrorf(http.StatusNotFound, CodeNotFound, "no such endpoint: %s %s", r.Method, r.URL.Path)
	})
}

// Handler returns the service's HTTP handler.
func (s *Server) Handler() http.Handler { return s.mux }

// statusWriter records the status code of a response.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// wrap adds the request id, error rendering, panic recovery, metrics and the
// access log to a handler.
func (s *Server) wrap(route string, fn func(http.ResponseWriter, *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		id := newRequestID()
		info := &requestInfo{id: id}
		sw.Header().Set("x-ms-request-id", id)
		sw.Header().Set("x-ms-maa-service-version", "sgxops-attestd")
		defer func() {
			if p := recover(); p != nil {
				s.log.Error("handler panic", "route", route, "request_id", id, "panic", fmt.Sprint(p))
				if sw.code == 0 {
					writeError(sw, fmt.Errorf("panic: %v", p))
				}
			}
			s.metrics.httpRequests.WithLabelValues(route, strconv.Itoa(sw.code)).Inc()
			if s.log.Enabled(r.Context(), slog.LevelDebug) {
				attrs := []any{"method", r.Method, "path", r.URL.Path, "status", sw.code,
					"duration_ms", float64(time.Since(start).Microseconds()) / 1000, "request_id", id, "remote", r.RemoteAddr}
				msg := "http"
				if info.simulated {
					msg, attrs = "http (SIMULATED evidence)", append(attrs, "simulated", true)
				}
				s.log.Debug(msg, attrs...)
			}
		}()
		r = r.WithContext(context.WithValue(r.Context(), requestInfoKey{}, info))
		if err := fn(sw, r); err != nil {
			var ae *APIError
			if !errors.As(err, &ae) || ae.Status >= 500 {
				s.log.Error("request failed", "route", route, "request_id", id, "err", err.Error())
			}
			writeError(sw, err)
		}
	})
}

// requestInfo is what handlers tell the access log about a request.
type requestInfo struct {
	id        string
	simulated bool // the request carried evidence from the simulated platform
}

type requestInfoKey struct{}

func reqInfo(ctx context.Context) *requestInfo {
	if i, ok := ctx.Value(requestInfoKey{}).(*requestInfo); ok {
		return i
	}
	return &requestInfo{}
}

func requestID(ctx context.Context) string { return reqInfo(ctx).id }

func newRequestID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// handleCerts serves the token-signing JWKS, without api-version.
func (s *Server) handleCerts(w http.ResponseWriter, r *http.Request) error {
	if r.URL.Path != "/certs" && r.URL.Path != "/certs/" {
		return apiErrorf(http.StatusNotFound, CodeNotFound, "no such endpoint: %s", r.URL.Path)
	}
	writeRawJSON(w, http.StatusOK, s.key.Load().JWKS())
	return nil
}

// openIDClaims are the claims_supported of the OpenID metadata.
var openIDClaims = []string{"cnf", "nonce", "x-ms-ver", "x-ms-attestation-type", "x-ms-policy-hash", "x-ms-policy-signer",
	"x-ms-sgx-is-debuggable", "x-ms-sgx-mrenclave", "x-ms-sgx-mrsigner", "x-ms-sgx-svn", "x-ms-sgx-product-id",
	"x-ms-sgx-report-data", "x-ms-sgx-ehd", "x-ms-sgx-collateral", "x-ms-runtime", "x-ms-inittime",
	"is-debuggable", "sgx-mrsigner", "sgx-mrenclave", "product-id", "svn", "tee",
	"x-sgxops-app", "x-sgxops-release", "x-sgxops-release-state", "x-sgxops-tcb-status", "x-sgxops-advisory-ids", "x-sgxops-simulated"}

func (s *Server) handleOpenID(w http.ResponseWriter, r *http.Request) error {
	iss := s.cfg.Issuer
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                iss,
		"jwks_uri":                              iss + "/certs",
		"response_types_supported":              []string{"token", "none"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"revocation_endpoint":                   iss + "/revoke",
		"claims_supported":                      openIDClaims,
	})
	return nil
}

// handleHealthz (also /livez) says the process serves HTTP; it depends on
// nothing else, so that a store outage never gets replicas restarted.
func (s *Server) handleHealthz(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	return nil
}

// setSigningKey makes k (just stored by this replica) the key that signs and
// that /certs publishes, unless the follower already installed a newer
// version written by another replica after it.
func (s *Server) setSigningKey(k *SigningKey) {
	s.keyMu.Lock()
	defer s.keyMu.Unlock()
	if cur := s.key.Load(); cur != nil && versionBefore(k.version, cur.version) {
		return
	}
	s.key.Store(k)
}

// followSigningKey installs k, read from the shared copy, unless the key in
// use is as new (a rotation through this replica may have stored a newer
// version meanwhile).
func (s *Server) followSigningKey(k *SigningKey) {
	s.keyMu.Lock()
	defer s.keyMu.Unlock()
	if cur := s.key.Load(); cur != nil && !newerVersion(k.version, cur.version) {
		return
	}
	s.key.Store(k)
}

// StartDraining makes /readyz fail from now on (shutdown has begun); the
// server keeps answering everything else.
func (s *Server) StartDraining() { s.draining.Store(true) }

// readyzStoreTimeout bounds the store check of /readyz.
const readyzStoreTimeout = 2 * time.Second

// handleReadyz is ready only with a signing key (following the shared copy
// in cluster mode), a reachable store in sync, usable collateral, and no
// shutdown under way.
func (s *Server) handleReadyz(w http.ResponseWriter, r *http.Request) error {
	var reasons []string
	if s.draining.Load() {
		reasons = append(reasons, "shutting down")
	}
	key := s.key.Load()
	if key == nil {
		reasons = append(reasons, "no signing key")
	}
	if s.keysOK != nil {
		if err := s.keysOK(); err != nil {
			reasons = append(reasons, "signing keys: "+trimPrefix(err.Error()))
		}
	}
	// A probe must answer quickly even when the store hangs.
	ctx, cancel := context.WithTimeout(r.Context(), readyzStoreTimeout)
	defer cancel()
	if s.storeOK != nil {
		if err := s.storeOK(ctx); err != nil {
			reasons = append(reasons, "store: "+err.Error())
		}
	} else if _, err := s.reg.AuditHead(ctx); err != nil {
		reasons = append(reasons, "store: "+err.Error())
	}
	if s.collReady != nil {
		if err := s.collReady(r.Context()); err != nil {
			reasons = append(reasons, "collateral: "+err.Error())
		}
	}
	if len(reasons) > 0 {
		s.metrics.ready.Set(0)
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"status": "not ready", "reasons": reasons})
		return nil
	}
	s.metrics.ready.Set(1)
	writeJSON(w, http.StatusOK, map[string]any{"status": "ready", "kid": key.KeyID()})
	return nil
}
