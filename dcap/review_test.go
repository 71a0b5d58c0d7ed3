package dcap

// Adversarial regression tests from the security review of package dcap:
// each builds evidence that Intel's QVL rejects (or that must be marked
// simulated) and checks that Verify does not accept it.

import (
	"bytes"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"testing"
	"time"

	"github.com/sgxops/sgxops/collateral"
	"github.com/sgxops/sgxops/sgx"
)

// TestReviewSimulatedSignerNames: a collateral signer named as sgxops's
// simulated platform names it makes the verdict Simulated, whatever root it
// ends at and whichever collateral item it signs (not only the TCB Info).
func TestReviewSimulatedSignerNames(t *testing.T) {
	c := caseByID(t, "phala-sgx")
	q, coll := loadQuote(t, c.Quote), loadBundle(t, c.Collateral)
	p := newTestPKI(t, realLeaf(t, q), time.Unix(c.Now, 0))
	q2, coll2 := p.rebuild(q, coll)
	opts := Options{Roots: p.pool, Now: at(c.Now)}
	vd, err := Verify(q2, coll2, opts)
	if err != nil || vd.Simulated {
		t.Fatalf("Intel-named test PKI: verdict %+v, err %v; want a non-simulated verdict", vd, err)
	}

	// The QE Identity alone is signed by a simulation-named TCB Signing certificate
	// under the same (explicitly trusted) root.
	simKey := genKey(t)
	simSigner := issue(t, &x509.Certificate{SerialNumber: big.NewInt(50),
		Subject:   pkix.Name{CommonName: simNamePrefix + roleTCBSigning, Organization: []string{"sgxops test PKI"}},
		NotBefore: p.root.NotBefore, NotAfter: p.root.NotAfter, KeyUsage: x509.KeyUsageDigitalSignature}, p.root, simKey, p.rootKey)
	c3 := cloneCollateral(coll2)
	c3.QEIdentityIssuerChain = pemOf(simSigner, p.root)
	c3.QEIdentitySignature = signRaw(t, simKey, c3.QEIdentity)
	vd, err = Verify(q2, &c3, opts)
	if err != nil {
		t.Fatal(err)
	}
	if !vd.Simulated {
		t.Error("QE Identity signed by a simulation-named certificate: verdict not Simulated")
	}
}

// p256N is the order of the P-256 group.
var p256N = elliptic.P256().Params().N

// TestReviewDegenerateSignatures replaces each of the four raw r‖s signatures
// by values that must never verify: zero, the group order, all ones.
func TestReviewDegenerateSignatures(t *testing.T) {
	c := caseByID(t, "phala-sgx")
	q, coll := loadQuote(t, c.Quote), loadBundle(t, c.Collateral)
	opts := Options{Now: at(c.Now)}
	if _, err := Verify(q, coll, opts); err != nil {
		t.Fatal(err)
	}
	var n [32]byte
	p256N.FillBytes(n[:])
	sigs := map[string][]byte{
		"zero":        make([]byte, 64),
		"r=s=N":       append(n[:], n[:]...),
		"r=N, s ok":   append(n[:], q.Signature.Signature[32:]...),
		"all ones":    bytes.Repeat([]byte{0xff}, 64),
		"r=1, s=1":    append(append(make([]byte, 31), 1), append(make([]byte, 31), 1)...),
		"short (63)":  make([]byte, 63),
		"empty (nil)": nil,
	}
	targets := []struct {
		name string
		set  func(q *sgx.Quote, c *collateral.Collateral, sig []byte) bool // false: sig does not fit
	}{
		{"quote signature", func(q *sgx.Quote, _ *collateral.Collateral, s []byte) bool {
			return len(s) == 64 && copy(q.Signature.Signature[:], s) == 64
		}},
		{"QE report signature", func(q *sgx.Quote, _ *collateral.Collateral, s []byte) bool {
			return len(s) == 64 && copy(q.Signature.QEReportSignature[:], s) == 64
		}},
		{"TCB Info signature", func(_ *sgx.Quote, c *collateral.Collateral, s []byte) bool { c.TCBInfoSignature = s; return true }},
		{"QE Identity signature", func(_ *sgx.Quote, c *collateral.Collateral, s []byte) bool {
			c.QEIdentitySignature = s
			return true
		}},
	}
	v := NewVerifier(opts) // one verifier: a cached good collateral set must not answer for a bad one
	if _, err := v.Verify(q, coll); err != nil {
		t.Fatal(err)
	}
	for _, tg := range targets {
		for name, sig := range sigs {
			q2, c2 := *q, cloneCollateral(coll)
			if !tg.set(&q2, &c2, sig) {
				continue
			}
			vd, err := v.Verify(&q2, &c2)
			if vd != nil || !(errors.Is(err, ErrSignatureInvalid) || errors.Is(err, ErrCollateralUnavailable)) {
				t.Errorf("%s %s: verdict %v, err %v", tg.name, name, vd != nil, err)
			}
		}
	}
}

// TestReviewAttestationKeyNotOnCurve: an attestation key that is not a P-256
// point is refused even when the QE report binds it and is correctly signed.
func TestReviewAttestationKeyNotOnCurve(t *testing.T) {
	c := caseByID(t, "phala-sgx")
	q, coll := loadQuote(t, c.Quote), loadBundle(t, c.Collateral)
	p := newTestPKI(t, realLeaf(t, q), time.Unix(c.Now, 0))
	q, coll = p.rebuild(q, coll)
	opts := Options{Roots: p.pool, Now: at(c.Now)}
	var one [64]byte
	one[31], one[63] = 1, 1
	var big0 [64]byte
	for i := range big0 {
		big0[i] = 0xff
	}
	for name, key := range map[string][64]byte{"zero (identity)": {}, "(1,1)": one, "coordinates >= p": big0} {
		q2 := p.resign(q, func(q *sgx.Quote) {
			q.Signature.AttestationKey = key
			h := sha256.New()
			h.Write(key[:])
			h.Write(q.Signature.QEAuthData)
			q.Signature.QEReport.ReportData = [64]byte{}
			copy(q.Signature.QEReport.ReportData[:], h.Sum(nil))
		})
		vd, err := Verify(q2, coll, opts)
		if vd != nil || !errors.Is(err, ErrSignatureInvalid) {
			t.Errorf("%s: verdict %v, err %v", name, vd != nil, err)
		}
	}
}

// TestReviewSwappedPCKChain: the certification data is not signed, so an
// attacker can replace the PCK chain. Another genuine chain of the same FMSPC
// and CA (another platform), a chain with an extra certificate, or the
// intermediate and root alone must all fail.
func TestReviewSwappedPCKChain(t *testing.T) {
	a, b := caseByID(t, "phala-sgx"), caseByID(t, "auto-sgxbin-phala-derived")
	qa, qb := loadQuote(t, a.Quote), loadQuote(t, b.Quote)
	coll := loadBundle(t, a.Collateral)
	opts := Options{Now: at(a.Now)}
	if bytes.Equal(qa.Signature.CertData.Data, qb.Signature.CertData.Data) {
		t.Fatal("the two corpus quotes share their PCK chain")
	}
	for _, q := range []*sgx.Quote{qa, qb} {
		if _, err := Verify(q, coll, opts); err != nil {
			t.Fatalf("unmodified quote: %v", err)
		}
	}
	chainA, err := parsePEMChain("a", qa.Signature.CertData.Data)
	if err != nil {
		t.Fatal(err)
	}
	extra := issue(t, &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "Intel SGX PCK Processor CA"},
		NotBefore: time.Unix(a.Now, 0).Add(-time.Hour), NotAfter: time.Unix(a.Now, 0).Add(time.Hour), IsCA: true, BasicConstraintsValid: true}, nil, genKey(t), nil)
	for name, data := range map[string][]byte{
		"chain of another platform":        qb.Signature.CertData.Data,
		"extra self-signed CA appended":    append(bytes.Clone(qa.Signature.CertData.Data), pemOf(extra)...),
		"intermediate and root (no leaf)":  pemOf(chainA[1:]...),
		"other platform's leaf, own inter": append(pemOf(mustChain(t, qb)[0]), pemOf(chainA[1:]...)...),
	} {
		q2 := *qa
		q2.Signature.CertData.Data = data
		vd, err := Verify(&q2, coll, opts)
		if vd != nil || !(errors.Is(err, ErrSignatureInvalid) || errors.Is(err, ErrChainInvalid)) {
			t.Errorf("%s: verdict %v, err %v", name, vd != nil, err)
		}
	}
}

func mustChain(t *testing.T, q *sgx.Quote) []*x509.Certificate {
	t.Helper()
	cs, err := parsePEMChain("chain", q.Signature.CertData.Data)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// TestReviewPCKCRLFromImpostorCA: a PCK CRL whose issuer has the PCK CA's name
// but another key (a second CA under the same root) must not count as the PCK
// CA's CRL, even though it is validly signed and chains to the root.
func TestReviewPCKCRLFromImpostorCA(t *testing.T) {
	c := caseByID(t, "phala-sgx")
	q, coll := loadQuote(t, c.Quote), loadBundle(t, c.Collateral)
	p := newTestPKI(t, realLeaf(t, q), time.Unix(c.Now, 0))
	q2, coll2 := p.rebuild(q, coll)
	key := genKey(t)
	twin := issue(t, &x509.Certificate{SerialNumber: big.NewInt(60), Subject: p.ca.Subject, NotBefore: p.ca.NotBefore, NotAfter: p.ca.NotAfter,
		IsCA: true, BasicConstraintsValid: true, MaxPathLenZero: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}, p.root, key, p.rootKey)
	c3 := cloneCollateral(coll2)
	c3.PCKCRLIssuerChain = pemOf(twin, p.root)
	c3.PCKCRL = p.crl(twin, key, nil)
	// The genuine CA's CRL revokes the PCK certificate; the twin's does not.
	p.pckRevoked = []*big.Int{p.leaf.SerialNumber}
	_, revoked := p.rebuild(q, coll)
	if _, err := Verify(q2, revoked, Options{Roots: p.pool, Now: at(c.Now)}); !errors.Is(err, ErrRevoked) {
		t.Fatalf("genuine CRL revoking the leaf: %v", err)
	}
	vd, err := Verify(q2, &c3, Options{Roots: p.pool, Now: at(c.Now)})
	if vd != nil || !errors.Is(err, ErrCollateralInvalid) {
		t.Errorf("CRL of a same-named CA with another key: verdict %v, err %v", vd != nil, err)
	}
}

// TestReviewRootPoolsCopied: NewVerifier copies the options, including the
// trust anchors. Adding a certificate to the caller's pool afterwards must not
// make the Verifier trust it (Options: "later changes by the caller have no
// effect"); otherwise a pool shared with other code silently widens trust.
func TestReviewRootPoolsCopied(t *testing.T) {
	c := caseByID(t, "phala-sgx")
	q, coll := loadQuote(t, c.Quote), loadBundle(t, c.Collateral)
	p := newTestPKI(t, realLeaf(t, q), time.Unix(c.Now, 0))
	q2, coll2 := p.rebuild(q, coll)
	for name, mk := range map[string]func(pool *x509.CertPool) Options{
		"Roots":                   func(pool *x509.CertPool) Options { return Options{Roots: pool} },
		"InsecureSimulationRoots": func(pool *x509.CertPool) Options { return Options{InsecureSimulationRoots: pool} },
	} {
		pool := IntelSGXRootPool()
		opts := mk(pool)
		opts.Now = at(c.Now)
		v := NewVerifier(opts)
		pool.AddCert(p.root) // the caller's pool changes after NewVerifier
		if vd, err := v.Verify(q2, coll2); vd != nil || !errors.Is(err, ErrChainInvalid) {
			t.Errorf("%s: root added to the caller's pool after NewVerifier is trusted: verdict %v, err %v", name, vd != nil, err)
		}
		// The genuine quote still verifies.
		if _, err := v.Verify(q, coll); err != nil {
			t.Errorf("%s: genuine quote: %v", name, err)
		}
	}
}

// TestCacheKeysAreFixedSize: cache keys are digests, so a chain padded by an
// attacker (the quote signature does not cover certification data) cannot pin
// memory in proportion to its size.
func TestCacheKeysAreFixedSize(t *testing.T) {
	c := caseByID(t, "phala-sgx")
	q, coll := loadQuote(t, c.Quote), loadBundle(t, c.Collateral)
	q.Signature.CertData.Data = append(bytes.Repeat([]byte("\n"), 32<<10), q.Signature.CertData.Data...)
	v := NewVerifier(Options{Now: at(c.Now)})
	if _, err := v.Verify(q, coll); err != nil {
		t.Fatalf("padded chain: %v", err)
	}
	v.mu.RLock()
	defer v.mu.RUnlock()
	if len(v.chains) != 1 || len(v.colls) != 1 || len(v.signers) == 0 {
		t.Fatalf("cache sizes %d/%d/%d", len(v.chains), len(v.colls), len(v.signers))
	}
	for k := range v.chains {
		if len(k) != 32 {
			t.Errorf("chain key is %d bytes", len(k))
		}
	}
	for k := range v.signers {
		if len(k) != 32 {
			t.Errorf("signer key is %d bytes", len(k))
		}
	}
	for k := range v.colls {
		if len(k) != 32 {
			t.Errorf("collateral key is %d bytes", len(k))
		}
	}
}
