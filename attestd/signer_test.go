package attestd

import (
	"bytes"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestLoadOrCreateSigningKey(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	k1, err := LoadOrCreateSigningKey(dir, "https://a.example", now)
	if err != nil {
		t.Fatal(err)
	}
	if !k1.Created() {
		t.Fatal("first start must generate a key")
	}
	st, err := os.Stat(filepath.Join(dir, SigningKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v, want 0600", st.Mode().Perm())
	}
	k2, err := LoadOrCreateSigningKey(dir, "https://a.example", now)
	if err != nil {
		t.Fatal(err)
	}
	if k2.Created() || k2.KeyID() != k1.KeyID() || !bytes.Equal(k2.Certificate().Raw, k1.Certificate().Raw) {
		t.Fatal("restart must reuse key and certificate")
	}
	// A new issuer re-issues the certificate for the same key: same kid.
	k3, err := LoadOrCreateSigningKey(dir, "https://b.example:8443", now)
	if err != nil {
		t.Fatal(err)
	}
	if k3.KeyID() != k1.KeyID() || k3.Certificate().Subject.CommonName != "https://b.example:8443" {
		t.Fatalf("issuer change: kid %s cn %q", k3.KeyID(), k3.Certificate().Subject.CommonName)
	}
	// Near expiry the certificate is renewed.
	k4, err := LoadOrCreateSigningKey(dir, "https://b.example:8443", now.Add(signingCertLifetime))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(k4.Certificate().Raw, k3.Certificate().Raw) || k4.KeyID() != k1.KeyID() {
		t.Fatal("a certificate near expiry must be renewed with the same key")
	}
	if err := os.WriteFile(filepath.Join(dir, SigningKeyFile), []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreateSigningKey(dir, "https://b.example:8443", now); err == nil {
		t.Fatal("a corrupt key file must fail, not be replaced")
	}
}

func TestJWKSShape(t *testing.T) {
	iss := "https://attest.example:8443"
	k, err := NewSigningKey(testRSAKey(t, 0), iss, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(k.JWKS(), &set); err != nil {
		t.Fatal(err)
	}
	if len(set.Keys) != 1 {
		t.Fatalf("%d keys", len(set.Keys))
	}
	j := set.Keys[0]
	for name, want := range map[string]string{"kty": "RSA", "alg": "RS256", "use": "sig", "kid": k.KeyID(), "e": "AQAB"} {
		if j[name] != want {
			t.Errorf("%s = %v, want %q", name, j[name], want)
		}
	}
	if len(k.KeyID()) != 44 {
		t.Errorf("kid %q: want 44 characters like MAA's", k.KeyID())
	}
	n, err := base64.RawURLEncoding.DecodeString(j["n"].(string))
	if err != nil || new(big.Int).SetBytes(n).Cmp(testRSAKey(t, 0).N) != 0 {
		t.Fatalf("n does not encode the modulus: %v", err)
	}
	x5c := j["x5c"].([]any)
	der, err := base64.StdEncoding.DecodeString(x5c[0].(string)) // standard base64 (RFC 7517)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	if c.Subject.String() != "CN="+iss || c.Issuer.String() != "CN="+iss {
		t.Fatalf("subject %q issuer %q, want CN=%s", c.Subject, c.Issuer, iss)
	}
	if err := c.CheckSignatureFrom(c); err != nil {
		t.Fatalf("not self-signed: %v", err)
	}
}

func TestSignHeaderAndSignature(t *testing.T) {
	iss := "http://127.0.0.1:1234"
	k, err := NewSigningKey(testRSAKey(t, 0), iss, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	tok, err := k.Sign(map[string]any{"iss": iss, "n": 1})
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatal(tok)
	}
	for i, p := range parts {
		if strings.ContainsAny(p, "=+/") {
			t.Fatalf("segment %d is not unpadded base64url", i)
		}
	}
	hb, _ := base64.RawURLEncoding.DecodeString(parts[0])
	want := `{"alg":"RS256","jku":"` + iss + `/certs","kid":"` + k.KeyID() + `","typ":"JWT"}`
	if string(hb) != want {
		t.Fatalf("header %s\nwant   %s", hb, want)
	}
	verify := func(tok string) error {
		p := strings.Split(tok, ".")
		sig, _ := base64.RawURLEncoding.DecodeString(p[2])
		sum := sha256.Sum256([]byte(p[0] + "." + p[1]))
		return rsa.VerifyPKCS1v15(&testRSAKey(t, 0).PublicKey, crypto.SHA256, sum[:], sig)
	}
	if err := verify(tok); err != nil {
		t.Fatalf("signature: %v", err)
	}
	forged := parts[0] + "." + b64([]byte(`{"iss":"`+iss+`","n":2}`)) + "." + parts[2]
	if err := verify(forged); err == nil {
		t.Fatal("a changed payload must not verify")
	}
	un, err := UnsecuredToken(map[string]any{"a": 1})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(un, b64([]byte(`{"alg":"none"}`))+".") || !strings.HasSuffix(un, ".") {
		t.Fatalf("unsecured token %q", un)
	}
}

func TestNewSigningKeyRejectsOtherSizes(t *testing.T) {
	small, err := rsa.GenerateKey(randReader{}, 1024)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewSigningKey(small, "https://x", time.Now()); err == nil {
		t.Fatal("RSA-1024 accepted")
	}
}
