package attestd

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// jsDir is the npm project of the interop tests.
var jsDir = filepath.Join("..", "test", "interop", "js")

// nodeProbe returns the node binary and the probe script, failing under CI
// (CI=true) when something is missing and skipping otherwise.
func nodeProbe(t *testing.T) (string, string) {
	t.Helper()
	missing := func(what string) {
		msg := what + ": run `make test-deps` (scripts/install-test-deps.sh)"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
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
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, append([]string{script}, args...)...)
	cmd.Dir = jsDir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	_ = cmd.Run() // the exit status is in the JSON
	var r jsResult
	if err := json.Unmarshal(bytes.TrimSpace(stdout.Bytes()), &r); err != nil {
		t.Fatalf("probe output is not JSON: %v\nstdout: %s\nstderr: %s", err, stdout.Bytes(), stderr.Bytes())
	}
	return r
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
	if r.Header["alg"] != "RS256" || r.Header["kid"] != e.srv.key.KeyID() || r.Header["jku"] != e.url+"/certs" || r.Header["typ"] != "JWT" {
		t.Errorf("header seen by the SDK: %v", r.Header)
	}
	if len(r.Signers) != 1 || r.Signers[0].Kid != e.srv.key.KeyID() {
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
