package dcap

import (
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"
)

const zeros96 = "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"

// replaceOnce returns a function that replaces the first old by new and fails
// the test if old is absent (so a stale edit cannot silently test nothing).
func replaceOnce(t *testing.T, old, new string) func(string) string {
	return func(s string) string {
		if !strings.Contains(s, old) {
			t.Fatalf("document lacks %q", old)
		}
		return strings.Replace(s, old, new, 1)
	}
}

func replaceAll(t *testing.T, old, new string) func(string) string {
	return func(s string) string {
		if !strings.Contains(s, old) {
			t.Fatalf("document lacks %q", old)
		}
		return strings.ReplaceAll(s, old, new)
	}
}

// TestPKIRevocationAndCollateralRules re-issues real quotes and collateral under
// a test PKI and checks revocation, TCB/QE/TDX module matching and status
// convergence against edited (re-signed) TCB Info and QE Identity.
func TestPKIRevocationAndCollateralRules(t *testing.T) {
	cases := []struct {
		name   string
		base   string // corpus case id
		setup  func(t *testing.T, p *testPKI)
		reason Reason // 0: success
		status Status // expected status (also with ReasonRevoked and a verdict)
		qe     Status
	}{
		// Baselines: re-issuing changes nothing about the outcome.
		{name: "baseline SGX", base: "phala-sgx", status: StatusConfigurationAndSWHardeningNeeded, qe: StatusUpToDate},
		{name: "baseline TDX", base: "phala-tdx", status: StatusUpToDate, qe: StatusUpToDate},
		{name: "baseline TD relaunch", base: "oe-relaunch", status: StatusTDRelaunchAdvised, qe: StatusUpToDate},

		// Revocation.
		{name: "PCK certificate revoked", base: "phala-sgx", reason: ReasonRevoked,
			setup: func(t *testing.T, p *testPKI) { p.pckRevoked = []*big.Int{p.leaf.SerialNumber} }},
		{name: "PCK CA revoked", base: "phala-tdx", reason: ReasonRevoked,
			setup: func(t *testing.T, p *testPKI) { p.rootRevoked = []*big.Int{p.ca.SerialNumber} }},
		{name: "TCB Signing certificate revoked", base: "phala-sgx", reason: ReasonRevoked,
			setup: func(t *testing.T, p *testPKI) { p.rootRevoked = []*big.Int{p.signer.SerialNumber} }},
		{name: "other serials revoked", base: "phala-sgx", status: StatusConfigurationAndSWHardeningNeeded, qe: StatusUpToDate,
			setup: func(t *testing.T, p *testPKI) {
				p.pckRevoked = []*big.Int{big.NewInt(999)}
				p.rootRevoked = []*big.Int{big.NewInt(998)}
			}},
		{name: "PCK CRL signed by another key", base: "phala-sgx", reason: ReasonSignatureInvalid,
			setup: func(t *testing.T, p *testPKI) { p.crlKey = genKey(t) }},

		// Platform TCB level status.
		{name: "matched TCB level Revoked", base: "phala-sgx", reason: ReasonRevoked, status: StatusRevoked, qe: StatusUpToDate,
			setup: func(t *testing.T, p *testPKI) {
				p.tcbInfoEdit = replaceOnce(t, `"tcbStatus":"ConfigurationAndSWHardeningNeeded"`, `"tcbStatus":"Revoked"`)
			}},
		{name: "duplicate TCB level", base: "phala-sgx", reason: ReasonCollateralInvalid,
			setup: func(t *testing.T, p *testPKI) {
				p.tcbInfoEdit = func(s string) string {
					i := strings.Index(s, `"tcbLevels":[`) + len(`"tcbLevels":[`)
					j := strings.Index(s[i:], `]},{"tcb"`) + i + 2
					return s[:i] + s[i:j] + "," + s[i:]
				}
			}},

		// QE Identity: status convergence and identity mismatches.
		{name: "QE OutOfDate converges", base: "phala-sgx", status: StatusOutOfDateConfigurationNeeded, qe: StatusOutOfDate,
			setup: func(t *testing.T, p *testPKI) {
				p.qeIdentityEdit = replaceOnce(t, `"tcbStatus":"UpToDate"`, `"tcbStatus":"OutOfDate"`)
			}},
		{name: "QE OutOfDate on UpToDate TDX", base: "phala-tdx", status: StatusOutOfDate, qe: StatusOutOfDate,
			setup: func(t *testing.T, p *testPKI) {
				p.qeIdentityEdit = replaceOnce(t, `"tcbStatus":"UpToDate"`, `"tcbStatus":"OutOfDate"`)
			}},
		{name: "QE Revoked", base: "phala-sgx", reason: ReasonRevoked, status: StatusRevoked, qe: StatusRevoked,
			setup: func(t *testing.T, p *testPKI) {
				p.qeIdentityEdit = replaceOnce(t, `"tcbStatus":"UpToDate"`, `"tcbStatus":"Revoked"`)
			}},
		{name: "QE ISVSVN below every level", base: "phala-sgx", reason: ReasonNoMatchingTCBLevel,
			setup: func(t *testing.T, p *testPKI) {
				p.qeIdentityEdit = func(s string) string {
					for _, n := range []string{"8", "6", "5", "4", "2", "1"} {
						s = replaceOnce(t, `"isvsvn":`+n+`}`, `"isvsvn":9`+n+`}`)(s)
					}
					return s
				}
			}},
		{name: "QE MRSIGNER", base: "phala-sgx", reason: ReasonQEIdentityMismatch,
			setup: func(t *testing.T, p *testPKI) {
				p.qeIdentityEdit = replaceOnce(t, `"mrsigner":"8C4F`, `"mrsigner":"9C4F`)
			}},
		{name: "QE ISVPRODID", base: "phala-sgx", reason: ReasonQEIdentityMismatch,
			setup: func(t *testing.T, p *testPKI) { p.qeIdentityEdit = replaceOnce(t, `"isvprodid":1`, `"isvprodid":3`) }},
		{name: "QE ATTRIBUTES", base: "phala-sgx", reason: ReasonQEIdentityMismatch,
			setup: func(t *testing.T, p *testPKI) {
				p.qeIdentityEdit = replaceOnce(t, `"attributes":"11`, `"attributes":"13`)
			}},
		{name: "QE MISCSELECT", base: "phala-sgx", reason: ReasonQEIdentityMismatch,
			setup: func(t *testing.T, p *testPKI) {
				p.qeIdentityEdit = replaceOnce(t, `"miscselect":"00000000"`, `"miscselect":"01000000"`)
			}},
		{name: "QE ATTRIBUTES compared under the mask", base: "phala-sgx", status: StatusConfigurationAndSWHardeningNeeded, qe: StatusUpToDate,
			setup: func(t *testing.T, p *testPKI) {
				// The QE's ATTRIBUTES byte 0 is 0x15; Intel's mask FB hides bit 2. With a full
				// mask the expectation must include that bit.
				p.qeIdentityEdit = func(s string) string {
					s = replaceOnce(t, `"attributes":"11`, `"attributes":"15`)(s)
					return replaceOnce(t, `"attributesMask":"FBFF`, `"attributesMask":"FFFF`)(s)
				}
			}},
		{name: "TD_QE identity for an SGX quote", base: "phala-sgx", reason: ReasonCollateralInvalid,
			setup: func(t *testing.T, p *testPKI) { p.qeIdentityEdit = replaceOnce(t, `"id":"QE"`, `"id":"TD_QE"`) }},

		// TCB Info applicability.
		{name: "FMSPC differs", base: "phala-sgx", reason: ReasonFMSPCMismatch,
			setup: func(t *testing.T, p *testPKI) {
				p.tcbInfoEdit = replaceOnce(t, `"fmspc":"00A067110000"`, `"fmspc":"00A067110001"`)
			}},
		{name: "FMSPC case ignored", base: "phala-sgx", status: StatusConfigurationAndSWHardeningNeeded, qe: StatusUpToDate,
			setup: func(t *testing.T, p *testPKI) {
				p.tcbInfoEdit = replaceOnce(t, `"fmspc":"00A067110000"`, `"fmspc":"00a067110000"`)
			}},
		{name: "PCE-ID differs", base: "phala-sgx", reason: ReasonFMSPCMismatch,
			setup: func(t *testing.T, p *testPKI) { p.tcbInfoEdit = replaceOnce(t, `"pceId":"0000"`, `"pceId":"0001"`) }},
		{name: "tcbType 1", base: "phala-sgx", reason: ReasonUnsupported,
			setup: func(t *testing.T, p *testPKI) { p.tcbInfoEdit = replaceOnce(t, `"tcbType":0`, `"tcbType":1`) }},

		// TDX module.
		{name: "TDX module MRSIGNER", base: "phala-tdx", reason: ReasonTDXModuleMismatch,
			setup: func(t *testing.T, p *testPKI) {
				p.tcbInfoEdit = replaceAll(t, `"mrsigner":"`+zeros96+`"`, `"mrsigner":"01`+zeros96[2:]+`"`)
			}},
		{name: "TDX module attributes", base: "phala-tdx", reason: ReasonTDXModuleMismatch,
			setup: func(t *testing.T, p *testPKI) {
				p.tcbInfoEdit = replaceAll(t, `"attributes":"0000000000000000"`, `"attributes":"0100000000000000"`)
			}},
		{name: "no identity for the module version", base: "phala-tdx", reason: ReasonTDXModuleMismatch,
			setup: func(t *testing.T, p *testPKI) { p.tcbInfoEdit = replaceOnce(t, `"id":"TDX_01"`, `"id":"TDX_0A"`) }},
		{name: "module identity id case ignored", base: "phala-tdx", status: StatusUpToDate, qe: StatusUpToDate,
			setup: func(t *testing.T, p *testPKI) { p.tcbInfoEdit = replaceOnce(t, `"id":"TDX_01"`, `"id":"tdx_01"`) }},
		{name: "module level Revoked", base: "oe-relaunch", reason: ReasonRevoked, status: StatusRevoked, qe: StatusUpToDate,
			setup: func(t *testing.T, p *testPKI) {
				p.tcbInfoEdit = replaceOnce(t, `{"tcb":{"isvsvn":4},"tcbDate":"2024-03-13T00:00:00Z","tcbStatus":"OutOfDate"`,
					`{"tcb":{"isvsvn":4},"tcbDate":"2024-03-13T00:00:00Z","tcbStatus":"Revoked"`)
			}},
		{name: "module level status outside UpToDate/OutOfDate/Revoked", base: "oe-relaunch", reason: ReasonCollateralInvalid,
			setup: func(t *testing.T, p *testPKI) {
				p.tcbInfoEdit = replaceOnce(t, `{"tcb":{"isvsvn":4},"tcbDate":"2024-03-13T00:00:00Z","tcbStatus":"OutOfDate"`,
					`{"tcb":{"isvsvn":4},"tcbDate":"2024-03-13T00:00:00Z","tcbStatus":"SWHardeningNeeded"`)
			}},
		{name: "module SVN below every level", base: "oe-relaunch", reason: ReasonNoMatchingTCBLevel,
			setup: func(t *testing.T, p *testPKI) {
				p.tcbInfoEdit = func(s string) string {
					s = replaceOnce(t, `{"tcb":{"isvsvn":4},`, `{"tcb":{"isvsvn":14},`)(s)
					return replaceOnce(t, `{"tcb":{"isvsvn":2},`, `{"tcb":{"isvsvn":12},`)(s)
				}
			}},

		// TD relaunch rule.
		{name: "relaunch with configuration needed", base: "oe-relaunch", status: StatusTDRelaunchAdvisedConfigurationNeeded, qe: StatusUpToDate,
			setup: func(t *testing.T, p *testPKI) {
				p.tcbInfoEdit = replaceOnce(t, `"tcbDate":"2024-11-13T00:00:00Z","tcbStatus":"UpToDate"},{"tcb":{"sgxtcbcomponents"`,
					`"tcbDate":"2024-11-13T00:00:00Z","tcbStatus":"ConfigurationNeeded"},{"tcb":{"sgxtcbcomponents"`)
			}},
		{name: "no relaunch when SVN2 is below the newest module level", base: "oe-relaunch", status: StatusOutOfDate, qe: StatusUpToDate,
			setup: func(t *testing.T, p *testPKI) {
				p.tcbInfoEdit = replaceOnce(t, `{"tcb":{"isvsvn":6},"tcbDate":"2024-11-13T00:00:00Z"`, `{"tcb":{"isvsvn":8},"tcbDate":"2024-11-13T00:00:00Z"`)
			}},
		{name: "no relaunch when the QE is OutOfDate", base: "oe-relaunch", status: StatusOutOfDate, qe: StatusOutOfDate,
			setup: func(t *testing.T, p *testPKI) {
				p.qeIdentityEdit = replaceOnce(t, `"tcbStatus":"UpToDate"`, `"tcbStatus":"OutOfDate"`)
			}},
		{name: "no relaunch without an identity for SVN2's module", base: "oe-relaunch", reason: ReasonTDXModuleMismatch,
			setup: func(t *testing.T, p *testPKI) {
				// TEE_TCB_SVN and TEE_TCB_SVN2 both name module version 01; dropping it fails the first check.
				p.tcbInfoEdit = replaceOnce(t, `"id":"TDX_01"`, `"id":"TDX_05"`)
			}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var cc corpusCase
			for _, x := range loadCases(t) {
				if x.ID == c.base {
					cc = x
				}
			}
			q, coll := loadQuote(t, cc.Quote), loadBundle(t, cc.Collateral)
			now := time.Unix(cc.Now, 0)
			p := newTestPKI(t, realLeaf(t, q), now)
			if c.setup != nil {
				c.setup(t, p)
			}
			q2, coll2 := p.rebuild(q, coll)
			vd, err := Verify(q2, coll2, Options{Roots: p.pool, Now: at(cc.Now)})
			if c.reason != 0 {
				var de *Error
				if !errors.As(err, &de) || de.Reason != c.reason {
					t.Fatalf("err = %v, want reason %v", err, c.reason)
				}
				if c.status == 0 {
					if vd != nil {
						t.Fatalf("verdict %+v with error %v", vd, err)
					}
					return
				}
				if vd == nil {
					t.Fatalf("no verdict with %v", err)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if vd.Status != c.status || vd.QEStatus != c.qe {
				t.Fatalf("status %v (QE %v), want %v (QE %v)", vd.Status, vd.QEStatus, c.status, c.qe)
			}
			// The production root must not accept the test PKI.
			if _, err := Verify(q2, coll2, Options{Now: at(cc.Now)}); !errors.Is(err, ErrChainInvalid) {
				t.Fatalf("production roots: err = %v, want ErrChainInvalid", err)
			}
		})
	}
}

// TestSimulationRoots checks that chains ending at InsecureSimulationRoots, or
// holding simulation-named certificates, are reported as simulated.
func TestSimulationRoots(t *testing.T) {
	c := caseByID(t, "phala-sgx")
	q, coll := loadQuote(t, c.Quote), loadBundle(t, c.Collateral)
	for _, tc := range []struct {
		name      string
		prefix    string
		opts      func(p *testPKI) Options
		simulated bool
	}{
		{"simulation root", intelNamePrefix, func(p *testPKI) Options { return Options{InsecureSimulationRoots: p.pool} }, true},
		{"explicit root", intelNamePrefix, func(p *testPKI) Options { return Options{Roots: p.pool} }, false},
		{"simulation names under an explicit root", simNamePrefix, func(p *testPKI) Options { return Options{Roots: p.pool} }, true},
		{"simulation names under a simulation root", simNamePrefix, func(p *testPKI) Options { return Options{InsecureSimulationRoots: p.pool} }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newTestPKINamed(t, realLeaf(t, q), time.Unix(c.Now, 0), tc.prefix)
			q2, coll2 := p.rebuild(q, coll)
			opts := tc.opts(p)
			opts.Now = at(c.Now)
			vd, err := Verify(q2, coll2, opts)
			if err != nil {
				t.Fatal(err)
			}
			if vd.Simulated != tc.simulated || vd.Status != StatusConfigurationAndSWHardeningNeeded {
				t.Errorf("simulated %v, status %v", vd.Simulated, vd.Status)
			}
			// Production quotes stay production when simulation roots are also trusted.
			real, err := Verify(q, coll, Options{InsecureSimulationRoots: p.pool, Now: at(c.Now)})
			if err != nil || real.Simulated {
				t.Errorf("real quote with a simulation root also trusted: %v, %v", real, err)
			}
			// Test-PKI quote with production Intel collateral: refused, because the
			// roots differ (both trusted) or Intel's root is not trusted at all.
			want := ErrCollateralInvalid
			if opts.Roots != nil {
				want = ErrChainInvalid
			}
			if _, err := Verify(q2, coll, opts); !errors.Is(err, want) {
				t.Errorf("mixed roots: %v, want %v", err, want)
			}
		})
	}
}
