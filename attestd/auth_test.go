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

	"github.com/lestrrat-go/jwx/v3/jwk"
)

// adminCalls are one write (needs admin) and one read (needs reader).
func adminWrite(e *testEnv, bearer, name string) response {
	return e.do("POST", "/admin/v1/releases", bearer, RegisterRequest{App: "auth", Name: name, MREnclave: mrenclaveHex(identity(name))})
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
	cfg := JWTAuthConfig{Issuer: "https://idp.example", Audience: "attestd", JWKSURL: idp.URL}
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
			r := e.do("POST", "/admin/v1/releases", tt.tok, RegisterRequest{App: "jwt", Name: "r" + string(rune('a'+i)), MREnclave: mrenclaveHex(identity(tt.name))})
			if tt.status == 201 {
				mustStatus(t, r, 201)
				return
			}
			wantAuthError(t, r, tt.status)
		})
	}
	// The actor recorded in the audit log is the JWT subject.
	var page AuditPage
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
		cfg: func(c *Config) {
			c.Auth.Tokens = nil
			c.TLS.ClientCAFile = "configured-by-test"
			c.Auth.MTLS = MTLSConfig{Admins: []string{"ops"}, Readers: []string{"viewer"}}
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
