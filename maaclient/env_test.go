package maaclient_test

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sgxops/sgxops/attestd"
	"github.com/sgxops/sgxops/attestd/config"
	"github.com/sgxops/sgxops/collateral"
	"github.com/sgxops/sgxops/dcap"
	"github.com/sgxops/sgxops/internal/corpus"
	"github.com/sgxops/sgxops/maaclient"
	"github.com/sgxops/sgxops/registry"
	"github.com/sgxops/sgxops/release"
	"github.com/sgxops/sgxops/sgx"
	"github.com/sgxops/sgxops/sim"
	"github.com/sgxops/sgxops/store"
)

// attestdEnv is a real attestd (bbolt store in a temp dir) on loopback,
// built through its public API, and a maaclient.Client pinned to it.
type attestdEnv struct {
	url    string
	reg    *registry.Registry
	client *maaclient.Client
}

type envOpts struct {
	// verifier verifies SGX and TDX quotes. Nil: one without collateral
	// (enough for SEV-SNP, whose certificates come with the evidence).
	verifier attestd.Verifier
	// simulationTrusted says the verifier trusts a simulated platform.
	simulationTrusted bool
	// snpTime is when SEV-SNP certificates are checked. Nil: now.
	snpTime func() time.Time
	apps    map[string]config.AppRules
}

func startAttestd(t *testing.T, o envOpts) *attestdEnv {
	t.Helper()
	hs := httptest.NewUnstartedServer(nil)
	addr := hs.Listener.Addr().String()
	issuer := "http://" + addr
	dir := t.TempDir()
	cfg := config.Default()
	cfg.Listen, cfg.DataDir, cfg.Issuer, cfg.InsecureHTTP = addr, dir, issuer, true
	cfg.Appraisal.Apps = o.apps
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	key, err := attestd.NewSigningKey(rsaKey(0), issuer, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.OpenBolt(store.BoltPath(dir), store.BoltOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	reg := registry.New(st, registry.Options{})
	v := o.verifier
	if v == nil {
		v = &attestd.DCAPVerifier{Source: &collateral.Bundle{}, DCAP: dcap.NewVerifier(dcap.Options{})}
	}
	srv, err := attestd.New(attestd.Options{
		Config: cfg, Store: st, Registry: reg, SigningKey: key, Verifier: v,
		SimulationTrusted: o.simulationTrusted, SNPTime: o.snpTime, Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	hs.Config.Handler = srv.Handler()
	hs.Start()
	t.Cleanup(hs.Close)
	c, err := maaclient.New(issuer, maaclient.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return &attestdEnv{url: issuer, reg: reg, client: c}
}

// release registers rel and, when activate is set, activates it.
func (e *attestdEnv) release(t *testing.T, rel release.Release, activate bool) {
	t.Helper()
	ctx := context.Background()
	if _, err := e.reg.Register(ctx, "test", rel); err != nil {
		t.Fatalf("register %s/%s: %v", rel.App, rel.Name, err)
	}
	if activate {
		if _, err := e.reg.Activate(ctx, "test", rel.App, rel.Name, time.Hour); err != nil {
			t.Fatalf("activate %s/%s: %v", rel.App, rel.Name, err)
		}
	}
}

// anyTCB accepts every TCB status but Revoked and every advisory: the real
// quotes' platforms are as their origins left them.
var anyTCB = config.AppRules{
	AcceptedTCBStatuses: []string{"UpToDate", "OutOfDate", "SWHardeningNeeded", "ConfigurationNeeded",
		"ConfigurationAndSWHardeningNeeded", "OutOfDateConfigurationNeeded", "TDRelaunchAdvised", "TDRelaunchAdvisedConfigurationNeeded"},
	AcceptedAdvisoryIDs: []string{"*"},
}

// quoteCase returns a corpus quote case, its quote and a verifier with its
// collateral bundle at its pinned time (Intel's production root only).
func quoteCase(t *testing.T, id string) (corpus.QuoteCase, []byte, *sgx.Quote, attestd.Verifier) {
	t.Helper()
	corpus.Dir(t)
	for _, c := range corpus.QuoteCases {
		if c.ID != id {
			continue
		}
		raw, _, err := sgx.DecodeBinary(corpus.Read(t, c.Quote))
		if err != nil {
			t.Fatal(err)
		}
		q, err := sgx.ParseQuote(raw)
		if err != nil {
			t.Fatal(err)
		}
		coll, err := collateral.ParseBundle(corpus.Read(t, c.Collateral))
		if err != nil {
			t.Fatal(err)
		}
		at := time.Unix(c.Now, 0)
		v := &attestd.DCAPVerifier{Source: &collateral.Bundle{Collateral: coll}, DCAP: dcap.NewVerifier(dcap.Options{Now: func() time.Time { return at }})}
		return c, raw, q, v
	}
	t.Fatalf("corpus case %s not found", id)
	return corpus.QuoteCase{}, nil, nil, nil
}

// simVerifier is a simulated platform and a verifier trusting its root.
func simVerifier(t *testing.T) (*sim.Platform, attestd.Verifier) {
	t.Helper()
	p, err := sim.New([]byte("maaclient cvm tests"), sim.Config{}, sim.Options{})
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(p.RootCertificate())
	return p, &attestd.DCAPVerifier{Source: p, DCAP: dcap.NewVerifier(dcap.Options{InsecureSimulationRoots: roots})}
}

// snpCase returns the corpus SEV-SNP case id.
func snpCase(t *testing.T, id string) corpus.SNPCase {
	t.Helper()
	corpus.Dir(t)
	for _, c := range corpus.SNPCases {
		if c.ID == id {
			return c
		}
	}
	t.Fatalf("corpus case %s not found", id)
	return corpus.SNPCase{}
}

// payload decodes a token's claims (numbers as json.Number).
func payload(t *testing.T, tok string) map[string]any {
	t.Helper()
	p := strings.Split(tok, ".")
	b, err := base64.RawURLEncoding.DecodeString(p[1])
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m
}
