package policy

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sgxops/sgxops/release"
)

func TestAppraiseCVM(t *testing.T) {
	h := func(c string, n int) string { return strings.Repeat(c, 2*n) }
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	rel := func(name string, r release.Release) release.Release {
		r.App, r.Name, r.State, r.CreatedAt, r.UpdatedAt = "vm", name, release.Active, t0, t0
		return r
	}
	ts := TrustSet{Apps: []App{{Name: "vm", Releases: []release.Release{
		rel("tdx", release.Release{MRTD: h("a", 48), RTMRs: [4]string{"", h("b", 48), "", ""}}),
		rel("snp", release.Release{Measurement: h("c", 48), HostData: h("d", 32)}),
		rel("sgx", release.Release{MREnclave: h("e", 32)}),
	}}}}
	tdx := Evidence{TEE: TEETDX, MRTD: h("a", 48), RTMRs: [4]string{h("0", 48), h("b", 48), h("0", 48), h("0", 48)}, MRSEAM: h("1", 48), TCBStatus: TCBUpToDate}
	snp := Evidence{TEE: TEESEVSNP, Measurement: h("c", 48), HostData: h("d", 32), FamilyID: h("0", 16), ImageID: h("0", 16)}
	tests := []struct {
		name    string
		ev      Evidence
		release string
		reason  Reason
	}{
		{name: "tdx match", ev: tdx, release: "tdx"},
		{name: "tdx rtmr1 differs", ev: func() Evidence { e := tdx; e.RTMRs[1] = h("f", 48); return e }(), reason: ReasonNoMatchingRelease},
		{name: "tdx debug", ev: func() Evidence { e := tdx; e.Debug = true; return e }(), reason: ReasonDebugNotAllowed},
		{name: "tdx out of date", ev: func() Evidence { e := tdx; e.TCBStatus = "OutOfDate"; return e }(), reason: ReasonTCBStatusNotAccepted},
		{name: "snp match", ev: snp, release: "snp"},
		{name: "snp host data differs", ev: func() Evidence { e := snp; e.HostData = h("9", 32); return e }(), reason: ReasonNoMatchingRelease},
		{name: "snp debug", ev: func() Evidence { e := snp; e.Debug = true; return e }(), reason: ReasonDebugNotAllowed},
		{name: "snp migration agent", ev: func() Evidence { e := snp; e.MigrationAgent = true; return e }(), reason: ReasonMigrationAgentNotAllowed},
		{name: "snp malformed", ev: func() Evidence { e := snp; e.Measurement = "00"; return e }(), reason: ReasonInvalidEvidence},
		{name: "sgx measurement as snp", ev: Evidence{TEE: TEESEVSNP, Measurement: h("e", 48), HostData: h("0", 32), FamilyID: h("0", 16), ImageID: h("0", 16)}, reason: ReasonNoMatchingRelease},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := Appraise(tc.ev, ts, Request{Now: t0})
			if tc.reason == "" {
				if err != nil || res.Release != tc.release {
					t.Fatalf("res %+v err %v, want release %s", res, err, tc.release)
				}
				return
			}
			var re *RejectError
			if !errors.As(err, &re) || re.Reason != tc.reason {
				t.Fatalf("err = %v, want %s", err, tc.reason)
			}
		})
	}
}
