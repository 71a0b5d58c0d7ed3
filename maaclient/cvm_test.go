package maaclient_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sgxops/sgxops/attestd/config"
	"github.com/sgxops/sgxops/internal/corpus"
	"github.com/sgxops/sgxops/maaclient"
	"github.com/sgxops/sgxops/release"
	"github.com/sgxops/sgxops/sim"
	"github.com/sgxops/sgxops/snp"
)

// wantReason fails unless err is an *maaclient.Error with reason r (0: no
// error).
func wantReason(t *testing.T, err error, r maaclient.Reason) {
	t.Helper()
	if r == 0 {
		if err != nil {
			t.Fatal(err)
		}
		return
	}
	var me *maaclient.Error
	if !errors.As(err, &me) || me.Reason != r {
		t.Fatalf("err = %v, want reason %v", err, r)
	}
	if !errors.Is(err, &maaclient.Error{Reason: r}) {
		t.Fatal("errors.Is does not match the reason")
	}
}

// cvmCase is one VerifyCVM call and the reason it must fail with (0:
// accepted).
type cvmCase struct {
	name   string
	token  string                           // "": the token under test
	exp    func(*maaclient.CVMExpectations) // amends the base expectations
	reason maaclient.Reason
}

func runCVMCases(t *testing.T, c *maaclient.Client, tok string, base maaclient.CVMExpectations, cases []cvmCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := base
			e.Measurements = slices.Clone(base.Measurements)
			if tc.exp != nil {
				tc.exp(&e)
			}
			raw := tok
			if tc.token != "" {
				raw = tc.token
			}
			got, err := c.VerifyCVM(context.Background(), raw, e)
			wantReason(t, err, tc.reason)
			if err == nil && (got.Raw != raw || got.Kind != base.Kind) {
				t.Fatalf("verified token %v", got)
			}
		})
	}
}

// flipHex changes the first digit of a hex string.
func flipHex(s string) string {
	if s[0] == '0' {
		return "1" + s[1:]
	}
	return "0" + s[1:]
}

// alterPayload replaces claim name in tok's payload by v, keeping the
// signature.
func alterPayload(t *testing.T, tok, name string, v any) string {
	t.Helper()
	m := payload(t, tok)
	m[name] = v
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	p := strings.Split(tok, ".")
	return p[0] + "." + base64.RawURLEncoding.EncodeToString(b) + "." + p[2]
}

// flipSignatureBit flips one bit of tok's signature.
func flipSignatureBit(t *testing.T, tok string, byteIdx int, bit byte) string {
	t.Helper()
	p := strings.Split(tok, ".")
	sig, err := base64.RawURLEncoding.DecodeString(p[2])
	if err != nil {
		t.Fatal(err)
	}
	sig[(byteIdx+len(sig))%len(sig)] ^= bit
	return p[0] + "." + p[1] + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// commonCVMCases are the checks every confidential-VM token gets: the
// expectations' zero value and inconsistent ones, the TEE kind, measurement,
// runtime data, nonce, release, and a payload or signature altered after
// signing. base has Kind and the token's measurement.
func commonCVMCases(t *testing.T, tok string, base maaclient.CVMExpectations, measClaim string) []cvmCase {
	other := maaclient.KindSEVSNP
	if base.Kind == maaclient.KindSEVSNP {
		other = maaclient.KindTDX
	}
	forged := strings.Repeat("ab", 48)
	cases := []cvmCase{
		{"valid", "", nil, 0},
		{"any identity", "", func(e *maaclient.CVMExpectations) { e.Measurements, e.AnyIdentity = nil, true }, 0},
		{"measurement among others", "", func(e *maaclient.CVMExpectations) { e.Measurements = append([]string{forged}, e.Measurements...) }, 0},
		{"zero value", "", func(e *maaclient.CVMExpectations) { *e = maaclient.CVMExpectations{} }, maaclient.ReasonNoExpectation},
		{"kind only", "", func(e *maaclient.CVMExpectations) { *e = maaclient.CVMExpectations{Kind: base.Kind} }, maaclient.ReasonNoExpectation},
		{"no kind", "", func(e *maaclient.CVMExpectations) { e.Kind = 0 }, maaclient.ReasonNoExpectation},
		{"unknown kind", "", func(e *maaclient.CVMExpectations) { e.Kind = 7 }, maaclient.ReasonNoExpectation},
		{"measurement not hex", "", func(e *maaclient.CVMExpectations) { e.Measurements = []string{"zz" + forged[2:]} }, maaclient.ReasonNoExpectation},
		{"measurement of 32 bytes", "", func(e *maaclient.CVMExpectations) { e.Measurements = []string{forged[:64]} }, maaclient.ReasonNoExpectation},
		{"other kind", "", func(e *maaclient.CVMExpectations) { e.Kind = other }, maaclient.ReasonTEEKind},
		{"other measurement", "", func(e *maaclient.CVMExpectations) { e.Measurements = []string{forged} }, maaclient.ReasonMeasurement},
		{"runtime data", "", func(e *maaclient.CVMExpectations) { e.RuntimeData = []byte("someone else's key") }, maaclient.ReasonRuntimeData},
		{"nonce", "", func(e *maaclient.CVMExpectations) { e.Nonce = "another nonce" }, maaclient.ReasonNonce},
		{"other app", "", func(e *maaclient.CVMExpectations) { e.App = "other-app" }, maaclient.ReasonRelease},
		{"release not listed", "", func(e *maaclient.CVMExpectations) { e.Releases = []string{"v0"} }, maaclient.ReasonRelease},
		{"payload altered", alterPayload(t, tok, measClaim, forged), func(e *maaclient.CVMExpectations) { e.Measurements = []string{forged} }, maaclient.ReasonSignature},
		{"simulated claim flipped", alterPayload(t, tok, "x-sgxops-simulated", payload(t, tok)["x-sgxops-simulated"] != true), nil, maaclient.ReasonSignature},
	}
	for _, b := range []struct {
		at  int
		bit byte
	}{{0, 0x80}, {100, 0x01}, {-1, 0x01}} {
		cases = append(cases, cvmCase{fmt.Sprintf("signature bit %d of byte %d", b.bit, b.at), flipSignatureBit(t, tok, b.at, b.bit), nil, maaclient.ReasonSignature})
	}
	return cases
}

// wantVerifyRefuses checks that Verify, for SGX tokens, refuses tok.
func wantVerifyRefuses(t *testing.T, c *maaclient.Client, tok string) {
	t.Helper()
	_, err := c.Verify(context.Background(), tok, maaclient.Expectations{AnyIdentity: true, AllowDebug: true, AllowSimulated: true})
	wantReason(t, err, maaclient.ReasonTEEKind)
}

// TestCVMRealTDX: a real TDX v4 quote (phala-dcap-qvl) attested by attestd
// with its collateral bundle at the case's pinned time: AttestTDX returns a
// verified token carrying the quote's MRTD, RTMRs, MRCONFIGID, MROWNER and
// report data; each pin that differs, the other TEE kind, an SGX Verify and
// a token altered after signing are refused; a candidate release only when
// allowed.
func TestCVMRealTDX(t *testing.T) {
	_, quote, q, v := quoteCase(t, "phala-tdx")
	td := q.TDBody
	h := hex.EncodeToString
	env := startAttestd(t, envOpts{verifier: v, apps: map[string]config.AppRules{"td": anyTCB, "td-cand": anyTCB}})
	mrtd := h(td.MRTD[:])
	env.release(t, release.Release{App: "td", Name: "v1", MRTD: mrtd}, true)
	env.release(t, release.Release{App: "td-cand", Name: "v2", MRTD: mrtd}, false)
	ctx := context.Background()
	var rtmrs [4]string
	for i := range rtmrs {
		rtmrs[i] = strings.ToUpper(h(td.RTMRs[i][:]))
	}
	tok, err := env.client.AttestTDX(ctx, quote, maaclient.AttestOptions{App: "td", Nonce: "td nonce"}, maaclient.CVMExpectations{
		Measurements: []string{strings.ToUpper(mrtd)}, RTMRs: rtmrs, MRConfigID: h(td.MRConfigID[:]), MROwner: h(td.MROwner[:]),
	})
	if err != nil {
		t.Fatal(err)
	}
	switch {
	case tok.Kind != maaclient.KindTDX, tok.Measurement != mrtd, tok.RTMRs[3] != h(td.RTMRs[3][:]), tok.MRConfigID != h(td.MRConfigID[:]),
		tok.MROwner != h(td.MROwner[:]), tok.HostData != "", !bytes.Equal(tok.ReportData, td.ReportData[:]), tok.Debug, tok.Simulated,
		tok.App != "td", tok.Release != "v1", tok.ReleaseState != "active", tok.TCBStatus != "UpToDate", tok.Claims["nonce"] != "td nonce",
		tok.Issuer != env.url, tok.Expiry.Sub(tok.IssuedAt) != 8*time.Hour:
		t.Fatalf("token %v: %+v", tok, tok)
	}

	base := maaclient.CVMExpectations{Kind: maaclient.KindTDX, Measurements: []string{mrtd}}
	cases := append(commonCVMCases(t, tok.Raw, base, "tdx_mrtd"),
		cvmCase{"every TDX pin", "", func(e *maaclient.CVMExpectations) {
			e.RTMRs, e.MRConfigID, e.MROwner = rtmrs, h(td.MRConfigID[:]), h(td.MROwner[:])
			e.App, e.Releases, e.Nonce = "td", []string{"v0", "v1"}, "td nonce"
		}, 0},
		cvmCase{"app only", "", func(e *maaclient.CVMExpectations) { e.Measurements, e.App = nil, "td" }, 0},
		cvmCase{"MRCONFIGID differs", "", func(e *maaclient.CVMExpectations) { e.MRConfigID = flipHex(h(td.MRConfigID[:])) }, maaclient.ReasonMeasurement},
		cvmCase{"MROWNER differs", "", func(e *maaclient.CVMExpectations) { e.MROwner = flipHex(h(td.MROwner[:])) }, maaclient.ReasonMeasurement},
		cvmCase{"HOST_DATA pinned for TDX", "", func(e *maaclient.CVMExpectations) { e.HostData = strings.Repeat("00", 32) }, maaclient.ReasonNoExpectation},
		cvmCase{"RTMR of 32 bytes", "", func(e *maaclient.CVMExpectations) { e.RTMRs[1] = strings.Repeat("00", 32) }, maaclient.ReasonNoExpectation},
	)
	for i := range rtmrs {
		cases = append(cases, cvmCase{fmt.Sprintf("RTMR%d differs", i), "", func(e *maaclient.CVMExpectations) {
			e.RTMRs = rtmrs
			e.RTMRs[i] = flipHex(rtmrs[i])
		}, maaclient.ReasonMeasurement})
	}
	runCVMCases(t, env.client, tok.Raw, base, cases)
	wantVerifyRefuses(t, env.client, tok.Raw)

	t.Run("candidate", func(t *testing.T) {
		raw, err := env.client.RawAttest(ctx, "TdxVm", "quote", quote, maaclient.AttestOptions{App: "td-cand", Candidate: "v2"})
		if err != nil {
			t.Fatal(err)
		}
		_, err = env.client.VerifyCVM(ctx, raw, base)
		wantReason(t, err, maaclient.ReasonRelease)
		allow := base
		allow.AllowCandidate = true
		if ct, err := env.client.VerifyCVM(ctx, raw, allow); err != nil || ct.ReleaseState != "candidate" || ct.Release != "v2" {
			t.Fatalf("candidate allowed: %v, %v", ct, err)
		}
		// Asking for the candidate allows it.
		if _, err := env.client.AttestTDX(ctx, quote, maaclient.AttestOptions{App: "td-cand", Candidate: "v2"}, maaclient.CVMExpectations{Measurements: []string{mrtd}}); err != nil {
			t.Fatal(err)
		}
	})
}

// TestCVMRealDebugTD: a real debug TD quote (trustee's tdx_quote_4, Intel
// UpToDate at the corpus's time) that attestd is told to accept gets a
// token; maaclient refuses it unless AllowDebug.
func TestCVMRealDebugTD(t *testing.T) {
	_, quote, q, v := quoteCase(t, "trustee-q4-2023-derived")
	if !q.TDBody.TDDebug() {
		t.Fatal("the case's TD is not a debug TD")
	}
	rules := anyTCB
	rules.AllowDebug = true
	env := startAttestd(t, envOpts{verifier: v, apps: map[string]config.AppRules{"debug-td": rules}})
	mrtd := hex.EncodeToString(q.TDBody.MRTD[:])
	env.release(t, release.Release{App: "debug-td", Name: "v1", MRTD: mrtd}, true)
	ctx := context.Background()
	ao := maaclient.AttestOptions{App: "debug-td"}
	_, err := env.client.AttestTDX(ctx, quote, ao, maaclient.CVMExpectations{Measurements: []string{mrtd}})
	wantReason(t, err, maaclient.ReasonDebug)
	tok, err := env.client.AttestTDX(ctx, quote, ao, maaclient.CVMExpectations{Measurements: []string{mrtd}, AllowDebug: true})
	if err != nil {
		t.Fatal(err)
	}
	if !tok.Debug || tok.Claims["tdx_td_attributes_debug"] != true {
		t.Fatalf("token %v", tok)
	}
	wantVerifyRefuses(t, env.client, tok.Raw)
}

// simTD attests a simulated TD binding rt with attestd trusting the
// simulated platform; it returns the env and the (unverified) token.
func simTD(t *testing.T, rt []byte, v5 bool) (*attestdEnv, sim.TDIdentity, []byte) {
	t.Helper()
	plat, v := simVerifier(t)
	env := startAttestd(t, envOpts{verifier: v, simulationTrusted: true})
	id := sim.TDIdentity{MRTD: sha512.Sum384([]byte("mrtd sim td"))}
	for i := range id.RTMRs {
		id.RTMRs[i] = sha512.Sum384(fmt.Appendf(nil, "rtmr%d sim td", i))
	}
	var rd [64]byte
	sum := sha256.Sum256(rt)
	copy(rd[:], sum[:])
	quote, err := plat.TDQuote(id, rd)
	if v5 {
		quote, err = plat.TD15Quote(id, rd)
	}
	if err != nil {
		t.Fatal(err)
	}
	env.release(t, release.Release{App: "sim-td", Name: "v1", MRTD: hex.EncodeToString(id.MRTD[:])}, true)
	return env, id, quote
}

// TestCVMSimulatedTD: a simulated TD's token (x-sgxops-simulated true) is
// refused unless AllowSimulated; the runtime data the TD bound
// (report_data[0:32] = SHA-256) and echoed in maa-ehd is checked, for TD
// 1.0 (quote v4) and TD 1.5 (v5) bodies.
func TestCVMSimulatedTD(t *testing.T) {
	rt := []byte("td ephemeral public key")
	for _, v5 := range []bool{false, true} {
		t.Run(fmt.Sprintf("v5=%v", v5), func(t *testing.T) {
			env, id, quote := simTD(t, rt, v5)
			mrtd := hex.EncodeToString(id.MRTD[:])
			ctx := context.Background()
			ao := maaclient.AttestOptions{App: "sim-td", RuntimeData: rt, Nonce: "sim nonce"}
			_, err := env.client.AttestTDX(ctx, quote, ao, maaclient.CVMExpectations{Measurements: []string{mrtd}})
			wantReason(t, err, maaclient.ReasonSimulated)
			tok, err := env.client.AttestTDX(ctx, quote, ao, maaclient.CVMExpectations{Measurements: []string{mrtd}, AllowSimulated: true})
			if err != nil {
				t.Fatal(err)
			}
			sum := sha256.Sum256(rt)
			if !tok.Simulated || !bytes.Equal(tok.EnclaveHeldData, rt) || !bytes.Equal(tok.ReportData[:32], sum[:]) || tok.RTMRs[2] != hex.EncodeToString(id.RTMRs[2][:]) {
				t.Fatalf("token %v: %+v", tok, tok)
			}
			base := maaclient.CVMExpectations{Kind: maaclient.KindTDX, Measurements: []string{mrtd}, AllowSimulated: true}
			runCVMCases(t, env.client, tok.Raw, base, []cvmCase{
				{"runtime data bound", "", func(e *maaclient.CVMExpectations) { e.RuntimeData = rt }, 0},
				{"other runtime data", "", func(e *maaclient.CVMExpectations) { e.RuntimeData = []byte("td ephemeral public kez") }, maaclient.ReasonRuntimeData},
				{"simulation not allowed", "", func(e *maaclient.CVMExpectations) { e.AllowSimulated = false }, maaclient.ReasonSimulated},
				{"nonce", "", func(e *maaclient.CVMExpectations) { e.Nonce = "sim nonce" }, 0},
			})
		})
	}
}

// TestCVMRefusesSGXToken: a real SGX token (phala-dcap-qvl's quote and
// collateral at its time) verifies with Verify and is refused by VerifyCVM
// for either TEE kind.
func TestCVMRefusesSGXToken(t *testing.T) {
	_, quote, q, v := quoteCase(t, "phala-sgx")
	env := startAttestd(t, envOpts{verifier: v, apps: map[string]config.AppRules{"sgx": anyTCB}})
	mre := hex.EncodeToString(q.SGXBody.MREnclave[:])
	env.release(t, release.Release{App: "sgx", Name: "v1", MREnclave: mre}, true)
	ctx := context.Background()
	tok, err := env.client.AttestSGX(ctx, quote, maaclient.AttestOptions{App: "sgx"}, maaclient.Expectations{MREnclave: []string{mre}})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []maaclient.CVMKind{maaclient.KindTDX, maaclient.KindSEVSNP} {
		_, err := env.client.VerifyCVM(ctx, tok.Raw, maaclient.CVMExpectations{Kind: k, AnyIdentity: true, AllowDebug: true, AllowSimulated: true})
		wantReason(t, err, maaclient.ReasonTEEKind)
	}
}

// snpFiles returns a corpus SEV-SNP case's report (raw or HCL) and its
// certificates as PEM.
func snpFiles(t *testing.T, c corpus.SNPCase) (report, chainPEM []byte) {
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
		if !bytes.Contains(b, []byte("-----BEGIN")) {
			b = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: b})
		}
		chainPEM = append(chainPEM, b...)
	}
	return report, chainPEM
}

func snpApp(c corpus.SNPCase) string { return "snp-" + strings.ReplaceAll(c.ID, "_", "-") }

// TestCVMRealSevSnp posts every SEV-SNP report of the corpus (raw reports
// and Azure HCL reports, VCEK and VLEK, Milan and Genoa) with AttestSevSnp
// at the case's pinned time: good reports give a verified token carrying
// their MEASUREMENT, HOST_DATA and report data (for HCL reports the runtime
// claims are sent as runtime data and bound); the debug one (go-sev-guest's,
// policy 0xb0000) is refused unless AllowDebug; tampered reports are refused
// by the service. Each token then goes through the expectation table.
func TestCVMRealSevSnp(t *testing.T) {
	corpus.Dir(t)
	var at atomic.Pointer[time.Time]
	apps := map[string]config.AppRules{}
	for _, c := range corpus.SNPCases {
		apps[snpApp(c)] = config.AppRules{AllowDebug: true} // the client decides
	}
	env := startAttestd(t, envOpts{snpTime: func() time.Time { return *at.Load() }, apps: apps})
	ctx := context.Background()
	h := hex.EncodeToString
	type snpEvidence struct {
		raw, chain []byte
		ev         *snp.Evidence
	}
	evidence := map[string]snpEvidence{}
	// Releases first: attestd re-reads releases it did not register itself
	// only after a second.
	for _, c := range corpus.SNPCases {
		raw, chain := snpFiles(t, c)
		ev, err := snp.ParseEvidence(raw, chain)
		if err != nil {
			t.Fatalf("%s: %v", c.ID, err)
		}
		evidence[c.ID] = snpEvidence{raw, chain, ev}
		if c.OK {
			env.release(t, release.Release{App: snpApp(c), Name: "v1", Measurement: h(ev.Report[0x90:0xC0])}, true)
		}
	}
	sawDebug, sawHCL := false, false
	for _, c := range corpus.SNPCases {
		t.Run(c.ID, func(t *testing.T) {
			ts, err := time.Parse(time.RFC3339, c.At)
			if err != nil {
				t.Fatal(err)
			}
			at.Store(&ts)
			raw, chain, ev := evidence[c.ID].raw, evidence[c.ID].chain, evidence[c.ID].ev
			rep := ev.Report
			meas, host := h(rep[0x90:0xC0]), h(rep[0xC0:0xE0])
			debug := binary.LittleEndian.Uint64(rep[8:16])&(1<<19) != 0 // guest policy DEBUG
			app := snpApp(c)
			ao := maaclient.AttestOptions{App: app, Nonce: "nonce " + c.ID}
			if ev.HCL != nil {
				ao.RuntimeData, ao.RuntimeDataJSON = ev.HCL.RuntimeClaims, true
			}
			exp := maaclient.CVMExpectations{Measurements: []string{strings.ToUpper(meas)}, HostData: host, AllowDebug: debug}
			tok, err := env.client.AttestSevSnp(ctx, raw, chain, ao, exp)
			if !c.OK {
				var se *maaclient.ServiceError
				if !errors.As(err, &se) || se.StatusCode != http.StatusBadRequest || se.Code != "InvalidQuote" {
					t.Fatalf("tampered report: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case tok.Kind != maaclient.KindSEVSNP, tok.Measurement != meas, tok.HostData != host, !bytes.Equal(tok.ReportData, rep[0x50:0x90]),
				tok.Debug != debug, tok.Simulated, tok.Release != "v1", tok.ReleaseState != "active", tok.Claims["nonce"] != ao.Nonce,
				tok.RTMRs != [4]string{}, tok.MRConfigID != "", (ev.HCL != nil) != (tok.RuntimeClaims != nil):
				t.Fatalf("token %v: %+v", tok, tok)
			}
			base := maaclient.CVMExpectations{Kind: maaclient.KindSEVSNP, Measurements: []string{meas}, AllowDebug: debug}
			cases := append(commonCVMCases(t, tok.Raw, base, "x-ms-sevsnpvm-launchmeasurement"),
				cvmCase{"HOST_DATA pinned", "", func(e *maaclient.CVMExpectations) { e.HostData = strings.ToUpper(host) }, 0},
				cvmCase{"HOST_DATA differs", "", func(e *maaclient.CVMExpectations) { e.HostData = flipHex(host) }, maaclient.ReasonMeasurement},
				cvmCase{"HOST_DATA of 48 bytes", "", func(e *maaclient.CVMExpectations) { e.HostData = strings.Repeat("00", 48) }, maaclient.ReasonNoExpectation},
				cvmCase{"RTMR pinned for SEV-SNP", "", func(e *maaclient.CVMExpectations) { e.RTMRs[0] = strings.Repeat("00", 48) }, maaclient.ReasonNoExpectation},
				cvmCase{"MRCONFIGID pinned for SEV-SNP", "", func(e *maaclient.CVMExpectations) { e.MRConfigID = strings.Repeat("00", 48) }, maaclient.ReasonNoExpectation},
			)
			if debug {
				sawDebug = true
				cases = append(cases, cvmCase{"debug", "", func(e *maaclient.CVMExpectations) { e.AllowDebug = false }, maaclient.ReasonDebug})
			}
			if ev.HCL != nil {
				sawHCL = true
				cases = append(cases, cvmCase{"HCL runtime claims bound", "", func(e *maaclient.CVMExpectations) { e.RuntimeData = ev.HCL.RuntimeClaims }, 0})
			}
			runCVMCases(t, env.client, tok.Raw, base, cases)
			wantVerifyRefuses(t, env.client, tok.Raw)
		})
	}
	if !sawDebug || !sawHCL {
		t.Fatalf("the corpus gave no debug report (%v) or no HCL report (%v)", sawDebug, sawHCL)
	}
}

// snpToken attests one good corpus SEV-SNP case and returns its token.
func snpToken(t *testing.T, id string) string {
	t.Helper()
	c := snpCase(t, id)
	at, err := time.Parse(time.RFC3339, c.At)
	if err != nil {
		t.Fatal(err)
	}
	env := startAttestd(t, envOpts{snpTime: func() time.Time { return at }})
	raw, chain := snpFiles(t, c)
	ev, err := snp.ParseEvidence(raw, chain)
	if err != nil {
		t.Fatal(err)
	}
	env.release(t, release.Release{App: "snp", Name: "v1", Measurement: hex.EncodeToString(ev.Report[0x90:0xC0])}, true)
	tok, err := env.client.AttestSevSnp(context.Background(), raw, chain, maaclient.AttestOptions{App: "snp"}, maaclient.CVMExpectations{App: "snp"})
	if err != nil {
		t.Fatal(err)
	}
	return tok.Raw
}

// TestVerifyCVMMalformedClaims: attestd's own TdxVm and SevSnpVm claims,
// re-signed by a test issuer with one claim removed or of the wrong type
// or size, are refused as malformed naming the claim (or, for maa-ehd that
// differs from the runtime data, as runtime_data).
func TestVerifyCVMMalformedClaims(t *testing.T) {
	rt := []byte("td ephemeral public key")
	env, _, quote := simTD(t, rt, false)
	td, err := env.client.AttestTDX(context.Background(), quote, maaclient.AttestOptions{App: "sim-td", RuntimeData: rt},
		maaclient.CVMExpectations{App: "sim-td", AllowSimulated: true})
	if err != nil {
		t.Fatal(err)
	}
	is := newIssuer(t)
	c, err := maaclient.New(is.url, maaclient.Options{})
	if err != nil {
		t.Fatal(err)
	}
	resign := func(tok string, mod func(map[string]any)) string {
		m := payload(t, tok)
		m["iss"] = is.url
		mod(m)
		s, err := is.key.Sign(m)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	set := func(k string, v any) func(map[string]any) { return func(m map[string]any) { m[k] = v } }
	del := func(k string) func(map[string]any) { return func(m map[string]any) { delete(m, k) } }
	tests := []struct {
		kind   maaclient.CVMKind
		name   string
		mod    func(map[string]any)
		reason maaclient.Reason
		claim  string // named in the message
	}{
		{maaclient.KindTDX, "re-signed unchanged", func(map[string]any) {}, 0, ""},
		{maaclient.KindTDX, "tdx_mrtd missing", del("tdx_mrtd"), maaclient.ReasonMalformed, "tdx_mrtd"},
		{maaclient.KindTDX, "tdx_rtmr2 not hex", set("tdx_rtmr2", "zz"+strings.Repeat("00", 47)), maaclient.ReasonMalformed, "tdx_rtmr2"},
		{maaclient.KindTDX, "tdx_mrowner a number", set("tdx_mrowner", 0), maaclient.ReasonMalformed, "tdx_mrowner"},
		{maaclient.KindTDX, "tdx_mrconfigid of 32 bytes", set("tdx_mrconfigid", strings.Repeat("00", 32)), maaclient.ReasonMalformed, "tdx_mrconfigid"},
		{maaclient.KindTDX, "tdx_report_data short", set("tdx_report_data", strings.Repeat("00", 32)), maaclient.ReasonMalformed, "tdx_report_data"},
		{maaclient.KindTDX, "tdx_td_attributes_debug a string", set("tdx_td_attributes_debug", "false"), maaclient.ReasonMalformed, "tdx_td_attributes_debug"},
		{maaclient.KindTDX, "tdx_td_attributes_debug missing", del("tdx_td_attributes_debug"), maaclient.ReasonMalformed, "tdx_td_attributes_debug"},
		{maaclient.KindTDX, "x-sgxops-simulated a string", set("x-sgxops-simulated", "true"), maaclient.ReasonMalformed, "x-sgxops-simulated"},
		{maaclient.KindTDX, "x-sgxops-advisory-ids not strings", set("x-sgxops-advisory-ids", []any{1}), maaclient.ReasonMalformed, "x-sgxops-advisory-ids"},
		{maaclient.KindTDX, "maa-ehd not base64url", set("maa-ehd", "a+b/"), maaclient.ReasonMalformed, "maa-ehd"},
		{maaclient.KindTDX, "maa-ehd differs", set("maa-ehd", base64.RawURLEncoding.EncodeToString([]byte("other"))), maaclient.ReasonRuntimeData, "maa-ehd"},
		{maaclient.KindTDX, "attestation type missing", del("x-ms-attestation-type"), maaclient.ReasonMalformed, "x-ms-attestation-type"},
		{maaclient.KindTDX, "attestation type sevsnpvm", set("x-ms-attestation-type", "sevsnpvm"), maaclient.ReasonTEEKind, "x-ms-attestation-type"},
		{maaclient.KindTDX, "exp a string", set("exp", "tomorrow"), maaclient.ReasonMalformed, "exp"},
		{maaclient.KindTDX, "expired", set("exp", time.Now().Add(-time.Hour).Unix()), maaclient.ReasonExpired, ""},
		{maaclient.KindTDX, "other issuer", set("iss", env.url), maaclient.ReasonIssuer, ""},
		{maaclient.KindSEVSNP, "re-signed unchanged", func(map[string]any) {}, 0, ""},
		{maaclient.KindSEVSNP, "launch measurement missing", del("x-ms-sevsnpvm-launchmeasurement"), maaclient.ReasonMalformed, "x-ms-sevsnpvm-launchmeasurement"},
		{maaclient.KindSEVSNP, "host data of 48 bytes", set("x-ms-sevsnpvm-hostdata", strings.Repeat("00", 48)), maaclient.ReasonMalformed, "x-ms-sevsnpvm-hostdata"},
		{maaclient.KindSEVSNP, "report data not hex", set("x-ms-sevsnpvm-reportdata", strings.Repeat("g", 128)), maaclient.ReasonMalformed, "x-ms-sevsnpvm-reportdata"},
		{maaclient.KindSEVSNP, "is-debuggable missing", del("x-ms-sevsnpvm-is-debuggable"), maaclient.ReasonMalformed, "x-ms-sevsnpvm-is-debuggable"},
		{maaclient.KindSEVSNP, "attester_tcb_status a number", func(m map[string]any) {
			m["x-sgxops-tcb-status"] = ""
			m["attester_tcb_status"] = 1
		}, maaclient.ReasonMalformed, "attester_tcb_status"},
	}
	snpTok := snpToken(t, "virtee-milan-vcek")
	for _, tt := range tests {
		t.Run(tt.kind.String()+"/"+tt.name, func(t *testing.T) {
			src, exp := td.Raw, maaclient.CVMExpectations{Kind: tt.kind, AnyIdentity: true, AllowSimulated: true, RuntimeData: rt}
			if tt.kind == maaclient.KindSEVSNP {
				src, exp = snpTok, maaclient.CVMExpectations{Kind: tt.kind, AnyIdentity: true}
			}
			_, err := c.VerifyCVM(context.Background(), resign(src, tt.mod), exp)
			wantReason(t, err, tt.reason)
			if err != nil && !strings.Contains(err.Error(), tt.claim) {
				t.Fatalf("%v does not name %s", err, tt.claim)
			}
		})
	}
}
