package policy

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sgxops/sgxops/release"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func h(c string) string { return strings.Repeat(c, 64) }

func rel(name, mre string, st release.State) release.Release {
	return release.Release{Name: name, MREnclave: h(mre), State: st}
}

// testTrustSet exercises every state, both match kinds and the app options.
func testTrustSet() TrustSet {
	draining := rel("v1", "a", release.Draining)
	draining.DrainUntil = t0.Add(time.Hour)
	expired := rel("old", "f", release.Draining)
	expired.DrainUntil = t0.Add(-time.Second)
	revoked := rel("bad", "e", release.Revoked)
	revoked.RevokedReason = "INTEL-SA-00999 key leak"
	mixedRevoked := rel("m-bad", "1", release.Revoked)
	return TrustSet{Apps: []App{
		{Name: "pay", Releases: []release.Release{
			draining,
			rel("v2", "b", release.Active),
			rel("v3", "c", release.Candidate),
			rel("v0", "d", release.Retired),
			revoked,
			{Name: "signed", MRSigner: h("7"), ISVProdID: 7, MinISVSVN: 3, State: release.Active},
			expired,
			rel("nodeadline", "9", release.Draining),
			rel("weird", "8", "paused"),
		}},
		{Name: "lab", AllowDebug: true, AllowSimulated: true,
			AcceptedTCBStatuses: []string{"UpToDate", "SWHardeningNeeded"},
			AcceptedAdvisoryIDs: []string{"INTEL-SA-00615"},
			Releases:            []release.Release{rel("lab1", "0", release.Active), rel("lab-b", "b", release.Active)}},
		{Name: "wild", AcceptedTCBStatuses: []string{"SWHardeningNeeded", "Revoked"}, AcceptedAdvisoryIDs: []string{AnyAdvisory},
			Releases: []release.Release{rel("w1", "3", release.Active)}},
		{Name: "mixed", Releases: []release.Release{
			mixedRevoked,
			{Name: "fam", MRSigner: h("6"), ISVProdID: 1, State: release.Active},
			rel("m-retired", "2", release.Retired),
			rel("m-cand", "4", release.Candidate),
			rel("m-exact", "5", release.Active),
		}},
	}}
}

func TestAppraise(t *testing.T) {
	base := Evidence{TEE: TEESGX, MREnclave: h("b"), MRSigner: h("5"), ISVProdID: 1, ISVSVN: 1, TCBStatus: "UpToDate"}
	with := func(f func(*Evidence)) Evidence {
		ev := base
		f(&ev)
		return ev
	}
	mre := func(c string) Evidence { return with(func(e *Evidence) { e.MREnclave = h(c) }) }
	signer := func(c string, prod, svn uint16) Evidence {
		return with(func(e *Evidence) {
			e.MREnclave, e.MRSigner, e.ISVProdID, e.ISVSVN = strings.Repeat("fe", 32), h(c), prod, svn
		})
	}
	tests := []struct {
		name    string
		ev      Evidence
		req     Request
		release string // release reported ("" if none)
		app     string
		state   release.State
		by      string
		codes   []Reason // nil: accepted
	}{
		{"active", base, Request{Now: t0}, "v2", "pay", release.Active, MatchMREnclave, nil},
		{"uppercase evidence hex", with(func(e *Evidence) { e.MREnclave = strings.ToUpper(h("b")) }), Request{Now: t0}, "v2", "pay", release.Active, MatchMREnclave, nil},
		{"draining in window", mre("a"), Request{Now: t0}, "v1", "pay", release.Draining, MatchMREnclave, nil},
		{"draining 1ns before deadline", mre("a"), Request{Now: t0.Add(time.Hour - 1)}, "v1", "pay", release.Draining, MatchMREnclave, nil},
		{"draining at deadline", mre("a"), Request{Now: t0.Add(time.Hour)}, "v1", "pay", release.Draining, MatchMREnclave, []Reason{ReasonDrainExpired}},
		{"draining expired", mre("f"), Request{Now: t0}, "old", "pay", release.Draining, MatchMREnclave, []Reason{ReasonDrainExpired}},
		{"draining without deadline", mre("9"), Request{Now: t0}, "nodeadline", "pay", release.Draining, MatchMREnclave, []Reason{ReasonDrainExpired}},
		{"candidate not requested", mre("c"), Request{Now: t0}, "v3", "pay", release.Candidate, MatchMREnclave, []Reason{ReasonCandidateNotRequested}},
		{"candidate requested", mre("c"), Request{Now: t0, Candidate: "v3"}, "v3", "pay", release.Candidate, MatchMREnclave, nil},
		{"other candidate requested", mre("c"), Request{Now: t0, Candidate: "v9"}, "v3", "pay", release.Candidate, MatchMREnclave, []Reason{ReasonCandidateNotRequested}},
		{"candidate name does not restrict others", base, Request{Now: t0, Candidate: "v3"}, "v2", "pay", release.Active, MatchMREnclave, nil},
		{"retired", mre("d"), Request{Now: t0}, "v0", "pay", release.Retired, MatchMREnclave, []Reason{ReasonReleaseRetired}},
		{"revoked", mre("e"), Request{Now: t0}, "bad", "pay", release.Revoked, MatchMREnclave, []Reason{ReasonReleaseRevoked}},
		{"unknown state", mre("8"), Request{Now: t0}, "weird", "pay", "paused", MatchMREnclave, []Reason{ReasonInvalidReleaseState}},
		{"no match", with(func(e *Evidence) { e.MREnclave = strings.Repeat("cd", 32) }), Request{Now: t0}, "", "", "", "", []Reason{ReasonNoMatchingRelease}},
		{"signer at min svn", signer("7", 7, 3), Request{Now: t0}, "signed", "pay", release.Active, MatchMRSigner, nil},
		{"signer max svn", signer("7", 7, 65535), Request{Now: t0}, "signed", "pay", release.Active, MatchMRSigner, nil},
		{"signer below min svn", signer("7", 7, 2), Request{Now: t0}, "", "", "", "", []Reason{ReasonNoMatchingRelease}},
		{"signer other product", signer("7", 8, 3), Request{Now: t0}, "", "", "", "", []Reason{ReasonNoMatchingRelease}},
		{"debug rejected by default", with(func(e *Evidence) { e.Debug = true }), Request{Now: t0, App: "pay"}, "v2", "pay", release.Active, MatchMREnclave, []Reason{ReasonDebugNotAllowed}},
		{"simulated rejected by default", with(func(e *Evidence) { e.Simulated = true }), Request{Now: t0, App: "pay"}, "v2", "pay", release.Active, MatchMREnclave, []Reason{ReasonSimulatedNotAllowed}},
		{"only UpToDate by default", with(func(e *Evidence) { e.TCBStatus = "SWHardeningNeeded" }), Request{Now: t0, App: "pay"}, "v2", "pay", release.Active, MatchMREnclave, []Reason{ReasonTCBStatusNotAccepted}},
		{"OutOfDate rejected", with(func(e *Evidence) { e.TCBStatus = "OutOfDate" }), Request{Now: t0, App: "pay"}, "v2", "pay", release.Active, MatchMREnclave, []Reason{ReasonTCBStatusNotAccepted}},
		{"empty TCB status rejected", with(func(e *Evidence) { e.TCBStatus = "" }), Request{Now: t0, App: "pay"}, "v2", "pay", release.Active, MatchMREnclave, []Reason{ReasonTCBStatusNotAccepted}},
		{"advisory rejected by default", with(func(e *Evidence) { e.AdvisoryIDs = []string{"INTEL-SA-00615"} }), Request{Now: t0, App: "pay"}, "v2", "pay", release.Active, MatchMREnclave, []Reason{ReasonAdvisoryNotAccepted}},
		{"lab allows debug, simulation, hardening and listed advisory", with(func(e *Evidence) {
			e.MREnclave, e.Debug, e.Simulated, e.TCBStatus, e.AdvisoryIDs = h("0"), true, true, "SWHardeningNeeded", []string{"intel-sa-00615"}
		}), Request{Now: t0}, "lab1", "lab", release.Active, MatchMREnclave, nil},
		{"lab rejects unlisted advisory", with(func(e *Evidence) {
			e.MREnclave, e.AdvisoryIDs = h("0"), []string{"INTEL-SA-00615", "INTEL-SA-00657"}
		}), Request{Now: t0}, "lab1", "lab", release.Active, MatchMREnclave, []Reason{ReasonAdvisoryNotAccepted}},
		{"wildcard advisories", with(func(e *Evidence) {
			e.MREnclave, e.TCBStatus, e.AdvisoryIDs = h("3"), "SWHardeningNeeded", []string{"INTEL-SA-00657", "INTEL-SA-00767"}
		}), Request{Now: t0}, "w1", "wild", release.Active, MatchMREnclave, nil},
		{"TCB Revoked never accepted", with(func(e *Evidence) { e.MREnclave, e.TCBStatus = h("3"), "Revoked" }), Request{Now: t0}, "w1", "wild", release.Active, MatchMREnclave, []Reason{ReasonTCBStatusNotAccepted}},
		{"all reasons reported", with(func(e *Evidence) {
			e.MREnclave, e.Debug, e.Simulated, e.TCBStatus, e.AdvisoryIDs = h("d"), true, true, "OutOfDate", []string{"INTEL-SA-00657"}
		}), Request{Now: t0}, "v0", "pay", release.Retired, MatchMREnclave,
			[]Reason{ReasonReleaseRetired, ReasonDebugNotAllowed, ReasonSimulatedNotAllowed, ReasonTCBStatusNotAccepted, ReasonAdvisoryNotAccepted}},
		{"app restricts search", mre("0"), Request{Now: t0, App: "pay"}, "", "pay", "", "", []Reason{ReasonNoMatchingRelease}},
		{"no match in named app reports platform too", with(func(e *Evidence) { e.MREnclave, e.Debug = h("0"), true }), Request{Now: t0, App: "pay"}, "", "pay", "", "",
			[]Reason{ReasonNoMatchingRelease, ReasonDebugNotAllowed}},
		{"unknown app", base, Request{Now: t0, App: "nope"}, "", "nope", "", "", []Reason{ReasonUnknownApp}},
		{"all apps searched", mre("0"), Request{Now: t0}, "lab1", "lab", release.Active, MatchMREnclave, nil},
		{"other app accepts debug of same measurement", with(func(e *Evidence) { e.Debug = true }), Request{Now: t0}, "lab-b", "lab", release.Active, MatchMREnclave, nil},
		{"unsupported TEE", with(func(e *Evidence) { e.TEE = "tdx" }), Request{Now: t0}, "", "", "", "", []Reason{ReasonUnsupportedTEE}},
		{"empty TEE", with(func(e *Evidence) { e.TEE = "" }), Request{Now: t0}, "", "", "", "", []Reason{ReasonUnsupportedTEE}},
		{"malformed identity", with(func(e *Evidence) { e.MREnclave, e.MRSigner = "xyz", h("g") }), Request{Now: t0}, "", "", "", "", []Reason{ReasonInvalidEvidence, ReasonInvalidEvidence}},
		{"revocation beats signer rule", with(func(e *Evidence) { e.MREnclave, e.MRSigner = h("1"), h("6") }), Request{Now: t0}, "m-bad", "mixed", release.Revoked, MatchMREnclave, []Reason{ReasonReleaseRevoked}},
		{"signer rule beats retired measurement", with(func(e *Evidence) { e.MREnclave, e.MRSigner = h("2"), h("6") }), Request{Now: t0}, "fam", "mixed", release.Active, MatchMRSigner, nil},
		{"active signer rule over unrequested candidate", with(func(e *Evidence) { e.MREnclave, e.MRSigner = h("4"), h("6") }), Request{Now: t0}, "fam", "mixed", release.Active, MatchMRSigner, nil},
		{"requested candidate reported over signer rule", with(func(e *Evidence) { e.MREnclave, e.MRSigner = h("4"), h("6") }), Request{Now: t0, Candidate: "m-cand"}, "m-cand", "mixed", release.Candidate, MatchMREnclave, nil},
		{"exact match over signer rule", with(func(e *Evidence) { e.MREnclave, e.MRSigner = h("5"), h("6") }), Request{Now: t0}, "m-exact", "mixed", release.Active, MatchMREnclave, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := testTrustSet()
			before := testTrustSet()
			res, err := Appraise(tt.ev, ts, tt.req)
			if res == nil {
				t.Fatalf("nil Result (err %v)", err)
			}
			if !reflect.DeepEqual(ts, before) {
				t.Error("Appraise modified the trust set")
			}
			if res.Release != tt.release || res.App != tt.app || res.ReleaseState != tt.state || res.MatchedBy != tt.by {
				t.Errorf("result app %q release %q state %q by %q; want %q %q %q %q", res.App, res.Release, res.ReleaseState, res.MatchedBy,
					tt.app, tt.release, tt.state, tt.by)
			}
			if tt.codes == nil {
				if err != nil || !res.Accepted || len(res.Codes) != 0 || len(res.Reasons) != 0 {
					t.Fatalf("want accepted; got accepted=%v codes=%v err=%v", res.Accepted, res.Codes, err)
				}
				return
			}
			if res.Accepted {
				t.Fatal("accepted, want rejected")
			}
			var re *RejectError
			if !errors.As(err, &re) || !errors.Is(err, ErrRejected) {
				t.Fatalf("error = %v, want *RejectError", err)
			}
			if !reflect.DeepEqual(res.Codes, tt.codes) || !reflect.DeepEqual(re.Codes, tt.codes) || re.Reason != tt.codes[0] {
				t.Errorf("codes %v / error %v %v, want %v", res.Codes, re.Reason, re.Codes, tt.codes)
			}
			if re.App != res.App || re.Release != res.Release {
				t.Errorf("error names %q/%q, result %q/%q", re.App, re.Release, res.App, res.Release)
			}
			if len(res.Reasons) != len(res.Codes) {
				t.Fatalf("%d reasons for %d codes", len(res.Reasons), len(res.Codes))
			}
			for i, r := range res.Reasons {
				if !strings.HasPrefix(r, string(res.Codes[i])+": ") {
					t.Errorf("reason %q does not start with its code %s", r, res.Codes[i])
				}
			}
			if !strings.HasPrefix(err.Error(), "policy: evidence rejected: "+string(tt.codes[0])) {
				t.Errorf("error text %q", err)
			}
		})
	}
}

func TestAppraiseRevokedReasonReported(t *testing.T) {
	_, err := Appraise(Evidence{TEE: TEESGX, MREnclave: h("e"), MRSigner: h("5"), TCBStatus: "UpToDate"}, testTrustSet(), Request{Now: t0})
	var re *RejectError
	if !errors.As(err, &re) || re.Reason != ReasonReleaseRevoked {
		t.Fatalf("err = %v", err)
	}
	if !strings.Contains(re.Detail, "INTEL-SA-00999 key leak") || !strings.Contains(err.Error(), "INTEL-SA-00999 key leak") {
		t.Errorf("revocation reason missing: detail %q, error %q", re.Detail, err)
	}
}

func TestAppraiseZeroValues(t *testing.T) {
	// An empty trust set accepts nothing.
	ev := Evidence{TEE: TEESGX, MREnclave: h("b"), MRSigner: h("5"), TCBStatus: "UpToDate"}
	if res, err := Appraise(ev, TrustSet{}, Request{}); err == nil || res.Accepted {
		t.Fatalf("empty trust set accepted: %v", res)
	}
	// A release without MREnclave or MRSigner matches nothing.
	ts := TrustSet{Apps: []App{{Name: "x", Releases: []release.Release{{Name: "empty", State: release.Active}}}}}
	if _, err := Appraise(Evidence{TEE: TEESGX, MREnclave: h("0"), MRSigner: h("0"), TCBStatus: "UpToDate"}, ts, Request{}); err == nil {
		t.Fatal("identity-less release matched")
	}
	// Zero Now means the current time: a drain window far in the future is open,
	// one in the past is closed.
	r := rel("d", "b", release.Draining)
	r.DrainUntil = time.Now().Add(24 * time.Hour)
	ts = TrustSet{Apps: []App{{Name: "x", Releases: []release.Release{r}}}}
	if _, err := Appraise(ev, ts, Request{}); err != nil {
		t.Errorf("open drain window with zero Now: %v", err)
	}
	ts.Apps[0].Releases[0].DrainUntil = time.Now().Add(-time.Minute)
	if _, err := Appraise(ev, ts, Request{}); err == nil {
		t.Error("closed drain window accepted with zero Now")
	}
}

func TestAppraiseStatePreference(t *testing.T) {
	drain := rel("old", "b", release.Draining)
	drain.DrainUntil = t0.Add(time.Hour)
	ts := TrustSet{Apps: []App{
		{Name: "x", Releases: []release.Release{drain, rel("retired", "b", release.Retired)}},
		{Name: "y", Releases: []release.Release{rel("cand", "b", release.Candidate), rel("new", "b", release.Active)}},
	}}
	ev := Evidence{TEE: TEESGX, MREnclave: h("b"), MRSigner: h("5"), TCBStatus: "UpToDate"}
	tests := []struct {
		req  Request
		want string
	}{
		{Request{Now: t0}, "new"},                              // active over draining
		{Request{Now: t0, App: "x"}, "old"},                    // draining over retired
		{Request{Now: t0, Candidate: "cand"}, "cand"},          // requested candidate first
		{Request{Now: t0.Add(2 * time.Hour), App: "x"}, "old"}, // both rejected: draining ranks before retired
	}
	for _, tt := range tests {
		res, _ := Appraise(ev, ts, tt.req)
		if res.Release != tt.want {
			t.Errorf("%+v: release %q, want %q", tt.req, res.Release, tt.want)
		}
	}
}
