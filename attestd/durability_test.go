package attestd

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/sgxops/sgxops/attestd/config"
)

// childEnv makes the test binary run attestd (runChild) instead of the
// tests, so the durability test can kill -9 a real attestd process.
const childEnv = "ATTESTD_TEST_CHILD_ARGS"

func TestMain(m *testing.M) {
	if a := os.Getenv(childEnv); a != "" {
		var args []string
		if err := json.Unmarshal([]byte(a), &args); err != nil {
			fmt.Fprintln(os.Stderr, "bad", childEnv, err)
			os.Exit(2)
		}
		os.Exit(runChild(args))
	}
	os.Exit(m.Run())
}

// runChild runs attestd with command-line args as cmd/attestd does, until
// SIGINT/SIGTERM, logging JSON to stderr; it returns the exit code.
func runChild(args []string) int {
	cfg, err := config.ParseFlags(args, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	log := testLogger(os.Stderr, cfg.Log.Level)
	r, err := Start(ctx, cfg, log)
	if err != nil {
		log.Error("start failed", "err", err.Error())
		return 1
	}
	if err := r.Wait(ctx); err != nil {
		log.Error("stopped with an error", "err", err.Error())
		return 1
	}
	return 0
}

// startChild starts attestd in a child process and returns it with its
// address (read from the "listening" log line).
func startChild(t *testing.T, args ...string) (*exec.Cmd, string) {
	t.Helper()
	a, _ := json.Marshal(args)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+string(a))
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sent := false
		for sc.Scan() {
			var l struct{ Msg, Addr string }
			if json.Unmarshal(sc.Bytes(), &l) == nil && l.Msg == "listening" && !sent {
				addr <- l.Addr
				sent = true
			}
		}
		if !sent {
			close(addr)
		}
	}()
	select {
	case a, ok := <-addr:
		if !ok {
			t.Fatal("attestd child exited before listening")
		}
		return cmd, a
	case <-time.After(20 * time.Second):
		t.Fatal("attestd child did not start listening")
	}
	return nil, ""
}

// TestKill9DuringAdminWrites kills attestd with SIGKILL while concurrent
// admin writes are in flight, restarts it on the same data directory, and
// checks that every acknowledged write is present and the audit chain
// verifies.
func TestKill9DuringAdminWrites(t *testing.T) {
	dir := t.TempDir()
	args := []string{"--listen", "127.0.0.1:0", "--insecure-http", "--issuer", "http://attestd.test", "--data-dir", dir,
		"--admin-token-sha256", tokenHash(adminToken)}
	cmd, addr := startChild(t, args...)
	client := &http.Client{Timeout: 10 * time.Second}
	post := func(addr, path, body string) (int, error) {
		req, _ := http.NewRequest("POST", "http://"+addr+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+adminToken)
		resp, err := client.Do(req)
		if err != nil {
			return 0, err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode, nil
	}

	var mu sync.Mutex
	registered := map[string]bool{} // acknowledged registrations
	activated := map[string]bool{}  // acknowledged activations
	var acks atomic.Int32
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				app := fmt.Sprintf("app%d", w%3)
				name := fmt.Sprintf("r%d-%d", w, i)
				mre := sha256.Sum256([]byte(app + "/" + name))
				code, err := post(addr, "/admin/v1/releases", fmt.Sprintf(`{"app":%q,"name":%q,"mrenclave":%q}`, app, name, hex.EncodeToString(mre[:])))
				if err != nil {
					return // the server is gone
				}
				if code != http.StatusCreated {
					t.Errorf("register %s/%s: HTTP %d", app, name, code)
					return
				}
				mu.Lock()
				registered[app+"/"+name] = true
				mu.Unlock()
				acks.Add(1)
				if i%2 == 1 {
					code, err := post(addr, "/admin/v1/releases/"+app+"/"+name+"/activate", `{"grace":"1h"}`)
					if err != nil {
						return
					}
					if code == http.StatusOK {
						mu.Lock()
						activated[app+"/"+name] = true
						mu.Unlock()
						acks.Add(1)
					}
				}
			}
		}()
	}
	deadline := time.Now().Add(15 * time.Second)
	for acks.Load() < 200 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if err := cmd.Process.Kill(); err != nil { // SIGKILL: no shutdown, no flush
		t.Fatal(err)
	}
	_ = cmd.Wait()
	wg.Wait()
	if acks.Load() < 200 {
		t.Fatalf("only %d writes acknowledged before the deadline", acks.Load())
	}

	_, addr = startChild(t, args...)
	get := func(path string, v any) {
		req, _ := http.NewRequest("GET", "http://"+addr+path, nil)
		req.Header.Set("Authorization", "Bearer "+adminToken)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s: HTTP %d", path, resp.StatusCode)
		}
		if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
			t.Fatal(err)
		}
	}
	var list releaseList
	get("/admin/v1/releases", &list)
	state := map[string]string{}
	for _, v := range list.Releases {
		state[v.App+"/"+v.Name] = string(v.State)
	}
	mu.Lock()
	defer mu.Unlock()
	for k := range registered {
		if _, ok := state[k]; !ok {
			t.Errorf("acknowledged registration %s lost", k)
		}
	}
	for k := range activated {
		if s := state[k]; s != "active" && s != "draining" {
			t.Errorf("acknowledged activation of %s lost: state %q", k, s)
		}
	}
	var ver AuditVerification
	get("/admin/v1/audit/verify", &ver)
	if !ver.Valid || ver.Entries < uint64(len(registered)+len(activated)) {
		t.Fatalf("audit log after kill -9: %+v (acknowledged %d registrations, %d activations)", ver, len(registered), len(activated))
	}
	t.Logf("%d registrations and %d activations acknowledged before kill -9; all present; audit chain of %d entries verifies",
		len(registered), len(activated), ver.Entries)
}
