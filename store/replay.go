package store

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"

	"github.com/sgxops/sgxops/audit"
	"github.com/sgxops/sgxops/release"
)

// State is the trust set that replaying an audit log yields.
type State struct {
	// Releases by app and name, and the entry that recorded each.
	Releases   map[ReleaseKey]ReleaseRecord
	ReleaseSeq map[ReleaseKey]uint64
	// Policies by attestation type (reset policies are absent).
	Policies map[string]ReplayedPolicy
	// PolicyCerts is the certificate set, nil when no entry recorded one.
	PolicyCerts *ReplayedPolicyCerts
	// Unproven lists objects written by entries that predate state records
	// (logs of versions before them): their state cannot be replayed.
	Unproven Unproven
	// Entries is the number of entries replayed.
	Entries uint64
}

// ReleaseKey names a release.
type ReleaseKey struct{ App, Name string }

// ReplayedPolicy is a policy as the log records it.
type ReplayedPolicy struct {
	PolicyState
	Revision uint64
	Seq      uint64 // the entry that recorded it
}

// ReplayedPolicyCerts is the certificate set as the log records it.
type ReplayedPolicyCerts struct {
	PolicyCertsState
	Revision uint64
	Seq      uint64
}

// Unproven names the objects whose last write the log does not describe.
type Unproven struct {
	Releases    map[ReleaseKey]uint64 // seq of the entry
	Policies    map[string]uint64
	AllPolicies bool // a policy entry without attestation_type
	PolicyCerts bool
}

// Count returns the number of unproven objects.
func (u Unproven) Count() int {
	n := len(u.Releases) + len(u.Policies)
	if u.PolicyCerts {
		n++
	}
	return n
}

// Names returns the unproven objects as VerifyState names them, sorted.
func (u Unproven) Names() []string {
	var out []string
	for _, k := range slices.SortedFunc(maps.Keys(u.Releases), compareKeys) {
		out = append(out, "release "+k.App+"/"+k.Name)
	}
	for _, t := range slices.Sorted(maps.Keys(u.Policies)) {
		out = append(out, "policy "+t)
	}
	if u.AllPolicies {
		out = append(out, "policies")
	}
	if u.PolicyCerts {
		out = append(out, "policy-certificates")
	}
	return out
}

func compareKeys(a, b ReleaseKey) int {
	if a.App != b.App {
		if a.App < b.App {
			return -1
		}
		return 1
	}
	switch {
	case a.Name < b.Name:
		return -1
	case a.Name > b.Name:
		return 1
	}
	return 0
}

// Replayer applies audit entries one at a time (so that a long log is
// replayed page by page); the zero value is ready.
type Replayer struct {
	st        State
	withState bool // an entry with a state record was seen
}

// ReplayError reports an entry whose state record cannot be applied.
type ReplayError struct {
	Seq uint64
	Err error
}

func (e *ReplayError) Error() string {
	return fmt.Sprintf("store: replaying audit entry %d: %v", e.Seq, e.Err)
}

// Unwrap returns the cause.
func (e *ReplayError) Unwrap() error { return e.Err }

// Is reports whether target is ErrStateMismatch.
func (e *ReplayError) Is(target error) bool { return target == ErrStateMismatch }

// releaseActions and friends are the actions that wrote objects before state
// records existed; such entries make their object unproven.
var (
	releaseActions = []audit.Action{audit.ActionRegister, audit.ActionActivate, audit.ActionDrain, audit.ActionRetire, audit.ActionRevoke}
	policyActions  = []audit.Action{audit.ActionPolicySet, audit.ActionPolicyReset}
	certActions    = []audit.Action{audit.ActionPolicyCertAdd, audit.ActionPolicyCertRemove}
)

// Apply replays e, which must follow the entries applied before (callers
// verify the chain). Entries without a state record that precede the first
// entry with one are from a version before state records: the objects they
// name become unproven until an entry records their state. Later entries
// without a state record wrote nothing.
func (r *Replayer) Apply(e audit.Entry) error {
	r.st.Entries++
	rs, hasRel := e.Details[DetailReleaseState]
	ps, hasPol := e.Details[DetailPolicyState]
	cs, hasCerts := e.Details[DetailPolicyCertsState]
	if !hasRel && !hasPol && !hasCerts {
		if !r.withState {
			r.legacy(e)
		}
		return nil
	}
	r.withState = true
	fail := func(format string, args ...any) error {
		return &ReplayError{Seq: e.Seq, Err: fmt.Errorf(format, args...)}
	}
	rev, err := strconv.ParseUint(e.Details[DetailRevision], 10, 64)
	if err != nil || rev == 0 {
		return fail("%s %q: want a revision above 0", DetailRevision, e.Details[DetailRevision])
	}
	if hasRel {
		var rel release.Release
		if err := json.Unmarshal([]byte(rs), &rel); err != nil {
			return fail("%s: %v", DetailReleaseState, err)
		}
		if rel.App != e.App || rel.Name != e.Release {
			return fail("%s holds release %s/%s, the entry names %s/%s", DetailReleaseState, rel.App, rel.Name, e.App, e.Release)
		}
		k := ReleaseKey{rel.App, rel.Name}
		if r.st.Releases == nil {
			r.st.Releases, r.st.ReleaseSeq = map[ReleaseKey]ReleaseRecord{}, map[ReleaseKey]uint64{}
		}
		r.st.Releases[k], r.st.ReleaseSeq[k] = ReleaseRecord{Release: rel, Revision: rev}, e.Seq
		delete(r.st.Unproven.Releases, k)
	}
	if hasPol {
		var p PolicyState
		if err := json.Unmarshal([]byte(ps), &p); err != nil || p.Type == "" {
			return fail("%s: malformed: %v", DetailPolicyState, err)
		}
		if r.st.Policies == nil {
			r.st.Policies = map[string]ReplayedPolicy{}
		}
		if p.Reset {
			delete(r.st.Policies, p.Type)
		} else {
			r.st.Policies[p.Type] = ReplayedPolicy{PolicyState: p, Revision: rev, Seq: e.Seq}
		}
		delete(r.st.Unproven.Policies, p.Type)
	}
	if hasCerts {
		var c PolicyCertsState
		if err := json.Unmarshal([]byte(cs), &c); err != nil {
			return fail("%s: %v", DetailPolicyCertsState, err)
		}
		r.st.PolicyCerts = &ReplayedPolicyCerts{PolicyCertsState: c, Revision: rev, Seq: e.Seq}
		r.st.Unproven.PolicyCerts = false
	}
	return nil
}

func (r *Replayer) legacy(e audit.Entry) {
	u := &r.st.Unproven
	switch {
	case slices.Contains(releaseActions, e.Action) && e.App != "" && e.Release != "":
		if u.Releases == nil {
			u.Releases = map[ReleaseKey]uint64{}
		}
		u.Releases[ReleaseKey{e.App, e.Release}] = e.Seq
	case slices.Contains(policyActions, e.Action):
		if t := e.Details["attestation_type"]; t != "" {
			if u.Policies == nil {
				u.Policies = map[string]uint64{}
			}
			u.Policies[t] = e.Seq
		} else {
			u.AllPolicies = true
		}
	case slices.Contains(certActions, e.Action):
		u.PolicyCerts = true
	}
}

// State returns the state replayed so far (shared with r: do not modify).
func (r *Replayer) State() State { return r.st }

// Replay replays entries from the start of a log (see Replayer.Apply). It
// does not verify the chain; VerifyState does both.
func Replay(entries []audit.Entry) (State, error) {
	var r Replayer
	for _, e := range entries {
		if err := r.Apply(e); err != nil {
			return State{}, err
		}
	}
	return r.State(), nil
}
