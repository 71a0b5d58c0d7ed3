package snp_test

import (
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sgxops/sgxops/internal/corpus"
	"github.com/sgxops/sgxops/snp"
)

// snpCase is one of the corpus's SEV-SNP cases (internal/corpus.SNPCases).
type snpCase = corpus.SNPCase

// loadCases returns the SEV-SNP cases once the corpus is known to be present.
func loadCases(t testing.TB) []snpCase {
	t.Helper()
	corpus.Dir(t)
	return corpus.SNPCases
}

// caseEvidence reads a case's report (hex text decoded) and certificates.
func caseEvidence(t testing.TB, c snpCase) (report []byte, certs []byte) {
	t.Helper()
	report = corpus.Read(t, "sev-snp/"+c.Report)
	if strings.HasSuffix(c.Report, ".hex") {
		b, err := hex.DecodeString(strings.TrimSpace(string(report)))
		if err != nil {
			t.Fatal(err)
		}
		report = b
	}
	for _, f := range c.Certs {
		b := corpus.Read(t, "sev-snp/"+f)
		if !strings.Contains(string(b), "-----BEGIN") {
			b = pemOf(b)
		}
		certs = append(certs, b...)
	}
	return report, certs
}

// wantReason is the refusal each tampered case must give (the origins'
// expectation, restated as this package's reason).
var wantReason = map[string]snp.Reason{
	"virtee-milan-vcek-tampered-b21":   snp.ReasonSignature,
	"trustee-milan-vcek-tampered-b42":  snp.ReasonSignature,
	"trustee-milan-vcek-tampered-b384": snp.ReasonSignature,
	"trustee-milan-vlek-tampered-b42":  snp.ReasonSignature,
	"trustee-milan-vlek-tampered-b384": snp.ReasonSignature,
	"azure-milan-hcl-tampered-1a6":     snp.ReasonSignature,
	"azure-milan-hcl-tampered-6e0":     snp.ReasonHCLBinding,
}

// TestCorpus verifies every real report of the corpus at its pinned time
// and checks the origin's verdict.
func TestCorpus(t *testing.T) {
	for _, c := range loadCases(t) {
		t.Run(c.ID, func(t *testing.T) {
			rep, certs := caseEvidence(t, c)
			at, err := time.Parse(time.RFC3339, c.At)
			if err != nil {
				t.Fatal(err)
			}
			ev, err := snp.ParseEvidence(rep, certs)
			var v *snp.Verdict
			if err == nil {
				v, err = snp.Verify(ev, snp.Options{Now: at})
			}
			if c.OK {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				if m := c.Measurement; m != "" && m != snp.Hex(v.Report.GetMeasurement()) {
					t.Errorf("measurement %x, want %s", v.Report.GetMeasurement(), m)
				}
				if (ev.HCL != nil) != strings.HasPrefix(c.ID, "azure-") {
					t.Errorf("HCL = %v for %s", ev.HCL != nil, c.ID)
				}
				return
			}
			var se *snp.Error
			if !errors.As(err, &se) {
				t.Fatalf("err = %v, want *snp.Error", err)
			}
			if want := wantReason[c.ID]; se.Reason != want {
				t.Fatalf("reason %s (%v), want %s", se.Reason, err, want)
			}
		})
	}
}

// TestCorpusExpiredCertificate: the AWS VLEK expired on 2025-12-10; at a
// later time its report is refused as a certificate problem.
func TestCorpusExpiredCertificate(t *testing.T) {
	for _, c := range loadCases(t) {
		if c.ID != "trustee-milan-vlek-aws" {
			continue
		}
		rep, certs := caseEvidence(t, c)
		ev, err := snp.ParseEvidence(rep, certs)
		if err != nil {
			t.Fatal(err)
		}
		_, err = snp.Verify(ev, snp.Options{Now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)})
		var se *snp.Error
		if !errors.As(err, &se) || se.Reason != snp.ReasonCertificate {
			t.Fatalf("err = %v, want %s", err, snp.ReasonCertificate)
		}
		return
	}
	t.Fatal("case trustee-milan-vlek-aws not found")
}

// TestMissingCertificate: a report without its VCEK is refused as such.
func TestMissingCertificate(t *testing.T) {
	c := loadCases(t)[0]
	rep, _ := caseEvidence(t, c)
	ev, err := snp.ParseEvidence(rep, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = snp.Verify(ev, snp.Options{})
	var se *snp.Error
	if !errors.As(err, &se) || se.Reason != snp.ReasonMissingCertificate {
		t.Fatalf("err = %v", err)
	}
}

// TestByteFlip flips every signed byte (offsets [0, 0x2A0)) of real
// reports: each one must be refused with a typed reason.
func TestByteFlip(t *testing.T) {
	if testing.Short() {
		t.Skip("byte flips take a few seconds")
	}
	for _, c := range loadCases(t) {
		if !c.OK || !(c.ID == "gsg-milan-vcek" || c.ID == "trustee-milan-vlek-aws" || c.ID == "azure-genoa-hcl") {
			continue
		}
		t.Run(c.ID, func(t *testing.T) {
			rep, certs := caseEvidence(t, c)
			at, _ := time.Parse(time.RFC3339, c.At)
			base := 0
			if strings.HasPrefix(c.ID, "azure-") {
				base = 0x20 // the SNP report inside the HCL report
			}
			reasons := map[snp.Reason]int{}
			for off := 0; off < 0x2A0; off++ {
				b := append([]byte(nil), rep...)
				b[base+off] ^= 0x01
				ev, err := snp.ParseEvidence(b, certs)
				if err == nil {
					_, err = snp.Verify(ev, snp.Options{Now: at})
				}
				var se *snp.Error
				if !errors.As(err, &se) {
					t.Fatalf("byte 0x%x flipped: err = %v, want a refusal", off, err)
				}
				reasons[se.Reason]++
			}
			t.Logf("reasons: %v", reasons)
		})
	}
}
