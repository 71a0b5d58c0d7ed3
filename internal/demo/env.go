package demo

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/sgxops/sgxops/attestd"
	"github.com/sgxops/sgxops/attestd/config"
	"github.com/sgxops/sgxops/collateral"
	"github.com/sgxops/sgxops/dcap"
	"github.com/sgxops/sgxops/enclave"
	"github.com/sgxops/sgxops/examples/aggregate"
	"github.com/sgxops/sgxops/ra"
	"github.com/sgxops/sgxops/registry"
	"github.com/sgxops/sgxops/sim"
	"github.com/sgxops/sgxops/store"
)

// server is an HTTP server on a loopback port.
type server struct {
	URL *url.URL
	hs  *http.Server
}

func serve(h http.Handler) (*server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	return serveOn(ln, h), nil
}

func serveOn(ln net.Listener, h http.Handler) *server {
	s := &server{URL: &url.URL{Scheme: "http", Host: ln.Addr().String()},
		hs: &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}}
	go func() { _ = s.hs.Serve(ln) }()
	return s
}

func (s *server) String() string { return s.URL.String() }

func (s *server) close() {
	if s == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = s.hs.Shutdown(ctx)
}

// platformEnv is the SIMULATED platform and its PCS-compatible server.
type platformEnv struct {
	platform *sim.Platform
	dir      string // saved state: root-ca.pem etc.
	pcs      *server
}

func startPlatform(dir string) (*platformEnv, error) {
	p, err := sim.NewRandom(sim.Config{}, sim.Options{})
	if err != nil {
		return nil, err
	}
	if err := p.Save(dir); err != nil {
		return nil, err
	}
	pcs, err := serve(sim.NewPCSServer(p))
	if err != nil {
		return nil, err
	}
	return &platformEnv{platform: p, dir: dir, pcs: pcs}, nil
}

// attestdEnv is an in-process attestd on a loopback listener.
type attestdEnv struct {
	issuer string
	admin  *adminClient
	store  store.Store
	srv    *server
}

// startAttestd assembles attestd from its parts on a listener made first, so
// that the issuer (its URL) is known before the signing key is made. It
// trusts the simulated platform's root explicitly and takes collateral from
// the simulated PCS.
func startAttestd(dir, pcsURL, simRootFile string, simRoot *x509.Certificate, grace time.Duration) (*attestdEnv, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*attestdEnv, error) {
		ln.Close()
		return nil, err
	}
	issuer := "http://" + ln.Addr().String()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fail(err)
	}
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return fail(err)
	}
	token := hex.EncodeToString(raw[:])
	sum := sha256.Sum256([]byte(token))

	cfg := config.Default()
	cfg.Listen = ln.Addr().String()
	cfg.DataDir = dir
	cfg.Issuer = issuer
	cfg.InsecureHTTP = true // loopback only
	cfg.Collateral.PCS = pcsURL
	cfg.Collateral.InsecureSimulationRoot = simRootFile // recorded; the verifier below is given the root
	cfg.Auth.Tokens = []config.StaticToken{{Name: "sgxops-demo", SHA256: hex.EncodeToString(sum[:]), Role: config.RoleAdmin}}
	cfg.Appraisal.DrainGrace = config.Duration(grace)
	if err := cfg.Validate(); err != nil {
		return fail(err)
	}
	key, err := attestd.LoadOrCreateSigningKey(dir, issuer, time.Now())
	if err != nil {
		return fail(err)
	}
	st, err := store.OpenBolt(store.BoltPath(dir), store.BoltOptions{})
	if err != nil {
		return fail(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(simRoot)
	verifier := &attestd.DCAPVerifier{
		Source: collateral.NewCache(&collateral.PCS{BaseURL: pcsURL}, collateral.CacheOptions{}),
		DCAP:   dcap.NewVerifier(dcap.Options{InsecureSimulationRoots: roots}),
	}
	srv, err := attestd.New(attestd.Options{
		Config: cfg, Store: st, Registry: registry.New(st, registry.Options{}), Verifier: verifier,
		SigningKey: key, SimulationTrusted: true, Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		st.Close()
		return fail(err)
	}
	return &attestdEnv{
		issuer: issuer,
		admin:  &adminClient{base: issuer, token: token, hc: &http.Client{Timeout: 10 * time.Second}},
		store:  st,
		srv:    serveOn(ln, srv.Handler()),
	}, nil
}

func (a *attestdEnv) close() {
	if a == nil {
		return
	}
	a.srv.close()
	if err := a.store.Close(); err != nil && !errors.Is(err, store.ErrClosed) {
		_ = err // nothing to do at teardown
	}
}

// build is a measured build of the sample service.
type build struct {
	Version   string
	Path      string // the SGXS measurement stream
	MREnclave string
	m         *enclave.Measurement
}

// measureBuild writes the (SIMULATED) build artifact of version to dir and
// measures the file with package enclave.
func measureBuild(dir, version string) (*build, error) {
	path := filepath.Join(dir, "sample-"+version+".sgxs")
	if err := aggregate.WriteImage(path, version); err != nil {
		return nil, err
	}
	m, err := enclave.Measure(path)
	if err != nil {
		return nil, err
	}
	return &build{Version: version, Path: path, MREnclave: hex.EncodeToString(m.MREnclave[:]), m: m}, nil
}

// startService runs the sample service of b on the simulated platform.
func startService(p *sim.Platform, b *build) (*server, error) {
	prov := &ra.SimulatedProvider{Platform: p, Identity: aggregate.SimulatedIdentity(b.m, false)}
	h, err := (&aggregate.Service{Version: b.Version, Provider: prov, ProviderName: prov.Name()}).Handler()
	if err != nil {
		return nil, err
	}
	return serve(h)
}

func short(hexs string) string {
	if len(hexs) > 16 {
		return hexs[:16] + "…"
	}
	return hexs
}

func fmtState(v *registry.View) string {
	s := fmt.Sprintf("%s/%s %s", v.App, v.Name, v.State)
	if !v.DrainUntil.IsZero() {
		s += " until " + v.DrainUntil.Format(time.RFC3339)
	}
	return s
}
