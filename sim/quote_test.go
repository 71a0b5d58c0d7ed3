package sim

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"encoding/hex"
	"encoding/json"
	"math/big"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-tdx-guest/pcs"

	"github.com/sgxops/sgxops/internal/corpus"
	"github.com/sgxops/sgxops/sgx"
)

// verifyRaw checks a raw r‖s P-256 signature over SHA-256(msg).
func verifyRaw(pub *ecdsa.PublicKey, msg, sig []byte) bool {
	h := sha256.Sum256(msg)
	return len(sig) == 64 && ecdsa.Verify(pub, h[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:]))
}

// checkQuoteSignatures verifies the DCAP signature structure of a simulated quote.
func checkQuoteSignatures(t *testing.T, p *Platform, raw []byte) *sgx.Quote {
	t.Helper()
	q, err := sgx.ParseQuote(raw)
	if err != nil {
		t.Fatalf("ParseQuote: %v", err)
	}
	if !bytes.Equal(q.Marshal(), raw) || q.Trailing != 0 {
		t.Fatal("quote does not round-trip through sgx.ParseQuote/Marshal")
	}
	s := q.Signature
	x, y := new(big.Int).SetBytes(s.AttestationKey[:32]), new(big.Int).SetBytes(s.AttestationKey[32:])
	ak := &ecdsa.PublicKey{Curve: elliptic.P256(), X: x, Y: y}
	if !verifyRaw(ak, q.SignedData(), s.Signature[:]) {
		t.Error("attestation key signature over header‖body does not verify")
	}
	chain, err := s.CertData.PCKChain()
	if err != nil {
		t.Fatalf("PCK chain: %v", err)
	}
	if !chain[0].Equal(p.PCKCertificate()) {
		t.Error("quote carries another PCK certificate than the platform's")
	}
	if !verifyRaw(chain[0].PublicKey.(*ecdsa.PublicKey), s.QEReport.Marshal(), s.QEReportSignature[:]) {
		t.Error("QE report signature does not verify with the PCK key")
	}
	h := sha256.Sum256(append(s.AttestationKey[:], s.QEAuthData...))
	if !bytes.Equal(s.QEReport.ReportData[:32], h[:]) || [32]byte(s.QEReport.ReportData[32:]) != [32]byte{} {
		t.Error("QE report data is not SHA-256(attestation key ‖ auth data) ‖ zeros")
	}
	if s.QEReport.MRSigner != QEMRSigner {
		t.Error("QE report MRSIGNER is not the simulated QE's")
	}
	return q
}

func TestQuoteSGX(t *testing.T) {
	p := newTestPlatform(t, "quote", Config{})
	id := testIdentity()
	id.Attributes.Flags |= sgx.AttrDebug
	var rd [64]byte
	copy(rd[:], "report data")
	raw, err := p.Quote(id, rd)
	if err != nil {
		t.Fatal(err)
	}
	q := checkQuoteSignatures(t, p, raw)
	if q.Header.Version != sgx.QuoteV3 || q.IsTDX() {
		t.Fatalf("got a v%d quote (TDX %v), want SGX v3", q.Header.Version, q.IsTDX())
	}
	b := q.SGXBody
	if b.MREnclave != id.MREnclave || b.MRSigner != id.MRSigner || b.ISVProdID != 7 || b.ISVSVN != 3 || b.ReportData != rd {
		t.Errorf("body does not carry the identity: %+v", b)
	}
	if !b.Attributes.Debug() {
		t.Error("DEBUG attribute lost")
	}
	if q.Signature.QEReport.ISVProdID != qeProdID || q.Header.QESVN != DefaultQESVN || q.Header.PCESVN != simPCESVN {
		t.Errorf("QE identity in quote: prodid %d qesvn %d pcesvn %d", q.Signature.QEReport.ISVProdID, q.Header.QESVN, q.Header.PCESVN)
	}
	if !bytes.HasPrefix(q.Header.UserData[:], []byte("sgxops SIMULATED")) {
		t.Errorf("header user data %q does not say SIMULATED", q.Header.UserData)
	}
}

func TestQuoteTDX(t *testing.T) {
	p := newTestPlatform(t, "quote", Config{TCBStatus: SWHardeningNeeded})
	var id TDIdentity
	id.MRTD[0] = 0xaa
	id.RTMRs[2][0] = 0xbb
	var rd [64]byte
	rd[63] = 1
	raw, err := p.TDQuote(id, rd)
	if err != nil {
		t.Fatal(err)
	}
	q := checkQuoteSignatures(t, p, raw)
	if q.Header.Version != sgx.QuoteV4 || !q.IsTDX() || q.Header.TEEType != sgx.TEETypeTDX {
		t.Fatalf("got v%d TEE %#x, want TDX v4", q.Header.Version, q.Header.TEEType)
	}
	b := q.TDBody
	if b.MRTD != id.MRTD || b.RTMRs[2] != id.RTMRs[2] || b.ReportData != rd {
		t.Error("TD body does not carry the identity")
	}
	if b.TDAttributes != DefaultTDAttributes || b.TDDebug() {
		t.Errorf("TD attributes %x, want SEPT_VE_DISABLE only", b.TDAttributes)
	}
	if want := teeTCBSVN(SWHardeningNeeded, DefaultTDXModuleSVN); b.TEETCBSVN != want {
		t.Errorf("TEE_TCB_SVN %x, want %x", b.TEETCBSVN, want)
	}
	if q.Signature.QEReport.ISVProdID != tdqeProdID {
		t.Errorf("TD QE ISVPRODID %d, want %d", q.Signature.QEReport.ISVProdID, tdqeProdID)
	}
}

// TestPCKExtensionsParse checks that an independent parser (go-tdx-guest)
// reads the simulated SGX extension, and that it has the layout of a real
// Intel PCK certificate from the corpus.
func TestPCKExtensionsParse(t *testing.T) {
	for _, tc := range []struct {
		ca   CA
		real string
	}{
		{CAProcessor, "pck-certs/enarx-sgx/single_pck.crt"},
		{CAPlatform, "pck-certs/enarx-sgx/multi_pck.crt"},
	} {
		t.Run(string(tc.ca), func(t *testing.T) {
			p := newTestPlatform(t, "ext", Config{PCKCA: tc.ca, TCBStatus: ConfigurationNeeded})
			cert := p.PCKCertificate()
			ext, err := pcs.PckCertificateExtensions(cert)
			if err != nil {
				t.Fatalf("go-tdx-guest cannot parse the simulated PCK certificate: %v", err)
			}
			cfg := p.Config()
			lvl := sgxLevelFor(ConfigurationNeeded)
			if ext.FMSPC != hex.EncodeToString(cfg.FMSPC[:]) || ext.PCEID != hex.EncodeToString(cfg.PCEID[:]) || ext.PPID != hex.EncodeToString(cfg.PPID[:]) {
				t.Errorf("extension values %+v do not match config", ext)
			}
			if ext.TCB.PCESvn != lvl.pcesvn || !bytes.Equal(ext.TCB.CPUSvn, lvl.sgx[:]) || !bytes.Equal(ext.TCB.CPUSvnComponents, lvl.sgx[:]) {
				t.Errorf("TCB %+v, want CPUSVN %x PCESVN %d", ext.TCB, lvl.sgx, lvl.pcesvn)
			}

			realCert, err := x509.ParseCertificate(corpus.Read(t, tc.real)) // DER
			if err != nil {
				t.Fatal(err)
			}
			if _, err := pcs.PckCertificateExtensions(realCert); err != nil {
				t.Fatalf("reference certificate: %v", err)
			}
			if got, want := extensionOIDs(cert), extensionOIDs(realCert); got != want {
				t.Errorf("extension OIDs differ from Intel's:\n sim   %s\n intel %s", got, want)
			}
			if got, want := sgxExtensionShape(t, cert), sgxExtensionShape(t, realCert); got != want {
				t.Errorf("SGX extension layout differs from Intel's:\n sim   %s\n intel %s", got, want)
			}
			if cert.KeyUsage != realCert.KeyUsage || cert.IsCA != realCert.IsCA {
				t.Errorf("key usage %v CA %v, Intel's %v %v", cert.KeyUsage, cert.IsCA, realCert.KeyUsage, realCert.IsCA)
			}
		})
	}
}

func extensionOIDs(c *x509.Certificate) string {
	var ids []string
	for _, e := range c.Extensions {
		ids = append(ids, e.Id.String())
	}
	sort.Strings(ids)
	return strings.Join(ids, " ")
}

// sgxExtensionShape renders the SGX extension's OIDs and ASN.1 tags (not values).
func sgxExtensionShape(t *testing.T, c *x509.Certificate) string {
	t.Helper()
	var val []byte
	for _, e := range c.Extensions {
		if e.Id.Equal(oidSGXExtension) {
			val = e.Value
		}
	}
	var out []string
	var walk func(b []byte)
	walk = func(b []byte) {
		var items []asn1.RawValue
		if _, err := asn1.Unmarshal(b, &items); err != nil {
			t.Fatalf("SGX extension: %v", err)
		}
		for _, it := range items {
			var kv struct {
				ID asn1.ObjectIdentifier
				V  asn1.RawValue
			}
			if _, err := asn1.Unmarshal(it.FullBytes, &kv); err != nil {
				t.Fatalf("SGX extension item: %v", err)
			}
			out = append(out, kv.ID.String()+":"+strconv.Itoa(kv.V.Tag))
			if kv.V.Tag == asn1.TagSequence {
				walk(kv.V.FullBytes)
			}
		}
	}
	walk(val)
	return strings.Join(out, " ")
}

// TestCollateralIntelFormat checks the TCB Info and QE Identity JSON against
// an independent reading of Intel's format (go-tdx-guest's pcs types) and
// their signatures against the TCB Signing certificate.
func TestCollateralIntelFormat(t *testing.T) {
	p := newTestPlatform(t, "collateral", Config{})
	for _, tee := range []TEE{TEESGX, TEETDX} {
		t.Run(string(tee), func(t *testing.T) {
			c, err := p.Collateral(p.Request(tee))
			if err != nil {
				t.Fatal(err)
			}
			signing := p.certs.tcbSigning.PublicKey.(*ecdsa.PublicKey)
			if !verifyRaw(signing, c.TCBInfo, c.TCBInfoSignature) || !verifyRaw(signing, c.QEIdentity, c.QEIdentitySignature) {
				t.Fatal("collateral signatures do not verify with the TCB Signing key")
			}
			var info pcs.TcbInfo
			if err := json.Unmarshal(c.TCBInfo, &info); err != nil {
				t.Fatalf("TCB Info: %v", err)
			}
			wantID := map[TEE]string{TEESGX: "SGX", TEETDX: "TDX"}[tee]
			if info.ID != wantID || info.Version != 3 || !info.IssueDate.Equal(testNow) || !info.NextUpdate.Equal(testNow.Add(DefaultCollateralValidity)) {
				t.Errorf("TCB Info header %s v%d %v..%v", info.ID, info.Version, info.IssueDate, info.NextUpdate)
			}
			if len(info.TcbLevels) != len(tcbLevels) {
				t.Fatalf("%d TCB levels, want %d", len(info.TcbLevels), len(tcbLevels))
			}
			for i, l := range info.TcbLevels {
				if len(l.Tcb.SgxTcbcomponents) != 16 || l.Tcb.Pcesvn != simPCESVN || l.Tcb.SgxTcbcomponents[0].Svn != tcbLevels[i].sgx[0] {
					t.Errorf("level %d: %+v", i, l.Tcb)
				}
				if (tee == TEETDX) != (len(l.Tcb.TdxTcbcomponents) == 16) {
					t.Errorf("level %d: %d TDX components", i, len(l.Tcb.TdxTcbcomponents))
				}
			}
			if tee == TEETDX && (len(info.TdxModuleIdentities) != 1 || info.TdxModuleIdentities[0].ID != "TDX_01") {
				t.Errorf("TDX module identities %+v", info.TdxModuleIdentities)
			}
			var qe pcs.EnclaveIdentity
			if err := json.Unmarshal(c.QEIdentity, &qe); err != nil {
				t.Fatalf("QE Identity: %v", err)
			}
			wantQE := map[TEE]string{TEESGX: "QE", TEETDX: "TD_QE"}[tee]
			if qe.ID != wantQE || qe.Version != 2 || len(qe.TcbLevels) != len(qeLevels) {
				t.Errorf("QE Identity %s v%d with %d levels", qe.ID, qe.Version, len(qe.TcbLevels))
			}
			for _, crl := range [][]byte{c.PCKCRL, c.RootCACRL} {
				rl, err := x509.ParseRevocationList(crl)
				if err != nil {
					t.Fatal(err)
				}
				if !rl.NextUpdate.Equal(testNow.Add(DefaultCollateralValidity)) {
					t.Errorf("CRL nextUpdate %v", rl.NextUpdate)
				}
			}
		})
	}
	if _, err := p.Collateral(p.Request("sev")); err == nil {
		t.Error("Collateral accepted TEE sev")
	}
}

func TestPCKCRLListsRevokedPCK(t *testing.T) {
	p := newTestPlatform(t, "revoked", Config{PCKRevoked: true})
	for _, tc := range []struct {
		ca    CA
		lists bool
	}{{CAProcessor, true}, {CAPlatform, false}} {
		der, err := p.PCKCRL(tc.ca)
		if err != nil {
			t.Fatal(err)
		}
		rl, err := x509.ParseRevocationList(der)
		if err != nil {
			t.Fatal(err)
		}
		if err := rl.CheckSignatureFrom(p.certs.pckCA(tc.ca)); err != nil {
			t.Errorf("%s CRL signature: %v", tc.ca, err)
		}
		listed := len(rl.RevokedCertificateEntries) == 1 && rl.RevokedCertificateEntries[0].SerialNumber.Cmp(p.PCKCertificate().SerialNumber) == 0
		if listed != tc.lists {
			t.Errorf("%s CRL lists the PCK: %v, want %v", tc.ca, listed, tc.lists)
		}
	}
}

func TestQuoteTD15(t *testing.T) {
	p := newTestPlatform(t, "td15", Config{})
	var rd [64]byte
	raw, err := p.TD15Quote(TDIdentity{ModuleSVNAtLaunch: TDXModuleOutOfDateSVN}, rd)
	if err != nil {
		t.Fatal(err)
	}
	q := checkQuoteSignatures(t, p, raw)
	if q.Header.Version != sgx.QuoteV5 || q.BodyType != sgx.BodyTypeTD15 || !q.TDBody.Is15 {
		t.Fatalf("got v%d body type %d, want v5 TD 1.5", q.Header.Version, q.BodyType)
	}
	if q.TDBody.TEETCBSVN[0] != TDXModuleOutOfDateSVN || q.TDBody.TEETCBSVN2[0] != DefaultTDXModuleSVN {
		t.Errorf("TEE_TCB_SVN %x / SVN2 %x: want the launch SVN, then the current one", q.TDBody.TEETCBSVN, q.TDBody.TEETCBSVN2)
	}
}
