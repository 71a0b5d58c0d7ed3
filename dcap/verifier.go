package dcap

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"encoding/hex"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sgxops/sgxops/collateral"
	"github.com/sgxops/sgxops/sgx"
)

// Verifier verifies quotes and caches what does not change between quotes:
// verified PCK certificate chains (keyed by the exact chain bytes) and
// verified collateral sets (keyed by their exact bytes). Only the two
// per-quote ECDSA verifications (QE report and quote signature) and cheap
// comparisons run for a quote whose chain and collateral were seen before.
// Time-dependent checks (validity windows) run on every call. A Verifier is
// safe for concurrent use.
type Verifier struct {
	opts    Options
	anchors []anchor
	max     int

	mu      sync.RWMutex
	chains  map[string]*pckChain
	signers map[string]*signerChain        // collateral issuer chains, keyed by PEM and wanted CNs
	colls   map[string]*verifiedCollateral // keyed by TCB Info bytes
}

// signerChain is a verified collateral issuer chain and its signer's key.
type signerChain struct {
	*trustedChain
	key *ecdsa.PublicKey
}

// NewVerifier returns a Verifier with a copy of opts.
func NewVerifier(opts Options) *Verifier {
	v := &Verifier{opts: opts, anchors: opts.anchors(), max: opts.MaxCacheEntries}
	if v.max <= 0 {
		v.max = defaultMaxCacheEntries
	}
	v.chains = map[string]*pckChain{}
	v.signers = map[string]*signerChain{}
	v.colls = map[string]*verifiedCollateral{}
	return v
}

// Verify verifies q against coll with a fresh Verifier; see (*Verifier).Verify.
// Use NewVerifier to verify many quotes with the same collateral quickly.
func Verify(q *sgx.Quote, coll *collateral.Collateral, opts Options) (*Verdict, error) {
	return NewVerifier(opts).Verify(q, coll)
}

// Verify checks that q is an authentic quote from a genuine Intel SGX/TDX
// platform and evaluates its TCB against coll, in the order of Intel's QVL:
//
//   - the PCK certificate chain (from certification data type 5, or
//     coll.PCKCertificateChain for types 1–4) leads to a trusted root;
//   - TCB Info, QE Identity and both CRLs are signed by certificates that lead
//     to the same root, and the CRLs by their issuers;
//   - the QE report is signed by the PCK key, binds the attestation key
//     (report data = SHA-256(attestation key ‖ QE auth data) ‖ 32 zero bytes),
//     and the quote (header ‖ body) is signed by the attestation key;
//   - every certificate, CRL, TCB Info and QE Identity is valid at Options.Now;
//   - neither the PCK CA nor the PCK certificate is revoked;
//   - TCB Info is for the quote's TEE and the PCK certificate's FMSPC and PCE-ID;
//     for TD quotes the TDX module matches tdxModule / tdxModuleIdentities;
//   - the QE matches the QE Identity, which gives the QE's TCB status;
//   - the platform's TCB level is matched and the statuses converged.
//
// On success it returns the Verdict and a nil error, whatever the TCB status
// except Revoked: a matched level (platform, QE or TDX module) that is Revoked
// returns the Verdict (Status StatusRevoked) together with an error of reason
// ReasonRevoked, so that a caller checking only the error cannot accept it.
// Every other failure returns a nil Verdict and an *Error.
func (v *Verifier) Verify(q *sgx.Quote, coll *collateral.Collateral) (*Verdict, error) {
	if q == nil {
		return nil, errf(ReasonMalformed, "quote is nil")
	}
	if coll == nil {
		return nil, errf(ReasonCollateralUnavailable, "collateral is nil")
	}
	if (q.SGXBody == nil) == (q.TDBody == nil) {
		return nil, errf(ReasonMalformed, "quote must have exactly one of an SGX and a TD body")
	}
	if q.Header.AttestationKeyType != sgx.AttestationKeyECDSAP256 {
		return nil, errf(ReasonUnsupported, "attestation key type %d", q.Header.AttestationKeyType)
	}
	tdx := q.IsTDX()
	if tdx != (q.Header.TEEType == sgx.TEETypeTDX) {
		return nil, errf(ReasonMalformed, "quote body does not match TEE type 0x%x", q.Header.TEEType)
	}

	// 1. PCK certificate chain.
	chainPEM, err := pckChainBytes(q, coll)
	if err != nil {
		return nil, err
	}
	chain, err := v.pckChain(chainPEM)
	if err != nil {
		return nil, err
	}

	// 2. Collateral signatures and structure.
	vc, err := v.collateral(coll)
	if err != nil {
		return nil, err
	}
	if !chain.root.Equal(vc.root) {
		return nil, errf(ReasonCollateralInvalid, "collateral is issued under a different root CA than the PCK certificate")
	}

	// 3. Quote signatures: QE report by the PCK key, attestation key binding,
	// quote by the attestation key.
	sig := &q.Signature
	if !verifyP256(chain.leafKey, sig.QEReport.Marshal(), sig.QEReportSignature[:]) {
		return nil, errf(ReasonSignatureInvalid, "QE report signature does not verify with the PCK certificate key")
	}
	h := sha256.New()
	h.Write(sig.AttestationKey[:])
	h.Write(sig.QEAuthData)
	var want [64]byte
	h.Sum(want[:0])
	if subtle.ConstantTimeCompare(want[:], sig.QEReport.ReportData[:]) != 1 {
		return nil, errf(ReasonSignatureInvalid, "QE report data is not SHA-256(attestation key ‖ QE auth data) ‖ zeros: the attestation key is not certified by the QE")
	}
	attKey, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append([]byte{4}, sig.AttestationKey[:]...))
	if err != nil {
		return nil, wrapf(ReasonSignatureInvalid, err, "attestation key")
	}
	if !verifyP256(attKey, q.SignedData(), sig.Signature[:]) {
		return nil, errf(ReasonSignatureInvalid, "quote signature does not verify with the attestation key")
	}
	if q.Header.QEVendorID != sgx.IntelQEVendorID {
		return nil, errf(ReasonUnsupported, "QE vendor ID %x is not Intel's", q.Header.QEVendorID)
	}

	// 4. Validity windows at the verification time.
	now := v.opts.now()
	expiry := time.Time{}
	for _, ws := range [][]window{chain.windows, vc.windows} {
		for _, w := range ws {
			if err := w.check(now); err != nil {
				return nil, err
			}
			if expiry.IsZero() || w.notAfter.Before(expiry) {
				expiry = w.notAfter
			}
		}
	}

	// 5. Revocation of the PCK CA (Root CA CRL) and the PCK certificate (PCK CRL).
	if !bytes.Equal(chain.leaf.RawIssuer, vc.pckCRL.RawIssuer) ||
		!bytes.Equal(chain.intermediate.RawSubjectPublicKeyInfo, vc.pckCRLIssuer.RawSubjectPublicKeyInfo) {
		return nil, errf(ReasonCollateralInvalid, "PCK CRL is from %q, the PCK certificate is issued by %q", vc.pckCRL.Issuer.CommonName, chain.leaf.Issuer.CommonName)
	}
	if vc.rootRevoked[chain.interSerial] {
		return nil, errf(ReasonRevoked, "PCK CA certificate %q (serial %s) is revoked by the Root CA CRL", chain.intermediate.Subject.CommonName, chain.interSerial)
	}
	if vc.pckRevoked[chain.leafSerial] {
		return nil, errf(ReasonRevoked, "PCK certificate (serial %s) is revoked by the PCK CRL", chain.leafSerial)
	}

	// 6. TCB Info applies to this quote and platform.
	ti := vc.tcbInfo
	wantID, wantQE := collateral.TCBInfoIDSGX, collateral.QEIdentityIDSGX
	if tdx {
		wantID, wantQE = collateral.TCBInfoIDTDX, collateral.QEIdentityIDTDX
	}
	if ti.ID != wantID {
		return nil, errf(ReasonCollateralInvalid, "TCB Info is for %s, the quote is %s", ti.ID, wantID)
	}
	if ti.FMSPC != chain.ext.FMSPC {
		return nil, errf(ReasonFMSPCMismatch, "TCB Info is for FMSPC %x, the PCK certificate has %x", ti.FMSPC, chain.ext.FMSPC)
	}
	if ti.PCEID != chain.ext.PCEID {
		return nil, errf(ReasonFMSPCMismatch, "TCB Info is for PCE-ID %x, the PCK certificate has %x", ti.PCEID, chain.ext.PCEID)
	}
	if tdx {
		if err := checkTDXModule(ti, q.TDBody); err != nil {
			return nil, err
		}
	}

	// 7. QE Identity.
	if vc.qeIdentity.ID != wantQE {
		return nil, errf(ReasonCollateralInvalid, "QE Identity is for %s, the quote needs %s", vc.qeIdentity.ID, wantQE)
	}
	qeLevel, qeStatus, err := matchQE(vc.qeIdentity, &sig.QEReport)
	if err != nil {
		return nil, err
	}

	// 8. TCB levels and status convergence.
	tr, err := matchTCB(ti, chain.ext, q, qeStatus)
	if err != nil {
		return nil, err
	}
	tr.addEnclaveLevel(qeLevel)

	vd := &Verdict{
		TEE:                     TEESGX,
		Status:                  tr.status,
		AdvisoryIDs:             tr.advisories(),
		TCBDate:                 tr.tcbDate,
		QEStatus:                qeStatus,
		PlatformStatus:          tr.platform,
		TDXModuleStatus:         tr.module,
		TCBEvaluationDataNumber: ti.TCBEvaluationDataNumber,
		CollateralExpiry:        expiry,
		FMSPC:                   hex.EncodeToString(chain.ext.FMSPC[:]),
		PCEID:                   hex.EncodeToString(chain.ext.PCEID[:]),
		PCKCA:                   chain.ca,
		QESVN:                   q.Header.QESVN,
		PCESVN:                  q.Header.PCESVN,
		ReportData:              q.ReportData(),
		Simulated:               chain.simulated || vc.simulated,
	}
	if tdx {
		body := *q.TDBody
		vd.TEE, vd.TD, vd.Debug = TEETDX, &body, body.TDDebug()
	} else {
		body := *q.SGXBody
		vd.SGX, vd.Debug = &body, body.Attributes.Debug()
	}
	if vd.Status == StatusRevoked {
		return vd, errf(ReasonRevoked, "TCB status is Revoked (platform %v, QE %v)", tr.platform, qeStatus)
	}
	return vd, nil
}

// pckChainBytes returns the PEM PCK chain for q: from certification data type
// 5, or from the collateral for types 1–4.
func pckChainBytes(q *sgx.Quote, coll *collateral.Collateral) ([]byte, error) {
	cd := q.Signature.CertData
	switch cd.Type {
	case sgx.CertPCKChain:
		return cd.Data, nil
	case sgx.CertPPIDCleartext, sgx.CertPPIDRSA2048, sgx.CertPPIDRSA3072, sgx.CertPCKLeaf:
		if len(bytes.TrimSpace(coll.PCKCertificateChain)) == 0 {
			return nil, errf(ReasonCollateralUnavailable, "quote carries certification data type %d (%v); the PCK certificate chain must come with the collateral", cd.Type, cd.Type)
		}
		return coll.PCKCertificateChain, nil
	}
	return nil, errf(ReasonUnsupported, "certification data type %d (%v)", cd.Type, cd.Type)
}

// digestKey is a cache key of fixed size: SHA-256 over the length-prefixed
// parts. Chains and collateral come from untrusted requests (the quote
// signature does not cover the certification data), so keys must not grow
// with what an attacker sends.
func digestKey(parts ...[]byte) string {
	h := sha256.New()
	var n [8]byte
	for _, p := range parts {
		binary.BigEndian.PutUint64(n[:], uint64(len(p)))
		h.Write(n[:])
		h.Write(p)
	}
	return string(h.Sum(nil))
}

// pckChain returns the verified chain for pemChain, from the cache if possible.
func (v *Verifier) pckChain(pemChain []byte) (*pckChain, error) {
	v.mu.RLock()
	key := digestKey(pemChain)
	c := v.chains[key]
	v.mu.RUnlock()
	if c != nil {
		return c, nil
	}
	c, err := verifyPCKChain(pemChain, v.anchors)
	if err != nil {
		return nil, err
	}
	v.mu.Lock()
	if len(v.chains) >= v.max {
		clear(v.chains)
	}
	v.chains[key] = c
	v.mu.Unlock()
	return c, nil
}

// collateral returns the verified form of c, from the cache if an entry holds
// exactly the same bytes.
func (v *Verifier) collateral(c *collateral.Collateral) (*verifiedCollateral, error) {
	v.mu.RLock()
	e := v.colls[digestKey(c.TCBInfo)]
	v.mu.RUnlock()
	if e != nil && e.same(c) {
		return e, nil
	}
	e, err := v.verifyCollateral(c)
	if err != nil {
		return nil, err
	}
	v.mu.Lock()
	if len(v.colls) >= v.max {
		clear(v.colls)
	}
	v.colls[digestKey(e.raw.TCBInfo)] = e
	v.mu.Unlock()
	return e, nil
}

// signerChain returns the verified issuer chain of a collateral item, from the
// cache if possible (every TCB Info and QE Identity shares the TCB Signing chain).
func (v *Verifier) signerChain(what string, pemChain []byte, wantCN ...string) (*trustedChain, *ecdsa.PublicKey, error) {
	key := digestKey(pemChain, []byte(strings.Join(wantCN, "\x00")))
	v.mu.RLock()
	e := v.signers[key]
	v.mu.RUnlock()
	if e != nil {
		return e.trustedChain, e.key, nil
	}
	tc, pub, err := verifySignerChain(what, pemChain, v.anchors, wantCN...)
	if err != nil {
		return nil, nil, err
	}
	v.mu.Lock()
	if len(v.signers) >= v.max {
		clear(v.signers)
	}
	v.signers[key] = &signerChain{trustedChain: tc, key: pub}
	v.mu.Unlock()
	return tc, pub, nil
}

// tcbResult collects the matched levels and statuses.
type tcbResult struct {
	status, platform, module Status
	tcbDate                  time.Time
	ids                      []string
}

func (r *tcbResult) addDate(t time.Time) {
	if r.tcbDate.IsZero() || t.Before(r.tcbDate) {
		r.tcbDate = t
	}
}

func (r *tcbResult) addLevel(l *collateral.TCBLevel) {
	r.addDate(l.TCBDate)
	r.ids = append(r.ids, l.AdvisoryIDs...)
}

func (r *tcbResult) addEnclaveLevel(l *collateral.EnclaveTCBLevel) {
	r.addDate(l.TCBDate)
	r.ids = append(r.ids, l.AdvisoryIDs...)
}

// advisories returns the sorted, de-duplicated advisory IDs (never nil).
func (r *tcbResult) advisories() []string {
	ids := slices.Clone(r.ids)
	slices.Sort(ids)
	ids = slices.Compact(ids)
	if ids == nil {
		ids = []string{}
	}
	return ids
}
