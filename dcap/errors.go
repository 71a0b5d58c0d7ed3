package dcap

import "fmt"

// Reason classifies why verification failed. Its String form is a stable,
// machine-readable code (used in CLI and service JSON output).
type Reason int

// The reasons. Signatures that fail to verify are ReasonSignatureInvalid
// wherever they are (quote, QE report, TCB Info, QE Identity, CRLs); a
// certificate that does not chain to a trusted root is ReasonChainInvalid;
// collateral that is authentic but unusable (wrong TEE, unparsable, another
// issuer) is ReasonCollateralInvalid; every validity window (certificates,
// CRLs, TCB Info, QE Identity) that does not contain the verification time is
// ReasonCollateralExpired.
const (
	reasonNone Reason = iota
	// ReasonMalformed: the quote or an argument is malformed (nil, truncated, bad PEM in the quote).
	ReasonMalformed
	// ReasonSignatureInvalid: a signature does not verify, or the attestation key is not
	// bound to the QE report.
	ReasonSignatureInvalid
	// ReasonChainInvalid: a certificate chain does not lead to a trusted root, or a
	// certificate is not the kind Intel issues at that position.
	ReasonChainInvalid
	// ReasonRevoked: a certificate is revoked by a CRL, or the matched TCB level is Revoked
	// (then Verify also returns the Verdict).
	ReasonRevoked
	// ReasonCollateralUnavailable: a required collateral item is missing.
	ReasonCollateralUnavailable
	// ReasonCollateralExpired: the verification time is outside the validity window of
	// a certificate, CRL, TCB Info or QE Identity.
	ReasonCollateralExpired
	// ReasonCollateralInvalid: collateral is malformed or does not fit the quote
	// (TCB Info or QE Identity for the other TEE, CRL from another issuer).
	ReasonCollateralInvalid
	// ReasonNoMatchingTCBLevel: no TCB level of TCB Info, QE Identity or TDX module
	// identity applies to the platform (its TCB is below every listed level).
	ReasonNoMatchingTCBLevel
	// ReasonFMSPCMismatch: the FMSPC or PCE-ID of the PCK certificate differs from the TCB Info's.
	ReasonFMSPCMismatch
	// ReasonQEIdentityMismatch: the QE report does not match the QE Identity (MRSIGNER,
	// ISVPRODID, masked MISCSELECT or ATTRIBUTES).
	ReasonQEIdentityMismatch
	// ReasonTDXModuleMismatch: the TD quote's TDX module (MRSIGNERSEAM, SEAMATTRIBUTES,
	// major version) does not match the TCB Info's tdxModule or tdxModuleIdentities.
	ReasonTDXModuleMismatch
	// ReasonUnsupported: a well-formed input sgxops does not handle (quote from a
	// non-Intel QE, certification data type 6/7, TCB Info v2).
	ReasonUnsupported
)

var reasonCodes = [...]string{
	reasonNone:                  "none",
	ReasonMalformed:             "malformed_input",
	ReasonSignatureInvalid:      "signature_invalid",
	ReasonChainInvalid:          "chain_invalid",
	ReasonRevoked:               "revoked",
	ReasonCollateralUnavailable: "collateral_unavailable",
	ReasonCollateralExpired:     "collateral_expired",
	ReasonCollateralInvalid:     "collateral_invalid",
	ReasonNoMatchingTCBLevel:    "no_matching_tcb_level",
	ReasonFMSPCMismatch:         "fmspc_mismatch",
	ReasonQEIdentityMismatch:    "qe_identity_mismatch",
	ReasonTDXModuleMismatch:     "tdx_module_mismatch",
	ReasonUnsupported:           "unsupported",
}

// String returns the stable code of r, e.g. "signature_invalid".
func (r Reason) String() string {
	if r >= 0 && int(r) < len(reasonCodes) {
		return reasonCodes[r]
	}
	return fmt.Sprintf("reason(%d)", int(r))
}

// MarshalText encodes r as its code.
func (r Reason) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

// Error is the error type of package dcap. Every error Verify returns is an
// *Error; match the class with errors.Is(err, dcap.ErrSignatureInvalid) etc.
// or read Reason with errors.As.
type Error struct {
	Reason Reason
	// Msg says what failed, naming the item ("PCK CRL", "TCB Info nextUpdate").
	Msg string
	// Err is the underlying cause, if any.
	Err error
}

func (e *Error) Error() string {
	msg := e.Msg
	if msg == "" {
		msg = reasonText[e.Reason]
	}
	if e.Err != nil {
		return "dcap: " + msg + ": " + e.Err.Error()
	}
	return "dcap: " + msg
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Is reports whether target is the sentinel of e's reason, so that
// errors.Is(err, dcap.ErrRevoked) works through wrapping.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Msg == "" && t.Err == nil && t.Reason == e.Reason
}

var reasonText = map[Reason]string{
	reasonNone:                  "error",
	ReasonMalformed:             "malformed input",
	ReasonSignatureInvalid:      "signature invalid",
	ReasonChainInvalid:          "certificate chain invalid",
	ReasonRevoked:               "revoked",
	ReasonCollateralUnavailable: "collateral unavailable",
	ReasonCollateralExpired:     "collateral expired",
	ReasonCollateralInvalid:     "collateral invalid",
	ReasonNoMatchingTCBLevel:    "no matching TCB level",
	ReasonFMSPCMismatch:         "FMSPC/PCE-ID mismatch",
	ReasonQEIdentityMismatch:    "QE identity mismatch",
	ReasonTDXModuleMismatch:     "TDX module mismatch",
	ReasonUnsupported:           "unsupported",
}

// Sentinels, one per Reason, for errors.Is.
var (
	ErrMalformed             = &Error{Reason: ReasonMalformed}
	ErrSignatureInvalid      = &Error{Reason: ReasonSignatureInvalid}
	ErrChainInvalid          = &Error{Reason: ReasonChainInvalid}
	ErrRevoked               = &Error{Reason: ReasonRevoked}
	ErrCollateralUnavailable = &Error{Reason: ReasonCollateralUnavailable}
	ErrCollateralExpired     = &Error{Reason: ReasonCollateralExpired}
	ErrCollateralInvalid     = &Error{Reason: ReasonCollateralInvalid}
	ErrNoMatchingTCBLevel    = &Error{Reason: ReasonNoMatchingTCBLevel}
	ErrFMSPCMismatch         = &Error{Reason: ReasonFMSPCMismatch}
	ErrQEIdentityMismatch    = &Error{Reason: ReasonQEIdentityMismatch}
	ErrTDXModuleMismatch     = &Error{Reason: ReasonTDXModuleMismatch}
	ErrUnsupported           = &Error{Reason: ReasonUnsupported}
)

func errf(r Reason, format string, args ...any) *Error {
	return &Error{Reason: r, Msg: fmt.Sprintf(format, args...)}
}

func wrapf(r Reason, err error, format string, args ...any) *Error {
	return &Error{Reason: r, Msg: fmt.Sprintf(format, args...), Err: err}
}
