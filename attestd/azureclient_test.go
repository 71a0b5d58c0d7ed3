package attestd

import (
	"bytes"
	"context"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sgxops/sgxops/attestd/config"
	"github.com/sgxops/sgxops/internal/testdeps"
	"github.com/sgxops/sgxops/store"
)

// jsDir is the npm project of the interop tests.
var jsDir = filepath.Join("..", "test", "interop", "js")

// nodeProbe returns the node binary and the probe script; when something is
// missing it skips, or fails under make test and CI (testdeps.Required).
func nodeProbe(t *testing.T) (string, string) {
	t.Helper()
	missing := func(what string) {
		testdeps.Missing(t, what, "run `make test-deps` (scripts/install-test-deps.sh)")
	}
	node, err := exec.LookPath("node")
	if err != nil {
		missing("node is not installed")
	}
	if _, err := os.Stat(filepath.Join(jsDir, "node_modules", "@azure", "attestation", "package.json")); err != nil {
		missing("@azure/attestation is not installed in test/interop/js/node_modules")
	}
	script, err := filepath.Abs(filepath.Join(jsDir, "maa-accept.js"))
	if err != nil {
		t.Fatal(err)
	}
	return node, script
}

type jsResult struct {
	OK         bool                   `json:"ok"`
	Message    string                 `json:"message"`
	StatusCode int                    `json:"statusCode"`
	Code       string                 `json:"code"`
	OpenID     map[string]any         `json:"openid"`
	Signers    []struct{ Kid string } `json:"signers"`
	Header     map[string]string      `json:"header"`
	Claims     map[string]any         `json:"claims"`
	Binding    bool                   `json:"binding"`
	EHD        bool                   `json:"ehd"`
	Body       map[string]any         `json:"body"`
}

func runProbe(t *testing.T, node, script string, args ...string) jsResult {
	t.Helper()
	var r jsResult
	runNodeJSON(t, nil, node, script, &r, args...)
	return r
}

// runNodeJSON runs a probe script in jsDir with extra environment env and
// decodes the one JSON object it prints into out (the exit status is in
// the JSON).
func runNodeJSON(t *testing.T, env []string, node, script string, out any, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, append([]string{script}, args...)...)
	cmd.Dir = jsDir
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	_ = cmd.Run()
	if err := json.Unmarshal(bytes.TrimSpace(stdout.Bytes()), out); err != nil {
		t.Fatalf("probe output is not JSON: %v\nstdout: %s\nstderr: %s", err, stdout.Bytes(), stderr.Bytes())
	}
}

// TestAzureAttestationJSClient runs the official @azure/attestation client
// (credential-less, validateToken, expectedIssuer = attestd's URL) against
// attestd on loopback with a simulated quote and runtime data.
func TestAzureAttestationJSClient(t *testing.T) {
	node, script := nodeProbe(t)
	e := newTestEnv(t, envOpts{})
	id := identity("js client")
	e.release("js", "v1", id, false)
	rt := []byte("pubkey-bytes")
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	quoteFile, rtFile := write("quote.bin", e.quote(id, rt)), write("rt.bin", rt)

	r := runProbe(t, node, script, e.url, quoteFile, rtFile)
	if !r.OK {
		t.Fatalf("JS client failed: %s (HTTP %d, code %s)", r.Message, r.StatusCode, r.Code)
	}
	if r.Header["alg"] != "RS256" || r.Header["kid"] != e.srv.key.Load().KeyID() || r.Header["jku"] != e.url+"/certs" || r.Header["typ"] != "JWT" {
		t.Errorf("header seen by the SDK: %v", r.Header)
	}
	if len(r.Signers) != 1 || r.Signers[0].Kid != e.srv.key.Load().KeyID() {
		t.Errorf("signers: %+v", r.Signers)
	}
	for _, f := range []string{"issuer", "jwks_uri", "claims_supported", "id_token_signing_alg_values_supported", "response_types_supported"} {
		if _, ok := r.OpenID[f]; !ok {
			t.Errorf("openid metadata lacks %s", f)
		}
	}
	if !r.Binding || !r.EHD {
		t.Errorf("runtime data binding %v, enclave-held data %v", r.Binding, r.EHD)
	}
	for k, v := range map[string]any{"iss": e.url, "x-ms-sgx-mrenclave": mrenclaveHex(id), "x-ms-attestation-type": "sgx",
		"x-sgxops-release": "v1", "x-sgxops-simulated": true, "x-ms-sgx-product-id": float64(1), "x-ms-sgx-svn": float64(2)} {
		if r.Claims[k] != v {
			t.Errorf("claim %s = %#v, want %#v", k, r.Claims[k], v)
		}
	}
	if r.Body["mrEnclave"] == nil || r.Body["isDebuggable"] != false || r.Body["productId"] != float64(1) {
		t.Errorf("SDK-mapped body: %v", r.Body)
	}

	// The SDK's own issuer check refuses a trailing-slash expectation.
	bad := runProbe(t, node, script, e.url, quoteFile, rtFile, e.url+"/")
	if bad.OK || !strings.Contains(bad.Message, "issuer") {
		t.Errorf("expected an issuer failure, got %+v", bad)
	}
	// A quote bound to other runtime data: the SDK surfaces attestd's MAA error.
	other := runProbe(t, node, script, e.url, quoteFile, write("other.bin", []byte("other key")))
	if other.OK || other.StatusCode != 400 || other.Code != CodeRuntimeDataMismatch {
		t.Errorf("runtime data mismatch through the SDK: %+v", other)
	}
}

// TestAzureAttestationJSAdminClient runs the official MAA administration
// client (AttestationAdministrationClient, with attestd's admin bearer token
// as its credential, over HTTPS as the SDK requires) through the isolated-mode
// certificate and policy management: add a policy-management certificate
// signed by the configured one, set and reset a policy signed by the new
// certificate, remove it. Every response token is validated by the SDK.
func TestAzureAttestationJSAdminClient(t *testing.T) {
	node, accept := nodeProbe(t)
	script := filepath.Join(filepath.Dir(accept), "maa-admin.js")
	dir := t.TempDir()
	keyA, keyB := testRSAKey(t, 1), testRSAKey(t, 2)
	certA, certB := selfSigned(t, keyA, "signer A"), selfSigned(t, keyB, "signer B")
	certAFile, certBFile := writePEMCert(t, dir, "a.pem", certA), writePEMCert(t, dir, "b.pem", certB)
	keyFile := func(name string, k *rsa.PrivateKey) string {
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	e := newTestEnv(t, envOpts{tls: &tls.Config{}, cfg: func(c *config.Config) { c.Policy.SigningCerts = []string{certAFile} }})
	// Node trusts attestd's (httptest's) TLS certificate through NODE_EXTRA_CA_CERTS.
	serverCert := writePEMCert(t, dir, "server.pem", e.srvCert(t))

	var r struct {
		OK         bool   `json:"ok"`
		Step       string `json:"step"`
		Message    string `json:"message"`
		StatusCode int    `json:"statusCode"`
		Before     int    `json:"before"`
		During     int    `json:"during"`
		After      int    `json:"after"`
		Added      struct {
			Thumbprint, Resolution string
		} `json:"added"`
		Removed struct {
			Thumbprint, Resolution string
		} `json:"removed"`
		PolicySet   string `json:"policySet"`
		PolicyReset string `json:"policyReset"`
	}
	runNodeJSON(t, []string{"NODE_EXTRA_CA_CERTS=" + serverCert}, node, script, &r,
		e.url, adminToken, keyFile("a.key", keyA), certAFile, keyFile("b.key", keyB), certBFile)
	if !r.OK {
		t.Fatalf("JS admin client failed at %q: %s (HTTP %d)", r.Step, r.Message, r.StatusCode)
	}
	tp := store.PolicyCertThumbprint(certB.Raw)
	if r.Before != 1 || r.During != 2 || r.After != 1 {
		t.Errorf("certificates listed before/during/after: %d/%d/%d, want 1/2/1", r.Before, r.During, r.After)
	}
	if r.Added.Thumbprint != tp || r.Added.Resolution != "IsPresent" || r.Removed.Thumbprint != tp || r.Removed.Resolution != "IsAbsent" {
		t.Errorf("add %+v, remove %+v; want thumbprint %s", r.Added, r.Removed, tp)
	}
	if r.PolicySet != "Updated" || r.PolicyReset != "Removed" {
		t.Errorf("policy set %q, reset %q", r.PolicySet, r.PolicyReset)
	}
}
