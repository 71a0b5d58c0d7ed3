package attestd

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/sgxops/sgxops/dcap"
	"github.com/sgxops/sgxops/policy"
	"github.com/sgxops/sgxops/sgx"
	"github.com/sgxops/sgxops/snp"
)

// cvmEvidence is verified confidential-VM evidence: what the appraisal and
// the token need.
type cvmEvidence struct {
	ev         policy.Evidence
	claims     map[string]any // MAA's TEE claims (tdx_*, x-ms-sevsnpvm-*)
	reportData []byte         // 64 bytes
	hostData   []byte         // SEV-SNP HOST_DATA (initTimeData binding); nil for TDX
	runtime    []byte         // Azure HCL runtime claims, nil otherwise
}

// attestCVM runs /attest/TdxVm and /attest/SevSnpVm: verify (dcap for TDX,
// package snp for SEV-SNP), bind runtime data, appraise against the
// releases, evaluate the policy, sign a token with MAA's claims for the TEE.
func (s *Server) attestCVM(ctx context.Context, kind EvidenceKind, body []byte, query url.Values) (string, attestOutcome, error) {
	var out attestOutcome
	req, err := DecodeAttestRequest(kind, body)
	if err != nil {
		out.result = resultInvalidRequest
		return "", out, badRequest("%s", trimPrefix(err.Error()))
	}
	areq, err := appraisalRequest(query)
	if err != nil {
		out.result = resultInvalidRequest
		return "", out, err
	}
	t := time.Now()
	var cv *cvmEvidence
	if kind == KindTDX {
		cv, err = s.verifyTDX(ctx, req.Quote, &out)
	} else {
		cv, err = s.verifySNP(req.Quote, &out)
	}
	s.metrics.observePhase("verify", t)
	if err != nil {
		return "", out, err
	}
	if err := checkCVMBindings(req, cv); err != nil {
		out.result = resultInvalidRequest
		return "", out, err
	}

	t = time.Now()
	res, err := s.appraise(ctx, cv.ev, areq, &out)
	if err != nil {
		return "", out, err
	}
	pol, err := s.policyFor(ctx, req, kind, &out)
	if err != nil {
		return "", out, err
	}
	oc, err := evaluatePolicy(pol, cvmIncoming(cv, res, req.RuntimeData, pol.hash), &out)
	if err != nil {
		return "", out, err
	}
	s.metrics.observePhase("appraise", t)

	t = time.Now()
	claims, err := cvmTokenClaims(s.cfg.Issuer, s.now(), req, cv, res, pol, oc.Issued)
	if err != nil {
		out.result = resultError
		return "", out, err
	}
	var tok string
	if req.HasDraft {
		tok, err = UnsecuredToken(claims)
	} else {
		tok, err = s.key.Load().Sign(claims)
	}
	s.metrics.observePhase("sign", t)
	if err != nil {
		out.result = resultError
		return "", out, err
	}
	out.result = resultOK
	return tok, out, nil
}

// verifyTDX verifies a TDX quote with the dcap TDX path (collateral from the
// configured source).
func (s *Server) verifyTDX(ctx context.Context, raw []byte, out *attestOutcome) (*cvmEvidence, error) {
	q, err := sgx.ParseQuote(raw)
	if err != nil {
		out.result = resultInvalidQuote
		return nil, apiErrorf(http.StatusBadRequest, CodeInvalidQuote, "%s", trimPrefix(err.Error()))
	}
	if !q.IsTDX() {
		out.result = resultInvalidQuote
		return nil, apiErrorf(http.StatusBadRequest, CodeInvalidQuote, "the quote is an SGX quote; /attest/TdxVm takes TDX quotes")
	}
	out.mrenclave = hex.EncodeToString(q.TDBody.MRTD[:])
	ver, err := s.verifier.VerifyQuote(ctx, q)
	if ver != nil {
		out.tcbStatus = ver.Verdict.Status.String()
		out.simulated = ver.Verdict.Simulated
	} else {
		out.simulated = claimsSimulation(q)
	}
	if err != nil {
		return nil, s.verifyError(err, out)
	}
	s.trackCollateral(ver)
	v := ver.Verdict
	td := v.TD
	ids := v.AdvisoryIDs
	if ids == nil {
		ids = []string{}
	}
	h := hex.EncodeToString
	ev := policy.Evidence{
		TEE: policy.TEETDX, MRTD: h(td.MRTD[:]), MRSEAM: h(td.MRSEAM[:]), Debug: td.TDDebug(),
		TCBStatus: v.Status.String(), AdvisoryIDs: ids, Simulated: v.Simulated,
	}
	for i := range td.RTMRs {
		ev.RTMRs[i] = h(td.RTMRs[i][:])
	}
	return &cvmEvidence{ev: ev, claims: tdxClaims(v), reportData: td.ReportData[:]}, nil
}

// tdxClaims are MAA's TdxVm claims (the TDX EAT profile names).
func tdxClaims(v *dcap.Verdict) map[string]any {
	td := v.TD
	h := hex.EncodeToString
	attr := td.TDAttributes[:]
	c := map[string]any{
		"x-ms-attestation-type":             "tdxvm",
		"attester_tcb_status":               v.Status.String(),
		"attester_advisory_ids":             append([]string{}, v.AdvisoryIDs...),
		"dbgstat":                           map[bool]string{true: "enabled", false: "disabled"}[td.TDDebug()],
		"eat_profile":                       "https://aka.ms/maa-eat-profile-tdxvm",
		"intuse":                            "generic",
		"tdx_mrtd":                          h(td.MRTD[:]),
		"tdx_rtmr0":                         h(td.RTMRs[0][:]),
		"tdx_rtmr1":                         h(td.RTMRs[1][:]),
		"tdx_rtmr2":                         h(td.RTMRs[2][:]),
		"tdx_rtmr3":                         h(td.RTMRs[3][:]),
		"tdx_mrconfigid":                    h(td.MRConfigID[:]),
		"tdx_mrowner":                       h(td.MROwner[:]),
		"tdx_mrownerconfig":                 h(td.MROwnerConfig[:]),
		"tdx_mrseam":                        h(td.MRSEAM[:]),
		"tdx_mrsignerseam":                  h(td.MRSignerSEAM[:]),
		"tdx_seam_attributes":               h(td.SEAMAttributes[:]),
		"tdx_td_attributes":                 h(attr),
		"tdx_td_attributes_debug":           td.TDDebug(),
		"tdx_td_attributes_septve_disable":  attr[3]&0x10 != 0, // bit 28
		"tdx_td_attributes_protection_keys": attr[3]&0x40 != 0, // bit 30
		"tdx_td_attributes_key_locker":      attr[3]&0x80 != 0, // bit 31
		"tdx_td_attributes_perfmon":         attr[7]&0x80 != 0, // bit 63
		"tdx_tee_tcb_svn":                   h(td.TEETCBSVN[:]),
		"tdx_xfam":                          h(td.XFAM[:]),
		"tdx_report_data":                   h(td.ReportData[:]),
		"tdx_seamsvn":                       int64(td.TEETCBSVN[1])<<8 | int64(td.TEETCBSVN[0]),
	}
	if td.Is15 {
		c["tdx_tee_tcb_svn2"] = h(td.TEETCBSVN2[:])
		c["tdx_mrservicetd"] = h(td.MRServiceTD[:])
	}
	return c
}

// verifySNP verifies SEV-SNP evidence with package snp, certificates from
// the evidence only.
func (s *Server) verifySNP(raw []byte, out *attestOutcome) (*cvmEvidence, error) {
	ev, err := snp.ParseEvidence(raw, nil)
	if err == nil {
		out.mrenclave = hex.EncodeToString(ev.Report[0x90:0xC0])
		var v *snp.Verdict
		if v, err = snp.Verify(ev, snp.Options{Now: s.snpTime()}); err == nil {
			return snpEvidence(v), nil
		}
	}
	out.result = resultInvalidQuote
	var se *snp.Error
	if errors.As(err, &se) {
		return nil, &APIError{Status: http.StatusBadRequest, Code: CodeInvalidQuote,
			Message: fmt.Sprintf("report verification failed (%s): %s", se.Reason, se.Detail), Err: err}
	}
	out.result = resultError
	return nil, fmt.Errorf("verification: %w", err)
}

func snpEvidence(v *snp.Verdict) *cvmEvidence {
	r := v.Report
	h := hex.EncodeToString
	ev := policy.Evidence{
		TEE: policy.TEESEVSNP, Measurement: h(r.GetMeasurement()), HostData: h(r.GetHostData()),
		FamilyID: h(r.GetFamilyId()), ImageID: h(r.GetImageId()), Debug: v.Policy.Debug,
		MigrationAgent: v.Policy.MigrateMA, AdvisoryIDs: []string{},
	}
	tcb := v.ReportedTCB
	c := map[string]any{
		"x-ms-attestation-type":           "sevsnpvm",
		"x-ms-sevsnpvm-authorkeydigest":   h(r.GetAuthorKeyDigest()),
		"x-ms-sevsnpvm-bootloader-svn":    int64(tcb.BlSpl),
		"x-ms-sevsnpvm-familyId":          h(r.GetFamilyId()),
		"x-ms-sevsnpvm-guestsvn":          int64(r.GetGuestSvn()),
		"x-ms-sevsnpvm-hostdata":          h(r.GetHostData()),
		"x-ms-sevsnpvm-idkeydigest":       h(r.GetIdKeyDigest()),
		"x-ms-sevsnpvm-imageId":           h(r.GetImageId()),
		"x-ms-sevsnpvm-is-debuggable":     v.Policy.Debug,
		"x-ms-sevsnpvm-launchmeasurement": h(r.GetMeasurement()),
		"x-ms-sevsnpvm-microcode-svn":     int64(tcb.UcodeSpl),
		"x-ms-sevsnpvm-migration-allowed": v.Policy.MigrateMA,
		"x-ms-sevsnpvm-reportdata":        h(r.GetReportData()),
		"x-ms-sevsnpvm-reportid":          h(r.GetReportId()),
		"x-ms-sevsnpvm-smt-allowed":       v.Policy.SMT,
		"x-ms-sevsnpvm-snpfw-svn":         int64(tcb.SnpSpl),
		"x-ms-sevsnpvm-tee-svn":           int64(tcb.TeeSpl),
		"x-ms-sevsnpvm-vmpl":              int64(r.GetVmpl()),
		"x-sgxops-snp-guest-policy":       fmt.Sprintf("0x%x", r.GetPolicy()),
		"x-sgxops-snp-signer":             v.Signer,
		"x-sgxops-snp-product-line":       v.ProductLine,
	}
	return &cvmEvidence{ev: ev, claims: c, reportData: r.GetReportData(), hostData: r.GetHostData(), runtime: v.RuntimeClaims}
}

// checkCVMBindings: SHA-256(runtimeData) == REPORT_DATA[0:32] (TDX and
// SNP); for SEV-SNP SHA-256(initTimeData) == HOST_DATA. TDX has no field
// to bind init-time data to, so it is refused there.
func checkCVMBindings(req *AttestRequest, cv *cvmEvidence) error {
	if rt := req.RuntimeData; rt != nil {
		sum := sha256.Sum256(rt.Bytes)
		if !bytes.Equal(sum[:], cv.reportData[:32]) {
			return apiErrorf(http.StatusBadRequest, CodeRuntimeDataMismatch,
				"SuppliedRuntimeDataDigest does not match RuntimeData Digest in the report: SHA-256(runtimeData) = %x, report_data[0:32] = %x",
				sum[:], cv.reportData[:32])
		}
	}
	if it := req.InitTimeData; it != nil {
		if cv.hostData == nil {
			return apiErrorf(http.StatusBadRequest, CodeRuntimeDataMismatch, "initTimeData given, but a TDX quote has no field to bind it to")
		}
		sum := sha256.Sum256(it.Bytes)
		if !bytes.Equal(sum[:], cv.hostData) {
			return apiErrorf(http.StatusBadRequest, CodeRuntimeDataMismatch,
				"SHA-256(initTimeData) = %x does not match HOST_DATA = %x", sum[:], cv.hostData)
		}
	}
	return nil
}

// cvmIncoming are the claims the policy sees: the TEE claims (scalars),
// x-ms-ver, x-ms-policy-hash and the x-sgxops-* claims.
func cvmIncoming(cv *cvmEvidence, res *policy.Result, rt *Data, policyHash string) []policy.Claim {
	var in []policy.Claim
	add := func(t string, v policy.Value) {
		in = append(in, policy.Claim{Type: t, Value: v, Issuer: policy.IssuerAttestationService})
	}
	add(policy.ClaimMAAVersion, policy.StringValue("1.0"))
	for k, v := range cv.claims {
		switch x := v.(type) {
		case string:
			add(k, policy.StringValue(x))
		case bool:
			add(k, policy.BoolValue(x))
		case int64:
			add(k, policy.IntValue(x))
		}
	}
	add(claimPolicyHash, policy.StringValue(policyHash))
	return append(in, policy.IncomingClaims(res, cv.ev)...)
}

// cvmTokenClaims builds a TdxVm or SevSnpVm token body.
func cvmTokenClaims(issuer string, now time.Time, req *AttestRequest, cv *cvmEvidence, res *policy.Result, pol *compiledPolicy, issued []policy.Claim) (map[string]any, error) {
	jti := make([]byte, 32)
	if _, err := rand.Read(jti); err != nil {
		return nil, err
	}
	iat := now.Unix()
	c := map[string]any{
		"iss": issuer, "iat": iat, "nbf": iat, "exp": now.Add(attestTokenLifetime).Unix(),
		"jti": hex.EncodeToString(jti), "x-ms-ver": "1.0", claimPolicyHash: pol.hash,
	}
	for k, v := range cv.claims {
		c[k] = v
	}
	if cv.runtime != nil {
		var parsed any
		if json.Unmarshal(cv.runtime, &parsed) == nil {
			c[claimRuntime] = parsed // Azure HCL runtime claims (vTPM key, VM configuration)
		}
	}
	if rt := req.RuntimeData; rt != nil {
		if rt.JSON {
			c[claimRuntime] = rt.Parsed
		} else {
			ehd := base64.RawURLEncoding.EncodeToString(rt.Bytes)
			c["maa-ehd"], c["aas-ehd"] = ehd, ehd
		}
	}
	if it := req.InitTimeData; it != nil && it.JSON {
		c[claimInitTime] = it.Parsed
	}
	if req.HasNonce {
		c[claimNonce] = req.Nonce
	}
	if pol.signer != nil {
		c[claimPolicySigner] = pol.signer
	}
	iss := policy.ClaimsJSON(issued)
	c[claimPolicy] = iss
	for k, v := range iss {
		lk := strings.ToLower(k)
		if _, taken := c[k]; !taken && !reservedClaims[lk] && !strings.HasPrefix(lk, "x-sgxops-") &&
			!strings.HasPrefix(lk, "tdx_") && !strings.HasPrefix(lk, "x-ms-sevsnpvm-") && !strings.HasPrefix(lk, "attester_") {
			c[k] = v
		}
	}
	for k, v := range policy.TokenClaims(res, cv.ev) {
		c[k] = v
	}
	return c, nil
}
