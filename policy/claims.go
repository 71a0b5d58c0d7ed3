package policy

import "strings"

// Claims sgxops adds to attestation tokens, next to MAA's.
const (
	// ClaimApp: string, the app whose release matched.
	ClaimApp = "x-sgxops-app"
	// ClaimRelease: string, the name of the matched release.
	ClaimRelease = "x-sgxops-release"
	// ClaimReleaseState: string, the release state ("active", "draining", "candidate").
	ClaimReleaseState = "x-sgxops-release-state"
	// ClaimTCBStatus: string, the DCAP TCB status of the platform.
	ClaimTCBStatus = "x-sgxops-tcb-status"
	// ClaimAdvisoryIDs: array of strings, the Intel advisories of the TCB level
	// (always present in tokens, possibly empty).
	ClaimAdvisoryIDs = "x-sgxops-advisory-ids"
	// ClaimSimulated: bool, true when the evidence came from the simulated
	// platform (always present).
	ClaimSimulated = "x-sgxops-simulated"
)

// MAA incoming claims for SGX that EvidenceClaims derives (MAA claim sets:
// https://learn.microsoft.com/azure/attestation/claim-sets).
const (
	ClaimMAAVersion         = "x-ms-ver"
	ClaimMAAAttestationType = "x-ms-attestation-type"
	ClaimSGXIsDebuggable    = "x-ms-sgx-is-debuggable"
	ClaimSGXMREnclave       = "x-ms-sgx-mrenclave"
	ClaimSGXMRSigner        = "x-ms-sgx-mrsigner"
	ClaimSGXProductID       = "x-ms-sgx-product-id"
	ClaimSGXSVN             = "x-ms-sgx-svn"
	// PropertySGXTCBIdentifier is the issueproperty() claim that selects MAA's
	// SGX TCB baseline (e.g. "azuredefault", "10").
	PropertySGXTCBIdentifier = "x-ms-sgx-tcbidentifier"
)

// EvidenceClaims returns the MAA incoming claims derivable from ev, as policy
// input: x-ms-ver, x-ms-attestation-type, and the SGX identity claims with
// lowercase hex. attestd adds the claims Evidence does not carry
// (x-ms-sgx-report-data, -ehd, -collateral, x-ms-policy-hash).
func EvidenceClaims(ev Evidence) []Claim {
	mk := func(t string, v Value) Claim { return Claim{Type: t, Value: v, Issuer: IssuerAttestationService} }
	return []Claim{
		mk(ClaimMAAVersion, StringValue("1.0")),
		mk(ClaimMAAAttestationType, StringValue(ev.TEE)),
		mk(ClaimSGXIsDebuggable, BoolValue(ev.Debug)),
		mk(ClaimSGXMREnclave, StringValue(strings.ToLower(ev.MREnclave))),
		mk(ClaimSGXMRSigner, StringValue(strings.ToLower(ev.MRSigner))),
		mk(ClaimSGXProductID, IntValue(int64(ev.ISVProdID))),
		mk(ClaimSGXSVN, IntValue(int64(ev.ISVSVN))),
	}
}

// IncomingClaims returns the x-sgxops-* claims as policy input (issuer
// AttestationService), so custom policies can test them: app, release and
// release state when res names a release, TCB status, one advisory claim per
// advisory ID, and the simulation flag.
func IncomingClaims(res *Result, ev Evidence) []Claim {
	var out []Claim
	add := func(t string, v Value) {
		out = append(out, Claim{Type: t, Value: v, Issuer: IssuerAttestationService})
	}
	if res != nil && res.Release != "" {
		add(ClaimApp, StringValue(res.App))
		add(ClaimRelease, StringValue(res.Release))
		add(ClaimReleaseState, StringValue(string(res.ReleaseState)))
	}
	add(ClaimTCBStatus, StringValue(ev.TCBStatus))
	for _, id := range ev.AdvisoryIDs {
		add(ClaimAdvisoryIDs, StringValue(id))
	}
	add(ClaimSimulated, BoolValue(ev.Simulated))
	return out
}

// TokenClaims returns the x-sgxops-* claims for a token body: app, release
// and release state (when res names a release), the TCB status, the advisory
// IDs as a []string (never nil) and the simulation flag (always present, so a
// token from the simulated platform says so).
func TokenClaims(res *Result, ev Evidence) map[string]any {
	out := map[string]any{
		ClaimTCBStatus:   ev.TCBStatus,
		ClaimAdvisoryIDs: append([]string{}, ev.AdvisoryIDs...),
		ClaimSimulated:   ev.Simulated,
	}
	if res != nil && res.Release != "" {
		out[ClaimApp] = res.App
		out[ClaimRelease] = res.Release
		out[ClaimReleaseState] = string(res.ReleaseState)
	}
	return out
}
