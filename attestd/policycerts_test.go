package attestd

import (
	"crypto"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/sgxops/sgxops/attestd/config"
	"github.com/sgxops/sgxops/audit"
	"github.com/sgxops/sgxops/store"
)

// certOpJWS is a certificate-management request as the MAA clients send it:
// a JSON string holding a JWS signed by signer, naming subject.
func certOpJWS(t *testing.T, subject *x509.Certificate, key crypto.Signer, signer *x509.Certificate) string {
	t.Helper()
	payload, _ := json.Marshal(map[string]any{"policyCertificate": map[string]any{
		"kty": "RSA", "x5c": []string{base64.StdEncoding.EncodeToString(subject.Raw)}}})
	alg := map[string]any{"alg": "none"}
	if key != nil {
		alg = map[string]any{"alg": "RS256", "x5c": []string{base64.StdEncoding.EncodeToString(signer.Raw)}}
	}
	q, _ := json.Marshal(signCompact(t, alg, payload, key))
	return string(q)
}

func certResult(t *testing.T, r response) (thumbprint, result string) {
	t.Helper()
	_, c := tokenParts(t, r.json(t)["token"].(string))
	thumbprint, _ = c["x-ms-certificate-thumbprint"].(string)
	result, _ = c["x-ms-policycertificates-result"].(string)
	return thumbprint, result
}

func listedCerts(t *testing.T, e *testEnv) int {
	t.Helper()
	r := mustStatus(t, e.do("GET", "/certificates", readerToken, nil), 200)
	_, c := tokenParts(t, r.json(t)["token"].(string))
	return len(c["x-ms-policy-certificates"].(map[string]any)["keys"].([]any))
}

// TestPolicyCertificateManagement: MAA's /certificates:add and :remove. A
// certificate added by an existing signer can sign policies; a removed one
// no longer can; configured certificates stay; the requests must be signed
// by a policy-management certificate and come from an admin.
func TestPolicyCertificateManagement(t *testing.T) {
	keyA, keyB, keyX := testRSAKey(t, 1), testRSAKey(t, 2), testRSAKey(t, 3)
	certA, certB, certX := selfSigned(t, keyA, "signer A"), selfSigned(t, keyB, "signer B"), selfSigned(t, keyX, "stranger")
	certFile := writePEMCert(t, t.TempDir(), "a.pem", certA)
	e := newTestEnv(t, envOpts{cfg: func(c *config.Config) { c.Policy.SigningCerts = []string{certFile} }})
	pol := `version=1.0;authorizationrules{=>permit();};`

	// B cannot sign policies yet.
	wantAuthError(t, e.do("PUT", "/policies/SgxEnclave", adminToken, signedPolicyJWS(t, pol, keyB, certB)), 403)

	// A adds B.
	r := mustStatus(t, e.do("POST", "/certificates:add?api-version=2022-08-01", adminToken, certOpJWS(t, certB, keyA, certA)), 200)
	if tp, res := certResult(t, r); tp != store.PolicyCertThumbprint(certB.Raw) || res != "IsPresent" {
		t.Fatalf("add: thumbprint %q result %q", tp, res)
	}
	if n := listedCerts(t, e); n != 2 {
		t.Fatalf("%d certificates listed after the add, want 2", n)
	}
	mustStatus(t, e.do("PUT", "/policies/SgxEnclave", adminToken, signedPolicyJWS(t, pol, keyB, certB)), 200)
	// Adding it again is a no-op that still answers IsPresent.
	r = mustStatus(t, e.do("POST", "/certificates:add", adminToken, certOpJWS(t, certB, keyB, certB)), 200)
	if _, res := certResult(t, r); res != "IsPresent" {
		t.Fatalf("re-add: %q", res)
	}

	// Refused: unsigned, signed by a stranger, a reader, no credentials, a
	// payload without a certificate, a set-policy JWS.
	for name, c := range map[string]struct {
		bearer, body string
		status       int
	}{
		"alg none":        {adminToken, certOpJWS(t, certX, nil, nil), 403},
		"stranger":        {adminToken, certOpJWS(t, certX, keyX, certX), 403},
		"reader":          {readerToken, certOpJWS(t, certX, keyA, certA), 403},
		"anonymous":       {"", certOpJWS(t, certX, keyA, certA), 401},
		"no certificate":  {adminToken, signedPolicyJWS(t, "", keyA, certA), 400},
		"policy document": {adminToken, signedPolicyJWS(t, pol, keyA, certA), 400},
		"not a JWS":       {adminToken, `"x.y.z"`, 400},
		"bad base64 x5c": {adminToken, signCompact(t, map[string]any{"alg": "RS256", "x5c": []string{base64.StdEncoding.EncodeToString(certA.Raw)}},
			[]byte(`{"policyCertificate":{"x5c":["0"]}}`), keyA), 400},
	} {
		if r := e.do("POST", "/certificates:add", c.bearer, c.body); r.status != c.status {
			t.Errorf("%s: HTTP %d, want %d: %s", name, r.status, c.status, r.body)
		}
	}
	if n := listedCerts(t, e); n != 2 {
		t.Fatalf("%d certificates listed after refused adds, want 2", n)
	}

	// A configured certificate cannot be removed over the API.
	if r := e.do("POST", "/certificates:remove", adminToken, certOpJWS(t, certA, keyB, certB)); r.status != 400 || !strings.Contains(string(r.body), "configuration") {
		t.Fatalf("removing the configured certificate: %d %s", r.status, r.body)
	}
	// B removes itself; then it can no longer sign policies.
	r = mustStatus(t, e.do("POST", "/certificates:remove", adminToken, certOpJWS(t, certB, keyB, certB)), 200)
	if tp, res := certResult(t, r); tp != store.PolicyCertThumbprint(certB.Raw) || res != "IsAbsent" {
		t.Fatalf("remove: thumbprint %q result %q", tp, res)
	}
	wantAuthError(t, e.do("PUT", "/policies/SgxEnclave", adminToken, signedPolicyJWS(t, pol, keyB, certB)), 403)
	if n := listedCerts(t, e); n != 1 {
		t.Fatalf("%d certificates listed after the remove, want 1", n)
	}

	// Both changes are in the audit log, with the thumbprint.
	var page auditPage
	_ = json.Unmarshal(e.do("GET", "/admin/v1/audit", "", nil).body, &page)
	var got []audit.Action
	for _, en := range page.Entries {
		if strings.HasPrefix(string(en.Action), "policy-cert-") {
			got = append(got, en.Action)
			if en.Details["thumbprint"] != store.PolicyCertThumbprint(certB.Raw) || en.Actor == "" {
				t.Errorf("audit entry %+v", en)
			}
		}
	}
	if len(got) != 2 || got[0] != audit.ActionPolicyCertAdd || got[1] != audit.ActionPolicyCertRemove {
		t.Fatalf("audit actions %v", got)
	}
}

// TestPolicyCertificateLastOneStays: with no configured certificates, the
// last added one cannot be removed (MAA: removing the last certificate
// fails), so isolated mode cannot lock itself out.
func TestPolicyCertificateLastOneStays(t *testing.T) {
	keyB := testRSAKey(t, 2)
	certB := selfSigned(t, keyB, "signer B")
	e := newTestEnv(t, envOpts{})
	if _, err := e.reg.AddPolicyCert(t.Context(), "bootstrap", certB.Raw); err != nil {
		t.Fatal(err)
	}
	r := e.do("POST", "/certificates:remove", adminToken, certOpJWS(t, certB, keyB, certB))
	if r.status != http.StatusBadRequest || !strings.Contains(string(r.body), "last") {
		t.Fatalf("removing the last certificate: %d %s", r.status, r.body)
	}
	if n := listedCerts(t, e); n != 1 {
		t.Fatalf("%d certificates listed, want 1", n)
	}
}

// FuzzCertificateOfPayload: the payload reader never panics, and what it
// accepts is a parsed certificate whose DER came from the payload.
func FuzzCertificateOfPayload(f *testing.F) {
	c := selfSigned(f, testRSAKey(f, 1), "fuzz seed")
	b64 := base64.StdEncoding.EncodeToString(c.Raw)
	f.Add([]byte(`{"policyCertificate":{"kty":"RSA","x5c":["` + b64 + `"]}}`))
	f.Add([]byte(`{"maa-policyCertificate":{"kty":"RSA","x5c":["` + b64 + `"]}}`))
	f.Add([]byte(`{"policyCertificate":{"x5c":[]}}`))
	f.Add([]byte(`{"policyCertificate":null}`))
	f.Add([]byte(`{"poliCYCertifiCAte":{"X5C":["0"]}}`)) // once answered 500, not 400
	f.Fuzz(func(t *testing.T, payload []byte) {
		cert, err := certificateOfPayload(payload)
		if err != nil {
			var ae *APIError
			if !errors.As(err, &ae) || ae.Status != http.StatusBadRequest {
				t.Fatalf("error %v is not a 400 APIError", err)
			}
			return
		}
		if cert == nil || len(cert.Raw) == 0 {
			t.Fatal("accepted without a certificate")
		}
	})
}
