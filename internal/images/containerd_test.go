package images

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestImportWithContainerd imports freshly built tarballs into a private
// containerd (its own root, state and socket; the CRI plugin off, so nothing
// else on the machine is touched) with "ctr -n k8s.io images import", as a
// node of the E2E cluster does, checks the reference and digest, and runs
// the sgxops image. It needs root and containerd/ctr (Debian's containerd
// 1.6), the prerequisites of the real-cluster E2E; without them it skips,
// unless SGXOPS_REQUIRE_E2E=1 (CI), like the E2E.
func TestImportWithContainerd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binaries and starts containerd")
	}
	ctd, err1 := exec.LookPath("containerd")
	ctr, err2 := exec.LookPath("ctr")
	if err1 != nil || err2 != nil || os.Geteuid() != 0 {
		msg := "containerd and ctr as root are needed (scripts/k8s/install-host-packages.sh installs them)"
		if os.Getenv("SGXOPS_REQUIRE_E2E") == "1" {
			t.Fatal("SGXOPS_REQUIRE_E2E=1: " + msg)
		}
		t.Skip(msg)
	}
	out := t.TempDir()
	res, err := Build(context.Background(), Options{Root: repoRoot(t), OutDir: out, Version: "0.1.0",
		Epoch: time.Unix(1764748800, 0), Revision: "test", Env: os.Environ(), Only: []string{"sgxops"}})
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "ctd-") // short: the socket path has a 108-byte limit
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	sock := filepath.Join(dir, "ctd.sock")
	cfg := fmt.Sprintf("version = 2\nroot = %q\nstate = %q\ndisabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n"+
		"[grpc]\n  address = %q\n[ttrpc]\n  address = %q\n", filepath.Join(dir, "root"), filepath.Join(dir, "state"), sock, sock+".ttrpc")
	if err := os.WriteFile(filepath.Join(dir, "config.toml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	daemon := exec.Command(ctd, "-c", filepath.Join(dir, "config.toml"))
	logf, _ := os.Create(filepath.Join(dir, "containerd.log"))
	daemon.Stdout, daemon.Stderr = logf, logf
	if err := daemon.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = daemon.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = daemon.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = daemon.Process.Kill()
			<-done
		}
	}()
	run := func(args ...string) string {
		t.Helper()
		b, err := exec.Command(ctr, append([]string{"--address", sock, "-n", "k8s.io"}, args...)...).CombinedOutput()
		if err != nil {
			log, _ := os.ReadFile(filepath.Join(dir, "containerd.log"))
			t.Fatalf("ctr %v: %v\n%s\ncontainerd log:\n%s", args, err, b, log)
		}
		return string(b)
	}
	for i := 0; ; i++ {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		if i == 100 {
			t.Fatal("containerd did not start")
		}
		time.Sleep(100 * time.Millisecond)
	}
	r := res[0]
	run("images", "import", r.File)
	ls := run("images", "ls")
	if !strings.Contains(ls, r.Ref) || !strings.Contains(ls, r.Digest.String()) {
		t.Fatalf("images ls does not list %s %s:\n%s", r.Ref, r.Digest, ls)
	}
	got := run("run", "--rm", r.Ref, "sgxops-image-test", "/sgxops", "version")
	if !strings.HasPrefix(got, "sgxops ") {
		t.Fatalf("/sgxops version in the container: %q", got)
	}
	t.Logf("imported %s (%s) and ran it: %s", r.Ref, r.Digest, strings.TrimSpace(got))
}
