package ra

import (
	"context"
	"encoding/hex"
	"fmt"
	"sync"
	"time"

	"github.com/sgxops/sgxops/collateral"
	"github.com/sgxops/sgxops/dcap"
	"github.com/sgxops/sgxops/policy"
	"github.com/sgxops/sgxops/sgx"
)

// LocalVerifier verifies quotes in process: sgx.ParseQuote → collateral →
// dcap.Verify → policy.Appraise. It is for relying parties that hold the
// trust set themselves instead of asking attestd. The runtime-data binding
// is left to package ra (the verifier returns the verified report data).
type LocalVerifier struct {
	// Collateral supplies the collateral for each quote. Required.
	Collateral collateral.Source
	// DCAP are the verification options (roots, clock). The zero value trusts
	// Intel's root only. They are copied on first use.
	DCAP dcap.Options
	// Trust is the trust set the evidence is appraised against.
	Trust policy.TrustSet
	// App restricts matching to one app; empty searches all apps.
	App string
	// Candidate names a candidate release this verifier explicitly accepts
	// (a rollout's test); empty accepts no candidate.
	Candidate string
	// Now is the clock for the appraisal (drain windows). Nil means time.Now.
	Now func() time.Time

	once sync.Once
	v    *dcap.Verifier
}

// Verify implements Verifier.
func (l *LocalVerifier) Verify(ctx context.Context, ev Evidence) (*Attestation, error) {
	if l.Collateral == nil {
		return nil, fmt.Errorf("ra: local verifier: no collateral source")
	}
	l.once.Do(func() { l.v = dcap.NewVerifier(l.DCAP) })
	q, err := sgx.ParseQuote(ev.Quote)
	if err != nil {
		return nil, fmt.Errorf("ra: local verifier: %w", err)
	}
	req, err := dcap.CollateralRequestFor(q)
	if err != nil {
		return nil, fmt.Errorf("ra: local verifier: %w", err)
	}
	coll, err := l.Collateral.Get(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("ra: local verifier: collateral: %w", err)
	}
	verdict, err := l.v.Verify(q, coll)
	if err != nil {
		return nil, fmt.Errorf("ra: local verifier: %w", err)
	}
	if verdict.SGX == nil {
		return nil, fmt.Errorf("ra: local verifier: %s quotes are not supported by the policy", verdict.TEE)
	}
	now := time.Now()
	if l.Now != nil {
		now = l.Now()
	}
	pev := policy.Evidence{
		TEE:         string(verdict.TEE),
		MREnclave:   hex.EncodeToString(verdict.SGX.MREnclave[:]),
		MRSigner:    hex.EncodeToString(verdict.SGX.MRSigner[:]),
		ISVProdID:   verdict.SGX.ISVProdID,
		ISVSVN:      verdict.SGX.ISVSVN,
		Debug:       verdict.Debug,
		TCBStatus:   verdict.Status.String(),
		AdvisoryIDs: verdict.AdvisoryIDs,
		Simulated:   verdict.Simulated,
	}
	res, err := policy.Appraise(pev, l.Trust, policy.Request{App: l.App, Candidate: l.Candidate, Now: now})
	if err != nil {
		return nil, fmt.Errorf("ra: local verifier: %w", err)
	}
	return &Attestation{
		Verifier:     "local dcap+policy",
		TEE:          pev.TEE,
		ReportData:   verdict.ReportData,
		MREnclave:    pev.MREnclave,
		MRSigner:     pev.MRSigner,
		ISVProdID:    pev.ISVProdID,
		ISVSVN:       pev.ISVSVN,
		Debug:        pev.Debug,
		TCBStatus:    pev.TCBStatus,
		AdvisoryIDs:  pev.AdvisoryIDs,
		App:          res.App,
		Release:      res.Release,
		ReleaseState: string(res.ReleaseState),
		Simulated:    verdict.Simulated,
		Expires:      verdict.CollateralExpiry,
	}, nil
}
