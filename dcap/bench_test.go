package dcap

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"encoding/asn1"
	"encoding/hex"
	"fmt"
	"math/big"
	"net/url"
	"testing"
	"time"

	"github.com/google/go-tdx-guest/abi"
	"github.com/google/go-tdx-guest/pcs"
	tdxverify "github.com/google/go-tdx-guest/verify"

	"github.com/sgxops/sgxops/collateral"
)

// asn1Sig converts an r‖s signature to ASN.1 DER for ecdsa.VerifyASN1.
func asn1Sig(b testing.TB, raw []byte) []byte {
	der, err := asn1.Marshal(struct{ R, S *big.Int }{new(big.Int).SetBytes(raw[:32]), new(big.Int).SetBytes(raw[32:])})
	if err != nil {
		b.Fatal(err)
	}
	return der
}

// BenchmarkVerifySGXvsFloor measures a cached Verifier on the phala SGX v3
// quote against the floor: the two ECDSA-P256 verifications no cache can
// avoid (QE report by the PCK key, quote by the attestation key) with keys
// already parsed and signatures already DER-encoded. Both are timed in the
// same loop, interleaved; x-floor is verify time / floor time (target ≤ 1.5).
func BenchmarkVerifySGXvsFloor(b *testing.B) {
	c := caseByID(b, "phala-sgx")
	q, coll := loadQuote(b, c.Quote), loadBundle(b, c.Collateral)
	v := NewVerifier(Options{Now: at(c.Now)})
	if _, err := v.Verify(q, coll); err != nil {
		b.Fatal(err)
	}
	pck, err := ecdsaP256Key(realLeaf(b, q))
	if err != nil {
		b.Fatal(err)
	}
	att, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append([]byte{4}, q.Signature.AttestationKey[:]...))
	if err != nil {
		b.Fatal(err)
	}
	qeReport, signed := q.Signature.QEReport.Marshal(), q.SignedData()
	qeSig, quoteSig := asn1Sig(b, q.Signature.QEReportSignature[:]), asn1Sig(b, q.Signature.Signature[:])
	floor := func() {
		h1 := sha256.Sum256(qeReport)
		h2 := sha256.Sum256(signed)
		if !ecdsa.VerifyASN1(pck, h1[:], qeSig) || !ecdsa.VerifyASN1(att, h2[:], quoteSig) {
			b.Fatal("floor verification failed")
		}
	}
	var floorDur, verifyDur time.Duration
	b.ResetTimer()
	for range b.N {
		t0 := time.Now()
		floor()
		t1 := time.Now()
		if _, err := v.Verify(q, coll); err != nil {
			b.Fatal(err)
		}
		verifyDur += time.Since(t1)
		floorDur += t1.Sub(t0)
	}
	b.ReportMetric(float64(verifyDur.Nanoseconds())/float64(b.N), "verify-ns/op")
	b.ReportMetric(float64(floorDur.Nanoseconds())/float64(b.N), "floor-ns/op")
	b.ReportMetric(float64(verifyDur)/float64(floorDur), "x-floor")
}

// replayGetter serves one collateral set to go-tdx-guest at the Intel PCS URLs
// it asks for, in the PCS response format (JSON bodies, issuer chains in headers).
type replayGetter struct {
	tcbURL, qeURL, crlURL, rootCRLURL string
	tcbBody, qeBody                   []byte
	coll                              *collateral.Collateral
}

func newReplayGetter(b testing.TB, coll *collateral.Collateral, fmspc, ca string) *replayGetter {
	chain, err := parsePEMChain("QE Identity issuer chain", coll.QEIdentityIssuerChain)
	if err != nil || len(chain) < 2 || len(chain[1].CRLDistributionPoints) == 0 {
		b.Fatalf("root CRL URL: %v", err)
	}
	return &replayGetter{
		tcbURL: pcs.TcbInfoURL(fmspc), qeURL: pcs.QeIdentityURL(), crlURL: pcs.PckCrlURL(ca),
		rootCRLURL: chain[1].CRLDistributionPoints[0],
		tcbBody:    []byte(fmt.Sprintf(`{"tcbInfo":%s,"signature":"%s"}`, coll.TCBInfo, hex.EncodeToString(coll.TCBInfoSignature))),
		qeBody:     []byte(fmt.Sprintf(`{"enclaveIdentity":%s,"signature":"%s"}`, coll.QEIdentity, hex.EncodeToString(coll.QEIdentitySignature))),
		coll:       coll,
	}
}

func (g *replayGetter) Get(u string) (map[string][]string, []byte, error) {
	esc := func(b []byte) []string { return []string{url.QueryEscape(string(b))} }
	switch u {
	case g.tcbURL:
		return map[string][]string{pcs.TcbInfoIssuerChainPhrase: esc(g.coll.TCBInfoIssuerChain)}, g.tcbBody, nil
	case g.qeURL:
		return map[string][]string{pcs.SgxQeIdentityIssuerChainPhrase: esc(g.coll.QEIdentityIssuerChain)}, g.qeBody, nil
	case g.crlURL:
		return map[string][]string{pcs.SgxPckCrlIssuerChainPhrase: esc(g.coll.PCKCRLIssuerChain)}, g.coll.PCKCRL, nil
	case g.rootCRLURL:
		return map[string][]string{}, g.coll.RootCACRL, nil
	}
	return nil, nil, fmt.Errorf("replayGetter: unexpected URL %s", u)
}

// BenchmarkVerifyTDXvsGoTDXGuest measures a cached Verifier against
// go-tdx-guest's verify.TdxQuote (collateral and revocation checks on, fed the
// same collateral through its Getter) on the NEAR TDX v4 quote, which both
// accept. Quotes are parsed once for both. x-faster is go-tdx-guest time /
// sgxops time (target ≥ 5).
func BenchmarkVerifyTDXvsGoTDXGuest(b *testing.B) {
	c := caseByID(b, "phala-near")
	raw := quoteRaw(b, c.Quote)
	q, coll := loadQuote(b, c.Quote), loadBundle(b, c.Collateral)
	req, err := CollateralRequestFor(q)
	if err != nil {
		b.Fatal(err)
	}
	v := NewVerifier(Options{Now: at(c.Now)})
	if _, err := v.Verify(q, coll); err != nil {
		b.Fatal(err)
	}
	pq, err := abi.QuoteToProto(raw)
	if err != nil {
		b.Fatal(err)
	}
	getter := newReplayGetter(b, coll, req.FMSPC, req.PCKCA)
	roots := IntelSGXRootPool()
	now := time.Unix(c.Now, 0)
	theirs := func() error {
		return tdxverify.TdxQuote(pq, &tdxverify.Options{
			CheckRevocations: true, GetCollateral: true, Getter: getter, TrustedRoots: roots,
			Now: &tdxverify.TimeSet{PckCertChain: now, TcbInfo: now, QeIdentity: now, PckCrl: now, RootCaCrl: now},
		})
	}
	if err := theirs(); err != nil {
		b.Fatalf("go-tdx-guest: %v", err)
	}
	var ours, gtg time.Duration
	b.ResetTimer()
	for range b.N {
		t0 := time.Now()
		if err := theirs(); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if _, err := v.Verify(q, coll); err != nil {
			b.Fatal(err)
		}
		ours += time.Since(t1)
		gtg += t1.Sub(t0)
	}
	b.ReportMetric(float64(ours.Nanoseconds())/float64(b.N), "sgxops-ns/op")
	b.ReportMetric(float64(gtg.Nanoseconds())/float64(b.N), "gotdxguest-ns/op")
	b.ReportMetric(float64(gtg)/float64(ours), "x-faster")
}

// BenchmarkVerifyUncached is the one-shot Verify (nothing cached), for reference.
func BenchmarkVerifyUncached(b *testing.B) {
	for _, id := range []string{"phala-sgx", "phala-tdx"} {
		b.Run(id, func(b *testing.B) {
			c := caseByID(b, id)
			q, coll := loadQuote(b, c.Quote), loadBundle(b, c.Collateral)
			opts := Options{Now: at(c.Now)}
			for range b.N {
				if _, err := Verify(q, coll, opts); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
