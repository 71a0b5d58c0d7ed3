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
// platform and evaluates its TCB against coll. After checkQuoteShape (one
// body, ECDSA P-256 attestation key, TEE type matching the body) it runs
// these steps, in this order (docs/architecture.md lists the same):
//
//  1. trustedPCKChain: the PCK certificate chain (certification data type 5,
//     or coll.PCKCertificateChain for types 1–4) leads to a trusted root.
//  2. trustedCollateral: TCB Info, QE Identity and both CRLs are signed by
//     certificates that lead to the same root, and the CRLs by their issuers.
//  3. checkQuoteSignatures: the QE report is signed by the PCK key and binds
//     the attestation key (report data = SHA-256(attestation key ‖ QE auth
//     data) ‖ 32 zero bytes); the quote (header ‖ body) is signed by the
//     attestation key; the QE vendor is Intel.
//  4. checkValidity: every certificate, CRL, TCB Info and QE Identity is
//     valid at Options.Now.
//  5. checkRevocation: the PCK CRL is the PCK CA's; neither the PCK CA nor the
//     PCK certificate is revoked.
//  6. checkTCBInfo: TCB Info is for the quote's TEE and the PCK certificate's
//     FMSPC and PCE-ID; for TD quotes the TDX module matches tdxModule /
//     tdxModuleIdentities.
//  7. matchQEIdentity: the QE matches the QE Identity, which gives the QE's
//     TCB status.
//  8. evaluateTCB: the platform's TCB level is matched and the statuses of
//     platform, QE and TDX module converged.
//
// On success it returns the Verdict and a nil error, whatever the TCB status
// except Revoked: a matched level (platform, QE or TDX module) that is Revoked
// returns the Verdict (Status StatusRevoked) together with an error of reason
// ReasonRevoked, so that a caller checking only the error cannot accept it.
// Every other failure returns a nil Verdict and an *Error.
func (v *Verifier) Verify(q *sgx.Quote, coll *collateral.Collateral) (*Verdict, error) {
	if err := checkQuoteShape(q, coll); err != nil {
		return nil, err
	}
	chain, err := v.trustedPCKChain(q, coll)
	if err != nil {
		return nil, err
	}
	vc, err := v.trustedCollateral(coll, chain)
	if err != nil {
		return nil, err
	}
	if err := checkQuoteSignatures(q, chain); err != nil {
		return nil, err
	}
	expiry, err := checkValidity(v.opts.now(), chain, vc)
	if err != nil {
		return nil, err
	}
	if err := checkRevocation(chain, vc); err != nil {
		return nil, err
	}
	if err := checkTCBInfo(q, chain, vc.tcbInfo); err != nil {
		return nil, err
	}
	qeLevel, qeStatus, err := matchQEIdentity(q, vc.qeIdentity)
	if err != nil {
		return nil, err
	}
	tr, err := evaluateTCB(q, chain, vc.tcbInfo, qeLevel, qeStatus)
	if err != nil {
		return nil, err
	}
	return newVerdict(q, chain, vc, tr, qeStatus, expiry)
}

// checkQuoteShape refuses what no step can verify: a missing quote or
// collateral, not exactly one body, a non-P-256 attestation key, or a TEE
// type that does not match the body.
func checkQuoteShape(q *sgx.Quote, coll *collateral.Collateral) error {
	if q == nil {
		return errf(ReasonMalformed, "quote is nil")
	}
	if coll == nil {
		return errf(ReasonCollateralUnavailable, "collateral is nil")
	}
	if (q.SGXBody == nil) == (q.TDBody == nil) {
		return errf(ReasonMalformed, "quote must have exactly one of an SGX and a TD body")
	}
	if q.Header.AttestationKeyType != sgx.AttestationKeyECDSAP256 {
		return errf(ReasonUnsupported, "attestation key type %d", q.Header.AttestationKeyType)
	}
	if q.IsTDX() != (q.Header.TEEType == sgx.TEETypeTDX) {
		return errf(ReasonMalformed, "quote body does not match TEE type 0x%x", q.Header.TEEType)
	}
	return nil
}

// trustedPCKChain is step 1: the quote's PCK chain, verified to a trusted root.
func (v *Verifier) trustedPCKChain(q *sgx.Quote, coll *collateral.Collateral) (*pckChain, error) {
	chainPEM, err := pckChainBytes(q, coll)
	if err != nil {
		return nil, err
	}
	return v.pckChain(chainPEM)
}

// trustedCollateral is step 2: the collateral's signatures and structure,
// under the same root CA as the PCK chain.
func (v *Verifier) trustedCollateral(coll *collateral.Collateral, chain *pckChain) (*verifiedCollateral, error) {
	vc, err := v.collateral(coll)
	if err != nil {
		return nil, err
	}
	if !chain.root.Equal(vc.root) {
		return nil, errf(ReasonCollateralInvalid, "collateral is issued under a different root CA than the PCK certificate")
	}
	return vc, nil
}

// checkQuoteSignatures is step 3: QE report by the PCK key, attestation key
// binding, quote by the attestation key, Intel's QE.
func checkQuoteSignatures(q *sgx.Quote, chain *pckChain) error {
	sig := &q.Signature
	if !verifyP256(chain.leafKey, sig.QEReport.Marshal(), sig.QEReportSignature[:]) {
		return errf(ReasonSignatureInvalid, "QE report signature does not verify with the PCK certificate key")
	}
	h := sha256.New()
	h.Write(sig.AttestationKey[:])
	h.Write(sig.QEAuthData)
	var want [64]byte
	h.Sum(want[:0])
	if subtle.ConstantTimeCompare(want[:], sig.QEReport.ReportData[:]) != 1 {
		return errf(ReasonSignatureInvalid, "QE report data is not SHA-256(attestation key ‖ QE auth data) ‖ zeros: the attestation key is not certified by the QE")
	}
	attKey, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append([]byte{4}, sig.AttestationKey[:]...))
	if err != nil {
		return wrapf(ReasonSignatureInvalid, err, "attestation key")
	}
	if !verifyP256(attKey, q.SignedData(), sig.Signature[:]) {
		return errf(ReasonSignatureInvalid, "quote signature does not verify with the attestation key")
	}
	if q.Header.QEVendorID != sgx.IntelQEVendorID {
		return errf(ReasonUnsupported, "QE vendor ID %x is not Intel's", q.Header.QEVendorID)
	}
	return nil
}

// checkValidity is step 4: every validity window contains now. It returns
// the earliest notAfter (the verdict's CollateralExpiry).
func checkValidity(now time.Time, chain *pckChain, vc *verifiedCollateral) (time.Time, error) {
	expiry := time.Time{}
	for _, ws := range [][]window{chain.windows, vc.windows} {
		for _, w := range ws {
			if err := w.check(now); err != nil {
				return time.Time{}, err
			}
			if expiry.IsZero() || w.notAfter.Before(expiry) {
				expiry = w.notAfter
			}
		}
	}
	return expiry, nil
}

// checkRevocation is step 5: the PCK CRL is the PCK CA's, and neither the PCK
// CA (Root CA CRL) nor the PCK certificate (PCK CRL) is revoked.
func checkRevocation(chain *pckChain, vc *verifiedCollateral) error {
	if !bytes.Equal(chain.leaf.RawIssuer, vc.pckCRL.RawIssuer) ||
		!bytes.Equal(chain.intermediate.RawSubjectPublicKeyInfo, vc.pckCRLIssuer.RawSubjectPublicKeyInfo) {
		return errf(ReasonCollateralInvalid, "PCK CRL is from %q, the PCK certificate is issued by %q", vc.pckCRL.Issuer.CommonName, chain.leaf.Issuer.CommonName)
	}
	if vc.rootRevoked[chain.interSerial] {
		return errf(ReasonRevoked, "PCK CA certificate %q (serial %s) is revoked by the Root CA CRL", chain.intermediate.Subject.CommonName, chain.interSerial)
	}
	if vc.pckRevoked[chain.leafSerial] {
		return errf(ReasonRevoked, "PCK certificate (serial %s) is revoked by the PCK CRL", chain.leafSerial)
	}
	return nil
}

// checkTCBInfo is step 6: TCB Info applies to this quote's TEE and platform
// (FMSPC, PCE-ID) and, for TD quotes, to its TDX module.
func checkTCBInfo(q *sgx.Quote, chain *pckChain, ti *collateral.TCBInfo) error {
	wantID := collateral.TCBInfoIDSGX
	if q.IsTDX() {
		wantID = collateral.TCBInfoIDTDX
	}
	if ti.ID != wantID {
		return errf(ReasonCollateralInvalid, "TCB Info is for %s, the quote is %s", ti.ID, wantID)
	}
	if ti.FMSPC != chain.ext.FMSPC {
		return errf(ReasonFMSPCMismatch, "TCB Info is for FMSPC %x, the PCK certificate has %x", ti.FMSPC, chain.ext.FMSPC)
	}
	if ti.PCEID != chain.ext.PCEID {
		return errf(ReasonFMSPCMismatch, "TCB Info is for PCE-ID %x, the PCK certificate has %x", ti.PCEID, chain.ext.PCEID)
	}
	if q.IsTDX() {
		return checkTDXModule(ti, q.TDBody)
	}
	return nil
}

// matchQEIdentity is step 7: the QE Identity is for this TEE's QE, and the
// quote's QE report matches it; the matched level gives the QE's status.
func matchQEIdentity(q *sgx.Quote, id *collateral.QEIdentity) (*collateral.EnclaveTCBLevel, Status, error) {
	wantQE := collateral.QEIdentityIDSGX
	if q.IsTDX() {
		wantQE = collateral.QEIdentityIDTDX
	}
	if id.ID != wantQE {
		return nil, 0, errf(ReasonCollateralInvalid, "QE Identity is for %s, the quote needs %s", id.ID, wantQE)
	}
	return matchQE(id, &q.Signature.QEReport)
}

// evaluateTCB is step 8: the platform's TCB level (and TDX module's) is
// matched and the statuses of platform, QE and module converged.
func evaluateTCB(q *sgx.Quote, chain *pckChain, ti *collateral.TCBInfo, qeLevel *collateral.EnclaveTCBLevel, qeStatus Status) (*tcbResult, error) {
	tr, err := matchTCB(ti, chain.ext, q, qeStatus)
	if err != nil {
		return nil, err
	}
	tr.addEnclaveLevel(qeLevel)
	return tr, nil
}

// newVerdict assembles the verdict of a verified quote; a Revoked status comes
// with a ReasonRevoked error (see Verify).
func newVerdict(q *sgx.Quote, chain *pckChain, vc *verifiedCollateral, tr *tcbResult, qeStatus Status, expiry time.Time) (*Verdict, error) {
	ti := vc.tcbInfo
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
	if q.IsTDX() {
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
