package corpus

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/sgxops/sgxops/internal/corpusfetch/manifest"
)

// TestCaseTablesSelfConsistent: ids are unique, times parse and agree, the
// verification time lies in the collateral window, and every file a case
// names is one `make corpus` provides (a verbatim or derived manifest entry).
func TestCaseTablesSelfConsistent(t *testing.T) {
	m, err := manifest.Load()
	if err != nil {
		t.Fatal(err)
	}
	provided := map[string]bool{}
	for _, f := range m.Files {
		provided[f.Path] = true
	}
	for _, d := range m.Derived {
		provided[d.Path] = true
	}
	if len(QuoteCases) != 27 || len(SNPCases) != 14 {
		t.Fatalf("%d quote cases, %d SEV-SNP cases; want 27 and 14", len(QuoteCases), len(SNPCases))
	}
	ids := map[string]bool{}
	for _, c := range QuoteCases {
		if ids[c.ID] {
			t.Errorf("case %s twice", c.ID)
		}
		ids[c.ID] = true
		if !slices.Contains([]string{"SGX v3", "TDX v4", "TDX v5"}, c.Kind) {
			t.Errorf("%s: kind %q", c.ID, c.Kind)
		}
		for _, p := range []string{c.Quote, c.Collateral} {
			if !provided[p] {
				t.Errorf("%s: %s is not in the manifest", c.ID, p)
			}
		}
		now := time.Unix(c.Now, 0).UTC()
		if now.Format(time.RFC3339) != c.NowISO {
			t.Errorf("%s: Now %d is %s, NowISO says %s", c.ID, c.Now, now.Format(time.RFC3339), c.NowISO)
		}
		start, err1 := time.Parse(time.RFC3339, c.Window[0])
		end, err2 := time.Parse(time.RFC3339, c.Window[1])
		if err1 != nil || err2 != nil || now.Before(start) || now.After(end) {
			t.Errorf("%s: %s outside the collateral window %v (%v, %v)", c.ID, c.NowISO, c.Window, err1, err2)
		}
	}
	for _, c := range SNPCases {
		if ids[c.ID] {
			t.Errorf("case %s twice", c.ID)
		}
		ids[c.ID] = true
		for _, p := range append([]string{c.Report}, c.Certs...) {
			if !provided["sev-snp/"+p] {
				t.Errorf("%s: sev-snp/%s is not in the manifest", c.ID, p)
			}
		}
		if _, err := time.Parse(time.RFC3339, c.At); err != nil {
			t.Errorf("%s: At: %v", c.ID, err)
		}
		if len(c.Certs) == 0 || c.Measurement != "" && !c.OK {
			t.Errorf("%s: certificates %v, measurement %q for a refused report", c.ID, c.Certs, c.Measurement)
		}
	}
}

// TestCaseTablesMatchCorpusIndex checks the tables against the curated index of
// the corpus (cases.json, sev-snp/cases.json) when the corpus has one: the
// shared corpus does, a corpus built by `make corpus` does not (its files have no
// public origin), and then this test is skipped.
func TestCaseTablesMatchCorpusIndex(t *testing.T) {
	dir := Dir(t)
	raw, err := os.ReadFile(filepath.Join(dir, "cases.json"))
	if os.IsNotExist(err) {
		t.Skipf("the corpus at %s has no curated index (cases.json): built by make corpus; the tables are checked against it where it exists", dir)
	}
	if err != nil {
		t.Fatal(err)
	}
	var quotes []struct {
		ID         string    `json:"id"`
		Kind       string    `json:"kind"`
		Quote      string    `json:"quote"`
		Collateral string    `json:"collateral"`
		Pairing    string    `json:"pairing"`
		Now        int64     `json:"now"`
		NowISO     string    `json:"now_iso"`
		Window     [2]string `json:"collateral_window"`
	}
	if err := json.Unmarshal(raw, &quotes); err != nil {
		t.Fatalf("cases.json: %v", err)
	}
	var fromIndex []QuoteCase
	for _, q := range quotes {
		fromIndex = append(fromIndex, QuoteCase{ID: q.ID, Kind: q.Kind, Quote: q.Quote, Collateral: q.Collateral,
			OriginPairing: q.Pairing == "origin-pairing", Now: q.Now, NowISO: q.NowISO, Window: q.Window})
	}
	if !slices.Equal(fromIndex, QuoteCases) {
		t.Errorf("QuoteCases differ from cases.json:\n table %+v\n index %+v", QuoteCases, fromIndex)
	}

	var snps []struct {
		ID         string   `json:"id"`
		Report     string   `json:"report"`
		Certs      []string `json:"certs"`
		At         string   `json:"at"`
		ExpectedOK bool     `json:"expected_ok"`
		Expected   struct {
			Measurement string `json:"measurement"`
		} `json:"expected"`
	}
	raw, err = os.ReadFile(filepath.Join(dir, "sev-snp", "cases.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &snps); err != nil {
		t.Fatalf("sev-snp/cases.json: %v", err)
	}
	if len(snps) != len(SNPCases) {
		t.Fatalf("sev-snp/cases.json has %d cases, the table %d", len(snps), len(SNPCases))
	}
	for i, s := range snps {
		c := SNPCases[i]
		if s.ID != c.ID || s.Report != c.Report || !slices.Equal(s.Certs, c.Certs) || s.At != c.At || s.ExpectedOK != c.OK ||
			s.Expected.Measurement != c.Measurement && (c.OK || c.Measurement != "") {
			t.Errorf("SNPCases[%d] = %+v, sev-snp/cases.json has %+v", i, c, s)
		}
	}
}
