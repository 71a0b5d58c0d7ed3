package snp_test

import (
	"testing"
	"time"

	"github.com/sgxops/sgxops/snp"
)

// FuzzParseEvidence feeds the parser (raw, HCL and MAA envelope forms) and,
// when it parses, Verify: neither may panic, and every error is typed.
// Seeded with the corpus's real reports.
func FuzzParseEvidence(f *testing.F) {
	for _, c := range loadCases(f) {
		rep, _ := caseEvidence(f, c)
		f.Add(rep)
	}
	f.Add([]byte(`{"SnpReport":"AAAA","VcekCertChain":""}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		ev, err := snp.ParseEvidence(b, nil)
		if err != nil {
			if _, ok := err.(*snp.Error); !ok {
				t.Fatalf("untyped error %T: %v", err, err)
			}
			return
		}
		if len(ev.Report) != snp.ReportSize {
			t.Fatalf("report of %d bytes", len(ev.Report))
		}
		if _, err := snp.Verify(ev, snp.Options{Now: time.Unix(1700000000, 0)}); err == nil {
			t.Fatal("evidence without certificates verified")
		}
	})
}
