package dcap

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/sgxops/sgxops/collateral"
	"github.com/sgxops/sgxops/sgx"
)

// testPKI re-issues the certificate side of a real quote and its collateral
// under a throw-away root, so that tests can revoke certificates and change
// signed collateral. The quote's own bytes stay real: only the QE report
// signature is redone with the new PCK key (the attestation key binding and
// the quote signature are untouched), and the new PCK certificate carries the
// real certificate's SGX extension.
type testPKI struct {
	t                           testing.TB
	now                         time.Time
	rootKey, caKey, signKey     *ecdsa.PrivateKey
	leafKey                     *ecdsa.PrivateKey
	root, ca, leaf, signer      *x509.Certificate
	pool                        *x509.CertPool
	rootRevoked, pckRevoked     []*big.Int
	crlKey                      *ecdsa.PrivateKey // signs the PCK CRL; nil = caKey
	tcbInfoEdit, qeIdentityEdit func(string) string
}

func newTestPKI(t testing.TB, realLeaf *x509.Certificate, now time.Time) *testPKI {
	t.Helper()
	return newTestPKINamed(t, realLeaf, now, intelNamePrefix)
}

// newTestPKINamed is newTestPKI with certificate names "<prefix><role>".
func newTestPKINamed(t testing.TB, realLeaf *x509.Certificate, now time.Time, prefix string) *testPKI {
	t.Helper()
	p := &testPKI{t: t, now: now}
	p.rootKey, p.caKey, p.signKey, p.leafKey = genKey(t), genKey(t), genKey(t), genKey(t)
	nb, na := now.Add(-365*24*time.Hour), now.Add(365*24*time.Hour)
	name := func(cn string) pkix.Name { return pkix.Name{CommonName: cn, Organization: []string{"sgxops test PKI"}} }
	p.root = issue(t, &x509.Certificate{SerialNumber: big.NewInt(1), Subject: name(prefix + roleRoot), NotBefore: nb, NotAfter: na,
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}, nil, p.rootKey, nil)
	p.ca = issue(t, &x509.Certificate{SerialNumber: big.NewInt(2), Subject: name(prefix + strings.TrimPrefix(realLeaf.Issuer.CommonName, intelNamePrefix)), NotBefore: nb, NotAfter: na,
		IsCA: true, BasicConstraintsValid: true, MaxPathLenZero: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}, p.root, p.caKey, p.rootKey)
	p.signer = issue(t, &x509.Certificate{SerialNumber: big.NewInt(3), Subject: name(prefix + roleTCBSigning), NotBefore: nb, NotAfter: na,
		KeyUsage: x509.KeyUsageDigitalSignature}, p.root, p.signKey, p.rootKey)
	var sgxExt []pkix.Extension
	for _, e := range realLeaf.Extensions {
		if e.Id.Equal(OIDSGXExtensions) {
			sgxExt = append(sgxExt, e)
		}
	}
	p.leaf = issue(t, &x509.Certificate{SerialNumber: big.NewInt(4), Subject: name(prefix + rolePCKLeaf), NotBefore: nb, NotAfter: na,
		KeyUsage: x509.KeyUsageDigitalSignature, ExtraExtensions: sgxExt}, p.ca, p.leafKey, p.caKey)
	p.pool = x509.NewCertPool()
	p.pool.AddCert(p.root)
	return p
}

func genKey(t testing.TB) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// issue signs tmpl with parentKey (self-signed when parent is nil).
func issue(t testing.TB, tmpl, parent *x509.Certificate, key, parentKey *ecdsa.PrivateKey) *x509.Certificate {
	t.Helper()
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func pemOf(certs ...*x509.Certificate) []byte {
	var b bytes.Buffer
	for _, c := range certs {
		pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	return b.Bytes()
}

// signRaw returns an r‖s ECDSA-P256-SHA256 signature.
func signRaw(t testing.TB, k *ecdsa.PrivateKey, msg []byte) []byte {
	h := sha256.Sum256(msg)
	r, s, err := ecdsa.Sign(rand.Reader, k, h[:])
	if err != nil {
		t.Fatal(err)
	}
	out := make([]byte, 64)
	r.FillBytes(out[:32])
	s.FillBytes(out[32:])
	return out
}

func (p *testPKI) crl(issuer *x509.Certificate, key *ecdsa.PrivateKey, revoked []*big.Int) []byte {
	var entries []x509.RevocationListEntry
	for _, s := range revoked {
		entries = append(entries, x509.RevocationListEntry{SerialNumber: s, RevocationTime: p.now.Add(-time.Hour)})
	}
	der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{
		Number: big.NewInt(1), ThisUpdate: p.now.Add(-24 * time.Hour), NextUpdate: p.now.Add(24 * time.Hour),
		RevokedCertificateEntries: entries,
	}, issuer, key)
	if err != nil {
		p.t.Fatal(err)
	}
	return der
}

// rebuild returns copies of q and coll re-issued under p.
func (p *testPKI) rebuild(q *sgx.Quote, coll *collateral.Collateral) (*sgx.Quote, *collateral.Collateral) {
	q2 := *q
	q2.Signature.QEAuthData = bytes.Clone(q.Signature.QEAuthData)
	q2.Signature.CertData = sgx.CertificationData{Type: sgx.CertPCKChain, Data: pemOf(p.leaf, p.ca, p.root)}
	copy(q2.Signature.QEReportSignature[:], signRaw(p.t, p.leafKey, q.Signature.QEReport.Marshal()))

	tcbInfo, qeID := string(coll.TCBInfo), string(coll.QEIdentity)
	if p.tcbInfoEdit != nil {
		tcbInfo = p.tcbInfoEdit(tcbInfo)
	}
	if p.qeIdentityEdit != nil {
		qeID = p.qeIdentityEdit(qeID)
	}
	crlKey := p.crlKey
	if crlKey == nil {
		crlKey = p.caKey
	}
	c2 := &collateral.Collateral{
		PCKCRLIssuerChain:     pemOf(p.ca, p.root),
		RootCACRL:             p.crl(p.root, p.rootKey, p.rootRevoked),
		PCKCRL:                p.crl(p.ca, crlKey, p.pckRevoked),
		TCBInfoIssuerChain:    pemOf(p.signer, p.root),
		TCBInfo:               []byte(tcbInfo),
		TCBInfoSignature:      signRaw(p.t, p.signKey, []byte(tcbInfo)),
		QEIdentityIssuerChain: pemOf(p.signer, p.root),
		QEIdentity:            []byte(qeID),
		QEIdentitySignature:   signRaw(p.t, p.signKey, []byte(qeID)),
	}
	return &q2, c2
}

// realLeaf returns the parsed PCK leaf certificate of a corpus quote.
func realLeaf(t testing.TB, q *sgx.Quote) *x509.Certificate {
	t.Helper()
	certs, err := q.Signature.CertData.PCKChain()
	if err != nil {
		t.Fatal(err)
	}
	return certs[0]
}

// resign gives q a fresh attestation key, applies edit (to header, body or QE
// report), binds the key in the QE report, and signs QE report and quote again
// (the QE report with the test PCK key). Use it with rebuild's quote.
func (p *testPKI) resign(q *sgx.Quote, edit func(*sgx.Quote)) *sgx.Quote {
	q2 := *q
	if q.SGXBody != nil {
		b := *q.SGXBody
		q2.SGXBody = &b
	}
	if q.TDBody != nil {
		b := *q.TDBody
		q2.TDBody = &b
	}
	att := genKey(p.t)
	pub, err := att.PublicKey.Bytes() // 0x04 ‖ x ‖ y
	if err != nil {
		p.t.Fatal(err)
	}
	copy(q2.Signature.AttestationKey[:], pub[1:])
	h := sha256.New()
	h.Write(q2.Signature.AttestationKey[:])
	h.Write(q2.Signature.QEAuthData)
	q2.Signature.QEReport.ReportData = [64]byte{}
	copy(q2.Signature.QEReport.ReportData[:], h.Sum(nil))
	if edit != nil {
		edit(&q2)
	}
	copy(q2.Signature.QEReportSignature[:], signRaw(p.t, p.leafKey, q2.Signature.QEReport.Marshal()))
	copy(q2.Signature.Signature[:], signRaw(p.t, att, q2.SignedData()))
	return &q2
}
