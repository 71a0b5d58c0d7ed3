package ra

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"testing"
	"time"

	"github.com/sgxops/sgxops/policy"
	"github.com/sgxops/sgxops/release"
)

// tlsHandshake runs a TLS handshake over net.Pipe and returns the client's
// error and the attestation the client saw.
func tlsHandshake(t *testing.T, server *tls.Config, v Verifier) (*Attestation, error) {
	t.Helper()
	var att *Attestation
	client := ClientConfig(v, &TLSClientOptions{Now: clock, OnAttested: func(a *Attestation) { att = a }})
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	srvErr := make(chan error, 1)
	go func() {
		s := tls.Server(b, server)
		err := s.Handshake()
		if err == nil {
			// Prove the channel carries data.
			buf := make([]byte, 4)
			if _, err = s.Read(buf); err == nil && string(buf) != "ping" {
				err = errString("server read " + string(buf))
			}
		}
		b.Close()
		srvErr <- err
	}()
	c := tls.Client(a, client)
	err := c.Handshake()
	if err == nil {
		_, err = c.Write([]byte("ping"))
		if serr := <-srvErr; err == nil {
			err = serr
		}
	} else {
		a.Close()
		<-srvErr
	}
	return att, err
}

type errString string

func (e errString) Error() string { return string(e) }

func TestRATLSHandshake(t *testing.T) {
	v := localVerifier(t, "seed-a", trustSet(rel("v1", release.Active)))
	for _, f := range []EvidenceFormat{0, FormatGramineLegacy, FormatTCGDice} {
		cfg, err := ServerConfig(provider(t, "seed-a", "v1", false), &CertificateOptions{Formats: f, Now: clock})
		if err != nil {
			t.Fatal(err)
		}
		att, err := tlsHandshake(t, cfg, v)
		if err != nil {
			t.Fatalf("formats %d: %v", f, err)
		}
		if att == nil || att.Release != "v1" || att.MREnclave != hexOf(measurement("mrenclave v1")) {
			t.Fatalf("formats %d: attestation %+v", f, att)
		}
	}
}

func TestRATLSCertificateExtensions(t *testing.T) {
	cert, err := NewCertificate(provider(t, "seed-a", "v1", false), &CertificateOptions{Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	var legacy, dice bool
	for _, e := range cert.Leaf.Extensions {
		switch {
		case e.Id.Equal(OIDGramineQuote):
			legacy = !e.Critical
		case e.Id.Equal(OIDTCGDiceEvidence):
			dice = !e.Critical
			ev, err := ParseDICEEvidence(e.Value)
			if err != nil {
				t.Fatal(err)
			}
			if ev.PubKeyHashAlg != HashAlgSHA256 {
				t.Fatalf("hash alg %d", ev.PubKeyHashAlg)
			}
		}
	}
	if !legacy || !dice {
		t.Fatalf("legacy %v dice %v: want both extensions, non-critical", legacy, dice)
	}
	if cert.Leaf.NotAfter.Sub(testNow) != 24*time.Hour {
		t.Fatalf("NotAfter %s", cert.Leaf.NotAfter)
	}
}

// certWith self-signs a certificate for key carrying exts.
func certWith(t *testing.T, key *ecdsa.PrivateKey, exts []pkix.Extension, notAfter time.Time) *x509.Certificate {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "forged"},
		NotBefore: testNow.Add(-time.Hour), NotAfter: notAfter, ExtraExtensions: exts,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func extValue(t *testing.T, c *x509.Certificate, oid []int) []byte {
	t.Helper()
	for _, e := range c.Extensions {
		if e.Id.Equal(oid) {
			return e.Value
		}
	}
	t.Fatalf("no extension %v", oid)
	return nil
}

func TestVerifyCertificateRejects(t *testing.T) {
	v := localVerifier(t, "seed-a", trustSet(rel("v1", release.Active)))
	genuine, err := NewCertificate(provider(t, "seed-a", "v1", false), &CertificateOptions{Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	other, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	otherSPKI, err := x509.MarshalPKIXPublicKey(&other.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	legacyQuote := extValue(t, genuine.Leaf, OIDGramineQuote)
	diceEv, err := ParseDICEEvidence(extValue(t, genuine.Leaf, OIDTCGDiceEvidence))
	if err != nil {
		t.Fatal(err)
	}
	foreign, err := NewCertificate(provider(t, "seed-foreign", "v1", false), &CertificateOptions{Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	debug, err := NewCertificate(provider(t, "seed-a", "v1", true), &CertificateOptions{Now: clock, Formats: FormatGramineLegacy})
	if err != nil {
		t.Fatal(err)
	}
	badSig := *genuine.Leaf
	badSig.Signature = append([]byte(nil), badSig.Signature...)
	badSig.Signature[len(badSig.Signature)-3] ^= 1

	tests := []struct {
		name string
		cert *x509.Certificate
		want Reason
	}{
		{"legacy quote moved to another key", certWith(t, other, []pkix.Extension{{Id: OIDGramineQuote, Value: legacyQuote}}, testNow.Add(time.Hour)), ReasonBinding},
		{"DICE evidence moved to another key", certWith(t, other, []pkix.Extension{{Id: OIDTCGDiceEvidence, Value: MarshalDICEEvidence(diceEv.Quote, diceEv.Claims)}}, testNow.Add(time.Hour)), ReasonBinding},
		{"DICE claims rewritten for another key", certWith(t, other, []pkix.Extension{{Id: OIDTCGDiceEvidence, Value: MarshalDICEEvidence(diceEv.Quote, DICEClaims(otherSPKI))}}, testNow.Add(time.Hour)), ReasonBinding},
		{"untrusted root", foreign.Leaf, ReasonAttestation},
		{"debug enclave", debug.Leaf, ReasonAttestation},
		{"no evidence", certWith(t, other, nil, testNow.Add(time.Hour)), ReasonMalformed},
		{"expired", certWith(t, other, []pkix.Extension{{Id: OIDGramineQuote, Value: legacyQuote}}, testNow.Add(-time.Minute)), ReasonAttestation},
		{"bad self-signature", &badSig, ReasonMalformed},
		{"malformed DICE", certWith(t, other, []pkix.Extension{{Id: OIDTCGDiceEvidence, Value: []byte{0xd9, 0xea, 0x60, 0x80}}}, testNow.Add(time.Hour)), ReasonMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := VerifyCertificate(context.Background(), tc.cert, v, testNow)
			wantReason(t, err, tc.want)
		})
	}
	if _, err := VerifyCertificate(context.Background(), genuine.Leaf, v, testNow); err != nil {
		t.Fatalf("genuine certificate rejected: %v", err)
	}
}

func TestRATLSHandshakeFailures(t *testing.T) {
	v := localVerifier(t, "seed-a", trustSet(rel("v1", release.Active)))
	// Untrusted root: the server's quotes come from another (simulated) platform.
	foreign, err := ServerConfig(provider(t, "seed-foreign", "v1", false), &CertificateOptions{Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tlsHandshake(t, foreign, v); err == nil {
		t.Fatal("handshake with an untrusted platform succeeded")
	} else {
		wantReason(t, err, ReasonAttestation)
	}
	// Wrong binding: a server presenting a genuine quote under its own key.
	genuine, err := NewCertificate(provider(t, "seed-a", "v1", false), &CertificateOptions{Now: clock, Formats: FormatGramineLegacy})
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	forged := certWith(t, key, []pkix.Extension{{Id: OIDGramineQuote, Value: extValue(t, genuine.Leaf, OIDGramineQuote)}}, testNow.Add(time.Hour))
	mitm := &tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{{Certificate: [][]byte{forged.Raw}, PrivateKey: key}}}
	if _, err := tlsHandshake(t, mitm, v); err == nil {
		t.Fatal("handshake with a re-keyed certificate succeeded")
	} else {
		wantReason(t, err, ReasonBinding)
	}
	// Revoked release.
	revoked := localVerifier(t, "seed-a", trustSet(rel("v1", release.Revoked)))
	cfg, err := ServerConfig(provider(t, "seed-a", "v1", false), &CertificateOptions{Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	_, err = tlsHandshake(t, cfg, revoked)
	wantReason(t, err, ReasonAttestation)
	wantPolicy(policy.ReasonReleaseRevoked)(t, err)
}

func TestServerConfigRenewsCertificate(t *testing.T) {
	now := testNow
	opts := &CertificateOptions{Now: func() time.Time { return now }, Validity: 2 * time.Hour, Formats: FormatGramineLegacy}
	cfg, err := ServerConfig(provider(t, "seed-a", "v1", false), opts)
	if err != nil {
		t.Fatal(err)
	}
	c1, err := cfg.GetCertificate(nil)
	if err != nil {
		t.Fatal(err)
	}
	now = now.Add(30 * time.Minute)
	c2, _ := cfg.GetCertificate(nil)
	if c1 != c2 {
		t.Fatal("certificate renewed before half its lifetime")
	}
	now = now.Add(31 * time.Minute)
	c3, _ := cfg.GetCertificate(nil)
	if c3 == c1 || !c3.Leaf.NotAfter.After(c1.Leaf.NotAfter) {
		t.Fatal("certificate not renewed after half its lifetime")
	}
	if _, err := ServerConfig(nil, nil); err == nil {
		t.Fatal("ServerConfig without provider succeeded")
	}
}

func TestParseDICEEvidenceErrors(t *testing.T) {
	claims := DICEClaims([]byte("spki"))
	good := MarshalDICEEvidence([]byte("quote"), claims)
	if _, err := ParseDICEEvidence(good); err != nil {
		t.Fatal(err)
	}
	hashEntry := func(alg uint64, h []byte) []byte {
		e := cborHead(nil, cborArray, 2)
		e = cborHead(e, cborUint, alg)
		return cborAppendBytes(e, h)
	}
	claimsWith := func(pairs ...any) []byte {
		m := cborHead(nil, cborMap, uint64(len(pairs)/2))
		for i := 0; i < len(pairs); i += 2 {
			m = cborAppendText(m, pairs[i].(string))
			m = append(m, pairs[i+1].([]byte)...)
		}
		return m
	}
	bstr := func(b []byte) []byte { return cborAppendBytes(nil, b) }
	h32 := make([]byte, 32)
	tests := []struct {
		name  string
		b     []byte
		field string
	}{
		{"empty", nil, "tag"},
		{"wrong tag", append(cborHead(nil, cborTag, 60001), good[3:]...), "tag"},
		{"not a tag", bstr([]byte("x")), "tag"},
		{"array of 3", append(cborHead(cborHead(nil, cborTag, CBORTagTEEQuote), cborArray, 3), good[4:]...), "evidence"},
		{"indefinite array", append(cborHead(nil, cborTag, CBORTagTEEQuote), 0x9f), "evidence"},
		{"quote as text", append(cborHead(cborHead(nil, cborTag, CBORTagTEEQuote), cborArray, 2), cborAppendText(nil, "q")...), "quote"},
		{"empty quote", MarshalDICEEvidence(nil, claims), "quote"},
		{"truncated", good[:len(good)-1], "claims"},
		{"trailing", append(append([]byte(nil), good...), 0), "evidence"},
		{"huge string length", append(cborHead(cborHead(nil, cborTag, CBORTagTEEQuote), cborArray, 2), 0x5b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff), "quote"},
		{"claims not a map", MarshalDICEEvidence([]byte("q"), bstr(nil)), "claims"},
		{"no pubkey-hash", MarshalDICEEvidence([]byte("q"), claimsWith("nonce", bstr([]byte{1}))), "claims.pubkey-hash"},
		{"duplicate pubkey-hash", MarshalDICEEvidence([]byte("q"), claimsWith("pubkey-hash", bstr(hashEntry(1, h32)), "pubkey-hash", bstr(hashEntry(1, h32)))), "claims.pubkey-hash"},
		{"unknown hash alg", MarshalDICEEvidence([]byte("q"), claimsWith("pubkey-hash", bstr(hashEntry(2, h32)))), "hash-alg-id"},
		{"hash size mismatch", MarshalDICEEvidence([]byte("q"), claimsWith("pubkey-hash", bstr(hashEntry(7, h32)))), "hash-value"},
		{"deep nesting in unknown claim", MarshalDICEEvidence([]byte("q"), claimsWith("x", bytesRepeat(0x81, 40))), "claims.x"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseDICEEvidence(tc.b)
			e := wantReason(t, err, ReasonMalformed)
			if e.Field != tc.field {
				t.Fatalf("field %q, want %q (%v)", e.Field, tc.field, err)
			}
		})
	}
	// Unknown claims are skipped, SHA-384 and SHA-512 hashes accepted.
	ok := MarshalDICEEvidence([]byte("q"), claimsWith("nonce", bstr([]byte{1, 2}), "pubkey-hash", bstr(hashEntry(8, make([]byte, 64))), "extra", cborHead(nil, cborMap, 0)))
	ev, err := ParseDICEEvidence(ok)
	if err != nil || ev.PubKeyHashAlg != HashAlgSHA512 {
		t.Fatalf("ParseDICEEvidence = %+v, %v", ev, err)
	}
}

func bytesRepeat(b byte, n int) []byte {
	out := make([]byte, n)
	for i := range out {
		out[i] = b
	}
	return out
}

// The client judges the leaf the server proved possession of, not any
// certificate of the chain: a genuine RA-TLS certificate placed behind an
// attacker's leaf does not help (confirms ClientConfig; no fix needed).
func TestRATLSChainStuffing(t *testing.T) {
	v := localVerifier(t, "seed-a", trustSet(rel("v1", release.Active)))
	genuine, err := NewCertificate(provider(t, "seed-a", "v1", false), &CertificateOptions{Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	leaf := certWith(t, key, nil, testNow.Add(time.Hour))
	mitm := &tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{{
		Certificate: [][]byte{leaf.Raw, genuine.Leaf.Raw}, PrivateKey: key}}}
	if _, err := tlsHandshake(t, mitm, v); err == nil {
		t.Fatal("handshake with a genuine RA-TLS certificate behind an attacker's leaf succeeded")
	} else {
		wantReason(t, err, ReasonMalformed)
	}
}
