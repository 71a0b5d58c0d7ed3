package attestd

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sgxops/sgxops/attestd/config"
	"github.com/sgxops/sgxops/registry"
	"github.com/sgxops/sgxops/sim"
	"github.com/sgxops/sgxops/store"
)

// Credentials of the test environment's static tokens.
const (
	adminToken  = "admin-secret-token-0123456789"
	readerToken = "reader-secret-token-0123456789"
)

func tokenHash(tok string) string {
	s := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(s[:])
}

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// testEnv is attestd on a real loopback listener with a real bbolt store, a
// simulated SGX platform and its PCS-compatible collateral server.
type testEnv struct {
	t      testing.TB
	url    string
	plat   *sim.Platform
	pcs    *httptest.Server
	srv    *Server
	st     store.Store
	reg    *registry.Registry
	cfg    config.Config
	logs   *syncBuffer
	client *http.Client
	hs     *httptest.Server
}

// srvCert is the TLS certificate of an env started with envOpts.tls.
func (e *testEnv) srvCert(t testing.TB) *x509.Certificate {
	t.Helper()
	c := e.hs.Certificate()
	if c == nil {
		t.Fatal("the test env serves plain HTTP")
	}
	return c
}

type envOpts struct {
	cfg  func(*config.Config)
	plat sim.Config
	// opts amends the Options before New (e.g. JWT, MTLS).
	opts func(*Options)
	// tls, when set, serves HTTPS with this configuration (httptest's
	// certificate) instead of plain HTTP.
	tls *tls.Config
}

func newTestEnv(t testing.TB, o envOpts) *testEnv {
	t.Helper()
	plat, err := sim.New([]byte("attestd test platform "+t.Name()), o.plat, sim.Options{})
	if err != nil {
		t.Fatal(err)
	}
	pcs := httptest.NewServer(sim.NewPCSServer(plat))
	t.Cleanup(pcs.Close)
	dir := t.TempDir()
	rootFile := filepath.Join(dir, "sim-root.pem")
	if err := os.WriteFile(rootFile, plat.RootPEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewUnstartedServer(nil)
	url := "http://" + hs.Listener.Addr().String()
	if o.tls != nil {
		url = "https://" + hs.Listener.Addr().String()
	}
	cfg := config.Default()
	cfg.Listen = hs.Listener.Addr().String()
	cfg.InsecureHTTP = o.tls == nil
	cfg.DataDir = dir
	cfg.Collateral = config.CollateralConfig{PCS: pcs.URL, InsecureSimulationRoot: rootFile}
	cfg.Log.Level = "debug"
	cfg.Auth.Tokens = []config.StaticToken{{Name: "admin", SHA256: tokenHash(adminToken), Role: config.RoleAdmin}, {Name: "reader", SHA256: tokenHash(readerToken), Role: config.RoleReader}}
	if o.cfg != nil {
		o.cfg(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	st, err := store.OpenBolt(store.BoltPath(dir), store.BoltOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	key, err := NewSigningKey(testRSAKey(t, 0), url, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	log := testLogger(logs, cfg.Log.Level)
	verifier, probe, simTrusted := newSimVerifier(t, cfg.Collateral, log)
	var signers []*x509Cert
	for _, f := range cfg.Policy.SigningCerts {
		cs, err := loadCerts(f)
		if err != nil {
			t.Fatal(err)
		}
		signers = append(signers, cs...)
	}
	reg := registry.New(st, registry.Options{})
	opts := Options{Config: cfg, Store: st, Registry: reg, Verifier: verifier, SigningKey: key, PolicySigners: signers,
		CollateralReady: probe.check, SimulationTrusted: simTrusted, Logger: log}
	if o.opts != nil {
		o.opts(&opts)
	}
	srv, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	hs.Config.Handler = srv.Handler()
	if o.tls != nil {
		hs.TLS = o.tls
		hs.StartTLS()
	} else {
		hs.Start()
	}
	t.Cleanup(hs.Close)
	return &testEnv{t: t, url: url, plat: plat, pcs: pcs, srv: srv, st: st, reg: reg, cfg: cfg, logs: logs, client: hs.Client(), hs: hs}
}

// identity is a production (non-debug) enclave identity derived from name.
func identity(name string) sim.Identity {
	return sim.Identity{
		MREnclave: sha256.Sum256([]byte("mrenclave " + name)),
		MRSigner:  sha256.Sum256([]byte("mrsigner sgxops tests")),
		ISVProdID: 1, ISVSVN: 2,
	}
}

func mrenclaveHex(id sim.Identity) string { return hex.EncodeToString(id.MREnclave[:]) }

// quote makes a simulated quote binding runtime data rt (report_data[0:32]
// = SHA-256(rt)); rt nil leaves the report data zero.
func (e *testEnv) quote(id sim.Identity, rt []byte) []byte {
	e.t.Helper()
	var rd [64]byte
	if rt != nil {
		s := sha256.Sum256(rt)
		copy(rd[:], s[:])
	}
	q, err := e.plat.Quote(id, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	return q
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(r.body))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("response %d is not JSON: %v: %s", r.status, err, r.body)
	}
	return m
}

// errorCode checks MAA's error shape and content type and returns the code.
func (r response) errorCode(t *testing.T) string {
	t.Helper()
	if ct := r.header.Get("Content-Type"); ct != contentTypeJSON {
		t.Fatalf("error content type %q", ct)
	}
	var b struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	if err := json.Unmarshal(r.body, &b); err != nil || b.Error.Code == "" || b.Error.Message == "" {
		t.Fatalf("not an MAA error body: %s", r.body)
	}
	return b.Error.Code
}

func (e *testEnv) do(method, path, bearer string, body any) response {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequestWithContext(context.Background(), method, e.url+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := e.client.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

// mustOK fails unless r has status want.
func mustStatus(t testing.TB, r response, want int) response {
	t.Helper()
	if r.status != want {
		t.Fatalf("status %d, want %d: %s", r.status, want, r.body)
	}
	return r
}

// release registers app/name for id and, unless candidate, activates it.
func (e *testEnv) release(app, name string, id sim.Identity, candidate bool) {
	e.t.Helper()
	mustStatus(e.t, e.do("POST", "/admin/v1/releases", adminToken, registerRequest{App: app, Name: name, MREnclave: mrenclaveHex(id)}), http.StatusCreated)
	if !candidate {
		mustStatus(e.t, e.do("POST", fmt.Sprintf("/admin/v1/releases/%s/%s/activate", app, name), adminToken, nil), http.StatusOK)
	}
}

// attestBody is the JSON the JS SDK sends for a quote and Binary runtime data.
func attestBody(field string, evidence, rt []byte) map[string]any {
	b := map[string]any{field: base64.RawURLEncoding.EncodeToString(evidence)}
	if rt != nil {
		b["runtimeData"] = map[string]string{"data": base64.RawURLEncoding.EncodeToString(rt), "dataType": "Binary"}
	}
	return b
}

// attest posts to /attest/SgxEnclave and returns the response.
func (e *testEnv) attest(q, rt []byte, query string) response {
	e.t.Helper()
	return e.do("POST", "/attest/SgxEnclave?api-version=2020-10-01"+query, "", attestBody("quote", q, rt))
}

// tokenParts decodes a JWT's header and claims (numbers as json.Number).
func tokenParts(t *testing.T, tok string) (string, map[string]any) {
	t.Helper()
	p := strings.Split(tok, ".")
	if len(p) != 3 {
		t.Fatalf("token has %d parts", len(p))
	}
	hb, err := base64.RawURLEncoding.DecodeString(p[0])
	if err != nil {
		t.Fatal(err)
	}
	cb, err := base64.RawURLEncoding.DecodeString(p[1])
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]any
	dec := json.NewDecoder(bytes.NewReader(cb))
	dec.UseNumber()
	if err := dec.Decode(&c); err != nil {
		t.Fatal(err)
	}
	return string(hb), c
}

// token extracts the token of a 200 attestation response.
func (r response) token(t *testing.T) string {
	t.Helper()
	mustStatus(t, r, http.StatusOK)
	tok, _ := r.json(t)["token"].(string)
	if tok == "" {
		t.Fatalf("no token in %s", r.body)
	}
	return tok
}
