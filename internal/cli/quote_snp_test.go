package cli

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/sgxops/sgxops/internal/corpus"
)

// TestQuoteInspectSNP decodes real SEV-SNP reports in their three forms.
func TestQuoteInspectSNP(t *testing.T) {
	tests := []struct {
		rel  string
		want map[string]any
	}{
		{"sev-snp/go-sev-guest/attestation.bin", map[string]any{"tee": "sevsnp", "debug": true, "azure_hcl": false,
			"measurement": "b07af9620f3b839b47996422ddec6058338951d984e312115131ea82705eaf5b6bdf8a9ece31a5a608eb0cf2e4872b01"}},
		{"sev-snp/virtee-sev/report_milan.hex", map[string]any{"tee": "sevsnp", "policy": "0x30000", "debug": false}},
		{"sev-snp/trustee/az-snp-vtpm/hcl-report.bin", map[string]any{"tee": "sevsnp", "azure_hcl": true, "policy": "0x3001f"}},
	}
	for _, tc := range tests {
		t.Run(tc.rel, func(t *testing.T) {
			code, out, stderr := run(t, "quote", "inspect", corpus.Path(t, tc.rel), "-o", "json")
			if code != ExitOK {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			var got map[string]any
			if err := json.Unmarshal([]byte(out), &got); err != nil {
				t.Fatal(err)
			}
			for k, v := range tc.want {
				if got[k] != v {
					t.Errorf("%s = %v, want %v", k, got[k], v)
				}
			}
		})
	}
	code, out, _ := run(t, "quote", "inspect", corpus.Path(t, "sev-snp/go-sev-guest/attestation.bin"))
	if code != ExitOK || !strings.Contains(out, "WARNING: DEBUG") || !strings.Contains(out, "NOT verified") {
		t.Fatalf("text output (exit %d): %s", code, out)
	}
}

// TestQuoteVerifySNP verifies real reports with their VCEK/VLEK at the
// corpus's pinned times: good ones exit 0, tampered ones exit 3 with the
// reason in the JSON.
func TestQuoteVerifySNP(t *testing.T) {
	tests := []struct {
		report, certs, at string
		code              int
		reason            string
	}{
		{"sev-snp/go-sev-guest/attestation.bin", "sev-snp/go-sev-guest/vcek.testcer", "2022-09-24T01:00:00Z", ExitOK, ""},
		{"sev-snp/trustee/snp/test-vlek-report.bin", "sev-snp/trustee/snp/test-vlek.der", "2024-12-11T22:14:21Z", ExitOK, ""},
		{"sev-snp/trustee/snp/test-vlek-report.bin", "sev-snp/trustee/snp/test-vlek.der", "2026-01-01T00:00:00Z", ExitVerifyFailed, "certificate_invalid"},
		{"sev-snp/trustee/az-snp-vtpm/hcl-report.bin", "sev-snp/trustee/az-snp-vtpm/vcek.pem", "2023-05-03T21:22:19Z", ExitOK, ""},
		{"sev-snp/derived/tampered/az-milan-hcl-report-byte6e0-plus1.bin", "sev-snp/trustee/az-snp-vtpm/vcek.pem", "2023-05-03T21:22:19Z", ExitVerifyFailed, "hcl_binding"},
		{"sev-snp/derived/tampered/virtee-report_milan-byte21-xor80.bin", "sev-snp/virtee-sev/vcek_milan.der", "2023-04-04T19:23:43Z", ExitVerifyFailed, "signature_invalid"},
		{"sev-snp/go-sev-guest/attestation.bin", "", "2022-09-24T01:00:00Z", ExitVerifyFailed, "missing_certificate"},
	}
	for _, tc := range tests {
		t.Run(tc.report+"@"+tc.at, func(t *testing.T) {
			args := []string{"quote", "verify", corpus.Path(t, tc.report), "--at", tc.at, "-o", "json"}
			if tc.certs != "" {
				args = append(args, "--certs", corpus.Path(t, tc.certs))
			}
			code, out, stderr := run(t, args...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d: %s %s", code, tc.code, out, stderr)
			}
			var got map[string]any
			if err := json.Unmarshal([]byte(out), &got); err != nil {
				t.Fatal(err)
			}
			if got["verified"] != (tc.code == ExitOK) || got["reason"] != map[bool]any{true: nil, false: tc.reason}[tc.reason == ""] {
				t.Fatalf("output %s", out)
			}
		})
	}
}
