package maaclient_test

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sgxops/sgxops/attestd"
	"github.com/sgxops/sgxops/maaclient"
)

var (
	keysOnce sync.Once
	keys     [2]*rsa.PrivateKey
)

func rsaKey(i int) *rsa.PrivateKey {
	keysOnce.Do(func() {
		for j := range keys {
			k, err := rsa.GenerateKey(rand.Reader, 2048)
			if err != nil {
				panic(err)
			}
			keys[j] = k
		}
	})
	return keys[i]
}

// issuerServer serves /certs of an attestd signing key on loopback and
// answers /attest with a fixed token or error.
type issuerServer struct {
	url       string
	key       *attestd.SigningKey
	certsHits atomic.Int32
	attest    func(w http.ResponseWriter, r *http.Request)
}

func newIssuer(t *testing.T) *issuerServer {
	t.Helper()
	hs := httptest.NewUnstartedServer(nil)
	s := &issuerServer{url: "http://" + hs.Listener.Addr().String()}
	k, err := attestd.NewSigningKey(rsaKey(0), s.url, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	s.key = k
	hs.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/certs":
			s.certsHits.Add(1)
			w.Header().Set("Content-Type", "application/json; charset=utf-8")
			_, _ = w.Write(k.JWKS())
		case strings.HasPrefix(r.URL.Path, "/attest/") && s.attest != nil:
			s.attest(w, r)
		default:
			http.NotFound(w, r)
		}
	})
	hs.Start()
	t.Cleanup(hs.Close)
	return s
}

var (
	testMREnclave = strings.Repeat("ab", 32)
	testMRSigner  = strings.Repeat("cd", 32)
	testRuntime   = []byte("client ephemeral public key")
)

// claims returns a valid sgxops SGX token body for iss.
func claims(iss string, now time.Time) map[string]any {
	sum := sha256.Sum256(testRuntime)
	rd := hex.EncodeToString(sum[:]) + strings.Repeat("00", 32)
	return map[string]any{
		"iss": iss, "iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(8 * time.Hour).Unix(),
		"x-ms-ver": "1.0", "x-ms-attestation-type": "sgx",
		"x-ms-sgx-mrenclave": testMREnclave, "x-ms-sgx-mrsigner": testMRSigner,
		"x-ms-sgx-product-id": 3, "x-ms-sgx-svn": 7, "x-ms-sgx-is-debuggable": false,
		"x-ms-sgx-report-data": rd, "x-ms-sgx-ehd": base64.RawURLEncoding.EncodeToString(testRuntime),
		"x-sgxops-app": "web", "x-sgxops-release": "v1", "x-sgxops-release-state": "active",
		"x-sgxops-tcb-status": "UpToDate", "x-sgxops-advisory-ids": []string{}, "x-sgxops-simulated": false,
	}
}

// compact signs header and claims with key by hand (for forged tokens).
func compact(t *testing.T, header, claims map[string]any, key *rsa.PrivateKey) string {
	t.Helper()
	hb, _ := json.Marshal(header)
	cb, _ := json.Marshal(claims)
	in := base64.RawURLEncoding.EncodeToString(hb) + "." + base64.RawURLEncoding.EncodeToString(cb)
	if key == nil {
		return in + "."
	}
	sum := sha256.Sum256([]byte(in))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	return in + "." + base64.RawURLEncoding.EncodeToString(sig)
}

func TestVerify(t *testing.T) {
	is := newIssuer(t)
	now := time.Now()
	c, err := maaclient.New(is.url, maaclient.Options{})
	if err != nil {
		t.Fatal(err)
	}
	base := maaclient.Expectations{MREnclave: []string{strings.ToUpper(testMREnclave)}, RuntimeData: testRuntime}
	hdr := func() map[string]any {
		return map[string]any{"alg": "RS256", "jku": is.url + "/certs", "kid": is.key.KeyID(), "typ": "JWT"}
	}
	sign := func(mod func(map[string]any)) string {
		cl := claims(is.url, now)
		if mod != nil {
			mod(cl)
		}
		tok, err := is.key.Sign(cl)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	foreign, err := attestd.NewSigningKey(rsaKey(1), is.url, now)
	if err != nil {
		t.Fatal(err)
	}
	foreignTok, _ := foreign.Sign(claims(is.url, now))
	tests := []struct {
		name   string
		token  string
		exp    func(*maaclient.Expectations)
		reason maaclient.Reason
	}{
		{"valid", sign(nil), nil, 0},
		{"valid by mrsigner", sign(nil), func(e *maaclient.Expectations) {
			*e = maaclient.Expectations{MRSigner: testMRSigner, ProductID: 3, MinSVN: 7}
		}, 0},
		{"valid by app and release", sign(nil), func(e *maaclient.Expectations) {
			*e = maaclient.Expectations{App: "web", Releases: []string{"v0", "v1"}}
		}, 0},
		{"expired", sign(func(c map[string]any) { c["exp"] = now.Add(-time.Hour).Unix() }), nil, maaclient.ReasonExpired},
		{"not yet valid", sign(func(c map[string]any) { c["nbf"] = now.Add(time.Hour).Unix() }), nil, maaclient.ReasonNotYetValid},
		{"foreign-signed, foreign kid", foreignTok, nil, maaclient.ReasonUnknownKey},
		{"foreign-signed, our kid", compact(t, hdr(), claims(is.url, now), rsaKey(1)), nil, maaclient.ReasonSignature},
		{"alg none", compact(t, map[string]any{"alg": "none", "typ": "JWT"}, claims(is.url, now), nil), nil, maaclient.ReasonAlgorithm},
		{"alg HS256", compact(t, map[string]any{"alg": "HS256", "jku": is.url + "/certs", "kid": is.key.KeyID(), "typ": "JWT"}, claims(is.url, now), nil) + "c2ln", nil, maaclient.ReasonAlgorithm},
		{"wrong issuer", sign(func(c map[string]any) { c["iss"] = is.url + "/" }), nil, maaclient.ReasonIssuer},
		{"wrong jku", func() string {
			h := hdr()
			h["jku"] = "http://evil.example/certs"
			return compact(t, h, claims(is.url, now), rsaKey(0))
		}(), nil, maaclient.ReasonKeyURL},
		{"kid unknown", func() string {
			h := hdr()
			h["kid"] = "nope"
			return compact(t, h, claims(is.url, now), rsaKey(0))
		}(), nil, maaclient.ReasonUnknownKey},
		{"no typ", func() string {
			h := hdr()
			delete(h, "typ")
			return compact(t, h, claims(is.url, now), rsaKey(0))
		}(), nil, maaclient.ReasonHeader},
		{"debug", sign(func(c map[string]any) { c["x-ms-sgx-is-debuggable"] = true }), nil, maaclient.ReasonDebug},
		{"debug allowed", sign(func(c map[string]any) { c["x-ms-sgx-is-debuggable"] = true }), func(e *maaclient.Expectations) { e.AllowDebug = true }, 0},
		{"simulated", sign(func(c map[string]any) { c["x-sgxops-simulated"] = true }), nil, maaclient.ReasonSimulated},
		{"simulated allowed", sign(func(c map[string]any) { c["x-sgxops-simulated"] = true }), func(e *maaclient.Expectations) { e.AllowSimulated = true }, 0},
		{"runtime data mismatch", sign(nil), func(e *maaclient.Expectations) { e.RuntimeData = []byte("someone else's key") }, maaclient.ReasonRuntimeData},
		{"ehd differs", sign(func(c map[string]any) { c["x-ms-sgx-ehd"] = "b3RoZXI" }), nil, maaclient.ReasonRuntimeData},
		{"mrenclave", sign(nil), func(e *maaclient.Expectations) { e.MREnclave = []string{strings.Repeat("00", 32)} }, maaclient.ReasonMeasurement},
		{"svn below min", sign(nil), func(e *maaclient.Expectations) {
			*e = maaclient.Expectations{MRSigner: testMRSigner, ProductID: 3, MinSVN: 8}
		}, maaclient.ReasonMeasurement},
		{"other app", sign(nil), func(e *maaclient.Expectations) { *e = maaclient.Expectations{App: "db"} }, maaclient.ReasonRelease},
		{"candidate", sign(func(c map[string]any) { c["x-sgxops-release-state"] = "candidate" }), nil, maaclient.ReasonRelease},
		{"candidate allowed", sign(func(c map[string]any) { c["x-sgxops-release-state"] = "candidate" }), func(e *maaclient.Expectations) { e.AllowCandidate = true }, 0},
		{"nonce", sign(nil), func(e *maaclient.Expectations) { e.Nonce = "n-1" }, maaclient.ReasonNonce},
		{"no expectation", sign(nil), func(e *maaclient.Expectations) { *e = maaclient.Expectations{} }, maaclient.ReasonNoExpectation},
		{"product id as string", sign(func(c map[string]any) { c["x-ms-sgx-product-id"] = "3" }), nil, maaclient.ReasonMalformed},
		{"short report data", sign(func(c map[string]any) { c["x-ms-sgx-report-data"] = "00" }), nil, maaclient.ReasonMalformed},
		{"not sgx", sign(func(c map[string]any) { c["x-ms-attestation-type"] = "sevsnpvm" }), nil, maaclient.ReasonTEEKind},
		{"no attestation type", sign(func(c map[string]any) { delete(c, "x-ms-attestation-type") }), nil, maaclient.ReasonMalformed},
		{"two parts", "a.b", nil, maaclient.ReasonMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := base
			if tt.exp != nil {
				tt.exp(&e)
			}
			tok, err := c.Verify(context.Background(), tt.token, e)
			if tt.reason == 0 {
				if err != nil {
					t.Fatal(err)
				}
				if tok.MREnclave != testMREnclave || tok.ProductID != 3 || tok.SVN != 7 || tok.Release != "v1" || tok.TCBStatus != "UpToDate" {
					t.Fatalf("token fields: %+v", tok)
				}
				return
			}
			var me *maaclient.Error
			if !errors.As(err, &me) || me.Reason != tt.reason {
				t.Fatalf("err = %v, want reason %v", err, tt.reason)
			}
			if !errors.Is(err, &maaclient.Error{Reason: tt.reason}) {
				t.Fatal("errors.Is does not match the reason")
			}
		})
	}
}

func TestVerifySkewAndKeyRefetch(t *testing.T) {
	is := newIssuer(t)
	now := time.Now()
	cl := claims(is.url, now)
	cl["exp"] = now.Add(-10 * time.Second).Unix() // within the default 30 s skew
	tok, _ := is.key.Sign(cl)
	c, _ := maaclient.New(is.url, maaclient.Options{})
	if _, err := c.Verify(context.Background(), tok, maaclient.Expectations{AnyIdentity: true}); err != nil {
		t.Fatalf("within skew: %v", err)
	}
	strict, _ := maaclient.New(is.url, maaclient.Options{ClockSkew: -1})
	if _, err := strict.Verify(context.Background(), tok, maaclient.Expectations{AnyIdentity: true}); !errors.Is(err, &maaclient.Error{Reason: maaclient.ReasonExpired}) {
		t.Fatalf("no skew: %v", err)
	}
	// An unknown kid refetches /certs at most once per interval.
	hits := is.certsHits.Load()
	h := map[string]any{"alg": "RS256", "jku": is.url + "/certs", "kid": "rotated", "typ": "JWT"}
	bad := compact(t, h, claims(is.url, now), rsaKey(0))
	for range 3 {
		_, _ = c.Verify(context.Background(), bad, maaclient.Expectations{AnyIdentity: true})
	}
	if got := is.certsHits.Load() - hits; got > 1 {
		t.Fatalf("%d /certs fetches for an unknown kid, want at most 1", got)
	}
}

func TestNewRejectsBadIssuer(t *testing.T) {
	for _, iss := range []string{"http://x/", "http://x/path", "x.example", "ftp://x"} {
		if _, err := maaclient.New(iss, maaclient.Options{}); err == nil {
			t.Errorf("%q accepted", iss)
		}
	}
}

func TestServiceError(t *testing.T) {
	is := newIssuer(t)
	is.attest = func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"error":{"code":"InvalidQuote","message":"bad quote"}}`))
	}
	c, _ := maaclient.New(is.url, maaclient.Options{})
	_, err := c.AttestSGX(context.Background(), []byte{1, 2, 3}, maaclient.AttestOptions{}, maaclient.Expectations{AnyIdentity: true})
	var se *maaclient.ServiceError
	if !errors.As(err, &se) || se.StatusCode != 400 || se.Code != "InvalidQuote" || se.Message != "bad quote" {
		t.Fatalf("err = %v", err)
	}
}
