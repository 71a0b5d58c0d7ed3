package cli

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
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

// TestSimTDXQuoteThroughAttestd: a TDX quote made by "sgxops sim quote
// --tdx" attests at attestd's /attest/TdxVm (collateral from the simulated
// PCS, release registered by MRTD) and the token says SIMULATED.
func TestSimTDXQuoteThroughAttestd(t *testing.T) {
	dir := t.TempDir()
	plat := filepath.Join(dir, "plat")
	if code, _, stderr := run(t, "sim", "init", "--dir", plat, "--seed", "tdx e2e"); code != ExitOK {
		t.Fatalf("sim init: %s", stderr)
	}
	p, err := sim.Load(plat, sim.Options{})
	if err != nil {
		t.Fatal(err)
	}
	pcs := httptest.NewServer(sim.NewPCSServer(p))
	defer pcs.Close()

	mrtd := strings.Repeat("5a", 48)
	rt := []byte("td session key")
	sum := sha256.Sum256(rt)
	quote := filepath.Join(dir, "td.bin")
	if code, _, stderr := run(t, "sim", "quote", "--dir", plat, "--tdx", "--mrtd", mrtd, "--report-data", hex.EncodeToString(sum[:]), "-O", quote); code != ExitOK {
		t.Fatalf("sim quote --tdx: %s", stderr)
	}

	const admin = "cli-tdx-admin-token-0123456789"
	h := sha256.Sum256([]byte(admin))
	cfg := config.Default()
	cfg.InsecureHTTP, cfg.DataDir = true, filepath.Join(dir, "data")
	cfg.Collateral = config.CollateralConfig{PCS: pcs.URL, InsecureSimulationRoot: filepath.Join(plat, "root-ca.pem")}
	cfg.Auth.Tokens = []config.StaticToken{{Name: "t", SHA256: hex.EncodeToString(h[:]), Role: config.RoleAdmin}}
	l := httptest.NewUnstartedServer(nil)
	addr := l.Listener.Addr().String()
	l.Listener.Close()
	cfg.Listen, cfg.Issuer = addr, "http://"+addr
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	srv, err := attestd.Start(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	post := func(path, bearer string, body []byte) (int, []byte) {
		req, _ := http.NewRequest("POST", cfg.Issuer+path, bytes.NewReader(body))
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		_, _ = b.ReadFrom(resp.Body)
		return resp.StatusCode, b.Bytes()
	}
	if c, b := post("/admin/v1/releases", admin, []byte(fmt.Sprintf(`{"app":"td","name":"v1","mrtd":%q}`, mrtd))); c != http.StatusCreated {
		t.Fatalf("register: %d %s", c, b)
	}
	if c, b := post("/admin/v1/releases/td/v1/activate", admin, nil); c != http.StatusOK {
		t.Fatalf("activate: %d %s", c, b)
	}
	q, err := os.ReadFile(quote)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(map[string]any{"quote": base64.RawURLEncoding.EncodeToString(q),
		"runtimeData": map[string]string{"data": base64.RawURLEncoding.EncodeToString(rt), "dataType": "Binary"}})
	c, b := post("/attest/TdxVm?api-version=2025-06-01", "", body)
	if c != http.StatusOK {
		t.Fatalf("attest: %d %s", c, b)
	}
	var resp struct{ Token string }
	if err := json.Unmarshal(b, &resp); err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(resp.Token, ".")
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims map[string]any
	_ = json.Unmarshal(payload, &claims)
	if claims["tdx_mrtd"] != mrtd || claims["x-sgxops-simulated"] != true || claims["x-ms-attestation-type"] != "tdxvm" {
		t.Fatalf("claims %v", claims)
	}
	// The CLI decodes the same quote as TDX.
	code, out, _ := run(t, "quote", "inspect", quote, "-o", "json")
	if code != ExitOK || !strings.Contains(out, `"tee": "tdx"`) {
		t.Fatalf("inspect (exit %d): %s", code, out)
	}
}
