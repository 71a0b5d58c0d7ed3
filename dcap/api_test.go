package dcap

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/sgxops/sgxops/collateral"
	"github.com/sgxops/sgxops/sgx"
)

func TestStatusStrings(t *testing.T) {
	want := []string{"UpToDate", "SWHardeningNeeded", "ConfigurationNeeded", "ConfigurationAndSWHardeningNeeded",
		"TDRelaunchAdvised", "TDRelaunchAdvisedConfigurationNeeded", "OutOfDate", "OutOfDateConfigurationNeeded", "Revoked"}
	got := Statuses()
	if len(got) != len(want) {
		t.Fatalf("%d statuses", len(got))
	}
	for i, s := range got {
		if s.String() != want[i] {
			t.Errorf("status %d: %q, want %q", i, s, want[i])
		}
		p, err := ParseStatus(want[i])
		if err != nil || p != s {
			t.Errorf("ParseStatus(%q) = %v, %v", want[i], p, err)
		}
		b, err := json.Marshal(s)
		if err != nil || string(b) != `"`+want[i]+`"` {
			t.Errorf("JSON %s, %v", b, err)
		}
		var back Status
		if err := json.Unmarshal(b, &back); err != nil || back != s {
			t.Errorf("JSON round trip %v, %v", back, err)
		}
	}
	for _, bad := range []string{"", "Unknown", "uptodate", "Fine"} {
		if _, err := ParseStatus(bad); err == nil {
			t.Errorf("ParseStatus(%q) accepted", bad)
		}
	}
	if _, err := json.Marshal(StatusUnknown); err == nil {
		t.Error("StatusUnknown marshalled")
	}
	// Every collateral status maps to the Status of the same name.
	for _, s := range []collateral.TCBStatus{collateral.TCBUpToDate, collateral.TCBSWHardeningNeeded, collateral.TCBConfigurationNeeded,
		collateral.TCBConfigurationAndSWHardeningNeeded, collateral.TCBOutOfDate, collateral.TCBOutOfDateConfigurationNeeded, collateral.TCBRevoked} {
		st, err := statusOf(s)
		if err != nil || st.String() != string(s) {
			t.Errorf("statusOf(%s) = %v, %v", s, st, err)
		}
	}
	if _, err := statusOf("Bogus"); !errors.Is(err, ErrCollateralInvalid) {
		t.Errorf("statusOf(Bogus): %v", err)
	}
}

// TestConvergence is Intel QVL's convergence table for an OutOfDate/Revoked
// QE or TDX module.
func TestConvergence(t *testing.T) {
	cases := []struct{ platform, component, want Status }{
		{StatusUpToDate, StatusUpToDate, StatusUpToDate},
		{StatusSWHardeningNeeded, StatusUpToDate, StatusSWHardeningNeeded},
		{StatusUpToDate, StatusOutOfDate, StatusOutOfDate},
		{StatusSWHardeningNeeded, StatusOutOfDate, StatusOutOfDate},
		{StatusConfigurationNeeded, StatusOutOfDate, StatusOutOfDateConfigurationNeeded},
		{StatusConfigurationAndSWHardeningNeeded, StatusOutOfDate, StatusOutOfDateConfigurationNeeded},
		{StatusOutOfDate, StatusOutOfDate, StatusOutOfDate},
		{StatusOutOfDateConfigurationNeeded, StatusOutOfDate, StatusOutOfDateConfigurationNeeded},
		{StatusUpToDate, StatusRevoked, StatusRevoked},
		{StatusConfigurationNeeded, StatusRevoked, StatusRevoked},
		{StatusRevoked, StatusUpToDate, StatusRevoked},
	}
	for _, c := range cases {
		if got := convergeOutOfDate(c.platform, c.component); got != c.want {
			t.Errorf("%v + %v = %v, want %v", c.platform, c.component, got, c.want)
		}
	}
}

func TestErrors(t *testing.T) {
	sentinels := map[Reason]*Error{
		ReasonMalformed: ErrMalformed, ReasonSignatureInvalid: ErrSignatureInvalid, ReasonChainInvalid: ErrChainInvalid,
		ReasonRevoked: ErrRevoked, ReasonCollateralUnavailable: ErrCollateralUnavailable, ReasonCollateralExpired: ErrCollateralExpired,
		ReasonCollateralInvalid: ErrCollateralInvalid, ReasonNoMatchingTCBLevel: ErrNoMatchingTCBLevel, ReasonFMSPCMismatch: ErrFMSPCMismatch,
		ReasonQEIdentityMismatch: ErrQEIdentityMismatch, ReasonTDXModuleMismatch: ErrTDXModuleMismatch, ReasonUnsupported: ErrUnsupported,
	}
	codes := map[string]bool{}
	for r, s := range sentinels {
		code := r.String()
		if codes[code] || strings.ContainsAny(code, " -") || code == "" {
			t.Errorf("bad or duplicate code %q", code)
		}
		codes[code] = true
		cause := errors.New("cause")
		err := fmt.Errorf("outer: %w", wrapf(r, cause, "something about %s", "x"))
		if !errors.Is(err, s) || !errors.Is(err, cause) {
			t.Errorf("%v: errors.Is fails", r)
		}
		for r2, s2 := range sentinels {
			if r2 != r && errors.Is(err, s2) {
				t.Errorf("%v matches %v", r, r2)
			}
		}
		var de *Error
		if !errors.As(err, &de) || de.Reason != r || !strings.HasPrefix(de.Error(), "dcap: something about x: cause") {
			t.Errorf("%v: %v", r, de)
		}
		if !strings.HasPrefix(s.Error(), "dcap: ") {
			t.Errorf("sentinel message %q", s.Error())
		}
	}
	if len(codes) != 12 {
		t.Errorf("%d reasons", len(codes))
	}
}

func TestCollateralRequestFor(t *testing.T) {
	for _, c := range loadCases(t) {
		q := loadQuote(t, c.Quote)
		req, err := CollateralRequestFor(q)
		if err != nil {
			t.Errorf("%s: %v", c.ID, err)
			continue
		}
		if err := req.Validate(); err != nil {
			t.Errorf("%s: invalid request %v: %v", c.ID, req, err)
		}
		wantTEE := collateral.TEESGX
		if strings.HasPrefix(c.Kind, "TDX") {
			wantTEE = collateral.TEETDX
		}
		if req.TEE != wantTEE {
			t.Errorf("%s: TEE %s", c.ID, req.TEE)
		}
		if w := corpusWant[c.ID]; w.reason == 0 {
			vd, err := Verify(q, loadBundle(t, c.Collateral), Options{Now: at(c.Now)})
			if err != nil || vd.FMSPC != req.FMSPC || vd.PCKCA != req.PCKCA {
				t.Errorf("%s: request %v, verdict %v %v", c.ID, req, vd, err)
			}
		}
	}
	q := loadQuote(t, "intel-qvl-synthetic/quote.dat") // certification data type 1
	if _, err := CollateralRequestFor(q); !errors.Is(err, ErrCollateralUnavailable) {
		t.Errorf("type 1: %v", err)
	}
	if _, err := CollateralRequestFor(nil); !errors.Is(err, ErrMalformed) {
		t.Errorf("nil: %v", err)
	}
}

// TestOptionsNotRetained checks that Verify copies the options.
func TestOptionsNotRetained(t *testing.T) {
	c := caseByID(t, "phala-sgx")
	q, coll := loadQuote(t, c.Quote), loadBundle(t, c.Collateral)
	opts := Options{Now: at(c.Now)}
	v := NewVerifier(opts)
	opts.Now = at(0)
	if _, err := v.Verify(q, coll); err != nil {
		t.Fatalf("verifier used the caller's later change: %v", err)
	}
}

// TestConcurrentVerify runs one Verifier from many goroutines with a cache
// small enough to be emptied constantly (run with -race).
func TestConcurrentVerify(t *testing.T) {
	cases := []corpusCase{caseByID(t, "phala-sgx"), caseByID(t, "auto-sgxbin-phala-derived"), caseByID(t, "phala-tdx")}
	type in struct {
		q    *sgx.Quote
		coll *collateral.Collateral
		want Status
	}
	var ins []in
	for _, c := range cases {
		ins = append(ins, in{loadQuote(t, c.Quote), loadBundle(t, c.Collateral), corpusWant[c.ID].status})
	}
	// 2025-07-19T10:00:34Z is inside the windows of both phala collateral sets.
	v := NewVerifier(Options{Now: at(1752919234), MaxCacheEntries: 1})
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 6 {
				x := ins[(g+i)%len(ins)]
				vd, err := v.Verify(x.q, x.coll)
				if err != nil || vd.Status != x.want {
					errs <- fmt.Errorf("goroutine %d: %v %v", g, vd, err)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
