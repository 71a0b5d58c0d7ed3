package dcap

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/sgxops/sgxops/collateral"
	"github.com/sgxops/sgxops/internal/corpus"
	"github.com/sgxops/sgxops/sgx"
)

// caseByID returns a corpus case.
func caseByID(t testing.TB, id string) corpusCase {
	t.Helper()
	for _, c := range loadCases(t) {
		if c.ID == id {
			return c
		}
	}
	t.Fatalf("no corpus case %s", id)
	return corpusCase{}
}

// signedRange is a byte range of a raw quote covered by a signature.
type signedRange struct {
	name       string
	start, end int
}

// signedRanges returns the ranges of raw covered by the quote signature
// (header ‖ body), the QE report signature (QE report) and the binding
// (attestation key, QE auth data), plus the two signatures themselves.
func signedRanges(t testing.TB, q *sgx.Quote) []signedRange {
	t.Helper()
	n := len(q.SignedData())
	off := n + 4 // signature_data_len
	r := []signedRange{{"header+body", 0, n}, {"quote signature", off, off + 64}, {"attestation key", off + 64, off + 128}}
	off += 128
	if q.Header.Version != sgx.QuoteV3 {
		off += 6 // certification data type 6 + size
	}
	r = append(r, signedRange{"QE report", off, off + sgx.ReportBodySize},
		signedRange{"QE report signature", off + sgx.ReportBodySize, off + sgx.ReportBodySize + 64})
	off += sgx.ReportBodySize + 64 + 2
	r = append(r, signedRange{"QE auth data", off, off + len(q.Signature.QEAuthData)})
	return r
}

// TestQuoteByteFlips flips one bit in every signed byte (phala SGX and TDX
// quotes) or in a sample of them (other verifying cases) and expects a parse
// error or a signature/chain failure, never a verdict.
func TestQuoteByteFlips(t *testing.T) {
	for _, id := range []string{"phala-sgx", "phala-tdx", "automata-v3-sgx-0825", "automata-v5-tdx-0625", "oe-relaunch", "trustee-q4-2023-derived", "auto-sgxbin-phala-derived"} {
		t.Run(id, func(t *testing.T) {
			c := caseByID(t, id)
			raw := quoteRaw(t, c.Quote)
			q, err := sgx.ParseQuote(raw)
			if err != nil {
				t.Fatal(err)
			}
			coll := loadBundle(t, c.Collateral)
			v := NewVerifier(Options{Now: at(c.Now)})
			if _, err := v.Verify(q, coll); err != nil {
				t.Fatalf("unmodified quote: %v", err)
			}
			step := 1
			if id != "phala-sgx" && id != "phala-tdx" {
				step = 7
			}
			checked, parseErrs := 0, 0
			for _, rg := range signedRanges(t, q) {
				if rg.end <= rg.start {
					t.Fatalf("empty range %s", rg.name)
				}
				for i := rg.start; i < rg.end; i += step {
					for _, bit := range []byte{0x01, 0x80} {
						mut := bytes.Clone(raw)
						mut[i] ^= bit
						mq, err := sgx.ParseQuote(mut)
						if err != nil {
							// Only fields the parser validates may fail parsing: version,
							// key type, TEE type (header bytes 0-7) and the v5 body descriptor.
							if !(i < 8 || (q.Header.Version == sgx.QuoteV5 && i >= 48 && i < 54)) {
								t.Fatalf("%s byte %d: parse error %v", rg.name, i, err)
							}
							parseErrs++
							continue
						}
						vd, err := v.Verify(mq, coll)
						if vd != nil || !(errors.Is(err, ErrSignatureInvalid) || errors.Is(err, ErrChainInvalid)) {
							t.Fatalf("%s byte %d bit %#x: verdict %v, err %v", rg.name, i, bit, vd != nil, err)
						}
						checked++
					}
				}
			}
			t.Logf("%d flips rejected by verification, %d by parsing", checked, parseErrs)
		})
	}
}

// TestCollateralTamper flips bytes of every collateral item and expects rejection.
func TestCollateralTamper(t *testing.T) {
	for _, id := range []string{"phala-sgx", "phala-tdx", "automata-v3-sgx-0825"} {
		c := caseByID(t, id)
		q := loadQuote(t, c.Quote)
		orig := loadBundle(t, c.Collateral)
		items := []struct {
			name    string
			get     func(*collateral.Collateral) *[]byte
			step    int
			reasons []Reason
		}{
			{"TCB Info", func(c *collateral.Collateral) *[]byte { return &c.TCBInfo }, 11, []Reason{ReasonSignatureInvalid}},
			{"TCB Info signature", func(c *collateral.Collateral) *[]byte { return &c.TCBInfoSignature }, 1, []Reason{ReasonSignatureInvalid}},
			{"QE Identity", func(c *collateral.Collateral) *[]byte { return &c.QEIdentity }, 3, []Reason{ReasonSignatureInvalid}},
			{"QE Identity signature", func(c *collateral.Collateral) *[]byte { return &c.QEIdentitySignature }, 1, []Reason{ReasonSignatureInvalid}},
			{"Root CA CRL", func(c *collateral.Collateral) *[]byte { return &c.RootCACRL }, 1, []Reason{ReasonSignatureInvalid, ReasonCollateralInvalid}},
			{"PCK CRL", func(c *collateral.Collateral) *[]byte { return &c.PCKCRL }, 5, []Reason{ReasonSignatureInvalid, ReasonCollateralInvalid}},
			{"TCB Info issuer chain", func(c *collateral.Collateral) *[]byte { return &c.TCBInfoIssuerChain }, 17, []Reason{ReasonChainInvalid}},
			{"QE Identity issuer chain", func(c *collateral.Collateral) *[]byte { return &c.QEIdentityIssuerChain }, 17, []Reason{ReasonChainInvalid}},
			{"PCK CRL issuer chain", func(c *collateral.Collateral) *[]byte { return &c.PCKCRLIssuerChain }, 17, []Reason{ReasonChainInvalid}},
		}
		for _, it := range items {
			t.Run(id+"/"+it.name, func(t *testing.T) {
				v := NewVerifier(Options{Now: at(c.Now)})
				n := len(*it.get(orig))
				rejected, unchanged := 0, 0
				for i := 0; i < n; i += it.step {
					mut := cloneCollateral(orig)
					b := it.get(&mut)
					(*b)[i] ^= 0x01
					vd, err := v.Verify(q, &mut)
					if err == nil {
						// A flip in PEM text may decode to the same DER (e.g. unused bits of
						// the last base64 character); then nothing signed changed.
						if sameCertificates(t, *it.get(orig), *b) {
							unchanged++
							continue
						}
						t.Fatalf("byte %d: tampered %s accepted (status %v)", i, it.name, vd.Status)
					}
					var de *Error
					if vd != nil || !errors.As(err, &de) || !slices.Contains(it.reasons, de.Reason) {
						t.Fatalf("byte %d: verdict %v, err %v; want reason in %v", i, vd != nil, err, it.reasons)
					}
					rejected++
				}
				if rejected == 0 {
					t.Fatal("nothing rejected")
				}
				t.Logf("%d rejected, %d harmless (identical DER)", rejected, unchanged)
			})
		}
	}
}

// sameCertificates reports whether two PEM chains decode to identical DER.
func sameCertificates(t *testing.T, a, b []byte) bool {
	ca, err1 := parsePEMChain("a", a)
	cb, err2 := parsePEMChain("b", b)
	if err1 != nil || err2 != nil || len(ca) != len(cb) {
		return false
	}
	for i := range ca {
		if !bytes.Equal(ca[i].Raw, cb[i].Raw) {
			return false
		}
	}
	return true
}

// TestValidityWindows checks every verifying corpus case just inside and just
// outside its collateral window.
func TestValidityWindows(t *testing.T) {
	for _, c := range loadCases(t) {
		if w := corpusWant[c.ID]; w.reason != 0 {
			continue
		}
		t.Run(c.ID, func(t *testing.T) {
			q, coll := loadQuote(t, c.Quote), loadBundle(t, c.Collateral)
			start, err := time.Parse(time.RFC3339, c.Window[0])
			if err != nil {
				t.Fatal(err)
			}
			end, _ := time.Parse(time.RFC3339, c.Window[1])
			for _, tc := range []struct {
				at time.Time
				ok bool
			}{
				{time.Unix(c.Now, 0), true}, {end, true},
				{start.Add(-time.Second), false}, {end.Add(time.Second), false},
				{time.Date(2017, 1, 1, 0, 0, 0, 0, time.UTC), false}, // before the root CA
				{time.Date(2051, 1, 1, 0, 0, 0, 0, time.UTC), false}, // after the root CA
			} {
				vd, err := Verify(q, coll, Options{Now: at(tc.at.Unix())})
				if tc.ok {
					if err != nil && !errors.Is(err, ErrRevoked) {
						t.Errorf("at %v: %v", tc.at, err)
					}
					continue
				}
				if vd != nil || !errors.Is(err, ErrCollateralExpired) {
					t.Errorf("at %v: verdict %v, err %v; want ErrCollateralExpired", tc.at, vd != nil, err)
				}
			}
		})
	}
}

func TestWrongRoot(t *testing.T) {
	c := caseByID(t, "phala-sgx")
	q, coll := loadQuote(t, c.Quote), loadBundle(t, c.Collateral)
	for name, opts := range map[string]Options{
		"Intel QVL test root": {Roots: qvlTestRoots(t, "intel-qvl-synthetic/trustedRootCaCert.pem"), Now: at(c.Now)},
		"empty pool":          {Roots: x509NewCertPool(), Now: at(c.Now)},
	} {
		vd, err := Verify(q, coll, opts)
		if vd != nil || !errors.Is(err, ErrChainInvalid) {
			t.Errorf("%s: verdict %v, err %v", name, vd != nil, err)
		}
	}
}

// TestCollateralMismatch pairs real quotes with real collateral that does not fit.
func TestCollateralMismatch(t *testing.T) {
	sgxCase, tdxCase := caseByID(t, "phala-sgx"), caseByID(t, "phala-tdx")
	sgxQ, tdxQ := loadQuote(t, sgxCase.Quote), loadQuote(t, tdxCase.Quote)
	sgxColl, tdxColl := loadBundle(t, sgxCase.Collateral), loadBundle(t, tdxCase.Collateral)

	// A platform-CA CRL (valid in July 2025) for a processor-CA PCK certificate.
	platformCRL := cloneCollateral(sgxColl)
	platformCRL.PCKCRL = corpus.Read(t, "automata/solana/pck_platform_crl.der")
	platformCRL.PCKCRLIssuerChain = append(derToPEM(t, "automata/solana/platform.der"), derToPEM(t, "automata/solana/root.der")...)

	missingCRL := cloneCollateral(sgxColl)
	missingCRL.PCKCRL = nil
	missingChain := cloneCollateral(sgxColl)
	missingChain.TCBInfoIssuerChain = nil

	cases := []struct {
		name   string
		q      *sgx.Quote
		coll   *collateral.Collateral
		now    int64
		reason Reason
	}{
		// The bundle of another platform fails at the PCK CRL issuer (checked before FMSPC, as in Intel's QVL).
		{"SGX quote, bundle of a platform-CA platform", sgxQ, loadBundle(t, "bundles/automata-evm-0825-sgx-00606a000000.json"), 1755236700, ReasonCollateralInvalid},
		{"TDX quote, TDX TCB Info of another FMSPC", tdxQ, loadBundle(t, "bundles/automata-solana-tdx-00806f050000.json"), 1753175614, ReasonFMSPCMismatch},
		{"SGX quote, TDX collateral", sgxQ, tdxColl, tdxCase.Now, ReasonCollateralInvalid},
		{"TDX quote, SGX collateral", tdxQ, sgxColl, sgxCase.Now, ReasonCollateralInvalid},
		{"PCK CRL of the other PCK CA", sgxQ, &platformCRL, sgxCase.Now, ReasonCollateralInvalid},
		{"no PCK CRL", sgxQ, &missingCRL, sgxCase.Now, ReasonCollateralUnavailable},
		{"no TCB Info issuer chain", sgxQ, &missingChain, sgxCase.Now, ReasonCollateralUnavailable},
		{"nil collateral", sgxQ, nil, sgxCase.Now, ReasonCollateralUnavailable},
		{"nil quote", nil, sgxColl, sgxCase.Now, ReasonMalformed},
	}
	for _, c := range cases {
		vd, err := Verify(c.q, c.coll, Options{Now: at(c.now)})
		var de *Error
		if vd != nil || !errors.As(err, &de) || de.Reason != c.reason {
			t.Errorf("%s: verdict %v, err %v; want reason %v", c.name, vd != nil, err, c.reason)
		}
	}
}

// TestCertificationDataTypes exercises PCK chains supplied with the collateral
// (types 1-4) using a real quote whose chain is moved into the collateral.
func TestCertificationDataTypes(t *testing.T) {
	c := caseByID(t, "phala-sgx")
	q, coll := loadQuote(t, c.Quote), loadBundle(t, c.Collateral)
	want, err := Verify(q, coll, Options{Now: at(c.Now)})
	if err != nil {
		t.Fatal(err)
	}
	for _, typ := range []sgx.CertDataType{sgx.CertPPIDCleartext, sgx.CertPPIDRSA2048, sgx.CertPPIDRSA3072, sgx.CertPCKLeaf} {
		q2 := *q
		q2.Signature.CertData = sgx.CertificationData{Type: typ, Data: make([]byte, 36)}
		if _, err := Verify(&q2, coll, Options{Now: at(c.Now)}); !errors.Is(err, ErrCollateralUnavailable) {
			t.Errorf("type %d without a chain: %v", typ, err)
		}
		c2 := cloneCollateral(coll)
		c2.PCKCertificateChain = q.Signature.CertData.Data
		got, err := Verify(&q2, &c2, Options{Now: at(c.Now)})
		if err != nil || got.Status != want.Status || !slices.Equal(got.AdvisoryIDs, want.AdvisoryIDs) {
			t.Errorf("type %d with the chain in the collateral: %v, %v", typ, got, err)
		}
	}
	for _, typ := range []sgx.CertDataType{sgx.CertQEReport, sgx.CertPlatformManifest} {
		q2 := *q
		q2.Signature.CertData = sgx.CertificationData{Type: typ, Data: []byte{1}}
		if _, err := Verify(&q2, coll, Options{Now: at(c.Now)}); !errors.Is(err, ErrUnsupported) {
			t.Errorf("type %d: %v", typ, err)
		}
	}
}

// TestIntelQVLSynthetic runs Intel QVL's sample data, signed by Intel's test root.
func TestIntelQVLSynthetic(t *testing.T) {
	now := at(time.Date(2022, 1, 1, 0, 0, 0, 0, time.UTC).Unix())
	// SGX: certification data type 1, PCK chain in the bundle, TCB Info v2.
	q := loadQuote(t, "intel-qvl-synthetic/quote.dat")
	coll := loadBundle(t, "bundles/intel-qvl-synthetic-sgx.json")
	if q.Signature.CertData.Type != sgx.CertPPIDCleartext {
		t.Fatalf("certification data type %v", q.Signature.CertData.Type)
	}
	roots := qvlTestRoots(t, "intel-qvl-synthetic/trustedRootCaCert.pem")
	_, err := Verify(q, coll, Options{Roots: roots, Now: now})
	if !errors.Is(err, ErrUnsupported) || !errors.Is(err, collateral.ErrUnsupportedVersion) {
		t.Errorf("SGX with the test root: %v, want the TCB Info v2 refusal", err)
	}
	if _, err := Verify(q, coll, Options{Now: now}); !errors.Is(err, ErrChainInvalid) {
		t.Errorf("SGX with the production root: %v", err)
	}

	// TDX: the quote's type-5 data holds DER, not PEM (a quirk of the sample).
	q = loadQuote(t, "intel-qvl-synthetic/tdx/quote.dat")
	coll = loadBundle(t, "bundles/intel-qvl-synthetic-tdx.json")
	roots = qvlTestRoots(t, "intel-qvl-synthetic/tdx/trustedRootCaCert.pem")
	if _, err := Verify(q, coll, Options{Roots: roots, Now: now}); !errors.Is(err, ErrChainInvalid) {
		t.Errorf("TDX sample with DER certification data: %v", err)
	}
	// With the bundle's PEM chain (certification data is not signed), everything up
	// to the TCB Info verifies; its SVNs (e.g. 65473) are not bytes.
	q2 := *q
	q2.Signature.CertData.Type = sgx.CertPPIDCleartext
	_, err = Verify(&q2, coll, Options{Roots: roots, Now: now})
	var de *collateral.DocumentError
	if !errors.Is(err, ErrCollateralInvalid) || !errors.As(err, &de) {
		t.Errorf("TDX sample: %v, want collateral invalid (TCB Info SVN out of range)", err)
	}
}

// TestResignedQuotes changes signed quote fields and re-signs them with a fresh
// attestation key under a test PKI, to test the rules behind the signatures.
func TestResignedQuotes(t *testing.T) {
	c := caseByID(t, "phala-sgx")
	q, coll := loadQuote(t, c.Quote), loadBundle(t, c.Collateral)
	p := newTestPKI(t, realLeaf(t, q), time.Unix(c.Now, 0))
	q, coll = p.rebuild(q, coll)
	opts := Options{Roots: p.pool, Now: at(c.Now)}
	cases := []struct {
		name   string
		edit   func(*sgx.Quote)
		reason Reason
		check  func(*Verdict) error
	}{
		{"fresh attestation key", nil, 0, nil},
		{"non-Intel QE vendor", func(q *sgx.Quote) { q.Header.QEVendorID[0] ^= 1 }, ReasonUnsupported, nil},
		{"report data upper half not zero", func(q *sgx.Quote) { q.Signature.QEReport.ReportData[40] = 1 }, ReasonSignatureInvalid, nil},
		{"debug enclave is reported", func(q *sgx.Quote) { q.SGXBody.Attributes.Flags |= sgx.AttrDebug }, 0,
			func(v *Verdict) error {
				if !v.Debug || !v.SGX.Attributes.Debug() {
					return fmt.Errorf("debug %v", v.Debug)
				}
				return nil
			}},
		{"identity is copied", func(q *sgx.Quote) { q.SGXBody.ISVSVN, q.SGXBody.ReportData[0] = 77, 9 }, 0,
			func(v *Verdict) error {
				if v.SGX.ISVSVN != 77 || v.ReportData[0] != 9 || v.Debug {
					return fmt.Errorf("verdict %+v", v.SGX)
				}
				return nil
			}},
	}
	for _, tc := range cases {
		vd, err := Verify(p.resign(q, tc.edit), coll, opts)
		if tc.reason != 0 {
			var de *Error
			if vd != nil || !errors.As(err, &de) || de.Reason != tc.reason {
				t.Errorf("%s: verdict %v, err %v; want %v", tc.name, vd != nil, err, tc.reason)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if tc.check != nil {
			if err := tc.check(vd); err != nil {
				t.Errorf("%s: %v", tc.name, err)
			}
		}
	}
}
