package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sgxops/sgxops/collateral"
	"github.com/sgxops/sgxops/collateral/pcstest"
	"github.com/sgxops/sgxops/dcap"
	"github.com/sgxops/sgxops/internal/corpus"
	"github.com/sgxops/sgxops/sgx"
)

func qvMain(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := Main(args, &out, &errb)
	return code, out.String(), errb.String()
}

func qvCases(t *testing.T) []corpus.QuoteCase {
	t.Helper()
	corpus.Dir(t)
	return corpus.QuoteCases
}

func qvDecode(t *testing.T, stdout string) quoteVerifyResult {
	t.Helper()
	var r quoteVerifyResult
	dec := json.NewDecoder(strings.NewReader(stdout))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		t.Fatalf("output is not the documented JSON: %v\n%s", err, stdout)
	}
	if r.AdvisoryIDs == nil || !strings.Contains(stdout, `"advisory_ids": [`) {
		t.Fatalf("advisory_ids is null or missing:\n%s", stdout)
	}
	return r
}

// TestQuoteVerifyCorpus runs every corpus case through the command and checks
// that exit code and JSON agree with the library's verdict on the same input.
func TestQuoteVerifyCorpus(t *testing.T) {
	for _, c := range qvCases(t) {
		t.Run(c.ID, func(t *testing.T) {
			code, stdout, stderr := qvMain("quote", "verify", corpus.Path(t, c.Quote),
				"--collateral", corpus.Path(t, c.Collateral), "--at", c.NowISO, "-o", "json")
			r := qvDecode(t, stdout)

			raw, _, err := sgx.DecodeBinary(corpus.Read(t, c.Quote))
			if err != nil {
				t.Fatal(err)
			}
			q, err := sgx.ParseQuote(raw)
			if err != nil {
				t.Fatal(err)
			}
			coll, err := collateral.ParseBundle(corpus.Read(t, c.Collateral))
			if err != nil {
				t.Fatal(err)
			}
			vd, verr := dcap.Verify(q, coll, dcap.Options{Now: func() time.Time { return time.Unix(c.Now, 0) }})

			if verr == nil {
				if code != ExitOK || !r.Verified || r.Error != nil || stderr != "" {
					t.Fatalf("exit %d, verified %v, error %v, stderr %q", code, r.Verified, r.Error, stderr)
				}
			} else {
				var de *dcap.Error
				if !errors.As(verr, &de) {
					t.Fatal(verr)
				}
				want := ExitVerifyFailed
				switch de.Reason {
				case dcap.ReasonCollateralExpired, dcap.ReasonCollateralUnavailable:
					want = ExitCollateral
				}
				if code != want || r.Verified || r.Error == nil || r.Error.Reason != de.Reason.String() || !strings.Contains(stderr, "sgxops: dcap: ") {
					t.Fatalf("exit %d (want %d), result %+v, stderr %q; library: %v", code, want, r, stderr, verr)
				}
			}
			if vd == nil {
				if r.Status != "" || r.TEE != "" {
					t.Errorf("verdict fields without a verdict: %+v", r)
				}
				return
			}
			if r.Status != vd.Status.String() || !slices.Equal(r.AdvisoryIDs, vd.AdvisoryIDs) || r.TEE != string(vd.TEE) ||
				r.Debug != vd.Debug || r.Simulated || r.FMSPC != vd.FMSPC {
				t.Errorf("JSON %+v differs from verdict %+v", r, vd)
			}
			if vd.TEE == dcap.TEESGX && (r.MREnclave == "" || r.MRSigner == "" || r.MRTD != "") {
				t.Errorf("SGX identity missing: %+v", r)
			}
			if vd.TEE == dcap.TEETDX && (r.MRTD == "" || len(r.RTMRs) != 4 || r.MREnclave != "") {
				t.Errorf("TD identity missing: %+v", r)
			}
		})
	}
}

// TestQuoteVerifyPhalaSGX pins the values the origin states for the Phala SGX quote.
func TestQuoteVerifyPhalaSGX(t *testing.T) {
	args := []string{"quote", "verify", corpus.Path(t, "phala-dcap-qvl/sgx_quote"),
		"--collateral", corpus.Path(t, "phala-dcap-qvl/sgx_quote_collateral.json"), "--at", "2025-07-19T10:01:17Z"}
	code, stdout, stderr := qvMain(append(args, "--output", "json")...)
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	r := qvDecode(t, stdout)
	if r.Status != "ConfigurationAndSWHardeningNeeded" || strings.Join(r.AdvisoryIDs, ",") != "INTEL-SA-00289,INTEL-SA-00615" ||
		!strings.HasPrefix(r.MREnclave, "33d8736d") || !strings.HasSuffix(r.MREnclave, "2fbb") ||
		!strings.HasPrefix(r.MRSigner, "815f42f1") || !strings.HasSuffix(r.MRSigner, "e0e6") ||
		r.FMSPC != "00a067110000" || r.PCKCA != "processor" || r.CollateralExpiry != "2025-07-19T10:01:18Z" || r.Debug {
		t.Errorf("result %+v", r)
	}
	code, stdout, _ = qvMain(args...)
	if code != ExitOK {
		t.Fatalf("text: exit %d", code)
	}
	for _, want := range []string{"verified:            yes", "status:              ConfigurationAndSWHardeningNeeded",
		"advisory IDs:        INTEL-SA-00289, INTEL-SA-00615", "MRENCLAVE:           33d8736d"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("text output lacks %q:\n%s", want, stdout)
		}
	}
}

func TestQuoteVerifyFailures(t *testing.T) {
	quote := corpus.Path(t, "phala-dcap-qvl/sgx_quote")
	bundle := corpus.Path(t, "phala-dcap-qvl/sgx_quote_collateral.json")
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.bin")
	if err := os.WriteFile(garbage, []byte("not a quote at all"), 0o600); err != nil {
		t.Fatal(err)
	}
	tampered := filepath.Join(dir, "tampered.bin")
	raw := corpus.Read(t, "phala-dcap-qvl/sgx_quote")
	raw = bytes.Clone(raw)
	raw[100] ^= 1 // enclave report body
	if err := os.WriteFile(tampered, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		args   []string
		code   int
		reason string // JSON error.reason, "" when no JSON is expected
	}{
		{"no collateral source", []string{quote}, ExitUsage, ""},
		{"two sources", []string{quote, "--collateral", bundle, "--pcs", "http://127.0.0.1:1"}, ExitUsage, ""},
		{"bad --at", []string{quote, "--collateral", bundle, "--at", "yesterday"}, ExitUsage, ""},
		{"bad --output", []string{quote, "--collateral", bundle, "-o", "yaml"}, ExitUsage, ""},
		{"missing bundle", []string{quote, "--collateral", filepath.Join(dir, "none.json")}, ExitInvalidInput, ""},
		{"missing quote", []string{filepath.Join(dir, "none.bin"), "--collateral", bundle, "-o", "json"}, ExitInvalidInput, "malformed_input"},
		{"garbage quote", []string{garbage, "--collateral", bundle, "-o", "json"}, ExitInvalidInput, "malformed_input"},
		{"tampered quote", []string{tampered, "--collateral", bundle, "--at", "2025-07-19T10:01:17Z", "-o", "json"}, ExitVerifyFailed, "signature_invalid"},
		{"after the collateral window", []string{quote, "--collateral", bundle, "--at", "2025-07-19T10:01:19Z", "-o", "json"}, ExitCollateral, "collateral_expired"},
		{"before the collateral window", []string{quote, "--collateral", bundle, "--at", "2025-06-01T00:00:00Z", "-o", "json"}, ExitCollateral, "collateral_expired"},
		{"bundle of another platform", []string{quote, "--collateral", corpus.Path(t, "bundles/automata-evm-0825-sgx-00606a000000.json"), "-o", "json"}, ExitCollateral, "collateral_unavailable"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, stdout, stderr := qvMain(append([]string{"quote", "verify"}, c.args...)...)
			if code != c.code {
				t.Fatalf("exit %d, want %d; stderr %q", code, c.code, stderr)
			}
			if !strings.HasPrefix(stderr, "sgxops: ") {
				t.Errorf("stderr %q", stderr)
			}
			if c.reason != "" {
				r := qvDecode(t, stdout)
				if r.Verified || r.Error == nil || r.Error.Reason != c.reason || r.Error.Message == "" {
					t.Errorf("result %+v", r)
				}
			}
		})
	}
}

// TestQuoteVerifyNetworkSources fetches the Phala SGX collateral over loopback
// HTTP on the PCS v4 paths.
func TestQuoteVerifyNetworkSources(t *testing.T) {
	c, err := collateral.ParseBundle(corpus.Read(t, "phala-dcap-qvl/sgx_quote_collateral.json"))
	if err != nil {
		t.Fatal(err)
	}
	srv := pcstest.NewServer()
	defer srv.Close()
	paths := srv.ServeCollateral("sgx", "00a067110000", "processor", c)
	for _, flag := range []string{"--pcs", "--pccs"} {
		code, stdout, stderr := qvMain("quote", "verify", corpus.Path(t, "phala-dcap-qvl/sgx_quote"), flag, srv.URL,
			"--at", "2025-07-19T10:01:17Z", "-o", "json")
		if code != ExitOK {
			t.Fatalf("%s: exit %d: %s", flag, code, stderr)
		}
		if r := qvDecode(t, stdout); r.Status != "ConfigurationAndSWHardeningNeeded" {
			t.Errorf("%s: %+v", flag, r)
		}
	}
	if srv.Hits(paths.TCBInfo) == 0 {
		t.Error("TCB Info was not fetched")
	}
	// A PCS that lacks the FMSPC: collateral unavailable.
	srv.Remove(paths.TCBInfo)
	code, stdout, _ := qvMain("quote", "verify", corpus.Path(t, "phala-dcap-qvl/sgx_quote"), "--pcs", srv.URL, "-o", "json")
	if code != ExitCollateral {
		t.Fatalf("exit %d", code)
	}
	if r := qvDecode(t, stdout); r.Error == nil || r.Error.Reason != "collateral_unavailable" {
		t.Errorf("%+v", r)
	}
}

// TestQuoteVerifyBundleChain verifies a quote without a PCK chain (certification
// data type 1) with a bundle that carries it: the Intel QVL sample, whose TCB
// Info v2 is refused.
func TestQuoteVerifyBundleChain(t *testing.T) {
	code, stdout, _ := qvMain("quote", "verify", corpus.Path(t, "intel-qvl-synthetic/quote.dat"),
		"--collateral", corpus.Path(t, "bundles/intel-qvl-synthetic-sgx.json"), "-o", "json")
	r := qvDecode(t, stdout)
	// The sample is signed by Intel's test root, which the command does not trust.
	if code != ExitVerifyFailed || r.Error == nil || r.Error.Reason != "chain_invalid" {
		t.Errorf("exit %d, %+v", code, r)
	}
}
