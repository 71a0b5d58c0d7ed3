package demo

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sgxops/sgxops/examples/aggregate"
	"github.com/sgxops/sgxops/ra"
)

func TestDemoStory(t *testing.T) {
	var out bytes.Buffer
	rep, err := Run(context.Background(), Options{Out: &out})
	if err != nil {
		t.Fatalf("%v\noutput:\n%s", err, out.String())
	}
	t.Logf("demo output:\n%s", out.String())

	if len(rep.Steps) != Steps {
		t.Fatalf("%d steps, want %d", len(rep.Steps), Steps)
	}
	for i, s := range rep.Steps {
		if s.N != i+1 || s.Err != nil || len(s.Details) == 0 {
			t.Fatalf("step %d: %+v", i+1, s)
		}
	}
	// The working directory was temporary and is gone.
	if _, err := os.Stat(rep.Dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("temporary directory %s left behind: %v", rep.Dir, err)
	}

	// Identities come from the measured builds: SHA-256 of each SGXS stream.
	for _, b := range []Build{rep.Blue, rep.Green} {
		img, err := aggregate.Image(b.Version)
		if err != nil {
			t.Fatal(err)
		}
		if sum := sha256.Sum256(img); hex.EncodeToString(sum[:]) != b.MREnclave {
			t.Fatalf("%s: MRENCLAVE %s is not the measurement of its build", b.Version, b.MREnclave)
		}
	}
	if rep.Blue.MREnclave == rep.Green.MREnclave {
		t.Fatal("blue and green share an MRENCLAVE")
	}
	// The client's configuration names no measurement.
	conf := rep.Client
	if conf.App != aggregate.App || conf.AttestdURL != rep.AttestdURL || conf.ServiceURL != rep.ServiceURL {
		t.Fatalf("client config %+v", conf)
	}

	checkAnswer(t, "first", rep.First, secretsBlue, "v1", "active", rep.Blue.MREnclave, true)
	checkAnswer(t, "after switch", rep.AfterSwitch, secretsGreen, "v2", "active", rep.Green.MREnclave, true)
	checkAnswer(t, "after retire", rep.AfterRetire, secretsLast, "v2", "active", rep.Green.MREnclave, false)

	if a := rep.CandidateTest; a == nil || a.Release != "v2" || a.ReleaseState != "candidate" || a.MREnclave != rep.Green.MREnclave {
		t.Fatalf("candidate test %+v", a)
	}
	if !errors.Is(rep.CandidateRefused, ra.ErrAttestation) || !strings.Contains(rep.CandidateRefused.Error(), "candidate") {
		t.Fatalf("regular client on the candidate: %v", rep.CandidateRefused)
	}
	if a := rep.DrainingBlue; a == nil || a.Release != "v1" || a.ReleaseState != "draining" {
		t.Fatalf("draining blue %+v", a)
	}
	if !errors.Is(rep.RetiredRejected, ra.ErrAttestation) || !strings.Contains(rep.RetiredRejected.Error(), "retired") {
		t.Fatalf("retired blue: %v", rep.RetiredRejected)
	}
	if rep.BlueFinalState != "retired" || rep.GreenFinalState != "active" {
		t.Fatalf("final states blue %s, green %s", rep.BlueFinalState, rep.GreenFinalState)
	}

	// Output: numbered steps, and every attestation line says SIMULATED.
	text := out.String()
	for i := 1; i <= Steps; i++ {
		if !strings.Contains(text, "["+pad(i)+"/12]") {
			t.Fatalf("output lacks step %d", i)
		}
	}
	for _, line := range strings.Split(text, "\n") {
		if strings.Contains(line, "attested by") && !strings.Contains(line, "SIMULATED") {
			t.Fatalf("attestation line without SIMULATED: %q", line)
		}
	}
	if strings.Count(text, "FAILED") != 0 || !strings.Contains(text, "Done in") {
		t.Fatal("output does not end in success")
	}
}

func pad(i int) string {
	if i < 10 {
		return " " + string(rune('0'+i))
	}
	return "1" + string(rune('0'+i-10))
}

func checkAnswer(t *testing.T, what string, ans *aggregate.Answer, values []float64, release, state, mrenclave string, newSession bool) {
	t.Helper()
	if ans == nil {
		t.Fatalf("%s: no answer", what)
	}
	want, err := aggregate.Aggregate(values)
	if err != nil {
		t.Fatal(err)
	}
	want.Version = release
	if ans.Result != want {
		t.Fatalf("%s: result %+v, want %+v", what, ans.Result, want)
	}
	a := ans.Attestation
	if a.Release != release || a.ReleaseState != state || a.MREnclave != mrenclave || !a.Simulated || a.Debug || a.Token == "" {
		t.Fatalf("%s: attestation %+v", what, a)
	}
	if ans.NewSession != newSession {
		t.Fatalf("%s: new session %v, want %v", what, ans.NewSession, newSession)
	}
}

func TestDemoFailureNamesStep(t *testing.T) {
	file := filepath.Join(t.TempDir(), "not-a-dir")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	rep, err := Run(context.Background(), Options{Out: &out, Dir: file})
	var se *StepError
	if !errors.As(err, &se) || se.Step != 1 {
		t.Fatalf("error %v, want step 1 to fail", err)
	}
	if len(rep.Steps) != 1 || rep.Steps[0].Err == nil || !strings.Contains(out.String(), "FAILED") {
		t.Fatalf("report %+v\n%s", rep.Steps, out.String())
	}
}

// syncBuffer is a bytes.Buffer safe for a writer and a reader goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestDemoKeepRunning(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := &syncBuffer{}
	type result struct {
		rep *Report
		err error
	}
	done := make(chan result, 1)
	dir := t.TempDir()
	go func() {
		rep, err := Run(ctx, Options{Out: out, Dir: dir, KeepRunning: true})
		done <- result{rep, err}
	}()
	deadline := time.Now().Add(40 * time.Second)
	for !strings.Contains(out.String(), "Still running") {
		if time.Now().After(deadline) {
			t.Fatalf("demo did not reach keep-running:\n%s", out.String())
		}
		select {
		case r := <-done:
			t.Fatalf("demo returned early: %v\n%s", r.err, out.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	// The service URL still answers, now from green.
	var url string
	for _, line := range strings.Split(out.String(), "\n") {
		if f := strings.Fields(line); len(f) >= 3 && f[0] == "service" && f[1] == "URL" {
			url = f[2]
		}
	}
	resp, err := http.Get(url + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	var h aggregate.Health
	err = json.NewDecoder(resp.Body).Decode(&h)
	resp.Body.Close()
	if err != nil || h.Version != "v2" || !strings.Contains(h.Provider, "SIMULATED") {
		t.Fatalf("healthz %+v, %v", h, err)
	}
	// State is kept in the given directory.
	if _, err := os.Stat(filepath.Join(dir, "attestd", "admin-token")); err != nil {
		t.Fatal(err)
	}
	cancel()
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
}

// TestDemoRefusesUsedDir: a --dir holding a previous run is refused before any
// step runs, instead of failing halfway with a registry conflict.
func TestDemoRefusesUsedDir(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "leftover"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	rep, err := Run(context.Background(), Options{Out: io.Discard, Dir: dir})
	if err == nil || !strings.Contains(err.Error(), "not empty") || rep != nil {
		t.Fatalf("report %v, err %v", rep, err)
	}
}
