package attestd

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-configfs-tsm/configfs/configfsi"
	"github.com/google/go-configfs-tsm/configfs/faketsm"

	"github.com/sgxops/sgxops/internal/corpus"
	"github.com/sgxops/sgxops/ra"
	"github.com/sgxops/sgxops/snp"
)

// tsmGuest is go-configfs-tsm's fake report subsystem whose outblob is
// produced by quote from the inblob, as a TDX or SNP guest's would be.
func tsmGuest(quote func(inblob []byte) ([]byte, error)) *ra.TSMProvider {
	sub := faketsm.Report611(0)
	read := sub.ReadAttr
	sub.ReadAttr = func(e *faketsm.ReportEntry, attr string) ([]byte, error) {
		if attr != "outblob" {
			return read(e, attr)
		}
		in, ok := e.InAttrs["inblob"]
		if !ok || len(in.Value) == 0 {
			return nil, syscall.EINVAL
		}
		return quote(in.Value)
	}
	sub.Entries = map[string]*faketsm.ReportEntry{}
	return &ra.TSMProvider{Client: &faketsm.Client{Subsystems: map[string]configfsi.Client{"report": sub}}}
}

// TestTSMProviderEvidence runs ra's configfs-tsm provider in a (fake) TDX
// guest and a (fake) SEV-SNP guest and verifies what it returns through
// /attest/TdxVm and /attest/SevSnpVm. The TDX guest's outblob is a
// simulated TDX quote over the inblob; the SNP guest's is a real Azure
// report, returned only when the inblob is that report's REPORT_DATA (the
// hardware binds the inblob; no AMD key is at hand to sign a new one).
func TestTSMProviderEvidence(t *testing.T) {
	c := func() snpCase {
		for _, c := range snpCases(t) {
			if c.ID == "azure-milan-hcl" {
				return c
			}
		}
		t.Fatal("case azure-milan-hcl not found")
		return snpCase{}
	}()
	at, _ := time.Parse(time.RFC3339, c.At)
	e := newTestEnv(t, envOpts{opts: func(o *Options) { o.SNPTime = func() time.Time { return at } }})

	t.Run("TDX", func(t *testing.T) {
		id := tdIdentity("tsm guest")
		e.registerCVM(fmt.Sprintf(`{"app":"tsm-td","name":"v1","mrtd":%q}`, hex.EncodeToString(id.MRTD[:])))
		p := tsmGuest(func(in []byte) ([]byte, error) {
			var rd [64]byte
			copy(rd[:], in)
			return e.plat.TDQuote(id, rd)
		})
		rt := []byte("tls key of the TD")
		q, err := p.Quote(ra.ReportData(rt))
		if err != nil {
			t.Fatal(err)
		}
		_, cl := tokenParts(t, e.attestTDX(q, rt, "&sgxops-app=tsm-td").token(t))
		if cl["tdx_mrtd"] != hex.EncodeToString(id.MRTD[:]) || cl["x-sgxops-release"] != "v1" {
			t.Fatalf("claims %v", cl)
		}
	})

	t.Run("SEV-SNP", func(t *testing.T) {
		hcl := corpus.Read(t, "sev-snp/"+c.Report)
		report := hcl[0x20:0x4C0]
		parsed, err := snp.ParseEvidence(hcl, nil)
		if err != nil {
			t.Fatal(err)
		}
		runtimeClaims := parsed.HCL.RuntimeClaims
		meas := hex.EncodeToString(report[0x90:0xC0])
		e.registerCVM(fmt.Sprintf(`{"app":"tsm-snp","name":"v1","measurement":%q}`, meas))
		p := tsmGuest(func(in []byte) ([]byte, error) {
			if !bytes.Equal(in, report[0x50:0x90]) {
				return nil, fmt.Errorf("fake SNP guest: inblob %x is not the recorded report's REPORT_DATA", in)
			}
			return bytes.Clone(report), nil
		})
		var rd [64]byte
		sum := sha256.Sum256(runtimeClaims)
		copy(rd[:], sum[:])
		out, err := p.Quote(rd)
		if err != nil {
			t.Fatal(err)
		}
		env, _ := json.Marshal(map[string]string{
			"SnpReport":     base64.RawURLEncoding.EncodeToString(out),
			"VcekCertChain": base64.RawURLEncoding.EncodeToString(corpus.Read(t, "sev-snp/"+c.Certs[0])),
		})
		r := e.do("POST", "/attest/SevSnpVm?sgxops-app=tsm-snp", "", attestBody("report", env, runtimeClaims))
		_, cl := tokenParts(t, r.token(t))
		if cl["x-ms-sevsnpvm-launchmeasurement"] != meas || cl["x-sgxops-release"] != "v1" {
			t.Fatalf("claims %v", cl)
		}
		// Other runtime data than the guest bound is refused.
		r = e.do("POST", "/attest/SevSnpVm?sgxops-app=tsm-snp", "", attestBody("report", env, []byte("other")))
		mustStatus(t, r, http.StatusBadRequest)
		if r.errorCode(t) != CodeRuntimeDataMismatch {
			t.Fatalf("body %s", r.body)
		}
	})
}
