package dcap

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/sgxops/sgxops/internal/pemcert"
)

// Certificate roles, named by Intel's subject common names without the vendor
// prefix: Intel's certificates are "Intel " + role; those of sgxops's simulated
// platform (package sim) are "sgxops SIMULATED " + role. A chain holding a
// simulation-named certificate is reported as simulated whatever root it ends
// at (a production root never issues such names).
const (
	roleRoot        = "SGX Root CA"
	rolePCKLeaf     = "SGX PCK Certificate"
	rolePlatformCA  = "SGX PCK Platform CA"
	roleProcessorCA = "SGX PCK Processor CA"
	roleTCBSigning  = "SGX TCB Signing"

	intelNamePrefix = "Intel "
	simNamePrefix   = "sgxops SIMULATED "
)

// roleOf returns the role named by a subject common name, and whether the name
// is a simulation one; "" for any other name.
func roleOf(cn string) (role string, simulated bool) {
	if r, ok := strings.CutPrefix(cn, intelNamePrefix); ok {
		return r, false
	}
	if r, ok := strings.CutPrefix(cn, simNamePrefix); ok {
		return r, true
	}
	return "", false
}

// pckCAName returns "platform" or "processor" for the issuer CN of a PCK
// certificate, "" for anything else.
func pckCAName(issuerCN string) string {
	switch r, _ := roleOf(issuerCN); r {
	case rolePlatformCA:
		return "platform"
	case roleProcessorCA:
		return "processor"
	}
	return ""
}

// maxChainPEM bounds the PEM chains accepted from quotes and collateral.
const maxChainPEM = 64 << 10

// parsePEMChain decodes concatenated PEM certificates. Trailing NUL bytes and
// whitespace are allowed (quotes pad the chain); anything else is an error.
func parsePEMChain(what string, b []byte) ([]*x509.Certificate, error) {
	if len(b) > maxChainPEM {
		return nil, errf(ReasonChainInvalid, "%s is %d bytes, more than %d", what, len(b), maxChainPEM)
	}
	certs, err := pemcert.Parse(b)
	if err != nil {
		return nil, wrapf(ReasonChainInvalid, err, "%s", what)
	}
	return certs, nil
}

// window is a validity period of one collateral item or certificate.
type window struct {
	what      string
	notBefore time.Time
	notAfter  time.Time
}

func certWindow(what string, c *x509.Certificate) window {
	return window{what: fmt.Sprintf("%s %q", what, c.Subject.CommonName), notBefore: c.NotBefore, notAfter: c.NotAfter}
}

// check returns a ReasonCollateralExpired error if now is outside w.
func (w window) check(now time.Time) error {
	if now.Before(w.notBefore) {
		return errf(ReasonCollateralExpired, "%s is not valid before %s (verification time %s)",
			w.what, w.notBefore.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	if now.After(w.notAfter) {
		return errf(ReasonCollateralExpired, "%s expired at %s (verification time %s)",
			w.what, w.notAfter.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	return nil
}

// trustedChain is a certificate chain verified up to a trust anchor,
// independent of time: signatures, CA constraints and names. Validity windows
// are checked on every use (windows).
type trustedChain struct {
	certs     []*x509.Certificate // leaf first, trust anchor last
	simulated bool
	windows   []window
}

// verifyToAnchor verifies leaf up to one of the anchors, through the other
// presented certificates, and checks that the chain has wantLen certificates.
// Every presented certificate must be part of the verified path (a presented
// copy of the root must be the trusted root itself), as Intel's QVL requires.
// Chain building uses the leaf's own NotBefore as the reference time so that
// the result does not depend on the verification time; the caller checks every
// certificate's validity window against the verification time.
func verifyToAnchor(what string, leaf *x509.Certificate, others []*x509.Certificate, anchors []anchor, wantLen int) (*trustedChain, error) {
	inter := x509.NewCertPool()
	for _, c := range others {
		inter.AddCert(c)
	}
	var firstErr error
	for _, a := range anchors {
		chains, err := leaf.Verify(x509.VerifyOptions{
			Roots:         a.pool,
			Intermediates: inter,
			CurrentTime:   leaf.NotBefore,
			KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
		})
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
	chains:
		for _, ch := range chains {
			if len(ch) != wantLen {
				continue
			}
			for _, o := range others {
				if !slices.ContainsFunc(ch, o.Equal) {
					continue chains
				}
			}
			tc := &trustedChain{certs: ch, simulated: a.simulated}
			for i, c := range ch {
				if _, sim := roleOf(c.Subject.CommonName); sim {
					tc.simulated = true
				}
				role := what
				switch {
				case i == len(ch)-1:
					role = "root CA certificate"
				case i > 0:
					role = "intermediate CA certificate"
				}
				tc.windows = append(tc.windows, certWindow(role, c))
			}
			return tc, nil
		}
		if firstErr == nil {
			firstErr = fmt.Errorf("no path of %d certificates uses every presented certificate", wantLen)
		}
	}
	return nil, wrapf(ReasonChainInvalid, firstErr, "%s does not chain to a trusted root", what)
}

// ecdsaP256Key returns the P-256 ECDSA public key of c.
func ecdsaP256Key(c *x509.Certificate) (*ecdsa.PublicKey, error) {
	k, ok := c.PublicKey.(*ecdsa.PublicKey)
	if !ok || k.Curve != elliptic.P256() {
		return nil, fmt.Errorf("certificate %q has a %v key, want ECDSA P-256", c.Subject.CommonName, c.PublicKeyAlgorithm)
	}
	return k, nil
}

// pckChain is a verified PCK certificate chain with the leaf's SGX extension.
type pckChain struct {
	*trustedChain
	leaf, intermediate, root *x509.Certificate
	leafKey                  *ecdsa.PublicKey
	ext                      *PCKExtensions
	ca                       string // "processor" or "platform"
	leafSerial, interSerial  string // hex, for CRL lookups
}

// verifyPCKChain parses and verifies a PCK certificate chain (PEM, leaf first).
func verifyPCKChain(pemChain []byte, anchors []anchor) (*pckChain, error) {
	certs, err := parsePEMChain("PCK certificate chain", pemChain)
	if err != nil {
		return nil, err
	}
	leaf := certs[0]
	if r, _ := roleOf(leaf.Subject.CommonName); r != rolePCKLeaf {
		return nil, errf(ReasonChainInvalid, "PCK chain leaf is %q, not an %q", leaf.Subject.CommonName, intelNamePrefix+rolePCKLeaf)
	}
	ca := pckCAName(leaf.Issuer.CommonName)
	if ca == "" {
		return nil, errf(ReasonChainInvalid, "PCK certificate issuer %q is neither %q nor %q",
			leaf.Issuer.CommonName, intelNamePrefix+rolePlatformCA, intelNamePrefix+roleProcessorCA)
	}
	key, err := ecdsaP256Key(leaf)
	if err != nil {
		return nil, wrapf(ReasonChainInvalid, err, "PCK certificate")
	}
	tc, err := verifyToAnchor("PCK certificate", leaf, certs[1:], anchors, 3)
	if err != nil {
		return nil, err
	}
	inter, root := tc.certs[1], tc.certs[2]
	if inter.Subject.CommonName != leaf.Issuer.CommonName {
		return nil, errf(ReasonChainInvalid, "PCK chain intermediate is %q, want %q", inter.Subject.CommonName, leaf.Issuer.CommonName)
	}
	ext, err := PCKCertificateExtensions(leaf)
	if err != nil {
		return nil, err
	}
	return &pckChain{
		trustedChain: tc, leaf: leaf, intermediate: inter, root: root, leafKey: key, ext: ext, ca: ca,
		leafSerial: leaf.SerialNumber.Text(16), interSerial: inter.SerialNumber.Text(16),
	}, nil
}

// verifySignerChain verifies an issuer chain of collateral (PEM: signer first,
// then the root) and returns it with the signer's key. wantRole lists the
// acceptable roles of the signer.
func verifySignerChain(what string, pemChain []byte, anchors []anchor, wantRole ...string) (*trustedChain, *ecdsa.PublicKey, error) {
	if len(bytes.TrimSpace(pemChain)) == 0 {
		return nil, nil, errf(ReasonCollateralUnavailable, "%s is missing", what)
	}
	certs, err := parsePEMChain(what, pemChain)
	if err != nil {
		return nil, nil, err
	}
	// Intel serves the signer first; accept any order but exactly one signer.
	var signer *x509.Certificate
	var others []*x509.Certificate
	for _, c := range certs {
		if r, _ := roleOf(c.Subject.CommonName); slices.Contains(wantRole, r) {
			if signer != nil {
				return nil, nil, errf(ReasonChainInvalid, "%s holds two %q certificates", what, c.Subject.CommonName)
			}
			signer = c
			continue
		}
		others = append(others, c)
	}
	if signer == nil {
		return nil, nil, errf(ReasonChainInvalid, "%s holds no %q certificate", what, wantRole)
	}
	key, err := ecdsaP256Key(signer)
	if err != nil {
		return nil, nil, wrapf(ReasonChainInvalid, err, "%s", what)
	}
	tc, err := verifyToAnchor("collateral signing certificate", signer, others, anchors, 2)
	if err != nil {
		return nil, nil, err
	}
	return tc, key, nil
}

// parseCRL parses a DER CRL, checks its issuer name and signature against
// issuer, and indexes its revoked serial numbers.
func parseCRL(what string, der []byte, issuer *x509.Certificate) (*x509.RevocationList, map[string]bool, error) {
	if len(der) == 0 {
		return nil, nil, errf(ReasonCollateralUnavailable, "%s is missing", what)
	}
	crl, err := x509.ParseRevocationList(der)
	if err != nil {
		return nil, nil, wrapf(ReasonCollateralInvalid, err, "%s", what)
	}
	if !bytes.Equal(crl.RawIssuer, issuer.RawSubject) {
		return nil, nil, errf(ReasonCollateralInvalid, "%s is issued by %q, want %q", what, crl.Issuer.CommonName, issuer.Subject.CommonName)
	}
	if err := crl.CheckSignatureFrom(issuer); err != nil {
		var ce x509.ConstraintViolationError
		if errors.As(err, &ce) {
			return nil, nil, wrapf(ReasonChainInvalid, err, "%s issuer", what)
		}
		return nil, nil, wrapf(ReasonSignatureInvalid, err, "%s signature", what)
	}
	if crl.NextUpdate.IsZero() {
		return nil, nil, errf(ReasonCollateralInvalid, "%s has no nextUpdate", what)
	}
	revoked := make(map[string]bool, len(crl.RevokedCertificateEntries))
	for _, e := range crl.RevokedCertificateEntries {
		if e.SerialNumber != nil {
			revoked[e.SerialNumber.Text(16)] = true
		}
	}
	return crl, revoked, nil
}
