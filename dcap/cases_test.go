package dcap

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

// caseWant is what Verify must return for one corpus case.
type caseWant struct {
	status     Status
	advisories []string
	reason     Reason // failure reason; 0 means success
	debug      bool
	tcbDate    string // optional, YYYY-MM-DD
}

var (
	sa3 = []string{"INTEL-SA-00960", "INTEL-SA-00982", "INTEL-SA-00986"}
	sa0 = []string{}
)

// corpusWant covers every corpus quote case (internal/corpus.QuoteCases).
// "origin" is what the project the data comes from asserts; "peers" are the
// verdicts of other verifiers on the same input, as the corpus records them
// (Phala dcap-qvl JS/WASM, go-tdx-guest v0.3.1). Where the origin
// states only that verification succeeds, the exact status is pinned here.
var corpusWant = map[string]caseWant{
	// Origin: ConfigurationAndSWHardeningNeeded, [INTEL-SA-00289, INTEL-SA-00615]; peers agree.
	"phala-sgx": {status: StatusConfigurationAndSWHardeningNeeded, advisories: []string{"INTEL-SA-00289", "INTEL-SA-00615"}, tcbDate: "2024-03-13"},
	// Origin: UpToDate, no advisories. dcap-qvl agrees; go-tdx-guest v0.3.1 fails on
	// "B0C06F000000" vs "b0c06f000000" (it compares FMSPC case-sensitively; hex case carries no meaning).
	"phala-tdx": {status: StatusUpToDate, advisories: sa0},
	// Origin: not UpToDate (test only shows an override can make it UpToDate, by
	// adding a level). The PCK TCB (PCESVN 13, components 3,3,2,2,4,1,0,3) is below
	// every level of this TCB Info, which is what dcap-qvl JS says ("No matching TCB
	// level found"); the WASM build cannot decode v5 quotes.
	"phala-tdx-outdated": {reason: ReasonNoMatchingTCBLevel},
	// Origin: succeeds (any status); peers say UpToDate.
	"phala-near": {status: StatusUpToDate, advisories: sa0},
	// Derived pairings of the tappd quotes (PCESVN 11) with a TCB Info whose levels all
	// need PCESVN 13: no level matches. dcap-qvl JS agrees; the WASM build reports the
	// same as status "Unknown"; go-tdx-guest stops earlier on the FMSPC case.
	"phala-tappd-derived":  {reason: ReasonNoMatchingTCBLevel},
	"phala-tdxhex-derived": {reason: ReasonNoMatchingTCBLevel},
	// Origin: succeeds; peers SWHardeningNeeded [INTEL-SA-00615].
	"automata-v3-sgx-0825": {status: StatusSWHardeningNeeded, advisories: []string{"INTEL-SA-00615"}},
	// Origin: succeeds (automata's verifier succeeds for OutOfDate and reports it);
	// dcap-qvl OutOfDate with the same advisories; go-tdx-guest rejects non-UpToDate.
	"automata-v4-tdx-0625": {status: StatusOutOfDate, advisories: sa3, tcbDate: "2023-08-09"},
	// Origin: succeeds. dcap-qvl JS refuses by its own policy (MR_SERVICETD set), the
	// WASM build cannot decode v5 quotes.
	"automata-v5-tdx-0625": {status: StatusUpToDate, advisories: sa0},
	// Origin: tcb_status == OutOfDate; peers agree.
	"automata-v4-tdx-solana":       {status: StatusOutOfDate, advisories: sa3},
	"automata-v4-tdx-1025-derived": {status: StatusOutOfDate, advisories: sa3},
	// Origin (Open Enclave): OUT_OF_DATE, matched TCB level date 2023-08-09. The
	// platform level [6,6,2,2,3,1,0,3]/PCESVN 11/TDX 03,00,06 is OutOfDate and the TDX
	// module (TDX_01, SVN 2) is OutOfDate too, so the advisories are the union of both
	// levels. dcap-qvl finds no level because it compares TEE_TCB_SVN from byte 0,
	// ignoring that bytes 0-1 belong to the TDX module identity when byte 1 > 0.
	"oe-v5-eval21": {status: StatusOutOfDate, tcbDate: "2023-08-09", advisories: []string{
		"INTEL-SA-00960", "INTEL-SA-00982", "INTEL-SA-00986", "INTEL-SA-01010", "INTEL-SA-01036", "INTEL-SA-01076",
		"INTEL-SA-01079", "INTEL-SA-01099", "INTEL-SA-01103", "INTEL-SA-01111", "INTEL-SA-01192", "INTEL-SA-01245",
		"INTEL-SA-01312", "INTEL-SA-01313", "INTEL-SA-01314", "INTEL-SA-01397"}},
	// Origin (Open Enclave, Intel QvE): TD_RELAUNCH_ADVISED. Running module TDX_01 SVN 4
	// is OutOfDate, TEE_TCB_SVN2 (07,01,03) meets the newest levels. Advisories are those
	// of the running module's level. dcap-qvl: see oe-v5-eval21.
	"oe-relaunch": {status: StatusTDRelaunchAdvised, advisories: []string{"INTEL-SA-01036", "INTEL-SA-01099"}},
	// Origin: level matching fails with the unmodified sample TCB Info; go-tdx-guest
	// and dcap-qvl JS agree (the WASM build stops at a policy check).
	"gtg-spr-e4-2023": {reason: ReasonNoMatchingTCBLevel},
	// Peers: OutOfDate, no advisories (matched level needs only PCESVN 5).
	"trustee-q6-derived": {status: StatusOutOfDate, advisories: sa0},
	// Debug enclave: reported, not rejected here (peers refuse it by policy).
	"auto-sgxbin-phala-derived": {status: StatusConfigurationAndSWHardeningNeeded, advisories: []string{"INTEL-SA-00289", "INTEL-SA-00615"}, debug: true},
	// go-tdx-guest: UpToDate (agrees). dcap-qvl: OutOfDate, because it compares
	// TEE_TCB_SVN 04,01,07 from byte 0 against 05,00,07 of the top level; Intel's rule
	// skips bytes 0-1 when byte 1 (module major version) > 0 and judges them with
	// TDX_01 (SVN 4 >= 4: UpToDate).
	"gtg-cos113-0625-derived": {status: StatusUpToDate, advisories: sa0},
	// go-tdx-guest: module OutOfDate (agrees). dcap-qvl finds no level (byte-0 compare).
	"trustee-az-0625-derived": {status: StatusOutOfDate, advisories: sa3},
	// PCK TCB (1,1,2,2,...) below every level; dcap-qvl JS agrees.
	"trustee-q5-0625-derived": {reason: ReasonNoMatchingTCBLevel},
	// PCK certificates issued in 2026, collateral time 2025-06-15: not yet valid (dcap-qvl JS agrees).
	"phala-outdated-q-0625-derived": {reason: ReasonCollateralExpired},
	"gtg-v5-0625-derived":           {reason: ReasonCollateralExpired},
	// The relaunch quote against the 2025-06 TCB Info (evaluation 17), where TDX_01 SVN
	// 4 is still UpToDate: no relaunch needed. dcap-qvl: byte-0 compare, no level.
	"oe-relaunch-q-0625-derived": {status: StatusUpToDate, advisories: sa0},
	// dcap-qvl: byte-0 compare, no level.
	"oe-v5-0625-derived": {status: StatusOutOfDate, advisories: sa3},
	// Debug TD: reported (peers refuse it by policy); go-tdx-guest UpToDate agrees.
	"trustee-q4-2023-derived": {status: StatusUpToDate, advisories: sa0, debug: true},
	// go-tdx-guest UpToDate agrees; dcap-qvl refuses by its SEPT_VE_DISABLE policy.
	"oe-v4-2023-derived": {status: StatusUpToDate, advisories: sa0},
	// TCB Info v2: refused as unsupported (peers fail to decode it).
	"trustee-occlum-tcbv2-derived": {reason: ReasonUnsupported},
	"auto-v3-tcbv2-0625-derived":   {reason: ReasonUnsupported},
}

func TestCorpusCases(t *testing.T) {
	cases := loadCases(t)
	if len(cases) != 27 || len(corpusWant) != 27 {
		t.Fatalf("%d quote cases, %d expectations; want 27 of each", len(cases), len(corpusWant))
	}
	// One Verifier for all cases: its caches must not mix cases up.
	var nowUnix int64
	v := NewVerifier(Options{Now: func() time.Time { return time.Unix(nowUnix, 0) }})
	for _, c := range cases {
		want, ok := corpusWant[c.ID]
		if !ok {
			t.Errorf("no expectation for case %s", c.ID)
			continue
		}
		t.Run(c.ID, func(t *testing.T) {
			q := loadQuote(t, c.Quote)
			coll := loadBundle(t, c.Collateral)
			for name, verify := range map[string]func() (*Verdict, error){
				"Verify":         func() (*Verdict, error) { return Verify(q, coll, Options{Now: at(c.Now)}) },
				"cachedVerifier": func() (*Verdict, error) { nowUnix = c.Now; return v.Verify(q, coll) },
			} {
				vd, err := verify()
				if want.reason != 0 {
					var de *Error
					if !errors.As(err, &de) || de.Reason != want.reason || vd != nil {
						t.Fatalf("%s: got %v, %v; want reason %v", name, vd, err, want.reason)
					}
					continue
				}
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				checkVerdict(t, c, vd, want)
			}
		})
	}
}

func checkVerdict(t *testing.T, c corpusCase, vd *Verdict, want caseWant) {
	t.Helper()
	if vd.Status != want.status {
		t.Errorf("status %v, want %v", vd.Status, want.status)
	}
	if !slices.Equal(vd.AdvisoryIDs, want.advisories) {
		t.Errorf("advisories %q, want %q", vd.AdvisoryIDs, want.advisories)
	}
	if vd.Debug != want.debug {
		t.Errorf("debug %v, want %v", vd.Debug, want.debug)
	}
	if want.tcbDate != "" && vd.TCBDate.Format(time.DateOnly) != want.tcbDate {
		t.Errorf("TCB date %v, want %s", vd.TCBDate, want.tcbDate)
	}
	if vd.Simulated {
		t.Error("production quote reported as simulated")
	}
	wantTEE := TEESGX
	if strings.HasPrefix(c.Kind, "TDX") {
		wantTEE = TEETDX
	}
	if vd.TEE != wantTEE || (vd.SGX == nil) == (vd.TD == nil) || (vd.TD != nil) != (wantTEE == TEETDX) {
		t.Errorf("TEE %s (SGX %v, TD %v), want %s", vd.TEE, vd.SGX != nil, vd.TD != nil, wantTEE)
	}
	// The bundle's FMSPC is in its file name for the repackaged bundles.
	if i := strings.LastIndex(c.Collateral, "-"); strings.HasPrefix(c.Collateral, "bundles/") && i > 0 {
		if fm := strings.TrimSuffix(c.Collateral[i+1:], ".json"); len(fm) == 12 && fm != vd.FMSPC {
			t.Errorf("FMSPC %s, bundle is for %s", vd.FMSPC, fm)
		}
	}
	// The corpus window ends at the earliest nextUpdate of TCB Info, QE Identity and
	// the CRLs; no certificate of the corpus expires earlier.
	if got := vd.CollateralExpiry.UTC().Format(time.RFC3339); got != c.Window[1] {
		t.Errorf("collateral expiry %s, corpus window ends %s", got, c.Window[1])
	}
	q := loadQuote(t, c.Quote)
	if vd.ReportData != q.ReportData() {
		t.Error("report data differs from the quote's")
	}
	if vd.PCKCA != "processor" && vd.PCKCA != "platform" {
		t.Errorf("PCK CA %q", vd.PCKCA)
	}
}
