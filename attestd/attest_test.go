package attestd

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/sgxops/sgxops/attestd/config"
	"github.com/sgxops/sgxops/maaclient"
	"github.com/sgxops/sgxops/policy"
	"github.com/sgxops/sgxops/sgx"
	"github.com/sgxops/sgxops/sim"
)

func TestAttestSGXEndToEnd(t *testing.T) {
	e := newTestEnv(t, envOpts{})
	id := identity("web v1")
	e.release("web", "v1", id, false)
	rt := []byte("pubkey-bytes")
	q := e.quote(id, rt)
	tok := e.attest(q, rt, "").token(t)

	hdr, c := tokenParts(t, tok)
	wantHdr := `{"alg":"RS256","jku":"` + e.url + `/certs","kid":"` + e.srv.key.Load().KeyID() + `","typ":"JWT"}`
	if hdr != wantHdr {
		t.Fatalf("header %s\nwant   %s", hdr, wantHdr)
	}
	sum := sha256.Sum256(rt)
	qsum := sha256.Sum256(q)
	str := map[string]string{
		"iss":                    e.url,
		"x-ms-ver":               "1.0",
		"x-ms-attestation-type":  "sgx",
		"x-ms-sgx-mrenclave":     mrenclaveHex(id),
		"x-ms-sgx-mrsigner":      hex.EncodeToString(id.MRSigner[:]),
		"x-ms-sgx-report-data":   hex.EncodeToString(sum[:]) + strings.Repeat("00", 32),
		"x-ms-sgx-ehd":           base64.RawURLEncoding.EncodeToString(rt),
		"maa-ehd":                base64.RawURLEncoding.EncodeToString(rt),
		"aas-ehd":                base64.RawURLEncoding.EncodeToString(rt),
		"x-ms-policy-hash":       policy.DefaultSGXPolicyHash,
		"sgx-mrenclave":          mrenclaveHex(id), // issued by the default policy
		"tee":                    "sgx",
		"x-sgxops-app":           "web",
		"x-sgxops-release":       "v1",
		"x-sgxops-release-state": "active",
		"x-sgxops-tcb-status":    "UpToDate",
	}
	for k, v := range str {
		if c[k] != v {
			t.Errorf("claim %s = %v, want %q", k, c[k], v)
		}
	}
	for k, v := range map[string]string{"x-ms-sgx-product-id": "1", "x-ms-sgx-svn": "2", "product-id": "1", "svn": "2"} {
		if n, ok := c[k].(json.Number); !ok || n.String() != v {
			t.Errorf("claim %s = %#v, want integer %s", k, c[k], v)
		}
	}
	if c["x-ms-sgx-is-debuggable"] != false || c["is-debuggable"] != false || c["x-sgxops-simulated"] != true {
		t.Errorf("booleans: debuggable %v, simulated %v", c["x-ms-sgx-is-debuggable"], c["x-sgxops-simulated"])
	}
	iat, _ := c["iat"].(json.Number).Int64()
	nbf, _ := c["nbf"].(json.Number).Int64()
	exp, _ := c["exp"].(json.Number).Int64()
	if nbf != iat || exp-iat != 8*3600 {
		t.Errorf("iat %d nbf %d exp %d: want nbf = iat, exp = iat + 8h", iat, nbf, exp)
	}
	if jti, _ := c["jti"].(string); len(jti) != 64 {
		t.Errorf("jti %q", jti)
	}
	coll, _ := c["x-ms-sgx-collateral"].(map[string]any)
	if coll["quotehash"] != hex.EncodeToString(qsum[:]) || len(coll) != 7 {
		t.Errorf("x-ms-sgx-collateral %v", coll)
	}
	pol, _ := c["x-ms-policy"].(map[string]any)
	if pol["sgx-mrenclave"] != mrenclaveHex(id) || pol["tee"] != "sgx" || len(pol) != 6 {
		t.Errorf("x-ms-policy %v", pol)
	}
	if ids, ok := c["x-sgxops-advisory-ids"].([]any); !ok || len(ids) != 0 {
		t.Errorf("advisory ids %#v", c["x-sgxops-advisory-ids"])
	}
	for _, k := range []string{"nonce", "x-ms-runtime", "x-ms-sgx-config-id", "x-ms-policy-signer"} {
		if _, ok := c[k]; ok {
			t.Errorf("unexpected claim %s", k)
		}
	}

	// The Go relying-party client accepts it with the right expectations.
	mc, err := maaclient.New(e.url, maaclient.Options{HTTPClient: e.client})
	if err != nil {
		t.Fatal(err)
	}
	vt, err := mc.Verify(context.Background(), tok, maaclient.Expectations{App: "web", RuntimeData: rt, AllowSimulated: true})
	if err != nil {
		t.Fatal(err)
	}
	if vt.Release != "v1" || !vt.Simulated || vt.MREnclave != mrenclaveHex(id) {
		t.Fatalf("verified token %v", vt)
	}
	if _, err := mc.Verify(context.Background(), tok, maaclient.Expectations{App: "web", RuntimeData: rt}); err == nil {
		t.Fatal("a simulated token must be rejected unless allowed")
	}
}

func TestAttestOpenEnclaveAndVariants(t *testing.T) {
	e := newTestEnv(t, envOpts{})
	id := identity("oe")
	e.release("oe", "v1", id, false)
	rt := []byte(`{"pub":"abc","n":1}`)
	q := e.quote(id, rt)
	report := MarshalOEReport(q)

	// EGo's request: /attest/OpenEnclave with "report".
	tok := e.do("POST", "/attest/OpenEnclave?api-version=2020-10-01", "", attestBody("report", report, rt)).token(t)
	_, c := tokenParts(t, tok)
	rsum := sha256.Sum256(report)
	if c["x-ms-attestation-type"] != "sgx" || c["x-ms-sgx-collateral"].(map[string]any)["quotehash"] != hex.EncodeToString(rsum[:]) {
		t.Fatalf("OE claims: type %v collateral %v", c["x-ms-attestation-type"], c["x-ms-sgx-collateral"])
	}

	// JSON runtime data: x-ms-runtime object, no enclave-held data. Nonce echoed.
	body := map[string]any{
		"quote":       base64.StdEncoding.EncodeToString(q),
		"runtimeData": map[string]string{"data": base64.StdEncoding.EncodeToString(rt), "dataType": "JSON"},
		"nonce":       "nonce-123", "unknownField": true,
	}
	tok = e.do("POST", "/attest/sgxenclave", "", body).token(t) // type is case-insensitive, api-version optional
	_, c = tokenParts(t, tok)
	rtc, _ := c["x-ms-runtime"].(map[string]any)
	if rtc["pub"] != "abc" || c["nonce"] != "nonce-123" {
		t.Fatalf("x-ms-runtime %v nonce %v", c["x-ms-runtime"], c["nonce"])
	}
	if _, ok := c["x-ms-sgx-ehd"]; ok {
		t.Fatal("x-ms-sgx-ehd must be absent for JSON runtime data")
	}
	// No runtime data at all: no binding, no ehd.
	tok = e.attest(q, nil, "").token(t)
	if _, c := tokenParts(t, tok); c["x-ms-sgx-ehd"] != nil {
		t.Fatal("ehd without runtime data")
	}
}

func TestAttestRejections(t *testing.T) {
	e := newTestEnv(t, envOpts{cfg: func(c *config.Config) {
		c.Appraisal.Apps = map[string]config.AppRules{"dbg": {AllowDebug: true}}
	}})
	id := identity("web")
	e.release("web", "v1", id, false)
	dbg := identity("debug build")
	dbg.Attributes = sgx.Attributes{Flags: sim.DefaultAttributes.Flags | sgx.AttrDebug, XFRM: sim.DefaultAttributes.XFRM}
	e.release("web", "v1-debug", dbg, false)
	dbgAllowed := identity("debug allowed")
	dbgAllowed.Attributes = dbg.Attributes
	e.release("dbg", "v1", dbgAllowed, false)
	unknown := identity("never registered")
	rt := []byte("rt")
	q := e.quote(id, rt)
	flipped := append([]byte(nil), q...)
	flipped[48+64] ^= 1 // MRENCLAVE byte: the quote signature no longer verifies
	pq, err := sgx.ParseQuote(q)
	if err != nil {
		t.Fatal(err)
	}
	pq.Signature.CertData = sgx.CertificationData{Type: sgx.CertPCKLeaf, Data: []byte("not a chain")}
	noChain := pq.Marshal()

	tests := []struct {
		name   string
		path   string
		body   any
		status int
		code   string
		msg    string
	}{
		{"runtime data mismatch", "/attest/SgxEnclave", attestBody("quote", q, []byte("other")), 400, CodeRuntimeDataMismatch, "SuppliedRuntimeDataDigest"},
		{"tampered quote", "/attest/SgxEnclave", attestBody("quote", flipped, rt), 400, CodeInvalidQuote, "signature_invalid"},
		{"no PCK chain in the quote", "/attest/SgxEnclave", attestBody("quote", noChain, rt), 400, CodeInvalidQuote, "certification data type"},
		{"garbage quote", "/attest/SgxEnclave", attestBody("quote", []byte("not a quote"), nil), 400, CodeInvalidQuote, ""},
		{"debug enclave", "/attest/SgxEnclave", attestBody("quote", e.quote(dbg, nil), nil), 400, CodePolicyEvaluation, "debug_not_allowed"},
		{"unregistered", "/attest/SgxEnclave", attestBody("quote", e.quote(unknown, nil), nil), 400, CodePolicyEvaluation, "no_matching_release"},
		{"bad base64", "/attest/SgxEnclave", `{"quote":"***"}`, 400, CodeInvalidParameter, "quote"},
		{"not json", "/attest/SgxEnclave", `quote=1`, 400, CodeInvalidParameter, ""},
		{"bad api-version", "/attest/SgxEnclave?api-version=1999-01-01", attestBody("quote", q, rt), 400, CodeInvalidParameter, "api-version"},
		{"tpm unsupported", "/attest/Tpm", `{}`, 400, CodeInvalidParameter, "not supported"},
		{"unknown type", "/attest/Nope", `{}`, 404, CodeNotFound, ""},
		{"init time data without KSS", "/attest/SgxEnclave", map[string]any{"quote": base64.RawURLEncoding.EncodeToString(q),
			"initTimeData": map[string]string{"data": "AA"}}, 400, CodeRuntimeDataMismatch, "KSS"},
		{"bad app name", "/attest/SgxEnclave?sgxops-app=Bad_App", attestBody("quote", q, rt), 400, CodeInvalidParameter, "sgxops-app"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.do("POST", tt.path, "", tt.body)
			if r.status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.status, tt.status, r.body)
			}
			if code := r.errorCode(t); code != tt.code {
				t.Fatalf("code %s, want %s: %s", code, tt.code, r.body)
			}
			if !strings.Contains(string(r.body), tt.msg) {
				t.Fatalf("message %s does not mention %q", r.body, tt.msg)
			}
		})
	}
	// The app that allows debug enclaves accepts one, and the token says so.
	tok := e.attest(e.quote(dbgAllowed, nil), nil, "").token(t)
	if _, c := tokenParts(t, tok); c["x-ms-sgx-is-debuggable"] != true || c["x-sgxops-app"] != "dbg" {
		t.Fatalf("debug-allowed token: %v %v", c["x-ms-sgx-is-debuggable"], c["x-sgxops-app"])
	}
}

func TestTCBStatusAllowList(t *testing.T) {
	e := newTestEnv(t, envOpts{plat: sim.Config{TCBStatus: sim.OutOfDate}, cfg: func(c *config.Config) {
		c.Appraisal.Apps = map[string]config.AppRules{"lenient": {AcceptedTCBStatuses: []string{"UpToDate", "OutOfDate"}, AcceptedAdvisoryIDs: []string{"*"}}}
	}})
	strict, lenient := identity("strict"), identity("lenient")
	e.release("strict", "v1", strict, false)
	e.release("lenient", "v1", lenient, false)
	r := e.attest(e.quote(strict, nil), nil, "")
	if r.status != 400 || r.errorCode(t) != CodePolicyEvaluation || !strings.Contains(string(r.body), "tcb_status_not_accepted") {
		t.Fatalf("OutOfDate platform accepted by default rules: %d %s", r.status, r.body)
	}
	_, c := tokenParts(t, e.attest(e.quote(lenient, nil), nil, "").token(t))
	ids, _ := c["x-sgxops-advisory-ids"].([]any)
	if c["x-sgxops-tcb-status"] != "OutOfDate" || len(ids) == 0 {
		t.Fatalf("tcb status %v advisories %v", c["x-sgxops-tcb-status"], ids)
	}
	for _, id := range ids {
		if !strings.HasPrefix(id.(string), "SIM-SA-") { // the simulated platform's advisories say so
			t.Errorf("advisory %v", id)
		}
	}
}

func TestCollateralUnavailableIs503(t *testing.T) {
	e := newTestEnv(t, envOpts{})
	id := identity("web")
	e.release("web", "v1", id, false)
	q := e.quote(id, nil)
	e.pcs.Close()
	r := e.attest(q, nil, "")
	if r.status != http.StatusServiceUnavailable || r.errorCode(t) != CodeCollateralUnavailable {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	rz := e.do("GET", "/readyz", "", nil)
	if rz.status != http.StatusServiceUnavailable || !strings.Contains(string(rz.body), "collateral") {
		t.Fatalf("readyz with the collateral service down: %d %s", rz.status, rz.body)
	}
}

// TestReadyWithCachedCollateral: with the collateral service down, a replica
// whose cache still holds valid collateral stays ready and attests the
// cached platform.
func TestReadyWithCachedCollateral(t *testing.T) {
	e := newTestEnv(t, envOpts{})
	id := identity("cached")
	e.release("cached", "v1", id, false)
	q := e.quote(id, nil)
	e.attest(q, nil, "").token(t) // fills the cache
	e.pcs.Close()
	if rz := e.do("GET", "/readyz", "", nil); rz.status != http.StatusOK {
		t.Fatalf("readyz with valid cached collateral and the service down: %d %s", rz.status, rz.body)
	}
	e.attest(q, nil, "").token(t)
}

// TestKSSInitTimeData attests a KSS enclave whose CONFIGID binds JSON
// init-time data: the token carries x-ms-inittime and the KSS claims.
func TestKSSInitTimeData(t *testing.T) {
	e := newTestEnv(t, envOpts{})
	init := []byte(`{"config":"blue","replicas":3}`)
	id := identity("kss")
	id.Attributes = sgx.Attributes{Flags: sim.DefaultAttributes.Flags | sgx.AttrKSS, XFRM: sim.DefaultAttributes.XFRM}
	sum := sha256.Sum256(init)
	copy(id.ConfigID[:], sum[:])
	id.ConfigSVN, id.ISVFamilyID[0], id.ISVExtProdID[15] = 9, 0xfa, 0xe1
	e.release("kss", "v1", id, false)
	q := e.quote(id, nil)
	body := map[string]any{"quote": base64.RawURLEncoding.EncodeToString(q),
		"inittimeData": map[string]string{"data": base64.RawURLEncoding.EncodeToString(init), "dataType": "JSON"}}
	_, c := tokenParts(t, e.do("POST", "/attest/SgxEnclave", "", body).token(t))
	it, _ := c["x-ms-inittime"].(map[string]any)
	if it["config"] != "blue" || c["x-ms-sgx-config-id"] != hex.EncodeToString(id.ConfigID[:]) ||
		c["x-ms-sgx-config-svn"].(json.Number).String() != "9" || !strings.HasPrefix(c["x-ms-sgx-isv-family-id"].(string), "fa") ||
		!strings.HasSuffix(c["x-ms-sgx-isv-extended-product-id"].(string), "e1") {
		t.Fatalf("KSS claims: %v", c)
	}
	body["inittimeData"] = map[string]string{"data": base64.RawURLEncoding.EncodeToString([]byte(`{"config":"red"}`)), "dataType": "JSON"}
	if r := e.do("POST", "/attest/SgxEnclave", "", body); r.status != 400 || r.errorCode(t) != CodeRuntimeDataMismatch {
		t.Fatalf("mismatched init-time data: %d %s", r.status, r.body)
	}
}
