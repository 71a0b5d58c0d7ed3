package attestd

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwk"

	"github.com/sgxops/sgxops/sgx"
	"github.com/sgxops/sgxops/sim"
)

// Security review regressions (attestd). Each test names the weakness it
// pins down.

// TestReviewResetNeedsResetJWS: in isolated mode a reset must be authorized
// by the policy signer. The signed set-policy JWS that GET /policies returns
// to every reader must not double as a reset authorization, or any admin
// without the signing key could drop a signed policy back to the permissive
// default.
func TestReviewResetNeedsResetJWS(t *testing.T) {
	signerKey := testRSAKey(t, 1)
	signer := selfSigned(t, signerKey, "policy signer")
	certFile := writePEMCert(t, t.TempDir(), "signer.pem", signer)
	e := newTestEnv(t, envOpts{cfg: func(c *Config) { c.Policy.SigningCerts = []string{certFile} }})
	strict := `version=1.0;authorizationrules{c:[type=="x-ms-sgx-svn", value==99] => permit();};`
	mustStatus(t, e.do("PUT", "/policies/SgxEnclave", adminToken, signedPolicyJWS(t, strict, signerKey, signer)), 200)

	// What a reader (or anyone who saw the upload) holds: the signed policy JWS.
	r := mustStatus(t, e.do("GET", "/policies/SgxEnclave", readerToken, nil), 200)
	_, c := tokenParts(t, r.json(t)["token"].(string))
	stored, _ := c["x-ms-policy"].(string)
	if pj, err := DecodePolicyJWS([]byte(stored)); err != nil || pj.Signer == nil {
		t.Fatalf("stored policy is not the signed JWS: %v", err)
	}
	if r := e.do("POST", "/policies/SgxEnclave:reset", adminToken, stored); r.status == http.StatusOK {
		t.Fatal("a signed set-policy JWS was accepted as a reset: the strict policy was dropped without the signer")
	} else if code := r.errorCode(t); code != CodeInvalidParameter {
		t.Fatalf("reset with a policy payload: %d %s", r.status, code)
	}
	r = mustStatus(t, e.do("GET", "/policies/SgxEnclave", readerToken, nil), 200)
	if _, c := tokenParts(t, r.json(t)["token"].(string)); c["x-ms-policy"] != stored {
		t.Fatal("the signed policy is no longer in force")
	}
	// Nor may any other document the signer signed, such as a
	// certificate-management request: only an empty payload means "reset".
	other := signCompact(t, map[string]any{"alg": "RS256", "x5c": []string{base64.StdEncoding.EncodeToString(signer.Raw)}},
		[]byte(`{"policyCertificate":{"kty":"RSA","x5c":["`+base64.StdEncoding.EncodeToString(signer.Raw)+`"]}}`), signerKey)
	if r := e.do("POST", "/policies/SgxEnclave:reset", adminToken, other); r.status == http.StatusOK {
		t.Fatal("a signed certificate-management JWS was accepted as a reset")
	}
	// The signer's reset (empty payload) still works.
	mustStatus(t, e.do("POST", "/policies/SgxEnclave:reset", adminToken, signedPolicyJWS(t, "", signerKey, signer)), 200)
}

// TestReviewReservedClaimsCaseInsensitive: a policy must not plant a case
// variant of a service claim ("X-MS-SGX-MRENCLAVE") next to the real one.
// Relying parties with case-insensitive claim lookup (.NET
// ClaimsIdentity.FindFirst) would read the planted value first, since
// upper case sorts first in the token body.
func TestReviewReservedClaimsCaseInsensitive(t *testing.T) {
	e := newTestEnv(t, envOpts{cfg: func(c *Config) { c.Policy.AllowUnsigned = true }})
	id := identity("reserved")
	e.release("reserved", "v1", id, false)
	pol := `version=1.0;authorizationrules{=>permit();};issuancerules{` +
		`=> issue(type="X-MS-SGX-MRENCLAVE", value="0000000000000000000000000000000000000000000000000000000000000000");` +
		`=> issue(type="X-Sgxops-Simulated", value=false);` +
		`=> issue(type="Nonce", value="planted");` +
		`=> issue(type="custom", value=true);};`
	mustStatus(t, e.do("PUT", "/policies/SgxEnclave", adminToken, signCompact(t, map[string]any{"alg": "none"}, policyBody(pol), nil)), 200)
	tok := e.attest(e.quote(id, nil), nil, "").token(t)
	if strings.HasSuffix(tok, ".") {
		t.Fatal("expected a signed token")
	}
	_, c := tokenParts(t, tok)
	for _, k := range []string{"X-MS-SGX-MRENCLAVE", "X-Sgxops-Simulated", "Nonce"} {
		if _, ok := c[k]; ok {
			t.Errorf("policy planted %q at the top level of a signed token", k)
		}
		if pc, _ := c["x-ms-policy"].(map[string]any); pc[k] == nil {
			t.Errorf("%q missing from x-ms-policy", k)
		}
	}
	if c["custom"] != true {
		t.Fatal("ordinary issued claims must still reach the top level")
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

// TestReviewJWKSRefetchIsRateLimited: a bearer JWT naming an unknown kid is
// sent by anyone; it may make attestd re-read the issuer's JWKS at most once
// per jwksMinRefetch, also when requests arrive together and when the JWKS
// URL fails (otherwise every anonymous request is an outbound fetch).
func TestReviewJWKSRefetchIsRateLimited(t *testing.T) {
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
	cfg := JWTAuthConfig{Issuer: "https://idp.example", Audience: "attestd", JWKSURL: idp.srv.URL}
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
	if p, aerr := v.principal(context.Background(), mk("idp-1")); aerr != nil || p.Role != RoleAdmin {
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

// TestReviewJWTAudienceIsExact: aud is a StringOrURI (or an array of them);
// a single aud string that merely contains the audience as a
// space-separated word is another audience.
func TestReviewJWTAudienceIsExact(t *testing.T) {
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
	cfg := JWTAuthConfig{Issuer: "https://idp.example", Audience: "attestd", JWKSFile: f}
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

// TestReviewAdminRoutesNeedAuth sweeps every route that reads or changes
// admin state, including path variants the mux rewrites or decodes: none
// answers without credentials, and none that writes answers a reader.
func TestReviewAdminRoutesNeedAuth(t *testing.T) {
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

// TestReviewRequestCacheKeyIsBounded: the PCK collateral-request cache is
// filled before the quote is verified, from certification data anyone can
// vary (the quote signature does not cover it; padding is tolerated). Its
// keys must not retain that data, or anonymous requests pin up to
// maxRequestCache × 64 KiB.
func TestReviewRequestCacheKeyIsBounded(t *testing.T) {
	e := newTestEnv(t, envOpts{})
	id := identity("cachekey")
	e.release("cachekey", "v1", id, false)
	q, err := sgx.ParseQuote(e.quote(id, nil))
	if err != nil {
		t.Fatal(err)
	}
	orig := q.Signature.CertData.Data
	const variants, pad = 8, 16 << 10
	for i := range variants {
		q.Signature.CertData.Data = append(bytes.Clone(orig), bytes.Repeat([]byte("\n"), pad+i)...)
		b := q.Marshal()
		// Padded chains still verify: the cache sees attacker-chosen bytes.
		mustStatus(t, e.attest(b, nil, ""), http.StatusOK)
	}
	d := e.srv.verifier.(*DCAPVerifier)
	n, retained := 0, 0
	d.requests.Range(func(k, _ any) bool {
		n++
		retained += len(k.(string))
		return true
	})
	if n == 0 {
		t.Fatal("request cache is empty")
	}
	if retained > n*64 {
		t.Fatalf("request cache keys retain %d bytes for %d entries: certification data is kept verbatim", retained, n)
	}
}

// TestReviewNoCollateralFetchForUntrustedChain: the FMSPC that selects the
// collateral comes from the quote's PCK certificate. A certificate that does
// not chain to a trusted root must not make attestd fetch collateral:
// otherwise anyone can drive uncached upstream (Intel PCS) requests for
// made-up FMSPCs with every anonymous attestation.
func TestReviewNoCollateralFetchForUntrustedChain(t *testing.T) {
	var upstream atomic.Int32
	e := newTestEnv(t, envOpts{cfg: func(c *Config) {
		target, err := url.Parse(c.Collateral.PCS)
		if err != nil {
			t.Fatal(err)
		}
		proxy := httputil.NewSingleHostReverseProxy(target)
		counting := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			upstream.Add(1)
			proxy.ServeHTTP(w, r)
		}))
		t.Cleanup(counting.Close)
		c.Collateral.PCS = counting.URL
	}})
	id := identity("untrusted")
	e.release("untrusted", "v1", id, false)
	// A platform whose root attestd does not trust, with an FMSPC the
	// collateral service does not know.
	rogue, err := sim.New([]byte("review: rogue platform"), sim.Config{FMSPC: [6]byte{0xde, 0xad, 0xbe, 0xef, 0, 1}}, sim.Options{})
	if err != nil {
		t.Fatal(err)
	}
	q, err := rogue.Quote(id, [64]byte{})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if r := e.attest(q, nil, ""); r.status != http.StatusBadRequest || r.errorCode(t) != CodeInvalidQuote {
			t.Fatalf("untrusted PCK chain: %d %s", r.status, r.body)
		}
	}
	if n := upstream.Load(); n != 0 {
		t.Fatalf("%d upstream collateral requests for quotes whose PCK chain is not trusted", n)
	}
	// The trusted platform still attests (and fetches its collateral).
	e.attest(e.quote(id, nil), nil, "").token(t)
	if upstream.Load() == 0 {
		t.Fatal("no collateral fetched for the trusted platform: the counter does not see upstream requests")
	}
}
