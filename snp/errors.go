package snp

import "fmt"

// Reason says why evidence was refused. Values are stable API.
type Reason string

// Reasons.
const (
	ReasonMalformed          Reason = "malformed"           // not parseable, or a must-be-zero field is set
	ReasonMissingCertificate Reason = "missing_certificate" // no VCEK/VLEK for the report's signer in the evidence
	ReasonCertificate        Reason = "certificate_invalid" // VCEK/VLEK does not chain to AMD's roots, or is expired
	ReasonSignature          Reason = "signature_invalid"   // the report is not signed by the VCEK/VLEK
	ReasonTCB                Reason = "tcb_invalid"         // TCB, CHIP_ID or firmware fields inconsistent with the certificate
	ReasonHCLBinding         Reason = "hcl_binding"         // HCL runtime claims do not match REPORT_DATA
)

// Error is a refusal with its Reason.
type Error struct {
	Reason Reason
	Detail string
}

func (e *Error) Error() string { return fmt.Sprintf("snp: %s: %s", e.Reason, e.Detail) }

func errorf(r Reason, format string, args ...any) *Error {
	return &Error{Reason: r, Detail: fmt.Sprintf(format, args...)}
}
