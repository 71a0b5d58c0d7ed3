package attestd

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"os"
	"path/filepath"
	"sync"
	"sync/atomic"

	"github.com/lestrrat-go/jwx/v3/jwk"

	"github.com/sgxops/sgxops/attestd/config"
)

// adminCalls are one write (needs admin) and one read (needs reader).
func adminWrite(e *testEnv, bearer, name string) response {
	return e.do("POST", "/admin/v1/releases", bearer, registerRequest{App: "auth", Name: name, MREnclave: mrenclaveHex(identity(name))})
}

func wantAuthError(t *testing.T, r response, status int) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d: %s", r.status, status, r.body)
	}
	want := CodeUnauthorized
	if status == http.StatusForbidden {
		want = CodeForbidden
	}
	if code := r.errorCode(t); code != want {
		t.Fatalf("code %s, want %s", code, want)
	}
}

func TestStaticTokenAuth(t *testing.T) {
	e := newTestEnv(t, envOpts{})
	tests := []struct {
		name, header string
		status       int
	}{
		{"none", "", 401},
		{"basic scheme", "Basic YWRtaW46YWRtaW4=", 401},
		{"empty bearer", "Bearer ", 401},
		{"unknown token", "Bearer not-a-token", 401},
		{"reader writes", "Bearer " + readerToken, 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest("POST", e.url+"/admin/v1/releases", nil)
			if tt.header != "" {
				req.Header.Set("Authorization", tt.header)
			}
			resp, err := e.client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var b [4096]byte
			n, _ := resp.Body.Read(b[:])
			wantAuthError(t, response{status: resp.StatusCode, header: resp.Header, body: b[:n]}, tt.status)
		})
	}
	mustStatus(t, adminWrite(e, adminToken, "a1"), 201)
	mustStatus(t, e.do("GET", "/admin/v1/releases", readerToken, nil), 200)
	wantAuthError(t, e.do("GET", "/admin/v1/releases", "", nil), 401)
	wantAuthError(t, e.do("POST", "/admin/v1/releases/auth/a1/activate", readerToken, nil), 403)
	wantAuthError(t, e.do("GET", "/policies/SgxEnclave", "", nil), 401)
	// The audit log is public.
	mustStatus(t, e.do("GET", "/admin/v1/audit", "", nil), 200)
	// Anonymous endpoints ignore a bad bearer (the JS SDK sends one everywhere when given a credential).
	mustStatus(t, e.do("GET", "/certs", "garbage", nil), 200)
}

func TestJWTAuth(t *testing.T) {
	idpKey := newECKey(t)
	other := newECKey(t)
	pub, err := jwk.Import(idpKey.Public())
	if err != nil {
		t.Fatal(err)
	}
	_ = pub.Set(jwk.KeyIDKey, "idp-1")
	set := jwk.NewSet()
	_ = set.AddKey(pub)
	jwks, _ := json.Marshal(set)
	idp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(jwks)
	}))
	t.Cleanup(idp.Close)
	cfg := config.JWTAuthConfig{Issuer: "https://idp.example", Audience: "attestd", JWKSURL: idp.URL}
	v, err := newJWTVerifier(context.Background(), cfg, time.Now, idp.Client())
	if err != nil {
		t.Fatal(err)
	}
	e := newTestEnv(t, envOpts{opts: func(o *Options) { o.JWT = v }})
	now := time.Now()
	mk := func(hdr map[string]any, mod func(map[string]any), key crypto.Signer) string {
		c := map[string]any{"iss": "https://idp.example", "aud": []string{"attestd", "other"}, "sub": "alice",
			"exp": now.Add(time.Hour).Unix(), "nbf": now.Add(-time.Minute).Unix(), "roles": []string{"sgxops.admin"}}
		if mod != nil {
			mod(c)
		}
		b, _ := json.Marshal(c)
		return signCompact(t, hdr, b, key)
	}
	es := map[string]any{"alg": "ES256", "kid": "idp-1", "typ": "JWT"}
	tests := []struct {
		name   string
		tok    string
		status int
	}{
		{"admin", mk(es, nil, idpKey), 201},
		{"scope string role", mk(es, func(c map[string]any) { c["roles"] = "x sgxops.admin" }, idpKey), 201},
		{"reader writes", mk(es, func(c map[string]any) { c["roles"] = []string{"sgxops.reader"} }, idpKey), 403},
		{"no role", mk(es, func(c map[string]any) { delete(c, "roles") }, idpKey), 403},
		{"expired", mk(es, func(c map[string]any) { c["exp"] = now.Add(-2 * time.Minute).Unix() }, idpKey), 401},
		{"no exp", mk(es, func(c map[string]any) { delete(c, "exp") }, idpKey), 401},
		{"not yet valid", mk(es, func(c map[string]any) { c["nbf"] = now.Add(time.Hour).Unix() }, idpKey), 401},
		{"wrong issuer", mk(es, func(c map[string]any) { c["iss"] = "https://evil.example" }, idpKey), 401},
		{"wrong audience", mk(es, func(c map[string]any) { c["aud"] = "someone-else" }, idpKey), 401},
		{"alg none", mk(map[string]any{"alg": "none", "kid": "idp-1"}, nil, nil), 401},
		{"hmac", mk(map[string]any{"alg": "HS256", "kid": "idp-1"}, nil, nil) + "c2ln", 401},
		{"unknown kid", mk(map[string]any{"alg": "ES256", "kid": "idp-9"}, nil, idpKey), 401},
		{"forged signature", mk(es, nil, other), 401},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.do("POST", "/admin/v1/releases", tt.tok, registerRequest{App: "jwt", Name: "r" + string(rune('a'+i)), MREnclave: mrenclaveHex(identity(tt.name))})
			if tt.status == 201 {
				mustStatus(t, r, 201)
				return
			}
			wantAuthError(t, r, tt.status)
		})
	}
	// The actor recorded in the audit log is the JWT subject.
	var page auditPage
	if err := json.Unmarshal(e.do("GET", "/admin/v1/audit", "", nil).body, &page); err != nil {
		t.Fatal(err)
	}
	if len(page.Entries) == 0 || page.Entries[0].Actor != "jwt:alice" {
		t.Fatalf("audit entries %+v", page.Entries)
	}
}

// testCA issues client certificates.
type testCA struct {
	key  *ecdsa.PrivateKey
	cert *x509.Certificate
}

func newTestCA(t *testing.T, cn string) *testCA {
	k := newECKey(t)
	return &testCA{key: k, cert: selfSigned(t, k, cn)}
}

func (ca *testCA) client(t *testing.T, cn string) tls.Certificate {
	k := newECKey(t)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, k.Public(), ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: k}
}

func TestMTLSAuth(t *testing.T) {
	ca, rogue := newTestCA(t, "admin CA"), newTestCA(t, "rogue CA")
	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	e := newTestEnv(t, envOpts{
		tls: &tls.Config{ClientAuth: tls.VerifyClientCertIfGiven, ClientCAs: pool},
		cfg: func(c *config.Config) {
			c.Auth.Tokens = nil
			c.TLS.ClientCAFile = "configured-by-test"
			c.Auth.MTLS = config.MTLSConfig{Admins: []string{"ops"}, Readers: []string{"viewer"}}
		},
		opts: func(o *Options) { o.MTLS = true },
	})
	withCert := func(c *tls.Certificate) *testEnv {
		cl := *e.client
		tr := cl.Transport.(*http.Transport).Clone()
		if c != nil {
			tr.TLSClientConfig.Certificates = []tls.Certificate{*c}
		}
		cl.Transport = tr
		cp := *e
		cp.client = &cl
		return &cp
	}
	ops, viewer, stranger, fake := ca.client(t, "ops"), ca.client(t, "viewer"), ca.client(t, "stranger"), rogue.client(t, "ops")
	mustStatus(t, adminWrite(withCert(&ops), "", "m1"), 201)
	wantAuthError(t, adminWrite(withCert(&viewer), "", "m2"), 403)
	mustStatus(t, withCert(&viewer).do("GET", "/admin/v1/releases", "", nil), 200)
	wantAuthError(t, adminWrite(withCert(&stranger), "", "m3"), 403)
	wantAuthError(t, adminWrite(withCert(nil), "", "m4"), 401)
	// Attestation endpoints stay anonymous: no certificate needed for /certs.
	mustStatus(t, withCert(nil).do("GET", "/certs", "", nil), 200)
	// A certificate from another CA (sent even though the server's CA list
	// does not name its issuer) fails the TLS handshake.
	forced := withCert(nil)
	forced.client.Transport.(*http.Transport).TLSClientConfig.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
		return &fake, nil
	}
	req, _ := http.NewRequest("GET", e.url+"/admin/v1/releases", nil)
	if resp, err := forced.client.Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("a certificate from an unknown CA was accepted: HTTP %d", resp.StatusCode)
	}
}

// jwtTestIdP is an OIDC issuer's JWKS endpoint that counts fetches and can
// be made to fail.
type jwtTestIdP struct {
	srv     *httptest.Server
	hits    atomic.Int32
	failing atomic.Bool
}

func newJWTTestIdP(t *testing.T, jwks []byte) *jwtTestIdP {
	p := &jwtTestIdP{}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.hits.Add(1)
		time.Sleep(20 * time.Millisecond) // a real IdP is not instant: concurrent callers overlap
		if p.failing.Load() {
			http.Error(w, "down", http.StatusBadGateway)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(jwks)
	}))
	t.Cleanup(p.srv.Close)
	return p
}

// testClock is a settable clock.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *testClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// TestJWKSRefetchIsRateLimited: a bearer JWT naming an unknown kid is
// sent by anyone; it may make attestd re-read the issuer's JWKS at most once
// per jwksMinRefetch, also when requests arrive together and when the JWKS
// URL fails (otherwise every anonymous request is an outbound fetch).
func TestJWKSRefetchIsRateLimited(t *testing.T) {
	idpKey := newECKey(t)
	pub, err := jwk.Import(idpKey.Public())
	if err != nil {
		t.Fatal(err)
	}
	_ = pub.Set(jwk.KeyIDKey, "idp-1")
	set := jwk.NewSet()
	_ = set.AddKey(pub)
	jwks, _ := json.Marshal(set)
	idp := newJWTTestIdP(t, jwks)
	clk := &testClock{t: time.Now()}
	cfg := config.JWTAuthConfig{Issuer: "https://idp.example", Audience: "attestd", JWKSURL: idp.srv.URL}
	v, err := newJWTVerifier(context.Background(), cfg, clk.now, idp.srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	mk := func(kid string) string {
		b, _ := json.Marshal(map[string]any{"iss": cfg.Issuer, "aud": "attestd", "sub": "alice",
			"exp": clk.now().Add(time.Hour).Unix(), "roles": "sgxops.admin"})
		return signCompact(t, map[string]any{"alg": "ES256", "kid": kid}, b, idpKey)
	}
	unknown := mk("rotated")
	burst := func(n int, concurrent bool) {
		var wg sync.WaitGroup
		for range n {
			call := func() {
				if _, aerr := v.principal(context.Background(), unknown); aerr == nil || aerr.Status != http.StatusUnauthorized {
					t.Errorf("unknown kid: %v", aerr)
				}
			}
			if concurrent {
				wg.Go(call)
			} else {
				call()
			}
		}
		wg.Wait()
	}

	clk.advance(time.Minute)
	base := idp.hits.Load()
	burst(16, true)
	if got := idp.hits.Load() - base; got > 1 {
		t.Errorf("16 concurrent requests with an unknown kid made %d JWKS fetches, want at most 1", got)
	}

	idp.failing.Store(true)
	clk.advance(time.Minute)
	base = idp.hits.Load()
	burst(5, false)
	if got := idp.hits.Load() - base; got > 1 {
		t.Errorf("5 requests with an unknown kid against a failing JWKS URL made %d fetches, want at most 1", got)
	}

	// Still usable: the known key verifies, and after the interval a fetch
	// is tried again.
	if p, aerr := v.principal(context.Background(), mk("idp-1")); aerr != nil || p.Role != config.RoleAdmin {
		t.Fatalf("known kid after a failed refresh: %v", aerr)
	}
	idp.failing.Store(false)
	clk.advance(time.Minute)
	base = idp.hits.Load()
	burst(1, false)
	if got := idp.hits.Load() - base; got != 1 {
		t.Fatalf("after the interval %d fetches, want 1", got)
	}
}

// TestJWTAudienceIsExact: aud is a StringOrURI (or an array of them);
// a single aud string that merely contains the audience as a
// space-separated word is another audience.
func TestJWTAudienceIsExact(t *testing.T) {
	idpKey := newECKey(t)
	pub, err := jwk.Import(idpKey.Public())
	if err != nil {
		t.Fatal(err)
	}
	_ = pub.Set(jwk.KeyIDKey, "idp-1")
	set := jwk.NewSet()
	_ = set.AddKey(pub)
	jwks, _ := json.Marshal(set)
	f := filepath.Join(t.TempDir(), "jwks.json")
	if err := os.WriteFile(f, jwks, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := config.JWTAuthConfig{Issuer: "https://idp.example", Audience: "attestd", JWKSFile: f}
	v, err := newJWTVerifier(context.Background(), cfg, time.Now, nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		aud  any
		ok   bool
	}{
		{"string", "attestd", true},
		{"array", []string{"other", "attestd"}, true},
		{"space-separated string", "other-app attestd", false},
		{"array element with spaces", []string{"other-app attestd"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, _ := json.Marshal(map[string]any{"iss": cfg.Issuer, "aud": tt.aud, "sub": "alice",
				"exp": time.Now().Add(time.Hour).Unix(), "roles": "sgxops.admin"})
			_, aerr := v.principal(context.Background(), signCompact(t, map[string]any{"alg": "ES256", "kid": "idp-1"}, b, idpKey))
			if (aerr == nil) != tt.ok {
				t.Fatalf("aud %v: err %v, want ok=%v", tt.aud, aerr, tt.ok)
			}
		})
	}
}

// TestAdminRoutesNeedAuth sweeps every route that reads or changes
// admin state, including path variants the mux rewrites or decodes: none
// answers without credentials, and none that writes answers a reader.
func TestAdminRoutesNeedAuth(t *testing.T) {
	e := newTestEnv(t, envOpts{})
	e.release("sweep", "v1", identity("sweep"), false)
	writes := [][2]string{
		{"POST", "/admin/v1/releases"},
		{"POST", "/admin/v1/releases/sweep/v1/activate"},
		{"POST", "/admin/v1/releases/sweep/v1/drain"},
		{"POST", "/admin/v1/releases/sweep/v1/retire"},
		{"POST", "/admin/v1/releases/sweep/v1/revoke"},
		{"POST", "/admin/v1/releases/sweep/v1/%72evoke"},
		{"POST", "/admin/v1/sweep"},
		{"PUT", "/policies/SgxEnclave"},
		{"PUT", "/policies/sgxenclave"},
		{"POST", "/policies/SgxEnclave:reset"},
		{"POST", "/policies/SgxEnclave%3Areset"},
		{"POST", "/policies/OpenEnclave:RESET"},
		{"POST", "/certificates:add"},
		{"POST", "/certificates%3Aremove"},
	}
	reads := [][2]string{
		{"GET", "/admin/v1/releases"},
		{"HEAD", "/admin/v1/releases"},
		{"GET", "/admin/v1/releases/sweep"},
		{"GET", "/admin/v1/releases/sweep/v1"},
		{"GET", "/policies/SgxEnclave"},
		{"GET", "/certificates"},
	}
	for _, rt := range append(writes, reads...) {
		if r := e.do(rt[0], rt[1], "", `{"reason":"x"}`); r.status != http.StatusUnauthorized {
			t.Errorf("%s %s without credentials: %d", rt[0], rt[1], r.status)
		}
	}
	for _, rt := range writes {
		if r := e.do(rt[0], rt[1], readerToken, `{"reason":"x"}`); r.status != http.StatusForbidden {
			t.Errorf("%s %s as reader: %d", rt[0], rt[1], r.status)
		}
	}
	// Path cleaning redirects (307) to the canonical route, which then
	// authenticates; it never lands on an anonymous handler.
	req, _ := http.NewRequest("POST", e.url+"/certs/../admin/v1/sweep", nil)
	req.URL.Opaque = "/certs/../admin/v1/sweep"
	cl := *e.client
	cl.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := cl.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTemporaryRedirect || resp.Header.Get("Location") != "/admin/v1/sweep" {
		t.Fatalf("dot-dot path: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	v, err := e.reg.Get(context.Background(), "sweep", "v1")
	if err != nil || string(v.State) != "active" {
		t.Fatalf("release changed by unauthenticated calls: %v %v", v.State, err)
	}
}
