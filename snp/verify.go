package snp

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"time"

	"github.com/google/go-sev-guest/abi"
	"github.com/google/go-sev-guest/kds"
	spb "github.com/google/go-sev-guest/proto/sevsnp"
	"github.com/google/go-sev-guest/validate"
	"github.com/google/go-sev-guest/verify"
)

// Options configure Verify. The zero value is the strict default.
type Options struct {
	// Now is the time certificates are checked at. Zero: time.Now().
	Now time.Time
	// RequireCommittedFirmware refuses a report whose COMMITTED_TCB is below
	// its CURRENT_TCB (firmware loaded but not committed). False: committed
	// may be below current, as on Azure, where microcode is loaded at boot
	// and the real reports in the corpus show committed < current; the
	// certificate's TCB must still equal REPORTED_TCB and not exceed current.
	RequireCommittedFirmware bool
}

// Verdict is a verified report.
type Verdict struct {
	Report *spb.Report
	// Signer is "VCEK" or "VLEK"; ProductLine e.g. "Milan", "Genoa".
	Signer      string
	ProductLine string
	// Policy is the parsed guest policy.
	Policy abi.SnpPolicy
	// ReportedTCB is the TCB the VEK certificate was issued for.
	ReportedTCB kds.TCBParts
	// CertNotAfter is the VEK certificate's expiry.
	CertNotAfter time.Time
	// RuntimeClaims are the HCL runtime claims (nil without HCL), bound to
	// REPORT_DATA[0:32].
	RuntimeClaims []byte
}

// Hex returns b as lowercase hex.
func Hex(b []byte) string { return hex.EncodeToString(b) }

// Verify authenticates ev in this order: the VEK certificate chain to AMD's
// embedded roots (at opts.Now), the report signature, the TCB and CHIP_ID
// against the certificate, then the HCL binding.
func Verify(ev *Evidence, opts Options) (*Verdict, error) {
	now := opts.Now
	if now.IsZero() {
		now = time.Now()
	}
	rep, err := abi.ReportToProto(ev.Report)
	if err != nil {
		return nil, errorf(ReasonMalformed, "report: %v", err)
	}
	info, err := abi.ParseSignerInfo(rep.GetSignerInfo())
	if err != nil {
		return nil, errorf(ReasonMalformed, "signer info: %v", err)
	}
	vek := findVEK(ev.Certs, info.SigningKey)
	if vek == nil {
		return nil, errorf(ReasonMissingCertificate, "the evidence has no %v certificate", info.SigningKey)
	}
	chain := &spb.CertificateChain{Extras: map[string][]byte{}}
	switch info.SigningKey {
	case abi.VcekReportSigner:
		chain.VcekCert = vek.Raw
	case abi.VlekReportSigner:
		chain.VlekCert = vek.Raw
	default:
		return nil, errorf(ReasonMalformed, "report signed by %v, want VCEK or VLEK", info.SigningKey)
	}
	att := &spb.Attestation{Report: rep, CertificateChain: chain}
	roots, err := amdRoots()
	if err != nil {
		return nil, err
	}
	vopts := &verify.Options{DisableCertFetching: true, Now: now, TrustedRoots: roots}
	if err := verify.SnpAttestation(att, vopts); err != nil {
		// Tell a bad signature from a bad certificate: does the key the
		// certificate names sign this report?
		if serr := verify.SnpReportSignature(ev.Report, vek); serr != nil {
			return nil, errorf(ReasonSignature, "%v", serr)
		}
		return nil, errorf(ReasonCertificate, "%v", err)
	}
	pol, err := abi.ParseSnpPolicy(rep.GetPolicy())
	if err != nil {
		return nil, errorf(ReasonMalformed, "guest policy: %v", err)
	}
	// Policy bits are for the caller: allow every capability here, check the TCB.
	vo := &validate.Options{
		GuestPolicy:               abi.SnpPolicy{SMT: true, MigrateMA: true, Debug: true, CXLAllowed: true},
		PermitProvisionalFirmware: !opts.RequireCommittedFirmware,
	}
	if err := validate.SnpAttestation(att, vo); err != nil {
		return nil, errorf(ReasonTCB, "%v", err)
	}
	v := &Verdict{
		Report: rep, Signer: "VCEK", Policy: pol,
		ReportedTCB: kds.DecomposeTCBVersion(kds.TCBVersion(rep.GetReportedTcb())), CertNotAfter: vek.NotAfter,
	}
	if info.SigningKey == abi.VlekReportSigner {
		v.Signer = "VLEK"
	}
	if len(vek.Issuer.CommonName) > 4 {
		v.ProductLine = productLine(vek.Issuer.CommonName)
	}
	if ev.HCL != nil {
		if ev.HCL.HashType != hclHashSHA256 {
			return nil, errorf(ReasonHCLBinding, "HCL hash type %d is not SHA-256 (%d)", ev.HCL.HashType, hclHashSHA256)
		}
		sum := sha256.Sum256(ev.HCL.RuntimeClaims)
		if !bytes.Equal(sum[:], rep.GetReportData()[:32]) {
			return nil, errorf(ReasonHCLBinding, "SHA-256 of the HCL runtime claims %x is not REPORT_DATA[0:32] %x", sum[:], rep.GetReportData()[:32])
		}
		v.RuntimeClaims = ev.HCL.RuntimeClaims
	}
	return v, nil
}

// findVEK returns the first certificate whose subject is a VCEK or VLEK
// (CN "SEV-VCEK" / "SEV-VLEK"), matching the report's signer.
func findVEK(certs []*x509.Certificate, key abi.ReportSigner) *x509.Certificate {
	want := "SEV-VCEK"
	if key == abi.VlekReportSigner {
		want = "SEV-VLEK"
	}
	for _, c := range certs {
		if c.Subject.CommonName == want {
			return c
		}
	}
	return nil
}

// productLine reads "Milan" from an issuer CN like "SEV-Milan" or "SEV-VLEK-Milan".
func productLine(cn string) string {
	if i := bytes.LastIndexByte([]byte(cn), '-'); i >= 0 {
		return cn[i+1:]
	}
	return cn
}
