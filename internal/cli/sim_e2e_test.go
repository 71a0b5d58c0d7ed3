package cli

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sgxops/sgxops/sim"
)

// startSimPCS runs "sim pcs" for dir on a loopback port and returns its URL.
func startSimPCS(t *testing.T, dir string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	addrc := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- runSimPCS(ctx, &bytes.Buffer{}, &simPCSOptions{dir: dir, listen: "127.0.0.1:0"}, func(a string) { addrc <- a })
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("sim pcs did not stop")
		}
	})
	select {
	case a := <-addrc:
		return "http://" + a
	case err := <-done:
		t.Fatalf("sim pcs: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("sim pcs did not start")
	}
	return ""
}

// TestSimEndToEnd is the issue's "done when": a quote made by "sgxops sim
// quote" verifies with "sgxops quote verify --pcs URL
// --insecure-simulation-root DIR/root-ca.pem" and fails without the flag.
func TestSimEndToEnd(t *testing.T) {
	for _, tc := range []struct {
		name   string
		init   []string
		status string
	}{
		{"UpToDate", nil, "UpToDate"},
		{"ConfigurationNeeded", []string{"--tcb-status", "ConfigurationNeeded"}, "ConfigurationNeeded"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := simInit(t, tc.init...)
			url := startSimPCS(t, dir)
			quote := filepath.Join(t.TempDir(), "quote.bin")
			code, _, stderr := runCLI(t, "sim", "quote", "--dir", dir,
				"--mrenclave", strings.Repeat("ab", 32), "--mrsigner", strings.Repeat("cd", 32),
				"--isv-prod-id", "1", "--isv-svn", "2", "--report-data", "00112233", "--out", quote)
			if code != ExitOK {
				t.Fatalf("sim quote: exit %d: %s", code, stderr)
			}
			root := filepath.Join(dir, sim.RootCAFile)

			code, out, stderr := runCLI(t, "quote", "verify", quote, "--pcs", url, "--insecure-simulation-root", root, "-o", "json")
			if code != ExitOK {
				t.Fatalf("quote verify with the simulation root: exit %d\nstdout: %s\nstderr: %s", code, out, stderr)
			}
			if !bytes.Contains(out, []byte(tc.status)) {
				t.Errorf("output does not report %s: %s", tc.status, out)
			}
			if !bytes.Contains(bytes.ToLower(out), []byte(`"simulated": true`)) {
				t.Errorf("output does not say simulated: %s", out)
			}

			code, out, stderr = runCLI(t, "quote", "verify", quote, "--pcs", url)
			if code != ExitVerifyFailed {
				t.Fatalf("quote verify without the simulation root: exit %d, want %d\nstdout: %s\nstderr: %s", code, ExitVerifyFailed, out, stderr)
			}
		})
	}
}
