package maaclient

import (
	"context"
	"encoding/hex"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// Expectations is what the relying party requires of a token. The zero value
// rejects every token: at least one identity (MREnclave, MRSigner or App)
// must be named, or AnyIdentity set.
type Expectations struct {
	// MREnclave lists accepted MRENCLAVEs (hex, any case). Empty: not checked.
	MREnclave []string
	// MRSigner (hex) with ProductID and MinSVN pins the enclave author.
	// Empty: not checked.
	MRSigner  string
	ProductID uint16
	MinSVN    uint16
	// App requires x-sgxops-app to equal it (the service matched a release of
	// that app); Releases, if set, lists the acceptable release names.
	App      string
	Releases []string
	// AnyIdentity accepts any enclave identity. Use it only when the identity
	// is checked otherwise (e.g. by the service's policy, trusted for that).
	AnyIdentity bool
	// AllowCandidate accepts a token for a candidate release (x-sgxops-
	// release-state "candidate"): only a rollout's test should. False:
	// rejected.
	AllowCandidate bool
	// AllowDebug accepts debug enclaves. False: rejected.
	AllowDebug bool
	// AllowSimulated accepts tokens for evidence from the simulated platform
	// (x-sgxops-simulated true). False: rejected.
	AllowSimulated bool
	// RuntimeData, when non-nil, must be bound by the token:
	// report_data[0:32] == SHA-256(RuntimeData), and x-ms-sgx-ehd (if present)
	// equals it.
	RuntimeData []byte
	// Nonce, when non-empty, must equal the nonce claim.
	Nonce string
}

// Token is a verified attestation token.
type Token struct {
	Raw    string
	Claims map[string]any

	Issuer    string
	IssuedAt  time.Time
	NotBefore time.Time
	Expiry    time.Time
	KeyID     string

	MREnclave  string // lowercase hex
	MRSigner   string // lowercase hex
	ProductID  uint16
	SVN        uint16
	Debug      bool
	ReportData []byte // 64 bytes
	// EnclaveHeldData is x-ms-sgx-ehd (runtime data sent as Binary), nil if absent.
	EnclaveHeldData []byte

	// sgxops claims; empty for tokens of other MAA services.
	App          string
	Release      string
	ReleaseState string
	TCBStatus    string
	AdvisoryIDs  []string
	Simulated    bool
}

// Verify checks an SGX or Open Enclave token (x-ms-attestation-type "sgx")
// from the pinned issuer against exp; see the package documentation for the
// checks. A token for another TEE is refused (ReasonTEEKind).
// Errors are *Error.
func (c *Client) Verify(ctx context.Context, raw string, exp Expectations) (*Token, error) {
	if len(exp.MREnclave) == 0 && exp.MRSigner == "" && exp.App == "" && !exp.AnyIdentity {
		return nil, rejectf(ReasonNoExpectation, "name an MREnclave, MRSigner or App to expect (or set AnyIdentity)")
	}
	j, err := c.verifyJWS(ctx, raw)
	if err != nil {
		return nil, err
	}
	if err := j.attestationType("sgx"); err != nil {
		return nil, err
	}
	t, err := parseSGX(j)
	if err != nil {
		return nil, err
	}
	ev, ce := t.evidence(), exp.common()
	if err := checkPlatform(ev, ce); err != nil {
		return nil, err
	}
	if err := checkEnclave(t, exp); err != nil {
		return nil, err
	}
	if err := checkRelease(ev, ce); err != nil {
		return nil, err
	}
	return t, nil
}

func (t *Token) evidence() evidence {
	return evidence{
		debug: t.Debug, debugWhat: "the enclave is debuggable", simulated: t.Simulated,
		reportData: t.ReportData, ehd: t.EnclaveHeldData, ehdClaim: "x-ms-sgx-ehd",
		app: t.App, release: t.Release, state: t.ReleaseState, nonce: claimString(t.Claims, "nonce"),
	}
}

func (e Expectations) common() common {
	return common{
		allowDebug: e.AllowDebug, allowSimulated: e.AllowSimulated, allowCandidate: e.AllowCandidate,
		runtimeData: e.RuntimeData, app: e.App, releases: e.Releases, nonce: e.Nonce,
	}
}

// checkEnclave checks the enclave identity: MRENCLAVE, MRSIGNER, product, SVN.
func checkEnclave(t *Token, exp Expectations) error {
	if len(exp.MREnclave) > 0 && !slices.ContainsFunc(exp.MREnclave, func(m string) bool { return strings.EqualFold(m, t.MREnclave) }) {
		return rejectf(ReasonMeasurement, "MRENCLAVE %s is not expected", t.MREnclave)
	}
	if exp.MRSigner != "" {
		switch {
		case !strings.EqualFold(exp.MRSigner, t.MRSigner):
			return rejectf(ReasonMeasurement, "MRSIGNER %s is not expected", t.MRSigner)
		case t.ProductID != exp.ProductID:
			return rejectf(ReasonMeasurement, "ISVPRODID %d, want %d", t.ProductID, exp.ProductID)
		case t.SVN < exp.MinSVN:
			return rejectf(ReasonMeasurement, "ISVSVN %d is below %d", t.SVN, exp.MinSVN)
		}
	}
	return nil
}

func claimString(c map[string]any, k string) string {
	s, _ := c[k].(string)
	return s
}

// parseSGX reads MAA's SGX claims with their JSON types.
func parseSGX(j *jwt) (*Token, error) {
	m := j.claims
	t := &Token{Raw: j.raw, Claims: m, Issuer: j.iss, IssuedAt: j.iat, NotBefore: j.nbf, Expiry: j.exp, KeyID: j.kid}
	var err error
	if t.MREnclave, err = m.hexN("x-ms-sgx-mrenclave", 32); err != nil {
		return nil, err
	}
	if t.MRSigner, err = m.hexN("x-ms-sgx-mrsigner", 32); err != nil {
		return nil, err
	}
	pid, _, err := m.num("x-ms-sgx-product-id", true, math.MaxUint16)
	if err != nil {
		return nil, err
	}
	svn, _, err := m.num("x-ms-sgx-svn", true, math.MaxUint16)
	if err != nil {
		return nil, err
	}
	t.ProductID, t.SVN = uint16(pid), uint16(svn)
	if t.Debug, err = m.boolean("x-ms-sgx-is-debuggable", true); err != nil {
		return nil, err
	}
	rd, err := m.hexN("x-ms-sgx-report-data", 64)
	if err != nil {
		return nil, err
	}
	t.ReportData, _ = hex.DecodeString(rd)
	if t.EnclaveHeldData, err = m.b64("x-ms-sgx-ehd"); err != nil {
		return nil, err
	}
	s, err := m.sgxops()
	if err != nil {
		return nil, err
	}
	t.App, t.Release, t.ReleaseState, t.TCBStatus = s.app, s.release, s.state, s.tcbStatus
	t.AdvisoryIDs, t.Simulated = s.advisoryIDs, s.simulated
	return t, nil
}

// String summarises the token for humans.
func (t *Token) String() string {
	s := fmt.Sprintf("MRENCLAVE %s MRSIGNER %s product %d svn %d debug %v", t.MREnclave, t.MRSigner, t.ProductID, t.SVN, t.Debug)
	if t.Release != "" {
		s += fmt.Sprintf(" release %s/%s (%s)", t.App, t.Release, t.ReleaseState)
	}
	if t.TCBStatus != "" {
		s += " TCB " + t.TCBStatus
	}
	if t.Simulated {
		s += " SIMULATED"
	}
	return s
}
