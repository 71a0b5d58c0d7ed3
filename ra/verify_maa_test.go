package ra

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sgxops/sgxops/attestd"
	"github.com/sgxops/sgxops/attestd/config"
	"github.com/sgxops/sgxops/dcap"
	"github.com/sgxops/sgxops/maaclient"
	"github.com/sgxops/sgxops/registry"
	"github.com/sgxops/sgxops/release"
	"github.com/sgxops/sgxops/store"
)

// attestdEnv is a real attestd (bbolt store in a temp dir) on loopback,
// trusting the simulated platform "seed-a" explicitly.
type attestdEnv struct {
	url string
	reg *registry.Registry
	key *attestd.SigningKey
}

// startAttestd runs attestd; tokenNow is its clock (token iat/exp).
func startAttestd(t *testing.T, tokenNow func() time.Time, wrap func(issuer string, h http.Handler) http.Handler) *attestdEnv {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	issuer := "http://" + ln.Addr().String()
	dir := t.TempDir()
	cfg := config.Default()
	cfg.Listen, cfg.DataDir, cfg.Issuer, cfg.InsecureHTTP = ln.Addr().String(), dir, issuer, true
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	key, err := attestd.LoadOrCreateSigningKey(dir, issuer, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.OpenBolt(store.BoltPath(dir), store.BoltOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	reg := registry.New(st, registry.Options{})
	p := platform(t, "seed-a")
	roots := x509.NewCertPool()
	roots.AddCert(p.RootCertificate())
	srv, err := attestd.New(attestd.Options{
		Config: cfg, Store: st, Registry: reg, SigningKey: key, SimulationTrusted: true,
		Verifier: &attestd.DCAPVerifier{Source: p, DCAP: dcap.NewVerifier(dcap.Options{InsecureSimulationRoots: roots, Now: clock})},
		Logger:   slog.New(slog.DiscardHandler), Now: tokenNow,
	})
	if err != nil {
		t.Fatal(err)
	}
	var h http.Handler = srv.Handler()
	if wrap != nil {
		h = wrap(issuer, h)
	}
	hs := &httptest.Server{Listener: ln, Config: &http.Server{Handler: h}}
	hs.Start()
	t.Cleanup(hs.Close)
	return &attestdEnv{url: issuer, reg: reg, key: key}
}

func (a *attestdEnv) release(t *testing.T, name, op string) {
	t.Helper()
	ctx := context.Background()
	var err error
	switch op {
	case "register":
		_, err = a.reg.Register(ctx, "test", release.Release{App: "agg", Name: name, MREnclave: hexOf(measurement("mrenclave " + name))})
	case "activate":
		_, err = a.reg.Activate(ctx, "test", "agg", name, time.Hour)
	case "retire":
		_, err = a.reg.Retire(ctx, "test", "agg", name)
	case "revoke":
		_, err = a.reg.Revoke(ctx, "test", "agg", name, "compromised build")
	}
	if err != nil {
		t.Fatalf("%s %s: %v", op, name, err)
	}
}

func maaVerifier(t *testing.T, url, candidate string) *MAAVerifier {
	t.Helper()
	c, err := maaclient.New(url, maaclient.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return &MAAVerifier{Client: c, App: "agg", Candidate: candidate, AllowSimulated: true}
}

func TestMAAVerifierHandshake(t *testing.T) {
	env := startAttestd(t, nil, nil)
	env.release(t, "v1", "register")
	env.release(t, "v1", "activate")
	env.release(t, "v2", "register") // candidate

	cc, _, err := pipeHandshake(t, &Server{Provider: provider(t, "seed-a", "v1", false)}, &Client{Verifier: maaVerifier(t, env.url, "")})
	if err != nil {
		t.Fatal(err)
	}
	a := cc.Attestation()
	if a.Release != "v1" || a.ReleaseState != "active" || !a.Simulated || a.Token == "" || !strings.HasPrefix(a.Verifier, "attestd ") {
		t.Fatalf("attestation %+v", a)
	}
	if a.Expires.Before(time.Now()) {
		t.Fatalf("token expiry %s", a.Expires)
	}

	// The candidate is accepted only when named.
	_, _, err = pipeHandshake(t, &Server{Provider: provider(t, "seed-a", "v2", false)}, &Client{Verifier: maaVerifier(t, env.url, "")})
	wantReason(t, err, ReasonAttestation)
	cc, _, err = pipeHandshake(t, &Server{Provider: provider(t, "seed-a", "v2", false)}, &Client{Verifier: maaVerifier(t, env.url, "v2")})
	if err != nil {
		t.Fatal(err)
	}
	if cc.Attestation().ReleaseState != "candidate" {
		t.Fatalf("candidate attestation %+v", cc.Attestation())
	}
	// Naming the candidate does not make the active release acceptable as it.
	_, _, err = pipeHandshake(t, &Server{Provider: provider(t, "seed-a", "v1", false)}, &Client{Verifier: maaVerifier(t, env.url, "v2")})
	wantMAA(t, err, maaclient.ReasonRelease)
}

func TestMAAVerifierRejects(t *testing.T) {
	env := startAttestd(t, nil, nil)
	for _, n := range []string{"v1", "v2", "v3"} {
		env.release(t, n, "register")
	}
	env.release(t, "v1", "activate")
	env.release(t, "v2", "revoke")
	env.release(t, "v3", "retire")

	tests := []struct {
		name     string
		provider *SimulatedProvider
		message  string // in the service's error
	}{
		{"debug enclave", provider(t, "seed-a", "v1", true), "debug"},
		{"revoked release", provider(t, "seed-a", "v2", false), "revoked"},
		{"retired release", provider(t, "seed-a", "v3", false), "retired"},
		{"unknown measurement", provider(t, "seed-a", "rogue", false), "no_matching_release"},
		{"untrusted root", provider(t, "seed-foreign", "v1", false), "chain"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := pipeHandshake(t, &Server{Provider: tc.provider}, &Client{Verifier: maaVerifier(t, env.url, "")})
			wantReason(t, err, ReasonAttestation)
			var se *maaclient.ServiceError
			if !errors.As(err, &se) || se.StatusCode != http.StatusBadRequest {
				t.Fatalf("error %v, want a 400 from attestd", err)
			}
			if !strings.Contains(strings.ToLower(se.Message+se.Code), tc.message) {
				t.Fatalf("attestd said %q %q, want it to mention %q", se.Code, se.Message, tc.message)
			}
		})
	}

	// A man in the middle who swaps the server key: attestd sees runtime data
	// that the quote does not bind and refuses.
	cli := &Client{Verifier: maaVerifier(t, env.url, "")}
	p, hello, err := cli.Hello()
	if err != nil {
		t.Fatal(err)
	}
	reply, _, err := (&Server{Provider: provider(t, "seed-a", "v1", false)}).Respond(hello)
	if err != nil {
		t.Fatal(err)
	}
	sh, _ := ParseServerHello(reply)
	sh.PublicKey = testKey(t)
	_, err = p.Finish(context.Background(), sh.Marshal())
	wantReason(t, err, ReasonAttestation)
	if !strings.Contains(strings.ToLower(err.Error()), "runtime") {
		t.Fatalf("MITM rejected, but not for the runtime-data binding: %v", err)
	}
}

func wantMAA(t *testing.T, err error, r maaclient.Reason) {
	t.Helper()
	var me *maaclient.Error
	if !errors.As(err, &me) || me.Reason != r {
		t.Fatalf("error %v, want maaclient reason %v", err, r)
	}
}

// Tokens that are expired or signed by someone else are rejected by the
// client even though attestd answered 200.
func TestMAAVerifierRejectsBadTokens(t *testing.T) {
	t.Run("expired", func(t *testing.T) {
		past := func() time.Time { return time.Now().Add(-9 * time.Hour) } // exp = iat + 8h
		env := startAttestd(t, past, nil)
		env.release(t, "v1", "register")
		env.release(t, "v1", "activate")
		_, _, err := pipeHandshake(t, &Server{Provider: provider(t, "seed-a", "v1", false)}, &Client{Verifier: maaVerifier(t, env.url, "")})
		wantReason(t, err, ReasonAttestation)
		wantMAA(t, err, maaclient.ReasonExpired)
	})

	foreign, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		forge  func(issuer, genuine string) string
		reason maaclient.Reason
	}{
		{"foreign key, own kid", func(issuer, genuine string) string {
			k, err := attestd.NewSigningKey(foreign, issuer, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			tok, err := k.Sign(claimsOf(t, genuine))
			if err != nil {
				t.Fatal(err)
			}
			return tok
		}, maaclient.ReasonUnknownKey},
		{"foreign key, genuine kid", func(issuer, genuine string) string {
			parts := strings.Split(genuine, ".")
			signed := parts[0] + "." + parts[1]
			h := sha256.Sum256([]byte(signed))
			sig, err := rsa.SignPKCS1v15(rand.Reader, foreign, crypto.SHA256, h[:])
			if err != nil {
				t.Fatal(err)
			}
			return signed + "." + base64.RawURLEncoding.EncodeToString(sig)
		}, maaclient.ReasonSignature},
		{"alg none", func(issuer, genuine string) string {
			parts := strings.Split(genuine, ".")
			return base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + parts[1] + "."
		}, maaclient.ReasonAlgorithm},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// A proxy between client and attestd replaces the token.
			env := startAttestd(t, nil, func(issuer string, h http.Handler) http.Handler {
				return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if !strings.HasPrefix(r.URL.Path, "/attest/") {
						h.ServeHTTP(w, r)
						return
					}
					rec := httptest.NewRecorder()
					h.ServeHTTP(rec, r)
					var body struct {
						Token string `json:"token"`
					}
					if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &body) != nil {
						w.WriteHeader(rec.Code)
						_, _ = io.Copy(w, rec.Body)
						return
					}
					w.Header().Set("Content-Type", "application/json")
					_ = json.NewEncoder(w).Encode(map[string]string{"token": tc.forge(issuer, body.Token)})
				})
			})
			env.release(t, "v1", "register")
			env.release(t, "v1", "activate")
			_, _, err := pipeHandshake(t, &Server{Provider: provider(t, "seed-a", "v1", false)}, &Client{Verifier: maaVerifier(t, env.url, "")})
			wantReason(t, err, ReasonAttestation)
			wantMAA(t, err, tc.reason)
		})
	}
}

func claimsOf(t *testing.T, tok string) map[string]any {
	t.Helper()
	parts := strings.Split(tok, ".")
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]any
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := d.Decode(&c); err != nil {
		t.Fatal(err)
	}
	return c
}
