package sim

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/sgxops/sgxops/sgx"
)

// testNow pins the clock of test platforms.
var testNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func newTestPlatform(t testing.TB, seed string, cfg Config) *Platform {
	t.Helper()
	p, err := New([]byte(seed), cfg, Options{Now: func() time.Time { return testNow }})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return p
}

func testIdentity() Identity {
	return Identity{
		MREnclave:  sha256.Sum256([]byte("test enclave")),
		MRSigner:   sha256.Sum256([]byte("test signer")),
		ISVProdID:  7,
		ISVSVN:     3,
		Attributes: sgx.Attributes{Flags: sgx.AttrInit | sgx.AttrMode64Bit, XFRM: sgx.XFRMX87 | sgx.XFRMSSE},
	}
}

func TestSignRawVerifiesAndIsDeterministic(t *testing.T) {
	key, err := deriveKey([]byte("seed"), "k")
	if err != nil {
		t.Fatal(err)
	}
	for _, msg := range []string{"", "a", strings.Repeat("x", 1000)} {
		s1, err := signRaw(key, []byte(msg))
		if err != nil {
			t.Fatal(err)
		}
		s2, _ := signRaw(key, []byte(msg))
		if s1 != s2 {
			t.Errorf("signature of %q is not deterministic", msg)
		}
		h := sha256.Sum256([]byte(msg))
		r, s := new(big.Int).SetBytes(s1[:32]), new(big.Int).SetBytes(s1[32:])
		if !ecdsa.Verify(&key.PublicKey, h[:], r, s) {
			t.Errorf("signature of %q does not verify", msg)
		}
		if ecdsa.Verify(&key.PublicKey, h[:], r, new(big.Int).Add(s, big.NewInt(1))) {
			t.Errorf("a modified signature of %q verifies", msg)
		}
	}
}

func TestDeterministicFromSeed(t *testing.T) {
	a := newTestPlatform(t, "seed-1", Config{})
	b := newTestPlatform(t, "seed-1", Config{})
	c := newTestPlatform(t, "seed-2", Config{})
	if !bytes.Equal(a.RootPEM(), b.RootPEM()) {
		t.Error("same seed gave different root certificates")
	}
	if bytes.Equal(a.RootPEM(), c.RootPEM()) {
		t.Error("different seeds gave the same root certificate")
	}
	for label, ka := range a.keys.byLabel() {
		kb := *b.keys.byLabel()[label]
		if !(*ka).Equal(kb) {
			t.Errorf("same seed gave different %s keys", label)
		}
		if (*ka).Equal(*c.keys.byLabel()[label]) {
			t.Errorf("different seeds gave the same %s key", label)
		}
	}
	if !bytes.Equal(a.PCKChainPEM(), b.PCKChainPEM()) {
		t.Error("same seed gave different PCK chains")
	}
	var rd [64]byte
	qa, err := a.Quote(testIdentity(), rd)
	if err != nil {
		t.Fatal(err)
	}
	qb, _ := b.Quote(testIdentity(), rd)
	if !bytes.Equal(qa, qb) {
		t.Error("same seed and input gave different quotes")
	}
	ca, err := a.Collateral(a.Request(TEESGX))
	if err != nil {
		t.Fatal(err)
	}
	cb, _ := b.Collateral(b.Request(TEESGX))
	ja, _ := ca.MarshalBundle()
	jb, _ := cb.MarshalBundle()
	if !bytes.Equal(ja, jb) {
		t.Error("same seed and clock gave different collateral")
	}
}

func TestNewRejectsEmptySeed(t *testing.T) {
	if _, err := New(nil, Config{}, Options{}); err != ErrEmptySeed {
		t.Fatalf("New(nil) = %v, want ErrEmptySeed", err)
	}
	p, err := NewRandom(Config{}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	q, _ := NewRandom(Config{}, Options{})
	if bytes.Equal(p.RootPEM(), q.RootPEM()) {
		t.Error("two random platforms share a root")
	}
}

func TestConfigValidation(t *testing.T) {
	for _, cfg := range []Config{{PCKCA: "other"}, {TCBStatus: "Great"}} {
		if _, err := New([]byte("s"), cfg, Options{}); err == nil {
			t.Errorf("New accepted config %+v", cfg)
		}
	}
}

func TestCertificateHierarchy(t *testing.T) {
	for _, ca := range []CA{CAProcessor, CAPlatform} {
		t.Run(string(ca), func(t *testing.T) {
			p := newTestPlatform(t, "hierarchy", Config{PCKCA: ca})
			var chain []*x509.Certificate
			rest := p.PCKChainPEM()
			for {
				var blk *pem.Block
				blk, rest = pem.Decode(rest)
				if blk == nil {
					break
				}
				c, err := x509.ParseCertificate(blk.Bytes)
				if err != nil {
					t.Fatal(err)
				}
				chain = append(chain, c)
			}
			if len(chain) != 3 {
				t.Fatalf("PCK chain has %d certificates, want 3", len(chain))
			}
			wantCA := ProcessorCAName
			if ca == CAPlatform {
				wantCA = PlatformCAName
			}
			for i, want := range []string{PCKCertName, wantCA, RootCAName} {
				if got := chain[i].Subject.CommonName; got != want {
					t.Errorf("chain[%d] CN = %q, want %q", i, got, want)
				}
				if !strings.Contains(chain[i].Subject.String(), "SIMULATED") || !strings.Contains(chain[i].Issuer.String(), "SIMULATED") {
					t.Errorf("chain[%d] names do not say SIMULATED: %s / %s", i, chain[i].Subject, chain[i].Issuer)
				}
			}
			roots := x509.NewCertPool()
			roots.AddCert(p.RootCertificate())
			inter := x509.NewCertPool()
			inter.AddCert(chain[1])
			if _, err := chain[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: testNow, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
				t.Errorf("PCK certificate does not chain to the simulated root: %v", err)
			}
			// The Intel system pool must not accept it: an empty pool stands in
			// for "any other root".
			if _, err := chain[0].Verify(x509.VerifyOptions{Roots: x509.NewCertPool(), Intermediates: inter, CurrentTime: testNow}); err == nil {
				t.Error("PCK certificate verified without the simulated root")
			}
			if chain[0].IsCA || !chain[1].IsCA || !chain[2].IsCA {
				t.Error("CA flags wrong")
			}
			signing := p.certs.tcbSigning
			if err := signing.CheckSignatureFrom(p.RootCertificate()); err != nil {
				t.Errorf("TCB Signing certificate not signed by the root: %v", err)
			}
		})
	}
}

func TestSetConfigReissuesPCK(t *testing.T) {
	p := newTestPlatform(t, "reissue", Config{})
	before := p.PCKCertificate()
	if err := p.SetTCBStatus(OutOfDate); err != nil {
		t.Fatal(err)
	}
	after := p.PCKCertificate()
	if before.SerialNumber.Cmp(after.SerialNumber) == 0 {
		t.Error("re-issued PCK certificate kept its serial number")
	}
	if !before.PublicKey.(*ecdsa.PublicKey).Equal(after.PublicKey) {
		t.Error("re-issued PCK certificate changed key")
	}
	if p.Config().TCBStatus != OutOfDate {
		t.Error("status not stored")
	}
	if err := p.SetTCBStatus("bogus"); err == nil {
		t.Error("SetTCBStatus accepted a bogus status")
	}
	if p.Config().TCBStatus != OutOfDate {
		t.Error("failed SetTCBStatus changed the configuration")
	}
}

func TestParseTCBStatus(t *testing.T) {
	for _, s := range append(Statuses, BelowAllLevels) {
		got, err := ParseTCBStatus(strings.ToLower(string(s)))
		if err != nil || got != s {
			t.Errorf("ParseTCBStatus(%q) = %q, %v", s, got, err)
		}
	}
	if _, err := ParseTCBStatus("Fine"); err == nil {
		t.Error("ParseTCBStatus accepted Fine")
	}
}
