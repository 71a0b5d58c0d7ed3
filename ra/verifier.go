package ra

import (
	"context"
	"crypto/subtle"
	"encoding/hex"
	"time"
)

// QuoteProvider produces attestation evidence (a quote) whose report data is
// reportData. Implementations must be safe for concurrent use.
type QuoteProvider interface {
	Quote(reportData [64]byte) ([]byte, error)
}

// Evidence is what a Verifier checks: a quote and the runtime data it must
// bind (SHA-256(RuntimeData) is the quote's report_data[0:32]).
type Evidence struct {
	Quote       []byte
	RuntimeData []byte
}

// Verifier decides whether evidence comes from a trusted enclave. It returns
// the verified report data and identity; package ra checks the binding of the
// report data to the channel itself, so a Verifier that forgot to would still
// not let a man in the middle through. Implementations must be safe for
// concurrent use.
type Verifier interface {
	Verify(ctx context.Context, ev Evidence) (*Attestation, error)
}

// VerifierFunc adapts a function to Verifier.
type VerifierFunc func(ctx context.Context, ev Evidence) (*Attestation, error)

// Verify calls f.
func (f VerifierFunc) Verify(ctx context.Context, ev Evidence) (*Attestation, error) {
	return f(ctx, ev)
}

// Attestation is what verified evidence says about the peer.
type Attestation struct {
	// Verifier names what decided, e.g. "attestd http://127.0.0.1:8080" or
	// "local dcap+policy".
	Verifier string
	// TEE is "sgx" or "tdx".
	TEE string
	// ReportData is the verified quote's report data.
	ReportData [64]byte
	// MREnclave and MRSigner are lowercase hex (for TDX, MREnclave holds MRTD).
	MREnclave string
	MRSigner  string
	ISVProdID uint16
	ISVSVN    uint16
	// Debug is true for a debug enclave (whose memory the host can read).
	Debug bool
	// TCBStatus is the platform's TCB status, e.g. "UpToDate".
	TCBStatus   string
	AdvisoryIDs []string
	// App, Release and ReleaseState name the trusted release that matched,
	// when the verifier knows releases.
	App          string
	Release      string
	ReleaseState string
	// Simulated is true when the evidence came from a simulated platform.
	// Simulation proves the pipeline, never confidentiality.
	Simulated bool
	// Token is the attestation token, when the verifier issued one.
	Token string
	// Expires is when the token or the verdict's collateral expires (zero if
	// unknown).
	Expires time.Time
}

// ReportDataHex returns the report data as lowercase hex.
func (a *Attestation) ReportDataHex() string { return hex.EncodeToString(a.ReportData[:]) }

// verifyBound runs v on (quote, runtimeData) and checks that the verified
// report data is exactly ReportData(runtimeData).
func verifyBound(ctx context.Context, v Verifier, op string, quote, runtimeData []byte) (*Attestation, error) {
	if v == nil {
		return nil, newErr(op, ReasonAttestation, "no verifier configured", nil)
	}
	att, err := v.Verify(ctx, Evidence{Quote: quote, RuntimeData: runtimeData})
	if err != nil {
		return nil, newErr(op, ReasonAttestation, "", err)
	}
	if att == nil {
		return nil, newErr(op, ReasonAttestation, "verifier returned no attestation", nil)
	}
	want := ReportData(runtimeData)
	if subtle.ConstantTimeCompare(att.ReportData[:], want[:]) != 1 {
		return nil, newErr(op, ReasonBinding, "verified report data "+att.ReportDataHex()+
			" is not SHA-256 of the channel's runtime data "+hex.EncodeToString(want[:]), nil)
	}
	return att, nil
}
