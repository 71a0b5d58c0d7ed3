package ra

import (
	"context"
	"errors"
	"fmt"

	"github.com/sgxops/sgxops/maaclient"
)

// MAAVerifier has the quote verified by an MAA-compatible attestation service
// (attestd), sending the channel's runtime data with it so that the service
// checks SHA-256(runtimeData) == report_data[0:32], and verifies the returned
// token with maaclient (pinned issuer, /certs key, expiry, binding,
// expectations). Its configuration names a service and an app, never a
// measurement: which measurements are trusted is the service's release
// registry's business.
type MAAVerifier struct {
	// Client talks to the attestation service; its issuer is pinned. Required.
	Client *maaclient.Client
	// App is the application whose releases the service must match. Required.
	App string
	// Candidate asks the service to accept this candidate release (a
	// rollout's test) and requires the token to name it. Empty: only
	// active (and draining) releases are accepted.
	Candidate string
	// AllowSimulated accepts tokens for SIMULATED evidence. False: rejected.
	AllowSimulated bool
}

// Verify implements Verifier.
func (v *MAAVerifier) Verify(ctx context.Context, ev Evidence) (*Attestation, error) {
	if v.Client == nil || v.App == "" {
		return nil, errors.New("ra: MAA verifier needs a client and an app")
	}
	exp := maaclient.Expectations{App: v.App, AllowSimulated: v.AllowSimulated, RuntimeData: ev.RuntimeData}
	if v.Candidate != "" {
		exp.Releases = []string{v.Candidate}
	}
	tok, err := v.Client.AttestSGX(ctx, ev.Quote,
		maaclient.AttestOptions{RuntimeData: ev.RuntimeData, App: v.App, Candidate: v.Candidate}, exp)
	if err != nil {
		return nil, fmt.Errorf("ra: attestation by %s: %w", v.Client.Issuer(), err)
	}
	if len(tok.ReportData) != 64 {
		return nil, fmt.Errorf("ra: token report data has %d bytes, want 64", len(tok.ReportData))
	}
	a := &Attestation{
		Verifier:     "attestd " + v.Client.Issuer(),
		TEE:          "sgx",
		MREnclave:    tok.MREnclave,
		MRSigner:     tok.MRSigner,
		ISVProdID:    tok.ProductID,
		ISVSVN:       tok.SVN,
		Debug:        tok.Debug,
		TCBStatus:    tok.TCBStatus,
		AdvisoryIDs:  tok.AdvisoryIDs,
		App:          tok.App,
		Release:      tok.Release,
		ReleaseState: tok.ReleaseState,
		Simulated:    tok.Simulated,
		Token:        tok.Raw,
		Expires:      tok.Expiry,
	}
	copy(a.ReportData[:], tok.ReportData)
	return a, nil
}
