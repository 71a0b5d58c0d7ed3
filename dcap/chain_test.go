package dcap

import (
	"bytes"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"testing"
	"time"

	"github.com/sgxops/sgxops/sgx"
)

// TestSimulatedSignerNames: a collateral signer named as sgxops's
// simulated platform names it makes the verdict Simulated, whatever root it
// ends at and whichever collateral item it signs (not only the TCB Info).
func TestSimulatedSignerNames(t *testing.T) {
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

// TestSwappedPCKChain: the certification data is not signed, so an
// attacker can replace the PCK chain. Another genuine chain of the same FMSPC
// and CA (another platform), a chain with an extra certificate, or the
// intermediate and root alone must all fail.
func TestSwappedPCKChain(t *testing.T) {
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

// TestPCKCRLFromImpostorCA: a PCK CRL whose issuer has the PCK CA's name
// but another key (a second CA under the same root) must not count as the PCK
// CA's CRL, even though it is validly signed and chains to the root.
func TestPCKCRLFromImpostorCA(t *testing.T) {
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
