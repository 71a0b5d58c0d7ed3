package aggregate

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sgxops/sgxops/dcap"
	"github.com/sgxops/sgxops/policy"
	"github.com/sgxops/sgxops/ra"
	"github.com/sgxops/sgxops/release"
	"github.com/sgxops/sgxops/sim"
)

var testNow = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

func clock() time.Time { return testNow }

// wire records what a network observer (or the host) sees.
type wire struct {
	mu   sync.Mutex
	seen bytes.Buffer
	next http.Handler
	prov ra.QuoteProvider
}

func (w *wire) handler() *wire { return w }

func (w *wire) setHandler(h http.Handler) {
	w.mu.Lock()
	w.next = h
	w.mu.Unlock()
}

func providerOf(t *testing.T, w *wire) ra.QuoteProvider {
	t.Helper()
	return w.prov
}

func (w *wire) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	w.mu.Lock()
	w.seen.Write(b)
	next := w.next
	w.mu.Unlock()
	r.Body = io.NopCloser(bytes.NewReader(b))
	rec := httptest.NewRecorder()
	next.ServeHTTP(rec, r)
	w.mu.Lock()
	w.seen.Write(rec.Body.Bytes())
	w.mu.Unlock()
	for k, v := range rec.Header() {
		rw.Header()[k] = v
	}
	rw.WriteHeader(rec.Code)
	_, _ = rw.Write(rec.Body.Bytes())
}

func setup(t *testing.T, version string, debug bool) (*httptest.Server, *wire, *ra.LocalVerifier, string) {
	t.Helper()
	p, err := sim.New([]byte("aggregate test"), sim.Config{}, sim.Options{Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	m, err := Measure(version)
	if err != nil {
		t.Fatal(err)
	}
	prov := &ra.SimulatedProvider{Platform: p, Identity: SimulatedIdentity(m, debug)}
	h, err := (&Service{Version: version, Provider: prov, ProviderName: prov.Name()}).Handler()
	if err != nil {
		t.Fatal(err)
	}
	w := &wire{next: h, prov: prov}
	ts := httptest.NewServer(w)
	t.Cleanup(ts.Close)
	roots := x509.NewCertPool()
	roots.AddCert(p.RootCertificate())
	mre := hex.EncodeToString(m.MREnclave[:])
	v := &ra.LocalVerifier{
		Collateral: p,
		DCAP:       dcap.Options{InsecureSimulationRoots: roots, Now: clock},
		Trust: policy.TrustSet{Apps: []policy.App{{Name: App, AllowSimulated: true, Releases: []release.Release{{
			App: App, Name: version, MREnclave: mre, State: release.Active, CreatedAt: testNow, UpdatedAt: testNow}}}}},
		App: App,
		Now: clock,
	}
	return ts, w, v, mre
}

func TestServiceComputesOnEncryptedData(t *testing.T) {
	ts, w, v, mre := setup(t, "v1", false)
	c := &Client{URL: ts.URL, Verifier: v}
	ctx := context.Background()
	secret := []float64{123456.25, 654321.5}
	ans, err := c.Aggregate(ctx, secret)
	if err != nil {
		t.Fatal(err)
	}
	if ans.Result.Sum != 777777.75 || ans.Result.Count != 2 || ans.Result.Version != "v1" || !ans.NewSession {
		t.Fatalf("answer %+v", ans)
	}
	if a := ans.Attestation; a.MREnclave != mre || a.Release != "v1" || !a.Simulated {
		t.Fatalf("attestation %+v", a)
	}
	// The host saw only ciphertext: neither the inputs nor the sum.
	for _, s := range []string{"123456.25", "654321.5", "777777.75", "values", "sum"} {
		if bytes.Contains(w.seen.Bytes(), []byte(s)) {
			t.Fatalf("%q visible on the wire", s)
		}
	}
	// The session is reused.
	ans, err = c.Aggregate(ctx, []float64{1})
	if err != nil || ans.NewSession || ans.Result.Sum != 1 {
		t.Fatalf("second call %+v, %v", ans, err)
	}
	// Application errors come back encrypted and keep the session.
	_, err = c.Aggregate(ctx, nil)
	var re *ra.RemoteError
	if !errors.As(err, &re) || re.Message != "no values" {
		t.Fatalf("error %v, want RemoteError", err)
	}
	if _, err := c.Aggregate(ctx, []float64{2}); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(ctx); err != nil {
		t.Fatal(err)
	}

	resp, err := http.Get(ts.URL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var h Health
	if err := json.NewDecoder(resp.Body).Decode(&h); err != nil || h.Status != "ok" || h.Version != "v1" ||
		!strings.Contains(h.Provider, "SIMULATED") || h.Sessions != 0 {
		t.Fatalf("healthz %+v, %v", h, err)
	}
}

func TestServiceRejectedWhenDebug(t *testing.T) {
	ts, _, v, _ := setup(t, "v1", true)
	_, err := (&Client{URL: ts.URL, Verifier: v}).Aggregate(context.Background(), []float64{1})
	if !errors.Is(err, ra.ErrAttestation) || !strings.Contains(err.Error(), string(policy.ReasonDebugNotAllowed)) {
		t.Fatalf("debug enclave: %v", err)
	}
}

func TestClientRedialsUnknownSession(t *testing.T) {
	ts, w, v, _ := setup(t, "v1", false)
	c := &Client{URL: ts.URL, Verifier: v}
	ctx := context.Background()
	if _, err := c.Aggregate(ctx, []float64{1}); err != nil {
		t.Fatal(err)
	}
	// The service restarts: its new instance knows no sessions.
	old := w.handler()
	restarted, err := (&Service{Version: "v1", Provider: providerOf(t, old), ProviderName: "SIMULATED"}).Handler()
	if err != nil {
		t.Fatal(err)
	}
	w.setHandler(restarted)
	ans, err := c.Aggregate(ctx, []float64{5})
	if err != nil || !ans.NewSession || ans.Result.Sum != 5 {
		t.Fatalf("after the restart: %+v, %v", ans, err)
	}
}
