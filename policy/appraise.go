package policy

import (
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/sgxops/sgxops/release"
)

// Appraise decides whether evidence is trusted by ts.
//
// A release matches when its MREnclave equals the evidence's, or, when its
// MREnclave is empty, when MRSigner and ISVProdID are equal and the evidence's
// ISVSVN >= MinISVSVN. With req.App empty the releases of all apps are
// searched. Each match is judged by its state (active: accepted; draining:
// accepted while req.Now is before DrainUntil; candidate: accepted only when
// req.Candidate names it; retired and revoked: rejected) and by its app's
// platform rules (debug, simulation, TCB status, advisories).
//
// A revoked match rejects the evidence even if another release would accept
// it: revocation is distrust of the measurement. Otherwise the best accepted
// match wins: the requested candidate, then MREnclave over MRSigner matches,
// then active over draining over candidate, then trust-set order.
//
// On acceptance Appraise returns the Result and a nil error. On rejection it
// returns a Result with Accepted false and its reasons, and a *RejectError.
// Appraise neither modifies nor retains ts.
func Appraise(ev Evidence, ts TrustSet, req Request) (*Result, error) {
	now := req.Now
	if now.IsZero() {
		now = time.Now()
	}
	var j judgement
	var mre, mrs string
	var errE, errS error
	switch ev.TEE {
	case TEESGX:
		mre, errE = normHex32(ev.MREnclave)
		mrs, errS = normHex32(ev.MRSigner)
	case TEETDX, TEESEVSNP:
		if err := checkCVMEvidence(&ev); err != nil {
			j.add(ReasonInvalidEvidence, err.Error())
			return reject(&Result{App: req.App}, j)
		}
	default:
		j.add(ReasonUnsupportedTEE, fmt.Sprintf("TEE %q is not %q, %q or %q", ev.TEE, TEESGX, TEETDX, TEESEVSNP))
		return reject(&Result{App: req.App}, j)
	}
	if errE != nil || errS != nil {
		if errE != nil {
			j.add(ReasonInvalidEvidence, "MREnclave: "+errE.Error())
		}
		if errS != nil {
			j.add(ReasonInvalidEvidence, "MRSigner: "+errS.Error())
		}
		return reject(&Result{App: req.App}, j)
	}

	apps := ts.Apps
	if req.App != "" {
		i := slices.IndexFunc(ts.Apps, func(a App) bool { return a.Name == req.App })
		if i < 0 {
			j.add(ReasonUnknownApp, fmt.Sprintf("no app named %q", req.App))
			return reject(&Result{App: req.App}, j)
		}
		apps = ts.Apps[i : i+1]
	}

	var matches []match
	for ai := range apps {
		for ri := range apps[ai].Releases {
			r := &apps[ai].Releases[ri]
			by := matchRelease(r, mre, mrs, ev.ISVProdID, ev.ISVSVN)
			if ev.TEE != TEESGX {
				by = matchCVM(r, &ev)
			}
			if by != "" {
				m := match{app: &apps[ai], rel: r, by: by, order: len(matches)}
				m.j = judge(ev, m.app, r, req.Candidate, now)
				matches = append(matches, m)
			}
		}
	}
	if len(matches) == 0 {
		j.add(ReasonNoMatchingRelease, noMatchText(ev, mre, mrs))
		if req.App != "" {
			j.platform(ev, &apps[0]) // the app is known: report its platform findings too
		}
		return reject(&Result{App: req.App}, j)
	}

	for _, m := range matches {
		if m.rel.State == release.Revoked {
			return reject(m.result(), m.j)
		}
	}
	best := -1
	for i := range matches {
		if len(matches[i].j.codes) > 0 {
			continue
		}
		if best < 0 || matches[i].better(matches[best], req.Candidate) {
			best = i
		}
	}
	if best >= 0 {
		res := matches[best].result()
		res.Accepted = true
		return res, nil
	}
	for i := range matches {
		if best < 0 || matches[i].better(matches[best], req.Candidate) {
			best = i
		}
	}
	return reject(matches[best].result(), matches[best].j)
}

// judgement collects rejection findings.
type judgement struct {
	codes   []Reason
	reasons []string
}

func (j *judgement) add(c Reason, text string) {
	j.codes = append(j.codes, c)
	j.reasons = append(j.reasons, string(c)+": "+text)
}

type match struct {
	app   *App
	rel   *release.Release
	by    string
	order int
	j     judgement
}

func (m *match) result() *Result {
	return &Result{App: m.app.Name, Release: m.rel.Name, ReleaseState: m.rel.State, MatchedBy: m.by}
}

// better reports whether m ranks before o.
func (m *match) better(o match, candidate string) bool {
	mc := candidate != "" && m.rel.Name == candidate && m.rel.State == release.Candidate
	oc := candidate != "" && o.rel.Name == candidate && o.rel.State == release.Candidate
	if mc != oc {
		return mc
	}
	if (m.by == MatchMREnclave) != (o.by == MatchMREnclave) { // CVM matches are all of one kind
		return m.by == MatchMREnclave
	}
	if sm, so := stateRank(m.rel.State), stateRank(o.rel.State); sm != so {
		return sm < so
	}
	return m.order < o.order
}

func stateRank(s release.State) int {
	switch s {
	case release.Active:
		return 0
	case release.Draining:
		return 1
	case release.Candidate:
		return 2
	case release.Retired:
		return 3
	}
	return 4
}

func reject(res *Result, j judgement) (*Result, error) {
	res.Accepted = false
	res.Codes, res.Reasons = j.codes, j.reasons
	detail := strings.TrimPrefix(j.reasons[0], string(j.codes[0])+": ")
	return res, &RejectError{Reason: j.codes[0], App: res.App, Release: res.Release, Detail: detail, Codes: slices.Clone(j.codes)}
}

// matchRelease returns how r matches the identity, or "".
func matchRelease(r *release.Release, mre, mrs string, prodID, svn uint16) string {
	if r.TEE() != release.TEESGX {
		return ""
	}
	if r.MREnclave != "" {
		if strings.EqualFold(r.MREnclave, mre) {
			return MatchMREnclave
		}
		return ""
	}
	if r.MRSigner != "" && strings.EqualFold(r.MRSigner, mrs) && r.ISVProdID == prodID && svn >= r.MinISVSVN {
		return MatchMRSigner
	}
	return ""
}

// judge applies the release state and the app's platform rules.
func judge(ev Evidence, app *App, r *release.Release, candidate string, now time.Time) judgement {
	var j judgement
	switch r.State {
	case release.Active:
	case release.Draining:
		switch {
		case r.DrainUntil.IsZero():
			j.add(ReasonDrainExpired, "draining release has no drain deadline")
		case r.DrainExpired(now): // now at or after DrainUntil
			j.add(ReasonDrainExpired, "drain window ended at "+r.DrainUntil.UTC().Format(time.RFC3339))
		}
	case release.Candidate:
		if candidate != r.Name {
			j.add(ReasonCandidateNotRequested, "candidate release is accepted only when the request names it")
		}
	case release.Retired:
		j.add(ReasonReleaseRetired, "release is retired")
	case release.Revoked:
		reason := r.RevokedReason
		if reason == "" {
			reason = "no reason recorded"
		}
		j.add(ReasonReleaseRevoked, "release is revoked: "+reason)
	default:
		j.add(ReasonInvalidReleaseState, fmt.Sprintf("release state %q is unknown", r.State))
	}
	j.platform(ev, app)
	return j
}

// platform applies the app's debug, simulation, TCB and advisory rules.
func (j *judgement) platform(ev Evidence, app *App) {
	if ev.Debug && !app.AllowDebug {
		j.add(ReasonDebugNotAllowed, "enclave is debuggable and the app does not allow debug enclaves")
	}
	if ev.MigrationAgent {
		j.add(ReasonMigrationAgentNotAllowed, "the SEV-SNP guest policy allows a migration agent (MIGRATE_MA), which can export the guest's memory")
	}
	if ev.Simulated && !app.AllowSimulated {
		j.add(ReasonSimulatedNotAllowed, "evidence is from the simulated platform and the app does not allow simulation")
	}
	if ev.TEE == TEESEVSNP {
		return // no TCB status or advisories: package snp checked the TCB
	}
	accepted := app.AcceptedTCBStatuses
	if len(accepted) == 0 {
		accepted = []string{TCBUpToDate}
	}
	switch {
	case ev.TCBStatus == tcbRevoked:
		j.add(ReasonTCBStatusNotAccepted, "TCB status Revoked is never accepted")
	case ev.TCBStatus == "" || !slices.Contains(accepted, ev.TCBStatus):
		j.add(ReasonTCBStatusNotAccepted, fmt.Sprintf("TCB status %q not in %q", ev.TCBStatus, accepted))
	}
	if slices.Contains(app.AcceptedAdvisoryIDs, AnyAdvisory) {
		return
	}
	var bad []string
	for _, id := range ev.AdvisoryIDs {
		if !slices.ContainsFunc(app.AcceptedAdvisoryIDs, func(a string) bool { return a != "" && strings.EqualFold(a, id) }) {
			bad = append(bad, id)
		}
	}
	if len(bad) > 0 {
		j.add(ReasonAdvisoryNotAccepted, fmt.Sprintf("advisories %q not in the accepted list", bad))
	}
}

// normHex32 lowercases a 32-byte hex string and checks it.
func normHex32(s string) (string, error) {
	if len(s) != 64 {
		return "", fmt.Errorf("want 64 hex characters, got %d", len(s))
	}
	s = strings.ToLower(s)
	if _, err := hex.DecodeString(s); err != nil {
		return "", fmt.Errorf("not hex: %v", err)
	}
	return s, nil
}
