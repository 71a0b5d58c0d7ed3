package attestd

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"time"

	"github.com/sgxops/sgxops/collateral"
	"github.com/sgxops/sgxops/dcap"
	"github.com/sgxops/sgxops/policy"
	"github.com/sgxops/sgxops/sgx"
)

// MAA claim names attestd emits besides those in package policy.
const (
	claimSGXReportData   = "x-ms-sgx-report-data"
	claimSGXEHD          = "x-ms-sgx-ehd"
	claimSGXCollateral   = "x-ms-sgx-collateral"
	claimSGXConfigID     = "x-ms-sgx-config-id"
	claimSGXConfigSVN    = "x-ms-sgx-config-svn"
	claimSGXISVExtProdID = "x-ms-sgx-isv-extended-product-id"
	claimSGXISVFamilyID  = "x-ms-sgx-isv-family-id"
	claimPolicyHash      = "x-ms-policy-hash"
	claimPolicySigner    = "x-ms-policy-signer"
	claimPolicy          = "x-ms-policy"
	claimRuntime         = "x-ms-runtime"
	claimInitTime        = "x-ms-inittime"
	claimNonce           = "nonce"
)

// attestTokenLifetime is MAA's: exp = iat + 8 h.
const attestTokenLifetime = 8 * time.Hour

// evidenceOf maps a DCAP verdict of an SGX quote to policy evidence.
func evidenceOf(v *dcap.Verdict) policy.Evidence {
	ids := v.AdvisoryIDs
	if ids == nil {
		ids = []string{}
	}
	return policy.Evidence{
		TEE:         policy.TEESGX,
		MREnclave:   hex.EncodeToString(v.SGX.MREnclave[:]),
		MRSigner:    hex.EncodeToString(v.SGX.MRSigner[:]),
		ISVProdID:   v.SGX.ISVProdID,
		ISVSVN:      v.SGX.ISVSVN,
		Debug:       v.SGX.Attributes.Debug(),
		TCBStatus:   v.Status.String(),
		AdvisoryIDs: ids,
		Simulated:   v.Simulated,
	}
}

// hasKSS reports whether the enclave uses Key Separation and Sharing, which
// is when MAA emits the CONFIGID / family / extended product claims.
func hasKSS(b *sgx.ReportBody) bool { return b.Attributes.Flags&sgx.AttrKSS != 0 }

// incomingClaims are the claims the MAA policy sees: the SGX identity claims,
// report data, enclave-held data, policy hash, KSS values and the sgxops
// claims of the reference-value appraisal.
func incomingClaims(b *sgx.ReportBody, ev policy.Evidence, res *policy.Result, rt *Data, policyHash string) []policy.Claim {
	in := policy.EvidenceClaims(ev)
	add := func(t string, v policy.Value) {
		in = append(in, policy.Claim{Type: t, Value: v, Issuer: policy.IssuerAttestationService})
	}
	add(claimSGXReportData, policy.StringValue(hex.EncodeToString(b.ReportData[:])))
	if rt != nil && !rt.JSON {
		add(claimSGXEHD, policy.StringValue(base64.RawURLEncoding.EncodeToString(rt.Bytes)))
	}
	add(claimPolicyHash, policy.StringValue(policyHash))
	if hasKSS(b) {
		add(claimSGXConfigID, policy.StringValue(hex.EncodeToString(b.ConfigID[:])))
		add(claimSGXConfigSVN, policy.IntValue(int64(b.ConfigSVN)))
		add(claimSGXISVExtProdID, policy.StringValue(hex.EncodeToString(b.ISVExtProdID[:])))
		add(claimSGXISVFamilyID, policy.StringValue(hex.EncodeToString(b.ISVFamilyID[:])))
	}
	return append(in, policy.IncomingClaims(res, ev)...)
}

// collateralHashes is x-ms-sgx-collateral: lowercase hex SHA-256 of the
// submitted evidence and of the collateral items used. MAA's byte-exact
// inputs for the six collateral hashes are not documented (docs/limitations.md,
// "Choices made where the specifications are silent"); attestd hashes the
// items as it received them (both issuer chains are the TCB Signing chain;
// both "crl" hashes are of the Root CA CRL, which covers the TCB Signing
// certificate).
func collateralHashes(evidence []byte, c *collateral.Collateral) map[string]any {
	h := func(b []byte) string {
		s := sha256.Sum256(b)
		return hex.EncodeToString(s[:])
	}
	out := map[string]any{"quotehash": h(evidence)}
	if c != nil {
		out["qeidcertshash"] = h(c.QEIdentityIssuerChain)
		out["qeidcrlhash"] = h(c.RootCACRL)
		out["qeidhash"] = h(c.QEIdentity)
		out["tcbinfocertshash"] = h(c.TCBInfoIssuerChain)
		out["tcbinfocrlhash"] = h(c.RootCACRL)
		out["tcbinfohash"] = h(c.TCBInfo)
	}
	return out
}

// reservedClaims are set by the service; a policy's issue() of one of these
// names goes only into x-ms-policy, never over the service's value.
var reservedClaims = map[string]bool{
	"iss": true, "iat": true, "nbf": true, "exp": true, "jti": true, claimNonce: true,
	"x-ms-ver": true, "x-ms-attestation-type": true, claimPolicyHash: true, claimPolicySigner: true, claimPolicy: true,
	claimSGXReportData: true, claimSGXEHD: true, claimSGXCollateral: true, claimRuntime: true, claimInitTime: true,
	"maa-ehd": true, "aas-ehd": true, "maa-attestationcollateral": true,
	policy.ClaimSGXIsDebuggable: true, policy.ClaimSGXMREnclave: true, policy.ClaimSGXMRSigner: true,
	policy.ClaimSGXProductID: true, policy.ClaimSGXSVN: true,
	claimSGXConfigID: true, claimSGXConfigSVN: true, claimSGXISVExtProdID: true, claimSGXISVFamilyID: true,
	policy.ClaimApp: true, policy.ClaimRelease: true, policy.ClaimReleaseState: true, policy.ClaimTCBStatus: true,
	policy.ClaimAdvisoryIDs: true, policy.ClaimSimulated: true,
}

// tokenInput is everything that goes into an attestation token.
type tokenInput struct {
	issuer     string
	now        time.Time
	req        *AttestRequest
	body       *sgx.ReportBody
	ev         policy.Evidence
	res        *policy.Result
	coll       *collateral.Collateral
	policyHash string
	signer     map[string]any // x-ms-policy-signer, nil if the policy was not signed
	issued     []policy.Claim
}

// attestationClaims builds the token body: MAA's SGX claim set
// (https://learn.microsoft.com/azure/attestation/claim-sets), the policy's
// issued claims (top level and under x-ms-policy), and the x-sgxops-* claims.
func attestationClaims(in tokenInput) (map[string]any, error) {
	jti := make([]byte, 32)
	if _, err := rand.Read(jti); err != nil {
		return nil, err
	}
	iat := in.now.Unix()
	b := in.body
	c := map[string]any{
		"iss": in.issuer, "iat": iat, "nbf": iat, "exp": in.now.Add(attestTokenLifetime).Unix(),
		"jti":                       hex.EncodeToString(jti),
		"x-ms-ver":                  "1.0",
		"x-ms-attestation-type":     "sgx",
		claimPolicyHash:             in.policyHash,
		policy.ClaimSGXIsDebuggable: b.Attributes.Debug(),
		policy.ClaimSGXMREnclave:    hex.EncodeToString(b.MREnclave[:]),
		policy.ClaimSGXMRSigner:     hex.EncodeToString(b.MRSigner[:]),
		policy.ClaimSGXProductID:    int64(b.ISVProdID),
		policy.ClaimSGXSVN:          int64(b.ISVSVN),
		claimSGXReportData:          hex.EncodeToString(b.ReportData[:]),
	}
	coll := collateralHashes(in.req.Evidence, in.coll)
	c[claimSGXCollateral] = coll
	c["maa-attestationcollateral"] = coll
	if hasKSS(b) {
		c[claimSGXConfigID] = hex.EncodeToString(b.ConfigID[:])
		c[claimSGXConfigSVN] = int64(b.ConfigSVN)
		c[claimSGXISVExtProdID] = hex.EncodeToString(b.ISVExtProdID[:])
		c[claimSGXISVFamilyID] = hex.EncodeToString(b.ISVFamilyID[:])
	}
	if rt := in.req.RuntimeData; rt != nil {
		if rt.JSON {
			c[claimRuntime] = rt.Parsed
		} else {
			ehd := base64.RawURLEncoding.EncodeToString(rt.Bytes)
			c[claimSGXEHD], c["maa-ehd"], c["aas-ehd"] = ehd, ehd, ehd
		}
	}
	if it := in.req.InitTimeData; it != nil && it.JSON {
		c[claimInitTime] = it.Parsed
	}
	if in.req.HasNonce {
		c[claimNonce] = in.req.Nonce
	}
	if in.signer != nil {
		c[claimPolicySigner] = in.signer
	}
	issued := policy.ClaimsJSON(in.issued)
	c[claimPolicy] = issued
	for k, v := range issued {
		// Case-insensitively: a case variant of a service claim would be
		// read first by relying parties with case-insensitive lookup.
		if lk := strings.ToLower(k); !reservedClaims[lk] && !strings.HasPrefix(lk, "x-sgxops-") {
			c[k] = v
		}
	}
	for k, v := range policy.TokenClaims(in.res, in.ev) {
		c[k] = v
	}
	return c, nil
}
