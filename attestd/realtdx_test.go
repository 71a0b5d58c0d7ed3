package attestd

import (
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sgxops/sgxops/attestd/config"
	"github.com/sgxops/sgxops/collateral"
	"github.com/sgxops/sgxops/dcap"
	"github.com/sgxops/sgxops/internal/corpus"
	"github.com/sgxops/sgxops/sgx"
)

// TestRealTDXQuotes attests real TDX quotes (v4 from Phala, v5 from
// Alibaba Cloud via automata) at /attest/TdxVm with their collateral
// bundles at the corpus's pinned times, against the production Intel root
// only: the token carries the quote's MRTD and Intel's verdict, and a
// bit flipped in the signed TD body is refused.
func TestRealTDXQuotes(t *testing.T) {
	for _, c := range []struct {
		name, quote, bundle, status string
		now                         int64
	}{
		{"v4 phala", "phala-dcap-qvl/tdx_quote", "phala-dcap-qvl/tdx_quote_collateral.json", "UpToDate", 1752919234},
		{"v5 alibaba", "automata/quotev5.dat", "bundles/automata-evm-0625-tdx-90c06f000000.json", "", 1749945600},
	} {
		t.Run(c.name, func(t *testing.T) {
			at := time.Unix(c.now, 0).UTC()
			clock := func() time.Time { return at }
			q := corpus.Read(t, c.quote)
			parsed, err := sgx.ParseQuote(q)
			if err != nil {
				t.Fatal(err)
			}
			coll, err := collateral.ParseBundle(corpus.Read(t, c.bundle))
			if err != nil {
				t.Fatal(err)
			}
			real := &DCAPVerifier{Source: &collateral.Bundle{Collateral: coll}, DCAP: dcap.NewVerifier(dcap.Options{Now: clock})}
			e := newTestEnv(t, envOpts{
				cfg: func(cf *config.Config) {
					cf.Appraisal.Apps = map[string]config.AppRules{"real-td": {
						AcceptedTCBStatuses: []string{"UpToDate", "OutOfDate", "SWHardeningNeeded", "ConfigurationNeeded",
							"ConfigurationAndSWHardeningNeeded", "OutOfDateConfigurationNeeded", "TDRelaunchAdvised", "TDRelaunchAdvisedConfigurationNeeded"},
						AcceptedAdvisoryIDs: []string{"*"},
					}}
				},
				opts: func(o *Options) { o.Verifier, o.Now, o.SimulationTrusted = real, clock, false },
			})
			td := parsed.TDBody
			mrtd := hex.EncodeToString(td.MRTD[:])
			e.registerCVM(fmt.Sprintf(`{"app":"real-td","name":"v1","mrtd":%q}`, mrtd))
			r := e.attestTDX(q, nil, "&sgxops-app=real-td")
			if td.TDDebug() {
				mustStatus(t, r, http.StatusBadRequest)
				if !strings.Contains(string(r.body), "debug_not_allowed") {
					t.Fatalf("debug TD: %s", r.body)
				}
				return
			}
			_, cl := tokenParts(t, r.token(t))
			if cl["tdx_mrtd"] != mrtd || cl["x-sgxops-simulated"] != false || cl["x-ms-attestation-type"] != "tdxvm" {
				t.Fatalf("claims %v", cl)
			}
			t.Logf("token: attester_tcb_status %v, advisories %v, debug %v", cl["attester_tcb_status"], cl["attester_advisory_ids"], cl["tdx_td_attributes_debug"])
			if c.status != "" && cl["attester_tcb_status"] != c.status {
				t.Errorf("attester_tcb_status %v, want %s", cl["attester_tcb_status"], c.status)
			}
			if _, ok := cl["tdx_mrservicetd"]; ok != td.Is15 {
				t.Errorf("tdx_mrservicetd present %v, TD 1.5 body %v", ok, td.Is15)
			}
			bad := append([]byte(nil), q...)
			bad[48+136] ^= 0x80 // MRTD
			r = e.attestTDX(bad, nil, "&sgxops-app=real-td")
			mustStatus(t, r, http.StatusBadRequest)
			if code := r.errorCode(t); code != CodeInvalidQuote {
				t.Fatalf("tampered quote: %s %s", code, r.body)
			}
		})
	}
}
