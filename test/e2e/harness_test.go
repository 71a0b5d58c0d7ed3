package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// env is what make e2e hands the test (see the Makefile's e2e target).
type env struct {
	root    string // repository root
	k8sBin  string // kubectl, kubelet, ... (scripts/k8s/install-control-plane.sh --node)
	helm    string // helm binary (scripts/install-tools.sh helm)
	images  string // bin/images (make images)
	system  string // bin/images/system: pause.tar, coredns.tar
	kubecfg string // admin kubeconfig of the running cluster
	phases  *phaseLog
}

// prerequisites returns the environment, or skips (fails when
// SGXOPS_REQUIRE_E2E=1, as in CI) with one line saying what is missing.
func prerequisites(t *testing.T) *env {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	e := &env{root: root, k8sBin: os.Getenv("K8S_BIN"), helm: os.Getenv("HELM"),
		images: filepath.Join(root, "bin", "images"), phases: &phaseLog{}}
	e.system = filepath.Join(e.images, "system")
	if os.Getenv("SGXOPS_E2E") != "1" {
		// go test ./... passes through here; make e2e (scripts/e2e.sh) runs the test for real.
		t.Skip("the real-cluster E2E runs under `make e2e` (SGXOPS_E2E=1), which installs its prerequisites")
	}
	var missing []string
	if os.Getuid() != 0 {
		missing = append(missing, "root (the cluster runs kubelet and containerd)")
	}
	for _, f := range []string{filepath.Join(e.k8sBin, "kubelet"), filepath.Join(e.k8sBin, "kubectl"), e.helm,
		filepath.Join(e.images, "attestd.tar"), filepath.Join(e.images, "operator.tar"),
		filepath.Join(e.images, "sgxops.tar"), filepath.Join(e.images, "sample.tar"),
		filepath.Join(e.system, "pause.tar"), filepath.Join(e.system, "coredns.tar")} {
		if _, err := os.Stat(f); err != nil {
			missing = append(missing, f)
		}
	}
	if len(missing) > 0 {
		msg := "E2E SKIPPED: the real-cluster test needs " + strings.Join(missing, ", ")
		if os.Getenv("SGXOPS_REQUIRE_E2E") == "1" {
			t.Fatal("SGXOPS_REQUIRE_E2E=1: " + msg)
		}
		fmt.Fprintln(os.Stderr, "\n*** "+msg+" ***")
		t.Skip(msg)
	}
	return e
}

// phaseLog records the duration of each phase for the report.
type phaseLog struct {
	names []string
	durs  []time.Duration
}

func (p *phaseLog) add(name string, d time.Duration) {
	p.names = append(p.names, name)
	p.durs = append(p.durs, d)
}

func (p *phaseLog) String() string {
	var b strings.Builder
	for i, n := range p.names {
		fmt.Fprintf(&b, "  %-58s %7.1fs\n", n, p.durs[i].Seconds())
	}
	return b.String()
}

// phase runs fn as a named phase and records its time.
func (e *env) phase(t *testing.T, name string, fn func()) {
	t.Helper()
	t0 := time.Now()
	t.Logf("=== phase: %s", name)
	fn()
	d := time.Since(t0)
	e.phases.add(name, d)
	t.Logf("=== phase done in %.1fs: %s", d.Seconds(), name)
}

// run runs a command and returns its stdout; it fails the test on error.
func (e *env) run(t *testing.T, stdin []byte, name string, args ...string) string {
	t.Helper()
	out, err := e.try(stdin, name, args...)
	if err != nil {
		t.Fatalf("%s %s: %v", name, strings.Join(args, " "), err)
	}
	return out
}

// try runs a command with a 5-minute bound and returns stdout, or an error
// with stderr.
func (e *env) try(stdin []byte, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = e.root
	cmd.Env = append(os.Environ(), "KUBECONFIG="+e.kubecfg)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("%w: %s", err, strings.TrimSpace(errb.String()))
	}
	return out.String(), nil
}

// kubectl runs kubectl against the cluster.
func (e *env) kubectl(t *testing.T, args ...string) string {
	t.Helper()
	return e.run(t, nil, filepath.Join(e.k8sBin, "kubectl"), args...)
}

func (e *env) kubectlTry(args ...string) (string, error) {
	return e.try(nil, filepath.Join(e.k8sBin, "kubectl"), args...)
}

// kubectlJSON runs kubectl -o json and decodes the result into v.
func (e *env) kubectlJSON(t *testing.T, v any, args ...string) {
	t.Helper()
	out := e.kubectl(t, append(args, "-o", "json")...)
	if err := json.Unmarshal([]byte(out), v); err != nil {
		t.Fatalf("kubectl %v: decode: %v", args, err)
	}
}

// eventually polls fn every 500 ms until it returns nil or timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, fn func() error) {
	t.Helper()
	end := time.Now().Add(timeout)
	var err error
	for time.Now().Before(end) {
		if err = fn(); err == nil {
			return
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Fatalf("timed out after %s waiting for %s: %v", timeout, what, err)
}

// portForward runs kubectl port-forward to target (e.g. svc/x) and returns the
// local base URL; it stops with the test.
func (e *env) portForward(t *testing.T, ns, target string, port int) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	local := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, filepath.Join(e.k8sBin, "kubectl"), "-n", ns, "port-forward", target,
		fmt.Sprintf("%d:%d", local, port))
	cmd.Env = append(os.Environ(), "KUBECONFIG="+e.kubecfg)
	var errb bytes.Buffer
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); _ = cmd.Wait() })
	url := fmt.Sprintf("http://127.0.0.1:%d", local)
	eventually(t, 30*time.Second, "port-forward "+target, func() error {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", local), time.Second)
		if err != nil {
			return fmt.Errorf("%v (%s)", err, errb.String())
		}
		c.Close()
		return nil
	})
	return url
}
