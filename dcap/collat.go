package dcap

import (
	"bytes"
	"cmp"
	"crypto/ecdsa"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"math/big"
	"slices"

	"github.com/sgxops/sgxops/collateral"
)

// verifiedCollateral is a collateral set whose signatures, issuer chains and
// structure have been checked; it does not depend on the verification time
// (windows are checked on every use) nor on a quote.
type verifiedCollateral struct {
	raw collateral.Collateral // private copy, compared on cache hits

	root      *x509.Certificate // the trust anchor every issuer chain ends at
	simulated bool

	tcbInfo    *collateral.TCBInfo    // TCBLevels and module levels sorted highest first
	qeIdentity *collateral.QEIdentity // TCBLevels sorted highest first

	pckCRL       *x509.RevocationList
	pckCRLIssuer *x509.Certificate // the PCK Platform/Processor CA that signed pckCRL
	pckRevoked   map[string]bool   // serial (hex) -> revoked, from pckCRL
	rootRevoked  map[string]bool   // from the Root CA CRL
	// windows are the validity periods of every item and certificate above.
	windows []window
}

func cloneCollateral(c *collateral.Collateral) collateral.Collateral {
	return collateral.Collateral{
		PCKCRLIssuerChain:     bytes.Clone(c.PCKCRLIssuerChain),
		RootCACRL:             bytes.Clone(c.RootCACRL),
		PCKCRL:                bytes.Clone(c.PCKCRL),
		TCBInfoIssuerChain:    bytes.Clone(c.TCBInfoIssuerChain),
		TCBInfo:               bytes.Clone(c.TCBInfo),
		TCBInfoSignature:      bytes.Clone(c.TCBInfoSignature),
		QEIdentityIssuerChain: bytes.Clone(c.QEIdentityIssuerChain),
		QEIdentity:            bytes.Clone(c.QEIdentity),
		QEIdentitySignature:   bytes.Clone(c.QEIdentitySignature),
		PCKCertificateChain:   bytes.Clone(c.PCKCertificateChain),
	}
}

// same reports whether c holds exactly the bytes of e.
func (e *verifiedCollateral) same(c *collateral.Collateral) bool {
	r := &e.raw
	return bytes.Equal(r.TCBInfo, c.TCBInfo) && bytes.Equal(r.TCBInfoSignature, c.TCBInfoSignature) &&
		bytes.Equal(r.QEIdentity, c.QEIdentity) && bytes.Equal(r.QEIdentitySignature, c.QEIdentitySignature) &&
		bytes.Equal(r.RootCACRL, c.RootCACRL) && bytes.Equal(r.PCKCRL, c.PCKCRL) &&
		bytes.Equal(r.TCBInfoIssuerChain, c.TCBInfoIssuerChain) && bytes.Equal(r.QEIdentityIssuerChain, c.QEIdentityIssuerChain) &&
		bytes.Equal(r.PCKCRLIssuerChain, c.PCKCRLIssuerChain) && bytes.Equal(r.PCKCertificateChain, c.PCKCertificateChain)
}

// verifyP256 checks a raw r‖s ECDSA-P256-SHA256 signature.
func verifyP256(pub *ecdsa.PublicKey, msg, sig []byte) bool {
	if len(sig) != 64 {
		return false
	}
	h := sha256.Sum256(msg)
	r := new(big.Int).SetBytes(sig[:32])
	s := new(big.Int).SetBytes(sig[32:])
	return ecdsa.Verify(pub, h[:], r, s)
}

// verifyCollateral checks everything about c that does not depend on the quote
// or the time: issuer chains to a trust anchor, signatures over TCB Info, QE
// Identity and both CRLs, non-revocation of the signers, and the structure of
// TCB Info and QE Identity.
func (vr *Verifier) verifyCollateral(c *collateral.Collateral) (*verifiedCollateral, error) {
	for _, f := range []struct {
		name string
		b    []byte
	}{
		{"TCB Info", c.TCBInfo}, {"TCB Info signature", c.TCBInfoSignature}, {"QE Identity", c.QEIdentity},
		{"QE Identity signature", c.QEIdentitySignature}, {"Root CA CRL", c.RootCACRL}, {"PCK CRL", c.PCKCRL},
	} {
		if len(f.b) == 0 {
			return nil, errf(ReasonCollateralUnavailable, "%s is missing", f.name)
		}
	}
	v := &verifiedCollateral{raw: cloneCollateral(c)}
	c = &v.raw

	// TCB Info: signer chain, then signature over the exact body bytes.
	tcbChain, tcbKey, err := vr.signerChain("TCB Info issuer chain", c.TCBInfoIssuerChain, roleTCBSigning)
	if err != nil {
		return nil, err
	}
	v.root, v.simulated = tcbChain.certs[len(tcbChain.certs)-1], tcbChain.simulated
	if !verifyP256(tcbKey, c.TCBInfo, c.TCBInfoSignature) {
		return nil, errf(ReasonSignatureInvalid, "TCB Info signature does not verify with the TCB Signing key")
	}
	qeChain, qeKey, err := vr.signerChain("QE Identity issuer chain", c.QEIdentityIssuerChain, roleTCBSigning)
	if err != nil {
		return nil, err
	}
	if !qeChain.certs[1].Equal(v.root) {
		return nil, errf(ReasonCollateralInvalid, "QE Identity and TCB Info issuer chains end at different roots")
	}
	if !verifyP256(qeKey, c.QEIdentity, c.QEIdentitySignature) {
		return nil, errf(ReasonSignatureInvalid, "QE Identity signature does not verify with the TCB Signing key")
	}
	crlChain, _, err := vr.signerChain("PCK CRL issuer chain", c.PCKCRLIssuerChain, rolePlatformCA, roleProcessorCA)
	if err != nil {
		return nil, err
	}
	if !crlChain.certs[1].Equal(v.root) {
		return nil, errf(ReasonCollateralInvalid, "PCK CRL and TCB Info issuer chains end at different roots")
	}
	v.pckCRLIssuer = crlChain.certs[0]
	// A simulation-named signer of any item makes the whole set simulated.
	v.simulated = v.simulated || qeChain.simulated || crlChain.simulated

	// CRLs: Root CA CRL signed by the root, PCK CRL by the PCK CA.
	rootCRL, rootRevoked, err := parseCRL("Root CA CRL", c.RootCACRL, v.root)
	if err != nil {
		return nil, err
	}
	pckCRL, pckRevoked, err := parseCRL("PCK CRL", c.PCKCRL, v.pckCRLIssuer)
	if err != nil {
		return nil, err
	}
	v.pckCRL, v.pckRevoked, v.rootRevoked = pckCRL, pckRevoked, rootRevoked
	for _, s := range []*x509.Certificate{tcbChain.certs[0], qeChain.certs[0], v.pckCRLIssuer} {
		if rootRevoked[s.SerialNumber.Text(16)] {
			return nil, errf(ReasonRevoked, "collateral signer %q (serial %x) is revoked by the Root CA CRL", s.Subject.CommonName, s.SerialNumber)
		}
	}

	// Structure.
	if v.tcbInfo, err = collateral.ParseTCBInfo(c.TCBInfo); err != nil {
		if errors.Is(err, collateral.ErrUnsupportedVersion) {
			return nil, wrapf(ReasonUnsupported, err, "TCB Info")
		}
		return nil, wrapf(ReasonCollateralInvalid, err, "TCB Info")
	}
	if v.qeIdentity, err = collateral.ParseQEIdentity(c.QEIdentity); err != nil {
		if errors.Is(err, collateral.ErrUnsupportedVersion) {
			return nil, wrapf(ReasonUnsupported, err, "QE Identity")
		}
		return nil, wrapf(ReasonCollateralInvalid, err, "QE Identity")
	}
	if v.tcbInfo.TCBType != 0 {
		return nil, errf(ReasonUnsupported, "TCB Info tcbType %d (only 0 is defined)", v.tcbInfo.TCBType)
	}
	if err := sortLevels(v.tcbInfo, v.qeIdentity); err != nil {
		return nil, err
	}

	v.windows = []window{
		{what: "TCB Info", notBefore: v.tcbInfo.IssueDate, notAfter: v.tcbInfo.NextUpdate},
		{what: "QE Identity", notBefore: v.qeIdentity.IssueDate, notAfter: v.qeIdentity.NextUpdate},
		{what: "Root CA CRL", notBefore: rootCRL.ThisUpdate, notAfter: rootCRL.NextUpdate},
		{what: "PCK CRL", notBefore: pckCRL.ThisUpdate, notAfter: pckCRL.NextUpdate},
	}
	v.windows = append(v.windows, tcbChain.windows...)
	v.windows = append(v.windows, qeChain.windows...)
	v.windows = append(v.windows, crlChain.windows...)
	return v, nil
}

// sortLevels orders TCB levels highest first the way Intel's QVL does (CPUSVN
// components lexicographically, then PCESVN, then for TDX the TDX components),
// and enclave levels by ISVSVN; equal levels make the collateral invalid.
func sortLevels(ti *collateral.TCBInfo, qe *collateral.QEIdentity) error {
	cmpLevel := func(a, b collateral.TCBLevel) int {
		for i := range a.SGXComponents {
			if c := cmp.Compare(a.SGXComponents[i].SVN, b.SGXComponents[i].SVN); c != 0 {
				return -c
			}
		}
		if c := cmp.Compare(a.PCESVN, b.PCESVN); c != 0 {
			return -c
		}
		for i := range a.TDXComponents {
			if c := cmp.Compare(a.TDXComponents[i].SVN, b.TDXComponents[i].SVN); c != 0 {
				return -c
			}
		}
		return 0
	}
	ti.TCBLevels = slices.Clone(ti.TCBLevels)
	slices.SortStableFunc(ti.TCBLevels, cmpLevel)
	for i := 1; i < len(ti.TCBLevels); i++ {
		if cmpLevel(ti.TCBLevels[i-1], ti.TCBLevels[i]) == 0 {
			return errf(ReasonCollateralInvalid, "TCB Info lists the same TCB level twice")
		}
	}
	sortEnclave := func(what string, ls []collateral.EnclaveTCBLevel) ([]collateral.EnclaveTCBLevel, error) {
		ls = slices.Clone(ls)
		slices.SortStableFunc(ls, func(a, b collateral.EnclaveTCBLevel) int { return -cmp.Compare(a.ISVSVN, b.ISVSVN) })
		for i := 1; i < len(ls); i++ {
			if ls[i-1].ISVSVN == ls[i].ISVSVN {
				return nil, errf(ReasonCollateralInvalid, "%s lists ISVSVN %d twice", what, ls[i].ISVSVN)
			}
		}
		return ls, nil
	}
	var err error
	if qe.TCBLevels, err = sortEnclave("QE Identity", qe.TCBLevels); err != nil {
		return err
	}
	ti.TDXModuleIdentities = slices.Clone(ti.TDXModuleIdentities)
	for i := range ti.TDXModuleIdentities {
		m := &ti.TDXModuleIdentities[i]
		if m.TCBLevels, err = sortEnclave("TDX module identity "+m.ID, m.TCBLevels); err != nil {
			return err
		}
	}
	return nil
}
