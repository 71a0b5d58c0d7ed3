package attestd

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/sgxops/sgxops/collateral"
	"github.com/sgxops/sgxops/dcap"
	"github.com/sgxops/sgxops/policy"
	"github.com/sgxops/sgxops/release"
	"github.com/sgxops/sgxops/sgx"
)

// Query parameters with which a request asks for sgxops-specific appraisal.
// MAA clients never send them; general traffic therefore never matches a
// candidate release.
const (
	// QueryApp restricts matching to the releases of one app.
	QueryApp = "sgxops-app"
	// QueryCandidate names the candidate release the request explicitly
	// accepts (a rollout's test). The candidate must still match the quote's
	// identity; its tokens say x-sgxops-release-state "candidate", which
	// relying parties (maaclient by default) refuse unless they asked for it.
	QueryCandidate = "sgxops-candidate"
)

// attestOutcome describes one attestation for metrics and logs.
type attestOutcome struct {
	result    string
	tcbStatus string
	simulated bool
	mrenclave string
	app       string
	release   string
	state     string
}

func (s *Server) handleAttest(w http.ResponseWriter, r *http.Request) error {
	start := time.Now()
	typ, supported, known := canonicalType(r.PathValue("type"))
	if !supported {
		kindLabel := "unsupported"
		s.metrics.attestations.WithLabelValues(kindLabel, resultInvalidRequest, "none", "false").Inc()
		if known {
			return badRequest("attestation type %s is not supported by attestd (SgxEnclave, OpenEnclave, TdxVm and SevSnpVm are)", typ)
		}
		return apiErrorf(http.StatusNotFound, CodeNotFound, "unknown attestation type %q", r.PathValue("type"))
	}
	kind := map[string]EvidenceKind{"SgxEnclave": KindSGX, "OpenEnclave": KindOpenEnclave, "TdxVm": KindTDX, "SevSnpVm": KindSEVSNP}[typ]
	tok, out, err := s.attestHTTP(r, kind)
	if out.result == "" {
		out.result = resultError
	}
	tcb := out.tcbStatus
	if tcb == "" {
		tcb = "none"
	}
	s.metrics.attestations.WithLabelValues(typ, out.result, tcb, fmt.Sprint(out.simulated)).Inc()
	s.metrics.latency.WithLabelValues(typ, out.result).Observe(time.Since(start).Seconds())
	reqInfo(r.Context()).simulated = out.simulated
	s.logAttestation(r.Context(), typ, out, err, time.Since(start))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]string{"token": tok})
	return nil
}

// logAttestation writes one line per attestation; a simulated one says so
// in its message and attributes.
func (s *Server) logAttestation(ctx context.Context, typ string, out attestOutcome, err error, d time.Duration) {
	msg := "attestation"
	if out.simulated {
		msg = "attestation (SIMULATED platform: not evidence of real SGX hardware)"
	}
	attrs := []slog.Attr{
		slog.String("type", typ), slog.String("result", out.result), slog.Bool("simulated", out.simulated),
		slog.String("request_id", requestID(ctx)), slog.Float64("duration_ms", float64(d.Microseconds())/1000),
	}
	if out.mrenclave != "" {
		attrs = append(attrs, slog.String("mrenclave", out.mrenclave), slog.String("tcb_status", out.tcbStatus))
	}
	if out.release != "" {
		attrs = append(attrs, slog.String("app", out.app), slog.String("release", out.release), slog.String("release_state", out.state))
	}
	level := slog.LevelInfo
	if err != nil {
		attrs = append(attrs, slog.String("err", err.Error()))
		var ae *APIError
		if !errors.As(err, &ae) || ae.Status >= 500 {
			level = slog.LevelError
		}
	}
	s.log.LogAttrs(ctx, level, msg, attrs...)
}

func (s *Server) attestHTTP(r *http.Request, kind EvidenceKind) (string, attestOutcome, error) {
	if _, err := checkAPIVersion(r); err != nil {
		return "", attestOutcome{result: resultInvalidRequest}, err
	}
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, MaxRequestBytes))
	if err != nil {
		return "", attestOutcome{result: resultInvalidRequest}, badRequest("reading the request body: %v", err)
	}
	select {
	case s.slots <- struct{}{}:
		defer func() { <-s.slots }()
	case <-r.Context().Done():
		// The client gave up while waiting for a slot.
		return "", attestOutcome{result: resultError}, r.Context().Err()
	}
	return s.attest(r.Context(), kind, body, r.URL.Query())
}

// attest runs one attestation: body is the MAA request JSON, query the
// request's query parameters (api-version is not checked here). It returns
// the token, or an *APIError.
func (s *Server) attest(ctx context.Context, kind EvidenceKind, body []byte, query url.Values) (string, attestOutcome, error) {
	if kind == KindTDX || kind == KindSEVSNP {
		return s.attestCVM(ctx, kind, body, query)
	}
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
	q, err := sgx.ParseQuote(req.Quote)
	if err != nil {
		out.result = resultInvalidQuote
		return "", out, apiErrorf(http.StatusBadRequest, CodeInvalidQuote, "%s", err.Error())
	}
	if q.IsTDX() {
		out.result = resultInvalidQuote
		return "", out, apiErrorf(http.StatusBadRequest, CodeInvalidQuote, "the quote is a TDX quote; /attest/%s takes SGX quotes", kind)
	}
	body0 := q.SGXBody
	out.mrenclave = hex.EncodeToString(body0.MREnclave[:])
	t := time.Now()
	ver, err := s.verifier.VerifyQuote(ctx, q)
	s.metrics.observePhase("verify", t)
	if ver != nil {
		out.tcbStatus = ver.Verdict.Status.String()
		out.simulated = ver.Verdict.Simulated
	} else {
		// Unverified: a quote whose PCK chain names the simulated platform is
		// still logged as simulated.
		out.simulated = claimsSimulation(q)
	}
	if err != nil {
		return "", out, s.verifyError(err, &out)
	}
	s.trackCollateral(ver)
	// The bindings are checked on the verified quote, so that a mismatch is
	// reported as such (and logged with the verdict) rather than as a bad quote.
	if err := checkBindings(req, body0); err != nil {
		out.result = resultInvalidRequest
		return "", out, err
	}

	t = time.Now()
	ev := evidenceOf(ver.Verdict)
	res, err := s.appraise(ctx, ev, areq, &out)
	if err != nil {
		return "", out, err
	}
	pol, err := s.policyFor(ctx, req, kind, &out)
	if err != nil {
		return "", out, err
	}
	oc, err := evaluatePolicy(pol, incomingClaims(body0, ev, res, req.RuntimeData, pol.hash), &out)
	if err != nil {
		return "", out, err
	}
	s.metrics.observePhase("appraise", t)

	t = time.Now()
	claims, err := attestationClaims(tokenInput{
		issuer: s.cfg.Issuer, now: s.now(), req: req, body: body0, ev: ev, res: res, coll: ver.Collateral,
		policyHash: pol.hash, signer: pol.signer, issued: oc.Issued,
	})
	if err != nil {
		out.result = resultError
		return "", out, err
	}
	var tok string
	if req.HasDraft {
		tok, err = UnsecuredToken(claims) // MAA: draft-policy results cannot be validated
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

// claimsSimulation reports whether the quote's PCK certificate was issued by
// a CA of the simulated platform (package sim names them "sgxops SIMULATED
// ..."). It is for logging and metrics before verification only; trust
// decisions use the verdict.
func claimsSimulation(q *sgx.Quote) bool {
	chain, err := q.Signature.CertData.PCKChain()
	return err == nil && len(chain) > 0 && strings.Contains(chain[0].Issuer.CommonName, "SIMULATED")
}

// trimPrefix removes a package prefix ("attestd: ", "policy: ") from an
// error message meant for clients.
func trimPrefix(s string) string {
	for _, p := range []string{"attestd: ", "policy: ", "sgx: ", "dcap: ", "snp: "} {
		if len(s) > len(p) && s[:len(p)] == p {
			return s[len(p):]
		}
	}
	return s
}

// appraisalRequest reads the sgxops query parameters.
func appraisalRequest(q url.Values) (policy.Request, error) {
	var r policy.Request
	if v := q.Get(QueryApp); v != "" {
		if err := release.ValidateName(QueryApp, v); err != nil {
			return r, badRequest("%s", trimPrefix(err.Error()))
		}
		r.App = v
	}
	if v := q.Get(QueryCandidate); v != "" {
		if err := release.ValidateName(QueryCandidate, v); err != nil {
			return r, badRequest("%s", trimPrefix(err.Error()))
		}
		r.Candidate = v
	}
	return r, nil
}

// checkBindings enforces the runtime-data and init-time-data bindings:
// SHA-256(runtimeData) == report_data[0:32]; for KSS enclaves
// SHA-256(initTimeData) == CONFIGID[0:32] (init-time data cannot be bound
// without KSS, so it is refused then).
func checkBindings(req *AttestRequest, b *sgx.ReportBody) error {
	if rt := req.RuntimeData; rt != nil {
		sum := sha256.Sum256(rt.Bytes)
		if !bytes.Equal(sum[:], b.ReportData[:32]) {
			return apiErrorf(http.StatusBadRequest, CodeRuntimeDataMismatch,
				"SuppliedRuntimeDataDigest does not match RuntimeData Digest in quote: SHA-256(runtimeData) = %x, report_data[0:32] = %x",
				sum[:], b.ReportData[:32])
		}
	}
	if it := req.InitTimeData; it != nil {
		if !hasKSS(b) {
			return apiErrorf(http.StatusBadRequest, CodeRuntimeDataMismatch,
				"initTimeData given, but the enclave does not use KSS: there is no CONFIGID to bind it to")
		}
		sum := sha256.Sum256(it.Bytes)
		if !bytes.Equal(sum[:], b.ConfigID[:32]) {
			return apiErrorf(http.StatusBadRequest, CodeRuntimeDataMismatch,
				"SHA-256(initTimeData) = %x does not match CONFIGID[0:32] = %x", sum[:], b.ConfigID[:32])
		}
	}
	return nil
}

// verifyError maps a Verifier error to the client's answer: collateral that
// cannot be had now is 503 (clients retry), everything else about the quote
// is 400 InvalidQuote with dcap's reason.
// appraise appraises ev against the trust set (reference values: releases,
// TCB statuses, debug) and records the matched release in out. Shared by
// the SGX and the confidential-VM paths.
func (s *Server) appraise(ctx context.Context, ev policy.Evidence, areq policy.Request, out *attestOutcome) (*policy.Result, error) {
	ts, err := s.trust.get(ctx)
	if err != nil {
		out.result = resultError
		return nil, fmt.Errorf("loading the trust set: %w", err)
	}
	areq.Now = s.now()
	res, err := policy.Appraise(ev, ts, areq)
	if res != nil && res.Release != "" {
		out.app, out.release, out.state = res.App, res.Release, string(res.ReleaseState)
	}
	if err != nil {
		out.result = resultRejected
		var re *policy.RejectError
		if errors.As(err, &re) {
			return nil, apiErrorf(http.StatusBadRequest, CodePolicyEvaluation, "reference values: %s", trimPrefix(re.Error()))
		}
		return nil, fmt.Errorf("appraisal: %w", err)
	}
	return res, nil
}

// evaluatePolicy runs the attestation policy on the incoming claims; a
// policy that fails or does not authorize is a policy_evaluation error.
func evaluatePolicy(pol *compiledPolicy, incoming []policy.Claim, out *attestOutcome) (*policy.Outcome, error) {
	oc, err := pol.parsed.Evaluate(incoming)
	if err != nil {
		out.result = resultPolicyDenied
		return nil, apiErrorf(http.StatusBadRequest, CodePolicyEvaluation, "attestation policy: %s", trimPrefix(err.Error()))
	}
	if !oc.Authorized {
		out.result = resultPolicyDenied
		return nil, apiErrorf(http.StatusBadRequest, CodePolicyEvaluation, "attestation policy: not authorized (no permit() applied, or a deny() did)")
	}
	return oc, nil
}

// policyFor is the attestation policy of a request: its draft policy, or the
// one stored for kind.
func (s *Server) policyFor(ctx context.Context, req *AttestRequest, kind EvidenceKind, out *attestOutcome) (*compiledPolicy, error) {
	if req.HasDraft {
		pol, err := compilePolicy(req.DraftPolicy, "")
		if err != nil {
			out.result = resultInvalidRequest
			return nil, apiErrorf(http.StatusBadRequest, CodeInvalidPolicy, "draftPolicyForAttestation: %s", trimPrefix(err.Error()))
		}
		return pol, nil
	}
	pol, err := s.policies.get(ctx, kind.String())
	if err != nil {
		out.result = resultError
		return nil, fmt.Errorf("loading the %s policy: %w", kind, err)
	}
	return pol, nil
}

func (s *Server) verifyError(err error, out *attestOutcome) error {
	var ce *CollateralError
	var qe *QuoteError
	var de *dcap.Error
	var re *collateral.RequestError
	switch {
	case errors.As(err, &qe):
		out.result = resultInvalidQuote
		return &APIError{Status: http.StatusBadRequest, Code: CodeInvalidQuote, Message: trimPrefix(qe.Err.Error()), Err: err}
	case errors.As(err, &ce), errors.Is(err, dcap.ErrCollateralUnavailable):
		out.result = resultCollateralUnavailable
		return &APIError{Status: http.StatusServiceUnavailable, Code: CodeCollateralUnavailable,
			Message: "collateral for this platform is unavailable; try again later: " + trimPrefix(err.Error()), Err: err}
	case errors.As(err, &de):
		out.result = resultInvalidQuote
		return &APIError{Status: http.StatusBadRequest, Code: CodeInvalidQuote,
			Message: fmt.Sprintf("quote verification failed (%s): %s", de.Reason, trimPrefix(err.Error())), Err: err}
	case errors.As(err, &re):
		out.result = resultInvalidQuote
		return &APIError{Status: http.StatusBadRequest, Code: CodeInvalidQuote, Message: trimPrefix(err.Error()), Err: err}
	}
	out.result = resultError
	return fmt.Errorf("verification: %w", err)
}

// ageTracker remembers the TCB Info issue date per FMSPC, so the collateral
// age metric does not re-parse the TCB Info of every request.
type ageTracker struct {
	mu      sync.Mutex
	entries map[string]ageEntry
}

type ageEntry struct {
	tcbInfo []byte
	issued  time.Time
}

func (s *Server) trackCollateral(v *Verification) {
	fmspc := v.Verdict.FMSPC
	now := s.now()
	s.metrics.collRemaining.WithLabelValues(fmspc).Set(v.Verdict.CollateralExpiry.Sub(now).Seconds())
	if v.Collateral == nil {
		return
	}
	t := s.fmspcAge
	t.mu.Lock()
	e, ok := t.entries[fmspc]
	if !ok || !bytes.Equal(e.tcbInfo, v.Collateral.TCBInfo) {
		if sum, err := collateral.Summarize(v.Collateral); err == nil {
			e = ageEntry{tcbInfo: bytes.Clone(v.Collateral.TCBInfo), issued: sum.TCBInfo.IssueDate}
			t.entries[fmspc] = e
		}
	}
	t.mu.Unlock()
	if !e.issued.IsZero() {
		s.metrics.collAge.WithLabelValues(fmspc).Set(now.Sub(e.issued).Seconds())
	}
}
