package attestd

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"testing"
	"time"

	"github.com/sgxops/sgxops/attestd/config"
	"github.com/sgxops/sgxops/collateral"
	"github.com/sgxops/sgxops/dcap"
	"github.com/sgxops/sgxops/internal/corpus"
	"github.com/sgxops/sgxops/maaclient"
	"github.com/sgxops/sgxops/sgx"
)

// TestRealIntelQuoteClaims attests a real Intel SGX quote (phala-dcap-qvl)
// with its collateral bundle at the case's pinned time (corpus.QuoteCases) and checks the
// token's claims against the quote and Intel's verdict.
func TestRealIntelQuoteClaims(t *testing.T) {
	at := time.Date(2025, 7, 19, 10, 1, 17, 0, time.UTC)
	clock := func() time.Time { return at }
	q := realQuote(t)
	parsed, err := sgx.ParseQuote(q)
	if err != nil {
		t.Fatal(err)
	}
	coll, err := collateral.ParseBundle(corpus.Read(t, "phala-dcap-qvl/sgx_quote_collateral.json"))
	if err != nil {
		t.Fatal(err)
	}
	real := &DCAPVerifier{Source: &collateral.Bundle{Collateral: coll}, DCAP: dcap.NewVerifier(dcap.Options{Now: clock})}
	e := newTestEnv(t, envOpts{
		cfg: func(c *config.Config) {
			c.Appraisal.Apps = map[string]config.AppRules{"phala": {
				AcceptedTCBStatuses: []string{"UpToDate", "ConfigurationAndSWHardeningNeeded"},
				AcceptedAdvisoryIDs: []string{"INTEL-SA-00289", "INTEL-SA-00615"},
			}}
		},
		opts: func(o *Options) { o.Verifier, o.Now, o.SimulationTrusted = real, clock, false },
	})
	b := parsed.SGXBody
	mustStatus(t, e.do("POST", "/admin/v1/releases", adminToken, registerRequest{App: "phala", Name: "v1", MREnclave: hex.EncodeToString(b.MREnclave[:])}), 201)
	mustStatus(t, e.do("POST", "/admin/v1/releases/phala/v1/activate", adminToken, nil), 200)

	tok := e.attest(q, nil, "").token(t)
	_, c := tokenParts(t, tok)
	qsum := sha256.Sum256(q)
	tsum := sha256.Sum256(coll.TCBInfo)
	want := map[string]any{
		"x-ms-sgx-mrenclave":     "33d8736db756ed4997e04ba358d27833188f1932ff7b1d156904d3f560452fbb",
		"x-ms-sgx-mrsigner":      "815f42f11cf64430c30bab7816ba596a1da0130c3b028b673133a66cf9a3e0e6",
		"x-ms-sgx-report-data":   hex.EncodeToString(b.ReportData[:]),
		"x-ms-sgx-is-debuggable": false,
		"x-sgxops-simulated":     false,
		"x-sgxops-tcb-status":    "ConfigurationAndSWHardeningNeeded",
		"x-sgxops-release":       "v1",
	}
	for k, v := range want {
		if c[k] != v {
			t.Errorf("%s = %v, want %v", k, c[k], v)
		}
	}
	if n, _ := c["iat"].(json.Number).Int64(); n != at.Unix() {
		t.Errorf("iat %d, want the injected clock %d", n, at.Unix())
	}
	ids, _ := c["x-sgxops-advisory-ids"].([]any)
	if len(ids) != 2 || ids[0] != "INTEL-SA-00289" || ids[1] != "INTEL-SA-00615" {
		t.Errorf("advisory ids %v", ids)
	}
	cc := c["x-ms-sgx-collateral"].(map[string]any)
	if cc["quotehash"] != hex.EncodeToString(qsum[:]) || cc["tcbinfohash"] != hex.EncodeToString(tsum[:]) {
		t.Errorf("collateral hashes %v", cc)
	}
	mc, err := maaclient.New(e.url, maaclient.Options{HTTPClient: e.client, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	vt, err := mc.Verify(context.Background(), tok, maaclient.Expectations{MREnclave: []string{want["x-ms-sgx-mrenclave"].(string)}})
	if err != nil {
		t.Fatal(err)
	}
	if vt.Simulated || vt.TCBStatus != "ConfigurationAndSWHardeningNeeded" {
		t.Fatalf("verified: %v", vt)
	}
	// One second after the collateral window the same quote is refused.
	late := at.Add(48 * time.Hour)
	lateV := &DCAPVerifier{Source: &collateral.Bundle{Collateral: coll}, DCAP: dcap.NewVerifier(dcap.Options{Now: func() time.Time { return late }})}
	if _, err := lateV.VerifyQuote(context.Background(), parsed); err == nil {
		t.Fatal("expired collateral accepted")
	}
}
