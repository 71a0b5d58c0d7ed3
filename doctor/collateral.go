package doctor

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/sgxops/sgxops/collateral"
)

// collResult is the outcome of the one collateral fetch both collateral
// checks report on.
type collResult struct {
	source  string // human name: "PCCS https://..."
	skip    string // why nothing was fetched
	summary *collateral.Summary
	err     error
}

// collateralSource picks the service to ask: Options first, else the quote
// provider's configuration.
func (e *env) collateralSource() (collateral.Source, string, string) {
	o := e.opts
	switch {
	case o.PCS != "":
		return &collateral.PCS{BaseURL: o.PCS, Client: e.client}, "PCS " + o.PCS, ""
	case o.PCCS != "":
		return &collateral.PCCS{BaseURL: o.PCCS, Client: e.client}, "PCCS " + o.PCCS, ""
	case o.THIM != "":
		return &collateral.THIM{BaseURL: o.THIM, Client: e.client}, "THIM " + o.THIM, ""
	}
	q := e.quoteProvider()
	if q.provider == providerAzure {
		if base := o.Env[envAZDCAPBaseURL]; base != "" {
			return &collateral.THIM{BaseURL: base, Client: e.client}, "THIM " + base, ""
		}
		return nil, "", "the Azure DCAP client uses the VM's local THIM endpoint: pass --thim URL to check it"
	}
	if q.cfg != nil {
		// QCNL's collateral_service (e.g. Intel PCS itself) when it is not the
		// PCCS: a PCS-style service, whose Root CA CRL may come from the root
		// certificate's distribution point.
		if u := q.cfg.collateralURL; u != "" && strings.TrimRight(u, "/") != strings.TrimRight(q.cfg.pccsURL, "/") {
			return &collateral.PCS{BaseURL: u, Client: e.client}, "collateral_service " + u, ""
		}
		if u := q.cfg.pccsURL; u != "" {
			return &collateral.PCCS{BaseURL: u, Client: e.client, InsecureSkipTLSVerify: !q.cfg.useSecureCert}, "PCCS " + u, ""
		}
	}
	return nil, "", "no collateral service configured: pass --pccs, --thim or --pcs"
}

func (e *env) collateral(ctx context.Context) *collResult {
	if e.coll != nil {
		return e.coll
	}
	r := &collResult{}
	e.coll = r
	if e.opts.FMSPC == "" {
		r.skip = "platform FMSPC unknown: pass --fmspc (`sgxops quote inspect` of a quote made here prints it)"
		return r
	}
	src, name, why := e.collateralSource()
	if src == nil {
		r.skip = why
		return r
	}
	r.source = name
	ca := e.opts.PCKCA
	if ca == "" {
		ca = collateral.PCKCAProcessor
	}
	c, err := src.Get(ctx, collateral.Request{TEE: collateral.TEESGX, FMSPC: e.opts.FMSPC, PCKCA: ca})
	if err != nil {
		r.err = err
		return r
	}
	r.summary, r.err = collateral.Summarize(c)
	return r
}

// checkCollateralReachable: TCB Info, QE Identity and CRLs for this platform
// through the configured PCCS / THIM / PCS.
func checkCollateralReachable(ctx context.Context, e *env) Result {
	const id = "collateral.reachable"
	if !e.hasSGX() && e.opts.FMSPC == "" {
		return skipped(id, "no sgx CPU flag")
	}
	r := e.collateral(ctx)
	switch {
	case r.skip != "":
		return warn(id, "skipped: "+r.skip, "give the FMSPC and the service to check")
	case errors.Is(r.err, collateral.ErrUnavailable):
		return fail(id, "collateral for FMSPC "+e.opts.FMSPC+" unavailable from "+r.source+": "+shortErr(r.err),
			"check the service URL and network; a PCCS needs an Intel PCS API key and must have cached this FMSPC (404: unknown platform, register it)")
	case r.err != nil:
		return fail(id, "collateral from "+r.source+" is invalid: "+shortErr(r.err),
			"the service answers but not with PCS v4 collateral: check the URL path (/sgx/certification/v4/) and the service's version")
	}
	return ok(id, "TCB Info, QE Identity and CRLs for FMSPC "+r.summary.FMSPC+" from "+r.source)
}

// checkTCBInfoCurrent: the TCB Info for the platform's FMSPC has not passed its nextUpdate.
func checkTCBInfoCurrent(ctx context.Context, e *env) Result {
	const id = "collateral.tcbinfo-current"
	if !e.hasSGX() && e.opts.FMSPC == "" {
		return skipped(id, "no sgx CPU flag")
	}
	r := e.collateral(ctx)
	if r.summary == nil {
		return skipped(id, "no collateral (see collateral.reachable)")
	}
	now := e.now()
	s := r.summary
	if now.After(s.TCBInfo.NextUpdate) {
		return fail(id, fmt.Sprintf("TCB Info for FMSPC %s from %s expired at %s (evaluation data number %d)",
			s.FMSPC, r.source, s.TCBInfo.NextUpdate.UTC().Format(time.RFC3339), s.TCBEvaluationDataNumber),
			"the service serves stale collateral: refresh the PCCS cache (or restart it so it refetches from Intel PCS); verifiers reject expired TCB Info")
	}
	if now.After(s.NextUpdate) {
		return warn(id, "TCB Info current, but another collateral item (QE Identity or a CRL) expired at "+s.NextUpdate.UTC().Format(time.RFC3339),
			"refresh the service's cache")
	}
	return ok(id, fmt.Sprintf("TCB Info for FMSPC %s current until %s (evaluation data number %d)",
		s.FMSPC, s.TCBInfo.NextUpdate.UTC().Format(time.RFC3339), s.TCBEvaluationDataNumber))
}
