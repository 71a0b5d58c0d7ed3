package cli

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sgxops/sgxops/collateral"
	"github.com/sgxops/sgxops/dcap"
	"github.com/sgxops/sgxops/internal/corpus"
	"github.com/sgxops/sgxops/sgx"
	"github.com/sgxops/sgxops/sim"
)

// runCLI runs sgxops with args and returns exit code, stdout and stderr.
func runCLI(t *testing.T, args ...string) (int, []byte, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := Main(args, &out, &errb)
	return code, out.Bytes(), errb.String()
}

func simInit(t *testing.T, extra ...string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "platform")
	args := append([]string{"sim", "init", "--dir", dir, "--seed", "cli-test"}, extra...)
	if code, _, stderr := runCLI(t, args...); code != ExitOK {
		t.Fatalf("sim init: exit %d: %s", code, stderr)
	}
	return dir
}

func TestSimInit(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "p")
	code, out, stderr := runCLI(t, "sim", "init", "--dir", dir, "--seed", "s1", "--tcb-status", "outofdate", "--revoked", "--pck-ca", "platform")
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stderr, "SIMULATED") {
		t.Errorf("no SIMULATED notice on stderr: %q", stderr)
	}
	if !strings.Contains(string(out), "OutOfDate") {
		t.Errorf("summary does not show the status: %s", out)
	}
	p, err := sim.Load(dir, sim.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cfg := p.Config()
	if cfg.TCBStatus != sim.OutOfDate || !cfg.PCKRevoked || cfg.PCKCA != sim.CAPlatform {
		t.Errorf("saved config %+v", cfg)
	}
	// Same seed, same root.
	ref, _ := sim.New([]byte("s1"), sim.Config{}, sim.Options{})
	root, _ := os.ReadFile(filepath.Join(dir, sim.RootCAFile))
	if !bytes.Equal(root, ref.RootPEM()) {
		t.Error("--seed did not give the seed's root certificate")
	}
	// Existing state needs --force.
	if code, _, _ := runCLI(t, "sim", "init", "--dir", dir); code != ExitInvalidInput {
		t.Errorf("re-init without --force: exit %d, want %d", code, ExitInvalidInput)
	}
	if code, _, stderr := runCLI(t, "sim", "init", "--dir", dir, "--force"); code != ExitOK {
		t.Errorf("re-init with --force: exit %d: %s", code, stderr)
	}
	again, _ := os.ReadFile(filepath.Join(dir, sim.RootCAFile))
	if bytes.Equal(again, root) {
		t.Error("init --force without a seed kept the old root")
	}
}

func TestSimUsageErrors(t *testing.T) {
	dir := simInit(t)
	for _, tc := range []struct {
		name string
		args []string
		code int
	}{
		{"bad status", []string{"sim", "init", "--dir", t.TempDir(), "--tcb-status", "Fine"}, ExitUsage},
		{"bad CA", []string{"sim", "init", "--dir", t.TempDir(), "--pck-ca", "nope"}, ExitUsage},
		{"no dir", []string{"sim", "init"}, ExitUsage},
		{"quote without identity", []string{"sim", "quote", "--dir", dir, "--report-data", "00"}, ExitUsage},
		{"quote short mrenclave", []string{"sim", "quote", "--dir", dir, "--mrenclave", "00", "--mrsigner", strings.Repeat("00", 32), "--report-data", "00"}, ExitUsage},
		{"quote long report data", []string{"sim", "quote", "--dir", dir, "--mrenclave", strings.Repeat("00", 32), "--mrsigner", strings.Repeat("00", 32), "--report-data", strings.Repeat("00", 65)}, ExitUsage},
		{"quote not hex", []string{"sim", "quote", "--dir", dir, "--mrenclave", strings.Repeat("zz", 32), "--mrsigner", strings.Repeat("00", 32), "--report-data", "00"}, ExitUsage},
		{"quote no platform", []string{"sim", "quote", "--dir", t.TempDir(), "--mrenclave", strings.Repeat("00", 32), "--mrsigner", strings.Repeat("00", 32), "--report-data", "00"}, ExitInvalidInput},
		{"enclave and mrenclave", []string{"sim", "quote", "--dir", dir, "--enclave", "x", "--mrenclave", strings.Repeat("00", 32), "--report-data", "00"}, ExitUsage},
		{"mrtd without tdx", []string{"sim", "quote", "--dir", dir, "--mrtd", strings.Repeat("00", 48), "--mrenclave", strings.Repeat("00", 32), "--mrsigner", strings.Repeat("00", 32), "--report-data", "00"}, ExitUsage},
		{"collateral bad tee", []string{"sim", "collateral", "--dir", dir, "--tee", "sev"}, ExitUsage},
		{"pcs bad listen", []string{"sim", "pcs", "--dir", dir, "--listen", "not-an-address"}, ExitUsage},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := runCLI(t, tc.args...)
			if code != tc.code {
				t.Errorf("exit %d, want %d: %s", code, tc.code, stderr)
			}
		})
	}
}

func TestSimQuoteFromFlags(t *testing.T) {
	dir := simInit(t)
	mre, mrs := strings.Repeat("11", 32), strings.Repeat("22", 32)
	code, out, stderr := runCLI(t, "sim", "quote", "--dir", dir, "--mrenclave", mre, "--mrsigner", mrs,
		"--isv-prod-id", "5", "--isv-svn", "9", "--debug", "--report-data", "0xcafe")
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stderr, "SIMULATED") {
		t.Error("no SIMULATED notice")
	}
	q, err := sgx.ParseQuote(out)
	if err != nil {
		t.Fatal(err)
	}
	b := q.SGXBody
	if hex.EncodeToString(b.MREnclave[:]) != mre || hex.EncodeToString(b.MRSigner[:]) != mrs || b.ISVProdID != 5 || b.ISVSVN != 9 || !b.Attributes.Debug() {
		t.Errorf("quote body %+v", b)
	}
	if b.ReportData[0] != 0xca || b.ReportData[1] != 0xfe || b.ReportData[2] != 0 {
		t.Errorf("report data %x", b.ReportData[:4])
	}
	p, _ := sim.Load(dir, sim.Options{})
	chain, _ := q.Signature.CertData.PCKChain()
	if !chain[0].Equal(p.PCKCertificate()) {
		t.Error("quote not signed by the platform in DIR")
	}

	// --out and --tdx.
	file := filepath.Join(t.TempDir(), "td.bin")
	if code, _, stderr := runCLI(t, "sim", "quote", "--dir", dir, "--tdx", "--mrtd", strings.Repeat("ab", 48), "--report-data", "01", "--out", file); code != ExitOK {
		t.Fatalf("tdx: exit %d: %s", code, stderr)
	}
	raw, _ := os.ReadFile(file)
	tq, err := sgx.ParseQuote(raw)
	if err != nil || !tq.IsTDX() || tq.TDBody.MRTD[0] != 0xab || tq.TDBody.TDDebug() {
		t.Fatalf("TD quote: %v", err)
	}
}

func TestSimQuoteFromEnclaveFile(t *testing.T) {
	dir := simInit(t)
	for _, tc := range []struct {
		file      string
		debugFlag bool
		wantCode  int
		prodID    uint16
		svn       uint16
		mrenclave string
	}{
		{"sigstruct/intel-linux-sgx/le_prod_css.bin", false, ExitOK, 32, 7, "7881af9f9def547da9908c008f29cde9bd78064e36ac7e14c83c294ca4806150"},
		{"sigstruct/intel-linux-sgx/le_prod_css.bin", true, ExitUsage, 0, 0, ""}, // signer forbids DEBUG
		{"sigstruct/fortanix-rust-sgx/test_enclave.sig", true, ExitOK, 65535, 0, "784acfd7d5096a8f0fbd3265760bff21b120f62407a9a9e5ba31aa3c8ed198fc"},
	} {
		t.Run(filepath.Base(tc.file), func(t *testing.T) {
			args := []string{"sim", "quote", "--dir", dir, "--enclave", corpus.Path(t, tc.file), "--report-data", "00"}
			if tc.debugFlag {
				args = append(args, "--debug")
			}
			code, out, stderr := runCLI(t, args...)
			if code != tc.wantCode {
				t.Fatalf("exit %d, want %d: %s", code, tc.wantCode, stderr)
			}
			if code != ExitOK {
				return
			}
			q, err := sgx.ParseQuote(out)
			if err != nil {
				t.Fatal(err)
			}
			b := q.SGXBody
			if hex.EncodeToString(b.MREnclave[:]) != tc.mrenclave || b.ISVProdID != tc.prodID || b.ISVSVN != tc.svn {
				t.Errorf("identity %x prodid %d svn %d", b.MREnclave, b.ISVProdID, b.ISVSVN)
			}
			if b.Attributes.Debug() != tc.debugFlag || b.Attributes.Flags&sgx.AttrInit == 0 {
				t.Errorf("attributes %v", b.Attributes)
			}
		})
	}
}

func TestSimCollateralBundle(t *testing.T) {
	dir := simInit(t)
	for _, tee := range []string{"sgx", "tdx"} {
		code, out, stderr := runCLI(t, "sim", "collateral", "--dir", dir, "--tee", tee)
		if code != ExitOK {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		c, err := collateral.ParseBundle(out)
		if err != nil {
			t.Fatal(err)
		}
		s, err := collateral.Summarize(c)
		if err != nil {
			t.Fatal(err)
		}
		if s.TEE != tee || s.FMSPC != hex.EncodeToString(sim.DefaultFMSPC[:]) {
			t.Errorf("bundle summary %+v", s)
		}
	}
}

// TestSimPCSCommand runs "sim pcs" on a real loopback listener and fetches
// collateral from it with the project's PCS client.
func TestSimPCSCommand(t *testing.T) {
	dir := simInit(t, "--tcb-status", "SWHardeningNeeded")
	ctx, cancel := context.WithCancel(context.Background())
	addrc := make(chan string, 1)
	var stderr bytes.Buffer
	done := make(chan error, 1)
	go func() {
		done <- runSimPCS(ctx, &stderr, &simPCSOptions{dir: dir, listen: "127.0.0.1:0"}, func(a string) { addrc <- a })
	}()
	var addr string
	select {
	case addr = <-addrc:
	case err := <-done:
		t.Fatalf("sim pcs stopped: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("sim pcs did not start")
	}
	src := &collateral.PCS{BaseURL: "http://" + addr}
	p, _ := sim.Load(dir, sim.Options{})
	c, err := src.Get(ctx, p.Request(sim.TEESGX))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(c.TCBInfo, []byte(`"tcbStatus":"SWHardeningNeeded"`)) {
		t.Error("served TCB Info does not list the platform's level")
	}
	resp, err := http.Get("http://" + addr + "/sgx/certification/v4/qe/identity")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.Header.Get(sim.HeaderSimulated) != "true" {
		t.Error("response not marked simulated")
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("sim pcs: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("sim pcs did not stop")
	}
	if !strings.Contains(stderr.String(), "SIMULATED PCS serving") {
		t.Errorf("stderr: %q", stderr.String())
	}
}

func TestSimRootFlags(t *testing.T) {
	dir := simInit(t)
	root := filepath.Join(dir, sim.RootCAFile)
	var w bytes.Buffer
	f := simRootFlags{Files: []string{root}}
	pool, err := f.pool(&w)
	if err != nil || pool == nil {
		t.Fatalf("pool: %v", err)
	}
	p, _ := sim.Load(dir, sim.Options{})
	if _, err := p.PCKCertificate().Verify(x509.VerifyOptions{Roots: pool, Intermediates: chainPool(t, p), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		t.Errorf("pool does not hold the simulation root: %v", err)
	}
	if !strings.Contains(w.String(), "WARNING") || !strings.Contains(w.String(), sim.RootCAName) {
		t.Errorf("no warning naming the root: %q", w.String())
	}
	if pool, err := (&simRootFlags{}).pool(&w); pool != nil || err != nil {
		t.Errorf("no flag: pool %v, err %v; want nil, nil", pool, err)
	}

	bad := t.TempDir()
	write := func(name string, b []byte) string {
		path := filepath.Join(bad, name)
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	for _, tc := range []struct{ name, file string }{
		{"missing", filepath.Join(bad, "none.pem")},
		{"not PEM", write("junk.pem", []byte("junk"))},
		{"leaf certificate", write("pck.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: p.PCKCertificate().Raw}))},
		{"Intel root", write("intel.pem", []byte(dcap.IntelSGXRootCAPEM))},
		{"key", write("key.pem", []byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"))},
	} {
		if _, err := (&simRootFlags{Files: []string{tc.file}}).pool(io.Discard); err == nil {
			t.Errorf("%s: accepted", tc.name)
		}
	}
}

func chainPool(t *testing.T, p *sim.Platform) *x509.CertPool {
	t.Helper()
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(p.PCKChainPEM()) {
		t.Fatal("PCK chain is not PEM")
	}
	return pool
}

// TestSimInitRefusesForeignDirectory: a --dir that holds other files (say, a
// source tree) is never written into, with or without --force.
func TestSimInitRefusesForeignDirectory(t *testing.T) {
	dir := t.TempDir()
	own := filepath.Join(dir, "main.go")
	if err := os.WriteFile(own, []byte("package main\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, extra := range [][]string{nil, {"--force"}} {
		code, _, stderr := runCLI(t, append([]string{"sim", "init", "--dir", dir}, extra...)...)
		if code != ExitInvalidInput || !strings.Contains(stderr, "not empty") {
			t.Fatalf("%v: exit %d, stderr %q", extra, code, stderr)
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("directory now holds %d entries, want only main.go", len(entries))
	}
	// An existing empty directory is fine.
	empty := t.TempDir()
	if code, _, stderr := runCLI(t, "sim", "init", "--dir", empty, "--seed", "e"); code != ExitOK {
		t.Fatalf("empty dir: exit %d: %s", code, stderr)
	}
}
