package maaclient

import (
	"context"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"time"
)

// CVMKind is a confidential-VM TEE.
type CVMKind int

// The confidential-VM TEEs; the zero value names none.
const (
	KindTDX    CVMKind = iota + 1 // Intel TDX, /attest/TdxVm, x-ms-attestation-type "tdxvm"
	KindSEVSNP                    // AMD SEV-SNP, /attest/SevSnpVm, x-ms-attestation-type "sevsnpvm"
)

// String returns MAA's x-ms-attestation-type of the kind.
func (k CVMKind) String() string {
	switch k {
	case KindTDX:
		return "tdxvm"
	case KindSEVSNP:
		return "sevsnpvm"
	}
	return fmt.Sprintf("cvmkind(%d)", int(k))
}

// CVMExpectations is what the relying party requires of a TdxVm or SevSnpVm
// token. The zero value rejects every token: Kind must be set, and at least
// one identity named (Measurements or App), or AnyIdentity set. Hex values
// may be in any case; a pin that is not hex of its field's size, or a pin
// of the other TEE, makes every token rejected (ReasonNoExpectation).
type CVMExpectations struct {
	// Kind is the TEE the token must be for; a token of the other kind, or an
	// SGX token, is rejected (ReasonTEEKind). Zero: every token is rejected.
	Kind CVMKind
	// Measurements lists accepted launch measurements (48 bytes hex): MRTD
	// for TDX, MEASUREMENT for SEV-SNP. Empty: not checked.
	Measurements []string
	// App requires x-sgxops-app to equal it; Releases, if set, lists the
	// acceptable release names.
	App      string
	Releases []string
	// AnyIdentity accepts any measurement. Use it only when the identity is
	// checked otherwise (e.g. by the service's policy, trusted for that).
	AnyIdentity bool

	// RTMRs pins TDX runtime measurement registers by index (48 bytes hex);
	// "" leaves that register unchecked. TDX only.
	RTMRs [4]string
	// MRConfigID and MROwner pin the TDX fields of those names (48 bytes
	// hex). Empty: not checked. TDX only.
	MRConfigID string
	MROwner    string
	// HostData pins SEV-SNP HOST_DATA (32 bytes hex), which attestd binds to
	// SHA-256(initTimeData). Empty: not checked. SEV-SNP only.
	HostData string

	// AllowCandidate accepts a token for a candidate release (only a
	// rollout's test should). False: rejected.
	AllowCandidate bool
	// AllowDebug accepts a debug TD (TDATTRIBUTES.DEBUG) or a guest whose
	// policy allows debugging. False: rejected.
	AllowDebug bool
	// AllowSimulated accepts tokens for evidence from the simulated platform
	// (x-sgxops-simulated true). False: rejected.
	AllowSimulated bool
	// RuntimeData, when non-nil, must be bound by the token:
	// report_data[0:32] == SHA-256(RuntimeData), and maa-ehd (if present)
	// equals it. For an Azure HCL report report_data binds the HCL runtime
	// claims (the vTPM key and VM configuration): RuntimeData must then be
	// those exact bytes.
	RuntimeData []byte
	// Nonce, when non-empty, must equal the nonce claim.
	Nonce string
}

// CVMToken is a verified TdxVm or SevSnpVm token.
type CVMToken struct {
	Raw    string
	Claims map[string]any

	Issuer    string
	IssuedAt  time.Time
	NotBefore time.Time
	Expiry    time.Time
	KeyID     string

	Kind CVMKind
	// Measurement is MRTD (TDX) or MEASUREMENT (SEV-SNP), lowercase hex.
	Measurement string
	// RTMRs, MRConfigID and MROwner are the TDX fields (lowercase hex);
	// empty for SEV-SNP.
	RTMRs      [4]string
	MRConfigID string
	MROwner    string
	// HostData is SEV-SNP HOST_DATA (lowercase hex); empty for TDX.
	HostData string
	// ReportData is the TEE's 64 bytes of report data.
	ReportData []byte
	// Debug is TDATTRIBUTES.DEBUG (TDX) or the guest policy's DEBUG bit
	// (SEV-SNP).
	Debug bool
	// EnclaveHeldData is maa-ehd (runtime data sent as Binary), nil if absent.
	EnclaveHeldData []byte
	// RuntimeClaims is x-ms-runtime (runtime data sent as JSON, or an Azure
	// HCL report's runtime claims), nil if absent or not a JSON object.
	RuntimeClaims map[string]any

	// sgxops claims; empty for tokens of other MAA services (TCBStatus and
	// AdvisoryIDs then come from attester_tcb_status / attester_advisory_ids
	// where present).
	App          string
	Release      string
	ReleaseState string
	TCBStatus    string
	AdvisoryIDs  []string
	Simulated    bool
}

// VerifyCVM checks a TdxVm or SevSnpVm token from the pinned issuer against
// exp: the same header, key, signature, issuer and time checks as Verify,
// then the TEE kind, debug, simulation, runtime-data binding, measurement
// and pins, release and nonce. Errors are *Error.
func (c *Client) VerifyCVM(ctx context.Context, raw string, exp CVMExpectations) (*CVMToken, error) {
	if err := exp.validate(); err != nil {
		return nil, err
	}
	j, err := c.verifyJWS(ctx, raw)
	if err != nil {
		return nil, err
	}
	if err := j.attestationType(exp.Kind.String()); err != nil {
		return nil, err
	}
	t, err := parseCVM(j, exp.Kind)
	if err != nil {
		return nil, err
	}
	ev, ce := t.evidence(), exp.common()
	if err := checkPlatform(ev, ce); err != nil {
		return nil, err
	}
	if err := checkCVMIdentity(t, exp); err != nil {
		return nil, err
	}
	if err := checkRelease(ev, ce); err != nil {
		return nil, err
	}
	return t, nil
}

// validate refuses expectations that would check nothing or cannot match.
func (e CVMExpectations) validate() error {
	bad := func(format string, args ...any) error { return rejectf(ReasonNoExpectation, format, args...) }
	if e.Kind != KindTDX && e.Kind != KindSEVSNP {
		return bad("name the TEE kind to expect (KindTDX or KindSEVSNP)")
	}
	if len(e.Measurements) == 0 && e.App == "" && !e.AnyIdentity {
		return bad("name Measurements or an App to expect (or set AnyIdentity)")
	}
	tdxPinned := e.RTMRs != [4]string{} || e.MRConfigID != "" || e.MROwner != ""
	switch {
	case e.Kind == KindSEVSNP && tdxPinned:
		return bad("RTMRs, MRConfigID and MROwner are TDX fields; Kind is %s", e.Kind)
	case e.Kind == KindTDX && e.HostData != "":
		return bad("HostData is a SEV-SNP field; Kind is %s", e.Kind)
	}
	type pin struct {
		name, v string
		n       int
	}
	pins := []pin{{"MRConfigID", e.MRConfigID, 48}, {"MROwner", e.MROwner, 48}, {"HostData", e.HostData, 32}}
	for i, m := range e.Measurements {
		pins = append(pins, pin{fmt.Sprintf("Measurements[%d]", i), m, 48})
	}
	for i, r := range e.RTMRs {
		pins = append(pins, pin{fmt.Sprintf("RTMRs[%d]", i), r, 48})
	}
	for _, p := range pins {
		if b, err := hex.DecodeString(p.v); p.v != "" && (err != nil || len(b) != p.n) {
			return bad("%s %q is not %d bytes of hex", p.name, p.v, p.n)
		}
	}
	return nil
}

func (e CVMExpectations) common() common {
	return common{
		allowDebug: e.AllowDebug, allowSimulated: e.AllowSimulated, allowCandidate: e.AllowCandidate,
		runtimeData: e.RuntimeData, app: e.App, releases: e.Releases, nonce: e.Nonce,
	}
}

func (t *CVMToken) evidence() evidence {
	what := "the TD is debuggable (TDATTRIBUTES.DEBUG)"
	if t.Kind == KindSEVSNP {
		what = "the guest policy allows debugging"
	}
	return evidence{
		debug: t.Debug, debugWhat: what, simulated: t.Simulated,
		reportData: t.ReportData, ehd: t.EnclaveHeldData, ehdClaim: "maa-ehd",
		app: t.App, release: t.Release, state: t.ReleaseState, nonce: claimString(t.Claims, "nonce"),
	}
}

// checkCVMIdentity checks the measurement and the pinned TEE fields.
func checkCVMIdentity(t *CVMToken, e CVMExpectations) error {
	name := map[CVMKind]string{KindTDX: "MRTD", KindSEVSNP: "MEASUREMENT"}[t.Kind]
	if len(e.Measurements) > 0 && !slices.ContainsFunc(e.Measurements, func(m string) bool { return strings.EqualFold(m, t.Measurement) }) {
		return rejectf(ReasonMeasurement, "%s %s is not expected", name, t.Measurement)
	}
	for i, want := range e.RTMRs {
		if want != "" && !strings.EqualFold(want, t.RTMRs[i]) {
			return rejectf(ReasonMeasurement, "RTMR%d %s, want %s", i, t.RTMRs[i], strings.ToLower(want))
		}
	}
	for _, p := range []struct{ name, want, got string }{
		{"MRCONFIGID", e.MRConfigID, t.MRConfigID}, {"MROWNER", e.MROwner, t.MROwner}, {"HOST_DATA", e.HostData, t.HostData},
	} {
		if p.want != "" && !strings.EqualFold(p.want, p.got) {
			return rejectf(ReasonMeasurement, "%s %s, want %s", p.name, p.got, strings.ToLower(p.want))
		}
	}
	return nil
}

// parseCVM reads MAA's TdxVm (TDX EAT profile) or SevSnpVm claims with
// their JSON types; x-ms-attestation-type has been checked.
func parseCVM(j *jwt, kind CVMKind) (*CVMToken, error) {
	m := j.claims
	t := &CVMToken{Raw: j.raw, Claims: m, Issuer: j.iss, IssuedAt: j.iat, NotBefore: j.nbf, Expiry: j.exp, KeyID: j.kid, Kind: kind}
	var err error
	var rd string
	if kind == KindTDX {
		for _, f := range []struct {
			name string
			dst  *string
			n    int
		}{
			{"tdx_mrtd", &t.Measurement, 48}, {"tdx_rtmr0", &t.RTMRs[0], 48}, {"tdx_rtmr1", &t.RTMRs[1], 48},
			{"tdx_rtmr2", &t.RTMRs[2], 48}, {"tdx_rtmr3", &t.RTMRs[3], 48}, {"tdx_mrconfigid", &t.MRConfigID, 48},
			{"tdx_mrowner", &t.MROwner, 48}, {"tdx_report_data", &rd, 64},
		} {
			if *f.dst, err = m.hexN(f.name, f.n); err != nil {
				return nil, err
			}
		}
		if t.Debug, err = m.boolean("tdx_td_attributes_debug", true); err != nil {
			return nil, err
		}
	} else {
		for _, f := range []struct {
			name string
			dst  *string
			n    int
		}{
			{"x-ms-sevsnpvm-launchmeasurement", &t.Measurement, 48}, {"x-ms-sevsnpvm-hostdata", &t.HostData, 32},
			{"x-ms-sevsnpvm-reportdata", &rd, 64},
		} {
			if *f.dst, err = m.hexN(f.name, f.n); err != nil {
				return nil, err
			}
		}
		if t.Debug, err = m.boolean("x-ms-sevsnpvm-is-debuggable", true); err != nil {
			return nil, err
		}
	}
	t.ReportData, _ = hex.DecodeString(rd)
	if t.EnclaveHeldData, err = m.b64("maa-ehd"); err != nil {
		return nil, err
	}
	if v, ok := m["x-ms-runtime"]; ok {
		t.RuntimeClaims, _ = v.(map[string]any)
	}
	s, err := m.sgxops()
	if err != nil {
		return nil, err
	}
	t.App, t.Release, t.ReleaseState, t.TCBStatus = s.app, s.release, s.state, s.tcbStatus
	t.AdvisoryIDs, t.Simulated = s.advisoryIDs, s.simulated
	if t.TCBStatus == "" {
		if t.TCBStatus, err = m.str("attester_tcb_status", false); err != nil {
			return nil, err
		}
	}
	if t.AdvisoryIDs == nil {
		if t.AdvisoryIDs, err = m.strs("attester_advisory_ids"); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// String summarises the token for humans.
func (t *CVMToken) String() string {
	s := fmt.Sprintf("%s measurement %s debug %v", t.Kind, t.Measurement, t.Debug)
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
