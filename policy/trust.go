package policy

import (
	"fmt"
	"strings"
	"time"

	"github.com/sgxops/sgxops/release"
)

// Evidence.TEE values (MAA's attestation types).
const (
	TEESGX    = "sgx"      // an SGX enclave
	TEETDX    = "tdxvm"    // a TDX trust domain
	TEESEVSNP = "sevsnpvm" // an SEV-SNP guest
)

// TCBUpToDate is the only TCB status accepted when App.AcceptedTCBStatuses is empty.
const TCBUpToDate = "UpToDate"

// tcbRevoked is never accepted, whatever the allow-list says.
const tcbRevoked = "Revoked"

// AnyAdvisory in App.AcceptedAdvisoryIDs accepts every advisory ID.
const AnyAdvisory = "*"

// TrustSet is the reference values attestd appraises evidence against.
type TrustSet struct {
	Apps []App
}

// App is one application: its releases and how strict its platform rules are.
// The zero value of every field is the strict choice.
type App struct {
	// Name identifies the app; Request.App selects it.
	Name string
	// Releases are the app's measurements with their lifecycle state. The App
	// a release is listed under is authoritative; Release.App is not consulted.
	Releases []release.Release
	// AcceptedTCBStatuses is the allow-list of DCAP TCB statuses (e.g.
	// "UpToDate", "SWHardeningNeeded"). Empty: only "UpToDate". "Revoked" is
	// never accepted, even if listed.
	AcceptedTCBStatuses []string
	// AcceptedAdvisoryIDs is the allow-list of Intel security advisories (e.g.
	// "INTEL-SA-00615") that evidence may carry; every advisory of the
	// evidence must be listed. Empty: evidence with any advisory is rejected.
	// AnyAdvisory ("*") accepts all advisories.
	AcceptedAdvisoryIDs []string
	// AllowDebug accepts debug enclaves. False: debug enclaves are rejected.
	AllowDebug bool
	// AllowSimulated accepts evidence from the simulated platform. False:
	// simulated evidence is rejected.
	AllowSimulated bool
}

// Evidence is what attestd learned from a verified quote: the enclave identity
// and the DCAP verdict.
type Evidence struct {
	TEE         string // TEESGX
	MREnclave   string // hex, 32 bytes (case-insensitive; lowercase by convention)
	MRSigner    string // hex, 32 bytes
	ISVProdID   uint16
	ISVSVN      uint16
	Debug       bool     // ATTRIBUTES.DEBUG set
	TCBStatus   string   // DCAP TCB status, e.g. "UpToDate"
	AdvisoryIDs []string // advisories of the matched TCB level
	Simulated   bool     // the quote came from the simulated platform

	// TDX (TEE TEETDX): lowercase hex, 48 bytes each. Debug is TDATTRIBUTES.DEBUG.
	MRTD   string
	RTMRs  [4]string
	MRSEAM string
	// SEV-SNP (TEE TEESEVSNP): lowercase hex. Debug is the guest policy's
	// DEBUG bit; MigrationAgent its MIGRATE_MA bit. TCBStatus is empty: AMD
	// publishes no status enum (the TCB is checked by package snp).
	Measurement    string // 48 bytes
	HostData       string // 32 bytes
	FamilyID       string // 16 bytes
	ImageID        string // 16 bytes
	MigrationAgent bool
}

// Request says what the caller asks to be appraised.
type Request struct {
	// App restricts matching to the app of that name. Empty: releases of all
	// apps are searched.
	App string
	// Candidate names a candidate release the caller explicitly asks for (a
	// rollout's test). Empty: candidate releases are not accepted.
	Candidate string
	// Now is the time drain windows are checked against. Zero: time.Now().
	Now time.Time
}

// Match kinds for Result.MatchedBy.
const (
	// MatchMREnclave: the release's MREnclave equals the evidence's.
	MatchMREnclave = "mrenclave"
	// MatchMRSigner: the release has no MREnclave; MRSigner and ISVProdID are
	// equal and ISVSVN >= MinISVSVN.
	MatchMRSigner = "mrsigner"
	// MatchMRTD: a TDX release's MRTD (and the RTMRs and MRSEAM it names) equal the evidence's.
	MatchMRTD = "mrtd"
	// MatchMeasurement: an SEV-SNP release's MEASUREMENT (and the HOST_DATA,
	// FAMILY_ID and IMAGE_ID it names) equal the evidence's.
	MatchMeasurement = "measurement"
)

// Result is the outcome of Appraise.
type Result struct {
	Accepted     bool
	App          string        // app of the release reported; empty if none matched
	Release      string        // name of the matched release; empty if none
	ReleaseState release.State // state of that release
	MatchedBy    string        // MatchMREnclave or MatchMRSigner; empty if none
	// Codes and Reasons list why evidence was rejected, in the same order
	// (Reasons[i] explains Codes[i]); both empty when accepted.
	Codes   []Reason
	Reasons []string
}

// Reason is why Appraise rejected evidence.
type Reason string

// Rejection reasons.
const (
	ReasonInvalidEvidence          Reason = "invalid_evidence"            // malformed MREnclave/MRSigner
	ReasonUnsupportedTEE           Reason = "unsupported_tee"             // Evidence.TEE is not sgx, tdxvm or sevsnpvm
	ReasonUnknownApp               Reason = "unknown_app"                 // Request.App names no app
	ReasonNoMatchingRelease        Reason = "no_matching_release"         // no release has this identity
	ReasonReleaseRevoked           Reason = "release_revoked"             // the release was revoked
	ReasonReleaseRetired           Reason = "release_retired"             // the release was retired
	ReasonDrainExpired             Reason = "drain_expired"               // draining and DrainUntil passed (or unset)
	ReasonCandidateNotRequested    Reason = "candidate_not_requested"     // candidate release, Request.Candidate names another
	ReasonInvalidReleaseState      Reason = "invalid_release_state"       // unknown release state
	ReasonDebugNotAllowed          Reason = "debug_not_allowed"           // debug enclave, App.AllowDebug false
	ReasonSimulatedNotAllowed      Reason = "simulated_not_allowed"       // simulated evidence, App.AllowSimulated false
	ReasonTCBStatusNotAccepted     Reason = "tcb_status_not_accepted"     // TCB status not in the allow-list
	ReasonAdvisoryNotAccepted      Reason = "advisory_not_accepted"       // an advisory not in the allow-list
	ReasonMigrationAgentNotAllowed Reason = "migration_agent_not_allowed" // SEV-SNP guest policy allows a migration agent
)

// RejectError is the error Appraise returns with a rejecting Result. It
// matches ErrRejected with errors.Is.
type RejectError struct {
	Reason  Reason // the first of Codes
	App     string
	Release string
	Detail  string   // explanation of Reason, e.g. the revocation reason
	Codes   []Reason // every reason found
}

func (e *RejectError) Error() string {
	s := "policy: evidence rejected: " + string(e.Reason)
	if e.App != "" {
		s += fmt.Sprintf(" (app %q", e.App)
		if e.Release != "" {
			s += fmt.Sprintf(", release %q", e.Release)
		}
		s += ")"
	}
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	if len(e.Codes) > 1 {
		rest := make([]string, 0, len(e.Codes)-1)
		for _, c := range e.Codes[1:] {
			rest = append(rest, string(c))
		}
		s += " (also: " + strings.Join(rest, ", ") + ")"
	}
	return s
}

// Is reports whether target is ErrRejected.
func (e *RejectError) Is(target error) bool { return target == ErrRejected }
