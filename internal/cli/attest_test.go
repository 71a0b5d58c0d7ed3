package cli

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sgxops/sgxops/attestd"
	"github.com/sgxops/sgxops/attestd/config"
	"github.com/sgxops/sgxops/sim"
)

// TestAttestCommand runs "sgxops attest" against attestd on loopback with a
// quote from the simulated platform.
func TestAttestCommand(t *testing.T) {
	plat, err := sim.New([]byte("cli attest test"), sim.Config{}, sim.Options{})
	if err != nil {
		t.Fatal(err)
	}
	pcs := httptest.NewServer(sim.NewPCSServer(plat))
	defer pcs.Close()
	dir := t.TempDir()
	root := filepath.Join(dir, "root.pem")
	if err := os.WriteFile(root, plat.RootPEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	const admin = "cli-test-admin-token-0123456789"
	h := sha256.Sum256([]byte(admin))
	cfg := config.Default()
	cfg.Listen, cfg.InsecureHTTP, cfg.DataDir = "127.0.0.1:0", true, filepath.Join(dir, "data")
	cfg.Collateral = config.CollateralConfig{PCS: pcs.URL, InsecureSimulationRoot: root}
	cfg.Auth.Tokens = []config.StaticToken{{Name: "t", SHA256: hex.EncodeToString(h[:]), Role: config.RoleAdmin}}
	// The issuer must be the URL clients use: reserve a port first.
	l := httptest.NewUnstartedServer(nil)
	addr := l.Listener.Addr().String()
	l.Listener.Close()
	cfg.Listen, cfg.Issuer = addr, "http://"+addr
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	r, err := attestd.Start(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Stop()
	url := cfg.Issuer

	id := sim.Identity{MREnclave: sha256.Sum256([]byte("cli enclave")), MRSigner: sha256.Sum256([]byte("cli signer")), ISVProdID: 4, ISVSVN: 2}
	for _, c := range []struct{ path, body string }{
		{"/admin/v1/releases", fmt.Sprintf(`{"app":"cli","name":"v1","mrenclave":%q}`, hex.EncodeToString(id.MREnclave[:]))},
		{"/admin/v1/releases/cli/v1/activate", ""},
	} {
		req, _ := http.NewRequest("POST", url+c.path, strings.NewReader(c.body))
		req.Header.Set("Authorization", "Bearer "+admin)
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode/100 != 2 {
			t.Fatalf("%s: %v %v", c.path, err, resp)
		}
		resp.Body.Close()
	}
	rt := []byte("session public key")
	var rd [64]byte
	s := sha256.Sum256(rt)
	copy(rd[:], s[:])
	q, err := plat.Quote(id, rd)
	if err != nil {
		t.Fatal(err)
	}
	quoteFile, rtFile := filepath.Join(dir, "quote.bin"), filepath.Join(dir, "rt.bin")
	_ = os.WriteFile(quoteFile, q, 0o644)
	_ = os.WriteFile(rtFile, rt, 0o644)

	run := func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := Main(append([]string{"attest", "--attestd", url, quoteFile}, args...), &out, &errb)
		return code, out.String(), errb.String()
	}
	code, out, stderr := run("--runtime-data", rtFile, "--app", "cli", "--allow-simulated", "--output", "json")
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var v struct {
		Verified bool           `json:"verified"`
		Claims   map[string]any `json:"claims"`
	}
	if err := json.Unmarshal([]byte(out), &v); err != nil || !v.Verified || v.Claims["x-sgxops-release"] != "v1" {
		t.Fatalf("output %s: %v", out, err)
	}
	code, out, _ = run("--runtime-data", rtFile, "--expect-mrenclave", hex.EncodeToString(id.MREnclave[:]), "--allow-simulated")
	if code != ExitOK || !strings.Contains(out, "SIMULATED") || !strings.Contains(out, "release:    cli/v1 (active)") {
		t.Fatalf("text output (exit %d): %s", code, out)
	}
	for _, tt := range []struct {
		name string
		args []string
		code int
	}{
		{"simulated not allowed", []string{"--app", "cli"}, ExitVerifyFailed},
		{"wrong runtime data", []string{"--app", "cli", "--allow-simulated", "--runtime-data", quoteFile}, ExitVerifyFailed},
		{"other measurement", []string{"--expect-mrenclave", strings.Repeat("00", 32), "--allow-simulated"}, ExitVerifyFailed},
		{"no expectation", []string{"--allow-simulated"}, ExitUsage},
		{"unknown app", []string{"--app", "nope", "--allow-simulated"}, ExitVerifyFailed},
	} {
		if code, _, stderr := run(tt.args...); code != tt.code {
			t.Errorf("%s: exit %d, want %d: %s", tt.name, code, tt.code, stderr)
		}
	}
}
