package attestd

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/sgxops/sgxops/policy"
)

// testLogger is a JSON logger at level (debug, info, warn, error; default
// info), as cmd/attestd logs.
func testLogger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level))
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l}))
}

var (
	testKeyOnce sync.Once
	testKeys    []*rsa.PrivateKey
)

// testRSAKey returns one of a few RSA-2048 keys generated once per test
// binary (key generation is slow).
func testRSAKey(t testing.TB, i int) *rsa.PrivateKey {
	t.Helper()
	testKeyOnce.Do(func() {
		for range 4 {
			k, err := rsa.GenerateKey(rand.Reader, 2048)
			if err != nil {
				panic(err)
			}
			testKeys = append(testKeys, k)
		}
	})
	return testKeys[i]
}

// selfSigned makes a self-signed certificate for key with common name cn.
func selfSigned(t testing.TB, key crypto.Signer, cn string) *x509.Certificate {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		BasicConstraintsValid: true, IsCA: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// signCompact builds a compact JWS with the given header, signed with key
// (RSA: RS256; ECDSA P-256: ES256). A nil key gives an empty signature.
func signCompact(t testing.TB, header map[string]any, payload []byte, key crypto.Signer) string {
	t.Helper()
	hb, err := json.Marshal(header)
	if err != nil {
		t.Fatal(err)
	}
	in := b64(hb) + "." + b64(payload)
	if key == nil {
		return in + "."
	}
	sum := sha256.Sum256([]byte(in))
	var sig []byte
	switch k := key.(type) {
	case *rsa.PrivateKey:
		sig, err = rsa.SignPKCS1v15(rand.Reader, k, crypto.SHA256, sum[:])
	case *ecdsa.PrivateKey:
		var r, s *big.Int
		r, s, err = ecdsa.Sign(rand.Reader, k, sum[:])
		if err == nil {
			sig = make([]byte, 64)
			r.FillBytes(sig[:32])
			s.FillBytes(sig[32:])
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	return in + "." + b64(sig)
}

func newECKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// policyBody is the StoredAttestationPolicy payload of text.
func policyBody(text string) []byte {
	b, _ := json.Marshal(map[string]string{"AttestationPolicy": b64([]byte(text))})
	return b
}

// signedPolicyJWS signs a policy upload with key and its certificate in x5c.
func signedPolicyJWS(t testing.TB, text string, key crypto.Signer, cert *x509.Certificate) string {
	alg := "RS256"
	if _, ok := key.(*ecdsa.PrivateKey); ok {
		alg = "ES256"
	}
	var payload []byte
	if text != "" {
		payload = policyBody(text)
	}
	return signCompact(t, map[string]any{"alg": alg, "x5c": []string{base64.StdEncoding.EncodeToString(cert.Raw)}}, payload, key)
}

type randReader struct{}

func (randReader) Read(p []byte) (int, error) { return rand.Read(p) }

func writePEMCert(t testing.TB, dir, name string, c *x509.Certificate) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func policyHashOf(text string) string     { return policy.PolicyHash(text) }
func policyTokenHashOf(jws string) string { return policy.PolicyTokenHash(jws) }
func defaultPolicyText() string           { return policy.DefaultSGXPolicy }
