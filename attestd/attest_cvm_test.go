package attestd

import (
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sgxops/sgxops/internal/corpus"
	"github.com/sgxops/sgxops/sim"
	"github.com/sgxops/sgxops/snp"
)

// tdIdentity is a production (non-debug) TD identity derived from name.
func tdIdentity(name string) sim.TDIdentity {
	id := sim.TDIdentity{MRTD: sha512.Sum384([]byte("mrtd " + name))}
	for i := range id.RTMRs {
		id.RTMRs[i] = sha512.Sum384([]byte(fmt.Sprintf("rtmr%d %s", i, name)))
	}
	return id
}

func (e *testEnv) tdQuote(id sim.TDIdentity, rt []byte, v5 bool) []byte {
	e.t.Helper()
	var rd [64]byte
	if rt != nil {
		s := sha256.Sum256(rt)
		copy(rd[:], s[:])
	}
	q, err := e.plat.TDQuote(id, rd)
	if v5 {
		q, err = e.plat.TD15Quote(id, rd)
	}
	if err != nil {
		e.t.Fatal(err)
	}
	return q
}

// registerCVM registers and activates a release from a raw JSON body.
func (e *testEnv) registerCVM(body string) {
	e.t.Helper()
	var b struct{ App, Name string }
	if err := json.Unmarshal([]byte(body), &b); err != nil {
		e.t.Fatal(err)
	}
	mustStatus(e.t, e.do("POST", "/admin/v1/releases", adminToken, body), http.StatusCreated)
	mustStatus(e.t, e.do("POST", fmt.Sprintf("/admin/v1/releases/%s/%s/activate", b.App, b.Name), adminToken, nil), http.StatusOK)
}

func (e *testEnv) attestTDX(q, rt []byte, query string) response {
	e.t.Helper()
	return e.do("POST", "/attest/TdxVm?api-version=2020-10-01"+query, "", attestBody("quote", q, rt))
}

// TestTdxVmSimulated runs simulated TDX quotes (v4 and v5) through
// /attest/TdxVm: verified by the dcap TDX path against the simulated PCS,
// appraised against a release registered by MRTD (and RTMR1), token in
// MAA's TDX shape marked SIMULATED.
func TestTdxVmSimulated(t *testing.T) {
	e := newTestEnv(t, envOpts{})
	id := tdIdentity("td v1")
	e.registerCVM(fmt.Sprintf(`{"app":"cvm","name":"v1","mrtd":%q,"rtmrs":["",%q,"",""]}`,
		hex.EncodeToString(id.MRTD[:]), strings.ToUpper(hex.EncodeToString(id.RTMRs[1][:]))))
	rt := []byte("td public key")
	for _, v5 := range []bool{false, true} {
		t.Run(fmt.Sprintf("v5=%v", v5), func(t *testing.T) {
			tok := e.attestTDX(e.tdQuote(id, rt, v5), rt, "").token(t)
			_, c := tokenParts(t, tok)
			want := map[string]any{
				"x-ms-attestation-type": "tdxvm", "tdx_mrtd": hex.EncodeToString(id.MRTD[:]),
				"tdx_rtmr1": hex.EncodeToString(id.RTMRs[1][:]), "tdx_td_attributes_debug": false,
				"x-sgxops-simulated": true, "x-sgxops-release": "v1", "x-sgxops-app": "cvm",
				"x-sgxops-release-state": "active", "attester_tcb_status": "UpToDate", "tee": "tdxvm",
			}
			for k, v := range want {
				if c[k] != v {
					t.Errorf("claim %s = %v, want %v", k, c[k], v)
				}
			}
			if rd, _ := c["tdx_report_data"].(string); !strings.HasPrefix(rd, hex.EncodeToString(sha256Of(rt))) {
				t.Errorf("tdx_report_data %s does not bind the runtime data", rd)
			}
			if _, ok := c["tdx_mrservicetd"]; ok != v5 {
				t.Errorf("tdx_mrservicetd present = %v for v5 = %v", ok, v5)
			}
		})
	}
	if !strings.Contains(e.logs.String(), "SIMULATED") {
		t.Error("the log does not mark the simulated TDX attestation")
	}

	refused := []struct {
		name   string
		quote  func() []byte
		rt     []byte
		code   string
		reason string
	}{
		{name: "debug TD", quote: func() []byte {
			d := id
			d.TDAttributes = sim.DefaultTDAttributes
			d.TDAttributes[0] |= 1
			return e.tdQuote(d, rt, false)
		}, rt: rt, code: CodePolicyEvaluation, reason: "debug_not_allowed"},
		{name: "unknown MRTD", quote: func() []byte { return e.tdQuote(tdIdentity("other"), rt, false) }, rt: rt, code: CodePolicyEvaluation, reason: "no_matching_release"},
		{name: "RTMR1 differs", quote: func() []byte {
			d := id
			d.RTMRs[1][0] ^= 1
			return e.tdQuote(d, rt, false)
		}, rt: rt, code: CodePolicyEvaluation, reason: "no_matching_release"},
		{name: "runtime data", quote: func() []byte { return e.tdQuote(id, rt, false) }, rt: []byte("other key"), code: CodeRuntimeDataMismatch},
		{name: "tampered MRTD", quote: func() []byte {
			q := e.tdQuote(id, rt, false)
			q[48+136] ^= 1 // MRTD: header (48) + TEE_TCB_SVN, MRSEAM, MRSIGNERSEAM, SEAM/TD attributes, XFAM
			return q
		}, rt: rt, code: CodeInvalidQuote, reason: "signature"},
		{name: "SGX quote", quote: func() []byte { return e.quote(identity("sgx"), rt) }, rt: rt, code: CodeInvalidQuote},
	}
	for _, tc := range refused {
		t.Run(tc.name, func(t *testing.T) {
			r := e.attestTDX(tc.quote(), tc.rt, "")
			mustStatus(t, r, http.StatusBadRequest)
			if code := r.errorCode(t); code != tc.code || !strings.Contains(string(r.body), tc.reason) {
				t.Fatalf("code %s, body %s; want %s with %q", code, r.body, tc.code, tc.reason)
			}
		})
	}
}

func sha256Of(b []byte) []byte { s := sha256.Sum256(b); return s[:] }

// snpCase is one of the corpus's SEV-SNP cases (internal/corpus.SNPCases).
type snpCase = corpus.SNPCase

// snpCases returns the SEV-SNP cases once the corpus is known to be present.
func snpCases(t testing.TB) []snpCase {
	t.Helper()
	corpus.Dir(t)
	return corpus.SNPCases
}

// snpEnvelope is MAA's SevSnpVm evidence for a corpus case:
// {"SnpReport": b64url(report), "VcekCertChain": b64url(PEM)}.
func snpEnvelope(t testing.TB, c snpCase) (env, report []byte) {
	t.Helper()
	report = corpus.Read(t, "sev-snp/"+c.Report)
	if strings.HasSuffix(c.Report, ".hex") {
		b, err := hex.DecodeString(strings.TrimSpace(string(report)))
		if err != nil {
			t.Fatal(err)
		}
		report = b
	}
	var chain []byte
	for _, f := range c.Certs {
		b := corpus.Read(t, "sev-snp/"+f)
		if !strings.Contains(string(b), "-----BEGIN") {
			b = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: b})
		}
		chain = append(chain, b...)
	}
	env, err := json.Marshal(map[string]string{
		"SnpReport": base64.RawURLEncoding.EncodeToString(report), "VcekCertChain": base64.RawURLEncoding.EncodeToString(chain),
	})
	if err != nil {
		t.Fatal(err)
	}
	return env, report
}

// snpReportOf returns the SNP report inside a raw or HCL report.
func snpReportOf(b []byte) []byte {
	if len(b) > 4 && string(b[:4]) == "HCLA" {
		return b[0x20:0x4C0]
	}
	return b
}

// TestSevSnpVmCorpus posts every real report of the corpus to
// /attest/SevSnpVm in MAA's envelope, at the case's pinned time, with a
// release registered for its MEASUREMENT: good reports get a token in MAA's
// SNP shape, except the debug one (go-sev-guest's policy 0xb0000), refused by
// the appraisal; tampered ones are refused with the verifier's reason.
func TestSevSnpVmCorpus(t *testing.T) {
	var at atomic.Pointer[time.Time]
	e := newTestEnv(t, envOpts{opts: func(o *Options) {
		o.SNPTime = func() time.Time { return *at.Load() }
	}})
	wantReason := map[string]string{
		"gsg-milan-vcek":               "debug_not_allowed",
		"azure-milan-hcl-tampered-6e0": "hcl_binding",
	}
	registered := map[string]bool{}
	for _, c := range snpCases(t) {
		t.Run(c.ID, func(t *testing.T) {
			ts, err := time.Parse(time.RFC3339, c.At)
			if err != nil {
				t.Fatal(err)
			}
			at.Store(&ts)
			env, raw := snpEnvelope(t, c)
			rep := snpReportOf(raw)
			meas := hex.EncodeToString(rep[0x90:0xC0])
			app := "snp-" + strings.ReplaceAll(strings.SplitN(c.ID, "-tampered", 2)[0], "_", "-")
			if c.OK && !registered[app] {
				registered[app] = true
				e.registerCVM(fmt.Sprintf(`{"app":%q,"name":"v1","measurement":%q,"host_data":%q}`, app, meas, hex.EncodeToString(rep[0xC0:0xE0])))
			}
			r := e.do("POST", "/attest/SevSnpVm?api-version=2022-08-01&sgxops-app="+app, "", map[string]any{"report": base64.RawURLEncoding.EncodeToString(env)})
			reason, special := wantReason[c.ID]
			switch {
			case c.OK && !special:
				_, cl := tokenParts(t, r.token(t))
				if cl["x-ms-attestation-type"] != "sevsnpvm" || cl["x-ms-sevsnpvm-launchmeasurement"] != meas ||
					cl["x-ms-sevsnpvm-is-debuggable"] != false || cl["x-sgxops-release"] != "v1" || cl["x-sgxops-simulated"] != false {
					t.Fatalf("claims %v", cl)
				}
				if strings.HasPrefix(c.ID, "azure-") && cl["x-ms-runtime"] == nil {
					t.Error("no x-ms-runtime from the HCL runtime claims")
				}
			case special:
				mustStatus(t, r, http.StatusBadRequest)
				if !strings.Contains(string(r.body), reason) {
					t.Fatalf("body %s, want reason %s", r.body, reason)
				}
			default:
				mustStatus(t, r, http.StatusBadRequest)
				if code := r.errorCode(t); code != CodeInvalidQuote || !strings.Contains(string(r.body), "signature_invalid") {
					t.Fatalf("code %s body %s, want InvalidQuote signature_invalid", code, r.body)
				}
			}
		})
	}
	// Runtime data is bound to REPORT_DATA[0:32]: the go-sev-guest report's
	// report data is 0102030405 followed by zeros, which no runtime data hashes to.
	t.Run("runtime data", func(t *testing.T) {
		c := snpCases(t)[1] // virtee-milan-vcek
		ts, _ := time.Parse(time.RFC3339, c.At)
		at.Store(&ts)
		env, _ := snpEnvelope(t, c)
		r := e.do("POST", "/attest/SevSnpVm", "", attestBody("report", env, []byte("key")))
		mustStatus(t, r, http.StatusBadRequest)
		if code := r.errorCode(t); code != CodeRuntimeDataMismatch {
			t.Fatalf("code %s: %s", code, r.body)
		}
	})
	t.Run("expired VLEK", func(t *testing.T) {
		ts := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		at.Store(&ts)
		for _, c := range snpCases(t) {
			if c.ID == "trustee-milan-vlek-aws" {
				env, _ := snpEnvelope(t, c)
				r := e.do("POST", "/attest/SevSnpVm", "", map[string]any{"report": base64.RawURLEncoding.EncodeToString(env)})
				mustStatus(t, r, http.StatusBadRequest)
				if !strings.Contains(string(r.body), "certificate_invalid") {
					t.Fatalf("body %s", r.body)
				}
			}
		}
	})
}

// TestAzureAttestationJSClientCVM: the official @azure/attestation client
// posts a simulated TDX quote to /attest/TdxVm and a real Azure CVM report to
// /attest/SevSnpVm, and validates both tokens (signature against /certs,
// issuer, exp/nbf) - see test/interop/js/maa-cvm.js.
func TestAzureAttestationJSClientCVM(t *testing.T) {
	node, _ := nodeProbe(t)
	script, err := filepath.Abs(filepath.Join(jsDir, "maa-cvm.js"))
	if err != nil {
		t.Fatal(err)
	}
	var at atomic.Pointer[time.Time]
	now := time.Now()
	at.Store(&now)
	e := newTestEnv(t, envOpts{opts: func(o *Options) { o.SNPTime = func() time.Time { return *at.Load() } }})
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	type result struct {
		OK         bool           `json:"ok"`
		Message    string         `json:"message"`
		StatusCode int            `json:"statusCode"`
		Claims     map[string]any `json:"claims"`
	}

	id := tdIdentity("js td")
	e.registerCVM(fmt.Sprintf(`{"app":"js-td","name":"v1","mrtd":%q}`, hex.EncodeToString(id.MRTD[:])))
	rt := []byte("td key")
	var r result
	runNodeJSON(t, nil, node, script, &r, e.url, "TdxVm", write("td.bin", e.tdQuote(id, rt, false)), write("rt.bin", rt))
	if !r.OK || r.Claims["x-ms-attestation-type"] != "tdxvm" || r.Claims["x-sgxops-simulated"] != true {
		t.Fatalf("TdxVm through the JS client: %+v", r)
	}
	d := id
	d.TDAttributes = sim.DefaultTDAttributes
	d.TDAttributes[0] |= 1
	runNodeJSON(t, nil, node, script, &r, e.url, "TdxVm", write("debug.bin", e.tdQuote(d, rt, false)), write("rt.bin", rt))
	if r.OK || r.StatusCode != http.StatusBadRequest || !strings.Contains(r.Message, "debug_not_allowed") {
		t.Fatalf("debug TD through the JS client: %+v", r)
	}

	for _, c := range snpCases(t) {
		if c.ID != "azure-genoa-hcl" {
			continue
		}
		ts, _ := time.Parse(time.RFC3339, c.At)
		at.Store(&ts)
		env, raw := snpEnvelope(t, c)
		rep := snpReportOf(raw)
		e.registerCVM(fmt.Sprintf(`{"app":"js-snp","name":"v1","measurement":%q}`, hex.EncodeToString(rep[0x90:0xC0])))
		runNodeJSON(t, nil, node, script, &r, e.url, "SevSnpVm", write("snp.json", env))
		if !r.OK || r.Claims["x-ms-attestation-type"] != "sevsnpvm" || r.Claims["x-ms-sevsnpvm-launchmeasurement"] != hex.EncodeToString(rep[0x90:0xC0]) {
			t.Fatalf("SevSnpVm through the JS client: %+v", r)
		}
		bad := append([]byte(nil), raw...)
		bad[0x20+0x90] ^= 1 // MEASUREMENT
		env2, _ := json.Marshal(map[string]string{"SnpReport": base64.RawURLEncoding.EncodeToString(bad), "VcekCertChain": base64.RawURLEncoding.EncodeToString(corpus.Read(t, "sev-snp/"+c.Certs[0]))})
		runNodeJSON(t, nil, node, script, &r, e.url, "SevSnpVm", write("bad.json", env2))
		if r.OK || r.StatusCode != http.StatusBadRequest || !strings.Contains(r.Message, "signature_invalid") {
			t.Fatalf("tampered SNP report through the JS client: %+v", r)
		}
		return
	}
	t.Fatal("case azure-genoa-hcl not found")
}

// FuzzSevSnpVmRequest feeds /attest/SevSnpVm bodies through the request
// decoder and the SNP evidence parser (MAA envelope, raw and HCL reports):
// no panic, and every refusal is typed. Seeded with the corpus's real
// reports in MAA's envelope.
func FuzzSevSnpVmRequest(f *testing.F) {
	for _, c := range snpCases(f) {
		env, raw := snpEnvelope(f, c)
		f.Add([]byte(`{"report":"` + base64.RawURLEncoding.EncodeToString(env) + `"}`))
		f.Add([]byte(`{"report":"` + base64.StdEncoding.EncodeToString(raw) + `","initTimeData":{"data":"AA","dataType":"Binary"}}`))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := DecodeAttestRequest(KindSEVSNP, body)
		if err != nil {
			var re *RequestError
			if !errors.As(err, &re) {
				t.Fatalf("error %v is not a *RequestError", err)
			}
			return
		}
		if _, err := snp.ParseEvidence(r.Quote, nil); err != nil {
			var se *snp.Error
			if !errors.As(err, &se) {
				t.Fatalf("error %v is not an *snp.Error", err)
			}
		}
	})
}
