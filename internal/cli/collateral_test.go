package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sgxops/sgxops/collateral"
	"github.com/sgxops/sgxops/collateral/pcstest"
	"github.com/sgxops/sgxops/internal/corpus"
)

// collateralMain runs the CLI and returns exit code, stdout and stderr.
func collateralMain(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := Main(args, &out, &errb)
	return code, out.String(), errb.String()
}

// servePhalaSGX serves the Phala SGX bundle (FMSPC 00a067110000, processor CA)
// on the PCS v4 paths over loopback HTTP.
func servePhalaSGX(t *testing.T) (*pcstest.Server, pcstest.Paths, *collateral.Collateral) {
	t.Helper()
	c, err := collateral.ParseBundle(corpus.Read(t, "phala-dcap-qvl/sgx_quote_collateral.json"))
	if err != nil {
		t.Fatal(err)
	}
	srv := pcstest.NewServer()
	t.Cleanup(srv.Close)
	return srv, srv.ServeCollateral("sgx", "00a067110000", "processor", c), c
}

func TestCollateralFetchWritesBundle(t *testing.T) {
	srv, _, want := servePhalaSGX(t)
	for _, flag := range []string{"--pcs", "--pccs", "--thim"} {
		t.Run(flag, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "bundle.json")
			code, _, stderr := collateralMain("collateral", "fetch", "--fmspc", "00A067110000", "--tee", "sgx", flag, srv.URL, "--out", out)
			if code != ExitOK {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			if !strings.Contains(stderr, "valid until 2025-07-19T10:01:18Z") {
				t.Errorf("stderr %q lacks the validity", stderr)
			}
			b, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			got, err := collateral.ParseBundle(b)
			if err != nil {
				t.Fatal(err)
			}
			for name, pair := range map[string][2][]byte{
				"tcb_info":    {got.TCBInfo, want.TCBInfo},
				"qe_identity": {got.QEIdentity, want.QEIdentity},
				"pck_crl":     {got.PCKCRL, want.PCKCRL},
				"root_ca_crl": {got.RootCACRL, want.RootCACRL},
				"tcb chain":   {got.TCBInfoIssuerChain, want.TCBInfoIssuerChain},
				"tcb sig":     {got.TCBInfoSignature, want.TCBInfoSignature},
			} {
				if !bytes.Equal(pair[0], pair[1]) {
					t.Errorf("%s differs from what was served", name)
				}
			}
		})
	}
}

func TestCollateralFetchToStdoutThenShow(t *testing.T) {
	srv, _, want := servePhalaSGX(t)
	code, stdout, stderr := collateralMain("collateral", "fetch", "--fmspc", "00a067110000", "--tee", "sgx", "--ca", "processor", "--pcs", srv.URL)
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	got, err := collateral.ParseBundle([]byte(stdout))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.TCBInfo, want.TCBInfo) {
		t.Fatal("tcb_info differs")
	}
	path := filepath.Join(t.TempDir(), "b.json")
	if err := os.WriteFile(path, []byte(stdout), 0o644); err != nil {
		t.Fatal(err)
	}

	code, text, stderr := collateralMain("collateral", "show", path)
	if code != ExitOK {
		t.Fatalf("show: exit %d: %s", code, stderr)
	}
	for _, line := range []string{
		"tee:                sgx",
		"fmspc:              00a067110000",
		"pck ca:             processor (Intel SGX PCK Processor CA)",
		"tcb info:           id SGX, version 3",
		"tcb info window:    2025-06-19T10:56:11Z .. 2025-07-19T10:56:11Z",
		"qe identity:        id QE, version 2",
		"valid until:        2025-07-19T10:01:18Z",
	} {
		if !strings.Contains(text, line) {
			t.Errorf("show output lacks %q:\n%s", line, text)
		}
	}
	code, js, _ := collateralMain("collateral", "show", "-o", "json", path)
	var s collateral.Summary
	if code != ExitOK || json.Unmarshal([]byte(js), &s) != nil || s.FMSPC != "00a067110000" || s.QEIdentityID != "QE" {
		t.Errorf("show -o json: exit %d, %+v", code, s)
	}
}

func TestCollateralFetchExitCodes(t *testing.T) {
	srv, paths, _ := servePhalaSGX(t)
	down := pcstest.NewServer()
	defer down.Close()
	broken := pcstest.NewServer()
	defer broken.Close()
	c, _ := collateral.ParseBundle(corpus.Read(t, "phala-dcap-qvl/sgx_quote_collateral.json"))
	broken.ServeCollateral("sgx", "00a067110000", "processor", c)
	broken.Set(paths.TCBInfo, pcstest.Response{Body: []byte(`{"tcbInfo":{`)})

	tests := []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"no source", []string{"--fmspc", "00a067110000", "--tee", "sgx"}, ExitUsage, "no collateral source"},
		{"two sources", []string{"--fmspc", "00a067110000", "--tee", "sgx", "--pcs", srv.URL, "--pccs", srv.URL}, ExitUsage, "only one"},
		{"missing fmspc", []string{"--tee", "sgx", "--pcs", srv.URL}, ExitUsage, "--fmspc"},
		{"bundle flag not offered", []string{"--fmspc", "00a067110000", "--tee", "sgx", "--collateral", "x.json"}, ExitUsage, "unknown flag"},
		{"bad URL", []string{"--fmspc", "00a067110000", "--tee", "sgx", "--pcs", "pcs.example"}, ExitUsage, "--pcs"},
		{"API key without --pcs", []string{"--fmspc", "00a067110000", "--tee", "sgx", "--pccs", srv.URL, "--pcs-api-key", "k"}, ExitUsage, "--pcs-api-key"},
		{"insecure TLS without --pccs", []string{"--fmspc", "00a067110000", "--tee", "sgx", "--pcs", srv.URL, "--insecure-pccs-tls"}, ExitUsage, "--insecure-pccs-tls"},
		{"bad fmspc", []string{"--fmspc", "00a0671100zz", "--tee", "sgx", "--pcs", srv.URL}, ExitInvalidInput, "FMSPC"},
		{"bad tee", []string{"--fmspc", "00a067110000", "--tee", "sev", "--pcs", srv.URL}, ExitInvalidInput, "TEE"},
		{"bad ca", []string{"--fmspc", "00a067110000", "--tee", "sgx", "--ca", "root", "--pcs", srv.URL}, ExitInvalidInput, "PCKCA"},
		{"unknown FMSPC (404)", []string{"--fmspc", "00606a000000", "--tee", "sgx", "--pcs", srv.URL}, ExitCollateral, "HTTP 404"},
		{"service down", []string{"--fmspc", "00a067110000", "--tee", "sgx", "--pccs", down.URL}, ExitCollateral, "unavailable"},
		{"malformed response", []string{"--fmspc", "00a067110000", "--tee", "sgx", "--pcs", broken.URL}, ExitCollateral, "invalid"},
		{"unwritable output", []string{"--fmspc", "00a067110000", "--tee", "sgx", "--pcs", srv.URL, "--out", filepath.Join(t.TempDir(), "no", "such", "dir", "b.json")}, ExitInternal, "no such file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := collateralMain(append([]string{"collateral", "fetch"}, tc.args...)...)
			if code != tc.code || !strings.Contains(stderr, tc.msg) {
				t.Errorf("exit %d, stderr %q; want exit %d mentioning %q", code, stderr, tc.code, tc.msg)
			}
		})
	}
}

func TestCollateralShowRejects(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte(`{"tcb_info":"x"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		code int
	}{
		{[]string{"collateral", "show", filepath.Join(dir, "missing.json")}, ExitInvalidInput},
		{[]string{"collateral", "show", bad}, ExitInvalidInput},
		{[]string{"collateral", "show", corpus.Path(t, "phala-dcap-qvl/sgx_quote_collateral.json"), "-o", "yaml"}, ExitUsage},
		{[]string{"collateral", "show"}, ExitUsage},
	} {
		if code, _, stderr := collateralMain(tc.args...); code != tc.code {
			t.Errorf("%v: exit %d (%s), want %d", tc.args, code, stderr, tc.code)
		}
	}
}

func TestCollateralFlagsSource(t *testing.T) {
	srv, _, want := servePhalaSGX(t)
	req := collateral.Request{TEE: "sgx", FMSPC: "00a067110000", PCKCA: "processor"}
	bundle := corpus.Path(t, "phala-dcap-qvl/sgx_quote_collateral.json")

	// A bundle gives a Bundle source that checks the request.
	src, err := (&collateralFlags{Bundle: bundle}).source()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := src.(*collateral.Bundle); !ok {
		t.Errorf("--collateral gave a %T", src)
	}
	if got, err := src.Get(context.Background(), req); err != nil || !bytes.Equal(got.TCBInfo, want.TCBInfo) {
		t.Errorf("bundle source: %v", err)
	}
	if _, err := src.Get(context.Background(), collateral.Request{TEE: "tdx", FMSPC: "00a067110000", PCKCA: "processor"}); !errors.Is(err, collateral.ErrUnavailable) {
		t.Errorf("bundle source for another TEE: %v", err)
	}

	// A network source comes behind a Cache (whose behaviour the collateral
	// package tests with an injected clock; the corpus sets are long out of date).
	src, err = (&collateralFlags{PCS: srv.URL}).source()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := src.(*collateral.Cache); !ok {
		t.Errorf("--pcs gave a %T, want a *collateral.Cache", src)
	}
	if got, err := src.Get(context.Background(), req); err != nil || !bytes.Equal(got.QEIdentity, want.QEIdentity) {
		t.Errorf("pcs source: %v", err)
	}

	for _, f := range []collateralFlags{
		{},
		{Bundle: bundle, PCS: srv.URL},
		{PCS: srv.URL, THIM: srv.URL},
		{THIM: "ftp://x"},
	} {
		var ee *exitError
		if _, err := f.source(); !errors.As(err, &ee) || ee.code != ExitUsage {
			t.Errorf("%+v: err = %v, want a usage error", f, err)
		}
	}
	for _, f := range []collateralFlags{
		{Bundle: filepath.Join(t.TempDir(), "missing.json")},
		{Bundle: corpus.Path(t, "phala-dcap-qvl/sgx_quote")}, // a quote, not a bundle
	} {
		var ee *exitError
		if _, err := f.source(); !errors.As(err, &ee) || ee.code != ExitInvalidInput {
			t.Errorf("%+v: err = %v, want an invalid-input error", f, err)
		}
	}
}

func TestCollateralFlagsAPIKeyFromEnvironment(t *testing.T) {
	srv, paths, _ := servePhalaSGX(t)
	t.Setenv(envPCSAPIKey, "env-key")
	out := filepath.Join(t.TempDir(), "b.json")
	if code, _, stderr := collateralMain("collateral", "fetch", "--fmspc", "00a067110000", "--tee", "sgx", "--pcs", srv.URL, "--out", out); code != ExitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if k := srv.LastHeader(paths.TCBInfo).Get(collateral.HeaderSubscriptionKey); k != "env-key" {
		t.Errorf("key header %q, want the environment's", k)
	}
	if code, _, stderr := collateralMain("collateral", "fetch", "--fmspc", "00a067110000", "--tee", "sgx", "--pcs", srv.URL, "--pcs-api-key", "flag-key", "--out", out); code != ExitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if k := srv.LastHeader(paths.TCBInfo).Get(collateral.HeaderSubscriptionKey); k != "flag-key" {
		t.Errorf("key header %q, want the flag's", k)
	}
}
