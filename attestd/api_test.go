package attestd

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

	"github.com/sgxops/sgxops/attestd/config"
)

func TestDiscoveryEndpoints(t *testing.T) {
	e := newTestEnv(t, envOpts{})
	for _, p := range []string{"/certs", "/certs/", "/certs?api-version=2022-08-01"} {
		r := mustStatus(t, e.do("GET", p, "", nil), 200)
		if ct := r.header.Get("Content-Type"); ct != contentTypeJSON {
			t.Fatalf("%s: content type %q", p, ct)
		}
		var set struct {
			Keys []map[string]any `json:"keys"`
		}
		if err := json.Unmarshal(r.body, &set); err != nil || len(set.Keys) != 1 || set.Keys[0]["kid"] != e.srv.key.Load().KeyID() {
			t.Fatalf("%s: %s", p, r.body)
		}
	}
	r := mustStatus(t, e.do("GET", "/.well-known/openid-configuration", "", nil), 200)
	m := r.json(t)
	if m["issuer"] != e.url || m["jwks_uri"] != e.url+"/certs" {
		t.Fatalf("openid: %v", m)
	}
	for _, f := range []string{"claims_supported", "id_token_signing_alg_values_supported", "response_types_supported"} {
		if _, ok := m[f].([]any); !ok {
			t.Errorf("openid %s missing", f)
		}
	}
	for _, tt := range []struct {
		method, path string
		status       int
		code         string
	}{
		{"GET", "/nope", 404, CodeNotFound},
		{"DELETE", "/certs", 404, CodeNotFound},
		{"GET", "/certs/extra", 404, CodeNotFound},
		{"POST", "/certificates:add", 401, CodeUnauthorized},
		{"GET", "/policies/Nope", 404, CodeNotFound},
		{"DELETE", "/policies/SgxEnclave", 405, CodeMethodNotAllowed},
		{"POST", "/admin/v1/releases/a/b/explode", 404, CodeNotFound},
	} {
		r := e.do(tt.method, tt.path, "", nil)
		if r.status != tt.status || r.errorCode(t) != tt.code {
			t.Errorf("%s %s: %d %s", tt.method, tt.path, r.status, r.body)
		}
	}
	mustStatus(t, e.do("GET", "/healthz", "", nil), 200)
	rz := mustStatus(t, e.do("GET", "/readyz", "", nil), 200)
	if rz.json(t)["kid"] != e.srv.key.Load().KeyID() {
		t.Fatalf("readyz %s", rz.body)
	}
}

func TestPolicyManagement(t *testing.T) {
	signerKey := testRSAKey(t, 1)
	dir := t.TempDir()
	signer := selfSigned(t, signerKey, "policy signer")
	certFile := writePEMCert(t, dir, "signer.pem", signer)
	e := newTestEnv(t, envOpts{cfg: func(c *config.Config) { c.Policy.SigningCerts = []string{certFile} }})
	id := identity("pol")
	e.release("pol", "v1", id, false)
	q := e.quote(id, nil)

	// GET: the default policy as an unsigned StoredAttestationPolicy JWS in a signed token.
	r := mustStatus(t, e.do("GET", "/policies/SgxEnclave?api-version=2020-10-01", readerToken, nil), 200)
	tok, _ := r.json(t)["token"].(string)
	hdr, c := tokenParts(t, tok)
	if !strings.Contains(hdr, `"alg":"RS256"`) {
		t.Fatalf("policy response token header %s", hdr)
	}
	pj, err := decodePolicyJWS([]byte(c["x-ms-policy"].(string)))
	if err != nil || !strings.HasPrefix(pj.Text, "version= 1.0;authorizationrules{=> permit();}") {
		t.Fatalf("default policy: %v %v", pj, err)
	}
	exp, _ := c["exp"].(json.Number).Int64()
	iat, _ := c["iat"].(json.Number).Int64()
	if exp-iat != 3600 {
		t.Fatalf("policy token lifetime %d", exp-iat)
	}

	custom := `version=1.2;authorizationrules{c:[type=="x-ms-sgx-is-debuggable", value==false] && c2:[type=="x-sgxops-release-state", value=="active"] => permit();};` +
		`issuancerules{c:[type=="x-ms-sgx-mrenclave"] => issue(type="custom-mre", value=c.value);};`
	deny := `version=1.0;authorizationrules{=> deny();};`
	signed := signedPolicyJWS(t, custom, signerKey, signer)
	foreign := signedPolicyJWS(t, custom, testRSAKey(t, 2), selfSigned(t, testRSAKey(t, 2), "someone"))
	unsigned := signCompact(t, map[string]any{"alg": "none"}, policyBody(custom), nil)

	wantAuthError(t, e.do("PUT", "/policies/SgxEnclave", "", signed), 401)
	wantAuthError(t, e.do("PUT", "/policies/SgxEnclave", readerToken, signed), 403)
	wantAuthError(t, e.do("PUT", "/policies/SgxEnclave", adminToken, unsigned), 403)
	wantAuthError(t, e.do("PUT", "/policies/SgxEnclave", adminToken, foreign), 403)
	bad := e.do("PUT", "/policies/SgxEnclave", adminToken, signedPolicyJWS(t, "version=1.0;authorizationrules{=> permit()}", signerKey, signer))
	if bad.status != 400 || bad.errorCode(t) != CodeInvalidPolicy || !strings.Contains(string(bad.body), "line 1") {
		t.Fatalf("syntax error: %d %s", bad.status, bad.body)
	}

	// Signed by the configured certificate, sent as a JSON string (Go track-1 style).
	quoted, _ := json.Marshal(signed)
	r = mustStatus(t, e.do("PUT", "/policies/sgxenclave?api-version=2022-08-01", adminToken, quoted), 200)
	_, c = tokenParts(t, r.json(t)["token"].(string))
	if c["x-ms-policy-result"] != "Updated" || c["x-ms-policy-token-hash"] != policyTokenHashOf(signed) {
		t.Fatalf("set policy response %v", c)
	}
	if ps, _ := c["x-ms-policy-signer"].(map[string]any); ps["kty"] != "RSA" {
		t.Fatalf("x-ms-policy-signer %v", c["x-ms-policy-signer"])
	}
	_, ac := tokenParts(t, e.attest(q, nil, "").token(t))
	if ac["custom-mre"] != mrenclaveHex(id) || ac["x-ms-policy-hash"] != policyHashOf(custom) || ac["sgx-mrenclave"] != nil {
		t.Fatalf("attestation under the custom policy: custom-mre %v hash %v", ac["custom-mre"], ac["x-ms-policy-hash"])
	}
	if _, ok := ac["x-ms-policy-signer"]; !ok {
		t.Fatal("x-ms-policy-signer missing from a token under a signed policy")
	}
	// OpenEnclave keeps its own (default) policy.
	_, oc := tokenParts(t, e.do("POST", "/attest/OpenEnclave", "", attestBody("report", MarshalOEReport(q), nil)).token(t))
	if oc["sgx-mrenclave"] != mrenclaveHex(id) {
		t.Fatal("OpenEnclave must still use the default policy")
	}
	r = mustStatus(t, e.do("GET", "/policies/SgxEnclave", adminToken, nil), 200)
	if _, c := tokenParts(t, r.json(t)["token"].(string)); c["x-ms-policy"] != signed {
		t.Fatal("GET must return the JWS as uploaded")
	}

	// A denying policy makes attestation fail with 400.
	mustStatus(t, e.do("PUT", "/policies/SgxEnclave", adminToken, signedPolicyJWS(t, deny, signerKey, signer)), 200)
	if r := e.attest(q, nil, ""); r.status != 400 || r.errorCode(t) != CodePolicyEvaluation {
		t.Fatalf("deny policy: %d %s", r.status, r.body)
	}
	// Reset: unsigned refused in isolated mode; signed accepted.
	wantAuthError(t, e.do("POST", "/policies/SgxEnclave:reset", adminToken, resetBody), 403)
	r = mustStatus(t, e.do("POST", "/policies/SgxEnclave:reset?api-version=2020-10-01", adminToken, signedPolicyJWS(t, "", signerKey, signer)), 200)
	if _, c := tokenParts(t, r.json(t)["token"].(string)); c["x-ms-policy-result"] != "Removed" {
		t.Fatalf("reset %v", c)
	}
	_, ac = tokenParts(t, e.attest(q, nil, "").token(t))
	if ac["x-ms-policy-hash"] != policyHashOf(defaultPolicyText()) {
		t.Fatal("after reset the default policy applies")
	}
	// Policy-management certificates are listed; changing them over the API is refused.
	r = mustStatus(t, e.do("GET", "/certificates", readerToken, nil), 200)
	if _, c := tokenParts(t, r.json(t)["token"].(string)); len(c["x-ms-policy-certificates"].(map[string]any)["keys"].([]any)) != 1 {
		t.Fatalf("certificates: %v", c)
	}
	if r := e.do("POST", "/certificates:add", adminToken, `"x.y.z"`); r.status != 400 {
		t.Fatalf("certificates:add: %d", r.status)
	}
	// Every policy change is in the audit log.
	var page auditPage
	_ = json.Unmarshal(e.do("GET", "/admin/v1/audit", "", nil).body, &page)
	n := 0
	for _, en := range page.Entries {
		if strings.HasPrefix(string(en.Action), "policy-") {
			n++
		}
	}
	if n != 3 {
		t.Fatalf("%d policy entries in the audit log, want 3", n)
	}
}

func TestUnsignedPoliciesInAADMode(t *testing.T) {
	e := newTestEnv(t, envOpts{cfg: func(c *config.Config) { c.Policy.AllowUnsigned = true }})
	r := mustStatus(t, e.do("PUT", "/policies/SgxEnclave", adminToken, recordedPolicyJWS), 200)
	if _, c := tokenParts(t, r.json(t)["token"].(string)); c["x-ms-policy-token-hash"] != recordedTokenHash {
		t.Fatalf("token hash %v, want the recorded MAA value", c["x-ms-policy-token-hash"])
	}
	mustStatus(t, e.do("POST", "/policies/SgxEnclave:reset", adminToken, resetBody), 200)
	wantAuthError(t, e.do("PUT", "/policies/SgxEnclave", "", recordedPolicyJWS), 401)
}

func TestDraftPolicy(t *testing.T) {
	e := newTestEnv(t, envOpts{})
	id := identity("draft")
	e.release("draft", "v1", id, false)
	q := e.quote(id, nil)
	body := attestBody("quote", q, nil)
	body["draftPolicyForAttestation"] = `version=1.0;authorizationrules{=>permit();};issuancerules{=> issue(type="drafted", value=true);};`
	tok := e.do("POST", "/attest/SgxEnclave", "", body).token(t)
	parts := strings.Split(tok, ".")
	hb, _ := base64.RawURLEncoding.DecodeString(parts[0])
	if string(hb) != `{"alg":"none"}` || parts[2] != "" {
		t.Fatalf("draft token must be unsecured: header %s sig %q", hb, parts[2])
	}
	if _, c := tokenParts(t, tok); c["drafted"] != true || c["x-ms-policy-hash"] != policyHashOf(body["draftPolicyForAttestation"].(string)) {
		t.Fatalf("draft claims %v", c)
	}
	body["draftPolicyForAttestation"] = `version=1.0;authorizationrules{=>deny();};`
	if r := e.do("POST", "/attest/SgxEnclave", "", body); r.status != 400 || r.errorCode(t) != CodePolicyEvaluation {
		t.Fatalf("denying draft: %d %s", r.status, r.body)
	}
	body["draftPolicyForAttestation"] = `version=9;`
	if r := e.do("POST", "/attest/SgxEnclave", "", body); r.status != 400 || r.errorCode(t) != CodeInvalidPolicy {
		t.Fatalf("bad draft: %d %s", r.status, r.body)
	}
	// Without a draft the token is signed.
	if tok := e.attest(q, nil, "").token(t); strings.HasSuffix(tok, ".") {
		t.Fatal("a normal attestation returned an unsigned token")
	}
}
