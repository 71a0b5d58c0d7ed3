package attestd

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/sgxops/sgxops/attestd/config"
	"github.com/sgxops/sgxops/audit"
	"github.com/sgxops/sgxops/collateral"
	"github.com/sgxops/sgxops/dcap"
	"github.com/sgxops/sgxops/registry"
	"github.com/sgxops/sgxops/store"
)

// AdminTokenFile is the admin bearer token generated in the data directory
// when no admin authentication is configured.
const AdminTokenFile = "admin-token"

// Running is a started attestd: its server, address and store.
type Running struct {
	Server *Server
	// Addr is the address the listener is bound to (resolves port 0).
	Addr  string
	store store.Store
	srv   *http.Server
	ln    net.Listener
	log   *slog.Logger
	tmo   time.Duration
	delay time.Duration
	stopF context.CancelFunc // stops the signing-key follower
	done  chan error
}

// Start opens the store and the signing keys (cfg.DataDir, or with the
// Kubernetes store its custom resources and the signing-key Secret),
// builds the collateral source and verifier, and starts serving. cfg must
// have passed Validate. Stop (or Wait) ends it.
func Start(ctx context.Context, cfg config.Config, log *slog.Logger) (*Running, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	now := time.Now
	m := newMetrics()
	if !cfg.Cluster() || needsDevCert(cfg) {
		if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
			return nil, fmt.Errorf("attestd: data dir: %w", err)
		}
	}
	var cl *clusterParts
	var keys keyStore = fileKeyStore{dir: cfg.DataDir}
	if cfg.Cluster() {
		var err error
		if cl, err = openCluster(ctx, cfg, m, log); err != nil {
			return nil, err
		}
		keys = cl.keys
	}
	fail := func(err error) (*Running, error) {
		if cl != nil {
			cl.store.Close()
		}
		return nil, err
	}
	key, err := loadKeySet(ctx, keys, cfg.Issuer, now())
	if err != nil {
		return fail(err)
	}
	if key.Created() {
		log.Info("generated a new token-signing key", "where", keys.where(SigningKeyFile), "kid", key.KeyID())
	}
	if err := ensureAdminAuth(&cfg, log); err != nil {
		return fail(err)
	}
	verifier, probe, simTrusted, err := buildVerifier(cfg.Collateral, now, log)
	if err != nil {
		return fail(err)
	}
	var signers []*x509.Certificate
	for _, f := range cfg.Policy.SigningCerts {
		cs, err := loadCerts(f)
		if err != nil {
			return fail(fmt.Errorf("attestd: policy signing certificate: %w", err))
		}
		signers = append(signers, cs...)
	}
	if cfg.Policy.AllowUnsigned {
		log.Warn("policy.allowUnsigned is set: unsigned (alg none) policies are accepted from admins (MAA AAD mode)")
	}
	var jwtv *jwtVerifier
	if cfg.Auth.JWT != nil {
		if jwtv, err = newJWTVerifier(ctx, *cfg.Auth.JWT, now, nil); err != nil {
			return fail(err)
		}
	}
	tlsCfg, err := serverTLS(cfg, now(), log)
	if err != nil {
		return fail(err)
	}
	var st store.Store
	if cl != nil {
		st = cl.store
	} else if st, err = store.OpenBolt(store.BoltPath(cfg.DataDir), store.BoltOptions{}); err != nil {
		return nil, err
	}
	if err := checkState(ctx, st, log); err != nil {
		st.Close()
		return nil, err
	}
	reg := registry.New(st, registry.Options{Now: now})
	if cl == nil {
		// One process owns the key files: a rotation it recorded but did not
		// store before it stopped is repaired in the log before any signing.
		repaired, err := auditKeyInUse(ctx, reg, key)
		if err != nil {
			st.Close()
			return nil, fmt.Errorf("attestd: checking the signing key against the audit log: %w", err)
		}
		if repaired {
			log.Warn("the audit log named another signing key than the one in use; recorded a repair entry", "kid", key.KeyID())
		}
	}
	opts := Options{
		Config: cfg, Store: st, Registry: reg, Verifier: verifier, SigningKey: key, PolicySigners: signers,
		JWT: jwtv, MTLS: cfg.TLS.ClientCAFile != "", CollateralReady: probe.check, SimulationTrusted: simTrusted,
		Logger: log, Now: now, keys: keys, metrics: m,
	}
	sw := &stateWatch{st: st, every: stateCheckInterval, log: log}
	opts.StoreReady = sw.ready(storeReadiness(st))
	var follower *keyFollower
	if cl != nil {
		// The keys were just read from the Secret: in sync until proven otherwise.
		follower = &keyFollower{ks: cl.keys, issuer: cfg.Issuer, now: now, log: log, synced: now()}
		opts.KeysReady = follower.check
	}
	srv, err := New(opts)
	if err != nil {
		st.Close()
		return nil, err
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("attestd: listen: %w", err)
	}
	if tlsCfg != nil {
		ln = tls.NewListener(ln, tlsCfg)
	}
	hs := &http.Server{
		Handler:           srv.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      3 * time.Minute, // a cold collateral fetch may take long
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	fctx, stopF := context.WithCancel(context.WithoutCancel(ctx))
	r := &Running{Server: srv, Addr: ln.Addr().String(), store: st, srv: hs, ln: ln, log: log,
		tmo: time.Duration(cfg.ShutdownTimeout), delay: time.Duration(cfg.ShutdownDelay), stopF: stopF, done: make(chan error, 1)}
	if follower != nil {
		follower.current, follower.apply = srv.key.Load, srv.followSigningKey
		go follower.run(fctx)
	}
	go sw.run(fctx)
	go func() {
		err := hs.Serve(ln)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		r.done <- err
	}()
	log.Info("listening", "addr", r.Addr, "issuer", cfg.Issuer, "tls", tlsCfg != nil, "kid", key.KeyID(),
		"store", cfg.Store.Type, "data_dir", cfg.DataDir, "simulation_root_trusted", simTrusted)
	return r, nil
}

// checkState replays the audit log against the stored trust set
// (store.VerifyState) before anything is served or written: a store whose
// releases, policies or policy-management certificates differ from what its
// log records (an offline edit), or whose chain is broken, is refused with
// an error naming the first object or entry that differs.
func checkState(ctx context.Context, st store.Store, log *slog.Logger) error {
	start := time.Now()
	ss, err := store.VerifyState(ctx, st)
	if err != nil {
		return fmt.Errorf("attestd: the store does not match its audit log; refusing to serve (see sgxops audit verify): %w", err)
	}
	if len(ss.Unproven) > 0 {
		log.Warn("the audit log predates state records for some objects: their state is not proven by the log (chain verified only)",
			"unproven", len(ss.Unproven), "first", ss.Unproven[0])
	}
	log.Info("trust set replayed from the audit log", "entries", ss.Entries, "releases", ss.Releases,
		"policies", ss.Policies, "duration", time.Since(start).String())
	return nil
}

// stateCheckInterval is how often a running attestd repeats checkState.
var stateCheckInterval = 15 * time.Minute

// stateWatch repeats checkState while attestd serves: an edit of the store
// made meanwhile (a Kubernetes object edited with its ledger digest
// recomputed) makes /readyz fail with the object named, for good.
type stateWatch struct {
	st    store.Store
	every time.Duration
	log   *slog.Logger
	bad   atomic.Pointer[error]
}

// ready is the store's readiness, failing once a check found a difference.
func (w *stateWatch) ready(storeOK func(context.Context) error) func(context.Context) error {
	return func(ctx context.Context) error {
		if err := w.bad.Load(); err != nil {
			return *err
		}
		return storeOK(ctx)
	}
}

func (w *stateWatch) run(ctx context.Context) {
	t := time.NewTicker(w.every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		_, err := store.VerifyState(ctx, w.st)
		switch {
		case err == nil, ctx.Err() != nil:
		case errors.Is(err, store.ErrStateMismatch), errors.Is(err, audit.ErrBrokenChain):
			err = fmt.Errorf("the store no longer matches its audit log: %w", err)
			w.bad.Store(&err)
			w.log.Error("periodic state check: the store no longer matches its audit log; not ready until restarted on a repaired store", "err", err)
			return
		default: // unreadable, or commits kept landing: try again next time
			w.log.Warn("periodic state check did not complete", "err", err)
		}
	}
}

// needsDevCert reports whether serving needs a generated development TLS
// certificate (kept in DataDir).
func needsDevCert(cfg config.Config) bool { return !cfg.InsecureHTTP && cfg.TLS.CertFile == "" }

// Wait blocks until ctx is done or the server fails, then shuts down
// gracefully (see Stop).
func (r *Running) Wait(ctx context.Context) error {
	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-r.done:
	}
	err := r.Stop()
	return errors.Join(serveErr, err)
}

// Stop shuts the server down gracefully: /readyz fails at once, the server
// keeps serving for the shutdown delay (so that load balancers take the
// replica out), then in-flight requests (attestations included) finish
// within the shutdown timeout, and the store is closed.
func (r *Running) Stop() error {
	r.Server.StartDraining()
	if r.delay > 0 {
		r.log.Info("shutting down: not ready; serving during the shutdown delay", "delay", r.delay.String())
		time.Sleep(r.delay)
	}
	ctx, cancel := context.WithTimeout(context.Background(), r.tmo)
	defer cancel()
	r.log.Info("shutting down: draining in-flight requests", "timeout", r.tmo.String())
	err := r.srv.Shutdown(ctx)
	r.stopF()
	if cerr := r.store.Close(); cerr != nil && !errors.Is(cerr, store.ErrClosed) {
		err = errors.Join(err, cerr)
	}
	return err
}

// ensureAdminAuth generates (or reuses) DataDir/admin-token when no admin
// authentication is configured, so a fresh attestd is usable and still has
// no anonymous writes.
func ensureAdminAuth(cfg *config.Config, log *slog.Logger) error {
	if f := cfg.Auth.AdminTokenFile; f != "" {
		b, err := os.ReadFile(f)
		if err != nil {
			return fmt.Errorf("attestd: admin token file: %w", err)
		}
		h, err := adminTokenHash(string(b), f)
		if err != nil {
			return err
		}
		cfg.Auth.Tokens = append(cfg.Auth.Tokens, config.StaticToken{Name: "admin-token-file", SHA256: h, Role: config.RoleAdmin})
		cfg.Auth.AdminTokenFile = ""
	}
	if cfg.AdminAuthConfigured() {
		return nil
	}
	if cfg.Cluster() {
		// config.Config.Validate refuses this; a replica must never invent its own.
		return errors.New("attestd: no admin authentication configured; refusing to generate a per-replica admin token with the Kubernetes store")
	}
	path := filepath.Join(cfg.DataDir, AdminTokenFile)
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		var raw [32]byte
		if _, err := rand.Read(raw[:]); err != nil {
			return err
		}
		b = []byte(hex.EncodeToString(raw[:]))
		if err := writeFileAtomic(path, append(b, '\n'), 0o600); err != nil {
			return fmt.Errorf("attestd: admin token: %w", err)
		}
		log.Warn("no admin authentication configured: generated an admin bearer token", "path", path)
	case err != nil:
		return fmt.Errorf("attestd: admin token: %w", err)
	}
	h, err := adminTokenHash(string(b), path)
	if err != nil {
		return err
	}
	cfg.Auth.Tokens = append(cfg.Auth.Tokens, config.StaticToken{Name: "admin-token-file", SHA256: h, Role: config.RoleAdmin})
	return nil
}

// adminTokenHash returns the SHA-256 (hex) of the token in a file's content
// (surrounding white space removed), refusing short tokens.
func adminTokenHash(content, path string) (string, error) {
	tok := strings.TrimSpace(content)
	if len(tok) < 16 {
		return "", fmt.Errorf("attestd: admin token in %s is shorter than 16 characters", path)
	}
	sum := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(sum[:]), nil
}

// serverTLS returns the listener's TLS configuration, nil for plain HTTP.
func serverTLS(cfg config.Config, now time.Time, log *slog.Logger) (*tls.Config, error) {
	if cfg.InsecureHTTP {
		log.Warn("INSECURE: serving plain HTTP; tokens and admin credentials travel unencrypted", "listen", cfg.Listen)
		return nil, nil
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if cfg.TLS.CertFile != "" {
		c, err := tls.LoadX509KeyPair(cfg.TLS.CertFile, cfg.TLS.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("attestd: TLS certificate: %w", err)
		}
		tc.Certificates = []tls.Certificate{c}
	} else {
		c, path, err := loadOrCreateDevCert(cfg.DataDir, cfg.Issuer, now)
		if err != nil {
			return nil, fmt.Errorf("attestd: development TLS certificate: %w", err)
		}
		tc.Certificates = []tls.Certificate{c}
		log.Warn("NO TLS CERTIFICATE CONFIGURED: serving a generated self-signed DEVELOPMENT certificate; clients must trust it explicitly. Use --tls-cert/--tls-key in production.",
			"cert", path)
	}
	if cfg.TLS.ClientCAFile != "" {
		pool, err := loadCertPool(cfg.TLS.ClientCAFile)
		if err != nil {
			return nil, fmt.Errorf("attestd: client CA: %w", err)
		}
		tc.ClientCAs = pool
		tc.ClientAuth = tls.VerifyClientCertIfGiven // attestation stays anonymous
	}
	return tc, nil
}

// buildVerifier assembles the collateral source (bundles first, then the
// network source behind a cache), its readiness probe, and the DCAP
// verifier with Intel's root (plus the simulation root, if configured).
func buildVerifier(cc config.CollateralConfig, now func() time.Time, log *slog.Logger) (Verifier, *collateralProbe, bool, error) {
	probe := &collateralProbe{client: &http.Client{Timeout: 10 * time.Second}, now: now}
	var bundles bundleSet
	for _, f := range cc.Bundles {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, nil, false, fmt.Errorf("attestd: collateral bundle: %w", err)
		}
		c, err := collateral.ParseBundle(b)
		if err != nil {
			return nil, nil, false, fmt.Errorf("attestd: collateral bundle %s: %w", f, err)
		}
		bundles = append(bundles, &collateral.Bundle{Collateral: c})
		probe.bundles = append(probe.bundles, c)
	}
	key := ""
	if cc.APIKeyFile != "" {
		b, err := os.ReadFile(cc.APIKeyFile)
		if err != nil {
			return nil, nil, false, fmt.Errorf("attestd: PCS API key: %w", err)
		}
		key = strings.TrimSpace(string(b))
	}
	network, base, err := cc.Network(key).Source()
	if err != nil {
		return nil, nil, false, fmt.Errorf("attestd: %w", err)
	}
	probe.baseURL = base
	if cc.PCCSInsecureSkipVerify {
		probe.client.Transport = insecureTransport()
	}
	if cc.PCS == "" && cc.PCCS == "" && cc.THIM == "" && len(bundles) == 0 {
		log.Info("no collateral source configured: using Intel PCS", "url", config.DefaultPCSURL)
	}
	var src collateral.Source
	if network != nil {
		probe.cache = collateral.NewCache(network, collateral.CacheOptions{ServeStaleOnError: true})
	}
	switch {
	case len(bundles) > 0 && network != nil:
		src = chainSources{first: bundles, second: probe.cache}
	case len(bundles) > 0:
		src = bundles
	default:
		src = probe.cache
	}
	opts := dcap.Options{}
	sim := false
	if cc.InsecureSimulationRoot != "" {
		if err := trustSimulationRoots(&opts, cc.InsecureSimulationRoot); err != nil {
			return nil, nil, false, err
		}
		sim = true
		log.Warn("INSECURE: trusting a SIMULATION root CA; quotes from the simulated platform will be accepted and their tokens say x-sgxops-simulated: true. Never do this in production.",
			"root", cc.InsecureSimulationRoot)
	}
	return &DCAPVerifier{Source: src, DCAP: dcap.NewVerifier(opts)}, probe, sim, nil
}

func insecureTransport() *http.Transport {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // explicitly requested for a PCCS
	return tr
}
