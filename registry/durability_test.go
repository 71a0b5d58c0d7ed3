package registry_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sgxops/sgxops/audit"
	"github.com/sgxops/sgxops/registry"
	"github.com/sgxops/sgxops/release"
	"github.com/sgxops/sgxops/store"
)

const (
	envDurabilityDB    = "SGXOPS_TEST_DURABILITY_DB"
	envDurabilityRound = "SGXOPS_TEST_DURABILITY_ROUND"
	ackPrefix          = "ACK "
)

// TestDurabilityChild is the child process of TestDurability: it writes
// through a Registry on a bbolt file from several goroutines and prints one
// line per acknowledged write (after the call returned nil) until killed.
//
// It never stops on its own: no deadline (on a loaded machine it could pass
// before the parent's kill, and the child would end by itself), and a write
// that finds the app busy is retried rather than ending the child (under load
// the bounded retries could run out). It exits only when its parent is gone.
func TestDurabilityChild(t *testing.T) {
	path := os.Getenv(envDurabilityDB)
	if path == "" {
		t.Skip("helper process of TestDurability")
	}
	round := os.Getenv(envDurabilityRound)
	roundNo, err := strconv.Atoi(round)
	if err != nil {
		fmt.Fprintln(os.Stderr, "round:", err)
		os.Exit(2)
	}
	s, err := store.OpenBolt(path, store.BoltOptions{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "open:", err)
		os.Exit(2)
	}
	reg := registry.New(s, registry.Options{})
	ctx := context.Background()
	parent := os.Getppid()
	go func() { // the safety net if the parent dies without killing us
		for range time.Tick(100 * time.Millisecond) {
			if os.Getppid() != parent {
				os.Exit(3)
			}
		}
	}()
	// retry runs op until it succeeds or fails for a reason other than busy.
	retry := func(op func() error) error {
		for {
			err := op()
			if !errors.Is(err, registry.ErrBusy) {
				return err
			}
			fmt.Fprintln(os.Stderr, "busy, retrying:", err)
		}
	}
	var mu sync.Mutex
	ack := func(op, app, name string) {
		mu.Lock()
		defer mu.Unlock()
		// One write(2) per line, straight to the pipe: no buffering to lose.
		os.Stdout.WriteString(fmt.Sprintf("%s%s %s %s\n", ackPrefix, op, app, name))
	}
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				// Fresh apps per round keep the per-app lists (read by every
				// operation) short; two apps shared by four workers keep conflicts.
				app, name := fmt.Sprintf("app%d-r%s", (w+i)%2, round), fmt.Sprintf("w%d-%d", w, i)
				id := fmt.Sprintf("%064x", (roundNo+1)<<40|(w<<24)|i) // unique per round, worker and i
				if err := retry(func() error {
					_, err := reg.Register(ctx, "child", release.Release{App: app, Name: name, MREnclave: id})
					return err
				}); err != nil {
					fmt.Fprintln(os.Stderr, "register:", err)
					os.Exit(2)
				}
				ack("register", app, name)
				if err := retry(func() error { _, err := reg.Activate(ctx, "child", app, name, time.Hour); return err }); err != nil {
					fmt.Fprintln(os.Stderr, "activate:", err)
					os.Exit(2)
				}
				ack("activate", app, name)
			}
		}()
	}
	wg.Wait()
}

// TestDurability kills a writing child process with SIGKILL after it
// acknowledged some writes, reopens the store and checks that every
// acknowledged write is there and the audit chain verifies; several rounds
// on the same file.
func TestDurability(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns child processes")
	}
	path := filepath.Join(t.TempDir(), store.DefaultBoltFile)
	const acksBeforeKill = 200
	for round := range 3 {
		acks := runChild(t, path, fmt.Sprint(round), acksBeforeKill)
		if len(acks) < acksBeforeKill {
			t.Fatalf("round %d: only %d acks", round, len(acks))
		}
		checkAcks(t, path, acks)
		t.Logf("round %d: %d acknowledged writes survived SIGKILL", round, len(acks))
	}
}

// runChild starts the child, SIGKILLs it after n acks, and returns every ack
// it printed before dying.
func runChild(t *testing.T, path, round string, n int) []string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestDurabilityChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), envDurabilityDB+"="+path, envDurabilityRound+"="+round)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// A hang guard only (the child writes until killed): generous, so that a
	// loaded machine never trips it.
	hung := false
	var hungMu sync.Mutex
	timer := time.AfterFunc(10*time.Minute, func() {
		hungMu.Lock()
		hung = true
		hungMu.Unlock()
		cmd.Process.Kill()
	})
	defer timer.Stop()
	var acks []string
	killed := false
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, ackPrefix) {
			continue
		}
		acks = append(acks, strings.TrimPrefix(line, ackPrefix))
		if len(acks) == n && !killed {
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			killed = true
		}
	}
	err = cmd.Wait()
	hungMu.Lock()
	if hung {
		t.Fatalf("the child printed %d of %d acks in 10 minutes; stderr:\n%s", len(acks), n, stderr.String())
	}
	hungMu.Unlock()
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("child did not die: %v; stderr:\n%s", err, stderr.String())
	}
	ws, ok := ee.Sys().(syscall.WaitStatus)
	if !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("child ended with %v, not SIGKILL; stderr:\n%s", err, stderr.String())
	}
	return acks
}

func checkAcks(t *testing.T, path string, acks []string) {
	t.Helper()
	ctx := context.Background()
	s, err := store.OpenBolt(path, store.BoltOptions{})
	if err != nil {
		t.Fatalf("reopening after SIGKILL: %v", err)
	}
	defer s.Close()
	reg := registry.New(s, registry.Options{})
	st, err := reg.VerifyAudit(ctx)
	if err != nil {
		t.Fatalf("audit chain after SIGKILL: %v", err)
	}
	entries, err := reg.Audit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	logged := map[string]bool{}
	for _, e := range entries {
		logged[fmt.Sprintf("%s %s %s", e.Action, e.App, e.Release)] = true
	}
	for _, a := range acks {
		op, app, name := splitAck(t, a)
		v, err := reg.Get(ctx, app, name)
		if err != nil {
			t.Fatalf("acknowledged %q lost: %v", a, err)
		}
		if !logged[a] {
			t.Fatalf("acknowledged %q has no audit entry", a)
		}
		if op == string(audit.ActionActivate) && v.State != release.Active && v.State != release.Draining {
			t.Fatalf("acknowledged %q but the release is %s", a, v.State)
		}
	}
	if st.Entries < uint64(len(acks)) {
		t.Fatalf("%d entries for %d acks", st.Entries, len(acks))
	}
}

func splitAck(t *testing.T, a string) (op, app, name string) {
	f := strings.Fields(a)
	if len(f) != 3 {
		t.Fatalf("malformed ack %q", a)
	}
	return f[0], f[1], f[2]
}
