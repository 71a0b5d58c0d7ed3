package attestd

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sgxops/sgxops/attestd/config"
	"github.com/sgxops/sgxops/sim"
)

// TestStartDefaults starts attestd as main does with no TLS settings: HTTPS
// with a generated development certificate, a generated signing key and
// admin token (0600), /readyz ready with an offline bundle, graceful stop.
func TestStartDefaults(t *testing.T) {
	plat, err := sim.New([]byte("start defaults"), sim.Config{}, sim.Options{})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	coll, err := plat.Collateral(plat.Request(sim.TEESGX))
	if err != nil {
		t.Fatal(err)
	}
	bundle, _ := coll.MarshalBundle()
	bundleFile, rootFile := filepath.Join(dir, "bundle.json"), filepath.Join(dir, "root.pem")
	_ = os.WriteFile(bundleFile, bundle, 0o644)
	_ = os.WriteFile(rootFile, plat.RootPEM(), 0o644)

	data := filepath.Join(dir, "data")
	cfg, err := config.ParseFlags([]string{"--listen", "127.0.0.1:0", "--issuer", "https://localhost", "--data-dir", data,
		"--collateral", bundleFile, "--insecure-simulation-root", rootFile}, os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	r, err := Start(context.Background(), cfg, testLogger(logs, "info"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{SigningKeyFile, AdminTokenFile, DevTLSKeyFile} {
		st, err := os.Stat(filepath.Join(data, f))
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v mode %v, want 0600", f, err, st.Mode().Perm())
		}
	}
	if !strings.Contains(logs.String(), "DEVELOPMENT certificate") || !strings.Contains(logs.String(), "SIMULATION root") {
		t.Errorf("missing warnings in the log:\n%s", logs.String())
	}
	certPEM, err := os.ReadFile(filepath.Join(data, DevTLSCertFile))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(certPEM)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "localhost"}}}
	resp, err := client.Get("https://" + r.Addr + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	var ready map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&ready)
	resp.Body.Close()
	if resp.StatusCode != 200 || ready["status"] != "ready" {
		t.Fatalf("readyz: %d %v", resp.StatusCode, ready)
	}
	// The generated admin token authenticates admin calls; nothing else does.
	tok, _ := os.ReadFile(filepath.Join(data, AdminTokenFile))
	for bearer, want := range map[string]int{strings.TrimSpace(string(tok)): 200, "wrong": 401} {
		req, _ := http.NewRequest("GET", "https://"+r.Addr+"/admin/v1/releases", nil)
		req.Header.Set("Authorization", "Bearer "+bearer)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("bearer %q: HTTP %d, want %d", bearer, resp.StatusCode, want)
		}
	}
	// Plain HTTP to the TLS port gets no answer.
	if resp, err := http.Get("http://" + r.Addr + "/certs"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Fatal("plain HTTP served on the TLS listener")
		}
	}
	if err := r.Stop(); err != nil {
		t.Fatalf("graceful stop: %v", err)
	}
	if _, err := client.Get("https://" + r.Addr + "/healthz"); err == nil {
		t.Fatal("still serving after Stop")
	}
	// A restart reuses the key and token.
	r2, err := Start(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Stop()
	if r2.Server.key.Load().Created() || r2.Server.key.Load().KeyID() != r.Server.key.Load().KeyID() {
		t.Fatal("restart generated a new signing key")
	}
}

// TestOfflineBundleAttestation attests with collateral from an offline
// bundle only (no collateral service reachable), as an air-gapped site does.
func TestOfflineBundleAttestation(t *testing.T) {
	var bundleFile string
	e := newTestEnv(t, envOpts{cfg: func(c *config.Config) {
		plat, err := sim.New([]byte("attestd test platform "+t.Name()), sim.Config{}, sim.Options{})
		if err != nil {
			t.Fatal(err)
		}
		coll, err := plat.Collateral(plat.Request(sim.TEESGX))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := coll.MarshalBundle()
		bundleFile = filepath.Join(c.DataDir, "bundle.json")
		if err := os.WriteFile(bundleFile, b, 0o644); err != nil {
			t.Fatal(err)
		}
		c.Collateral.PCS = ""
		c.Collateral.Bundles = []string{bundleFile}
	}})
	e.pcs.Close() // no network source at all
	id := identity("offline")
	e.release("offline", "v1", id, false)
	tok := e.attest(e.quote(id, []byte("rt")), []byte("rt"), "").token(t)
	if _, c := tokenParts(t, tok); c["x-sgxops-release"] != "v1" {
		t.Fatalf("claims %v", c)
	}
	mustStatus(t, e.do("GET", "/readyz", "", nil), 200)
}

// TestShutdownDrains: on Stop, /readyz fails at once while /livez and every
// other endpoint keep answering for the shutdown delay, and an attestation in
// flight (held up by a slow collateral service) completes with its token.
func TestShutdownDrains(t *testing.T) {
	plat, err := sim.New([]byte("shutdown drains"), sim.Config{}, sim.Options{})
	if err != nil {
		t.Fatal(err)
	}
	slow := make(chan struct{}) // closed: collateral answers
	var once sync.Once
	pcsHandler := sim.NewPCSServer(plat)
	pcs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.Path, "/tcb") {
			<-slow
		}
		pcsHandler.ServeHTTP(w, r)
	}))
	defer pcs.Close()
	defer once.Do(func() { close(slow) })
	dir := t.TempDir()
	rootFile := filepath.Join(dir, "root.pem")
	_ = os.WriteFile(rootFile, plat.RootPEM(), 0o644)
	cfg, err := config.ParseFlags([]string{"--listen", "127.0.0.1:0", "--insecure-http", "--data-dir", dir, "--pcs", pcs.URL,
		"--insecure-simulation-root", rootFile, "--admin-token-sha256", tokenHash(adminToken), "--shutdown-delay", "400ms"}, os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	r, err := Start(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + r.Addr
	e := &testEnv{t: t, url: base, client: http.DefaultClient, plat: plat}
	id := identity("drain")
	e.release("drain", "v1", id, false)
	q := e.quote(id, nil)
	got := make(chan response, 1)
	go func() { got <- e.attest(q, nil, "") }()
	time.Sleep(200 * time.Millisecond) // the attestation waits for collateral
	stopped := make(chan error, 1)
	go func() { stopped <- r.Stop() }()
	time.Sleep(100 * time.Millisecond)
	if rd := e.do("GET", "/readyz", "", nil); rd.status != 503 || !strings.Contains(string(rd.body), "shutting down") {
		t.Fatalf("readyz during shutdown: %d %s", rd.status, rd.body)
	}
	mustStatus(t, e.do("GET", "/livez", "", nil), 200)
	mustStatus(t, e.do("GET", "/certs", "", nil), 200)
	select {
	case r := <-got:
		t.Fatalf("the attestation did not wait for collateral: %d %s", r.status, r.body)
	default:
	}
	once.Do(func() { close(slow) })
	if tok := (<-got).token(t); tok == "" {
		t.Fatal("no token")
	}
	if err := <-stopped; err != nil {
		t.Fatalf("stop: %v", err)
	}
}

// TestAdminTokenFile: the token in --admin-token-file authenticates admin
// calls (only its hash is kept); a short token is refused.
func TestAdminTokenFile(t *testing.T) {
	dir := t.TempDir()
	tok := filepath.Join(dir, "token")
	if err := os.WriteFile(tok, []byte(adminToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.Auth.AdminTokenFile = tok
	if err := ensureAdminAuth(&cfg, nil); err != nil {
		t.Fatal(err)
	}
	if len(cfg.Auth.Tokens) != 1 || cfg.Auth.Tokens[0].SHA256 != tokenHash(adminToken) || cfg.Auth.Tokens[0].Role != config.RoleAdmin {
		t.Fatalf("tokens %+v", cfg.Auth.Tokens)
	}
	if _, err := os.Stat(filepath.Join(cfg.DataDir, AdminTokenFile)); err == nil {
		t.Fatal("a token was generated although one is configured")
	}
	if err := os.WriteFile(tok, []byte("short"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg = config.Default()
	cfg.Auth.AdminTokenFile = tok
	if err := ensureAdminAuth(&cfg, nil); err == nil || !strings.Contains(err.Error(), "shorter") {
		t.Fatalf("short token: %v", err)
	}
}
