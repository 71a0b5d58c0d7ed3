package attestd

import (
	"encoding/base64"
	"net/http"
	"testing"

	"github.com/sgxops/sgxops/attestd/config"
)

// TestResetNeedsResetJWS: in isolated mode a reset must be authorized
// by the policy signer. The signed set-policy JWS that GET /policies returns
// to every reader must not double as a reset authorization, or any admin
// without the signing key could drop a signed policy back to the permissive
// default.
func TestResetNeedsResetJWS(t *testing.T) {
	signerKey := testRSAKey(t, 1)
	signer := selfSigned(t, signerKey, "policy signer")
	certFile := writePEMCert(t, t.TempDir(), "signer.pem", signer)
	e := newTestEnv(t, envOpts{cfg: func(c *config.Config) { c.Policy.SigningCerts = []string{certFile} }})
	strict := `version=1.0;authorizationrules{c:[type=="x-ms-sgx-svn", value==99] => permit();};`
	mustStatus(t, e.do("PUT", "/policies/SgxEnclave", adminToken, signedPolicyJWS(t, strict, signerKey, signer)), 200)

	// What a reader (or anyone who saw the upload) holds: the signed policy JWS.
	r := mustStatus(t, e.do("GET", "/policies/SgxEnclave", readerToken, nil), 200)
	_, c := tokenParts(t, r.json(t)["token"].(string))
	stored, _ := c["x-ms-policy"].(string)
	if pj, err := decodePolicyJWS([]byte(stored)); err != nil || pj.Signer == nil {
		t.Fatalf("stored policy is not the signed JWS: %v", err)
	}
	if r := e.do("POST", "/policies/SgxEnclave:reset", adminToken, stored); r.status == http.StatusOK {
		t.Fatal("a signed set-policy JWS was accepted as a reset: the strict policy was dropped without the signer")
	} else if code := r.errorCode(t); code != CodeInvalidParameter {
		t.Fatalf("reset with a policy payload: %d %s", r.status, code)
	}
	r = mustStatus(t, e.do("GET", "/policies/SgxEnclave", readerToken, nil), 200)
	if _, c := tokenParts(t, r.json(t)["token"].(string)); c["x-ms-policy"] != stored {
		t.Fatal("the signed policy is no longer in force")
	}
	// Nor may any other document the signer signed, such as a
	// certificate-management request: only an empty payload means "reset".
	other := signCompact(t, map[string]any{"alg": "RS256", "x5c": []string{base64.StdEncoding.EncodeToString(signer.Raw)}},
		[]byte(`{"policyCertificate":{"kty":"RSA","x5c":["`+base64.StdEncoding.EncodeToString(signer.Raw)+`"]}}`), signerKey)
	if r := e.do("POST", "/policies/SgxEnclave:reset", adminToken, other); r.status == http.StatusOK {
		t.Fatal("a signed certificate-management JWS was accepted as a reset")
	}
	// The signer's reset (empty payload) still works.
	mustStatus(t, e.do("POST", "/policies/SgxEnclave:reset", adminToken, signedPolicyJWS(t, "", signerKey, signer)), 200)
}
