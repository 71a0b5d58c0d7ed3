package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sgxops/sgxops/internal/demo"
	"github.com/sgxops/sgxops/maaclient"
	"github.com/sgxops/sgxops/ra"
)

// TestClientAgainstLab runs the client against a real attestd, simulated PCS
// and sample service on loopback: an active release answers; a pinned
// retired release is refused; --connect-to reaches a service under another
// name, as through a port-forward.
func TestClientAgainstLab(t *testing.T) {
	lab, err := demo.StartLab(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer lab.Close()
	ctx := context.Background()
	mr, err := lab.Build("v1")
	if err != nil {
		t.Fatal(err)
	}
	if err := lab.Register(ctx, "aggregate", "v1", mr); err != nil {
		t.Fatal(err)
	}
	if _, err := lab.Transition(ctx, "aggregate", "v1", "activate"); err != nil {
		t.Fatal(err)
	}
	svc, err := lab.StartSample("v1")
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(svc)
	alias := "aggregate.example.test:" + u.Port()

	var out, errb bytes.Buffer
	err = runClient([]string{"--attestd", lab.AttestdURL(), "--service", "http://" + alias, "--allow-simulated",
		"--values", "1,2,3", "--calls", "2", "--connect-to", alias + "=" + u.Host}, &out, &errb)
	if err != nil {
		t.Fatalf("client: %v\n%s", err, errb.String())
	}
	var rep clientReport
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Calls != 2 || rep.Failures != 0 || rep.Releases["v1"] != 2 || !rep.Simulated ||
		rep.Last == nil || rep.Last.Result.Sum != 6 || rep.Last.Release != "v1" || rep.Last.MREnclave != mr {
		t.Fatalf("report: %s", out.String())
	}

	// Without --allow-simulated the SIMULATED evidence is refused, without retries.
	out.Reset()
	err = runClient([]string{"--attestd", lab.AttestdURL(), "--service", svc}, &out, &errb)
	if err == nil || !strings.Contains(out.String(), `"failures": 1`) || strings.Contains(out.String(), `"retries": 1`) {
		t.Fatalf("simulated evidence accepted or retried: %v\n%s", err, out.String())
	}

	// Pinning a retired release is refused.
	if _, err := lab.Transition(ctx, "aggregate", "v1", "retire"); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	err = runClient([]string{"--attestd", lab.AttestdURL(), "--service", svc, "--allow-simulated", "--release", "v1"}, &out, &errb)
	if err == nil {
		t.Fatalf("retired release accepted:\n%s", out.String())
	}
}

// switchProxy forwards TCP like kube-proxy behind a Service: each new
// connection goes to the current backend; open connections keep theirs.
type switchProxy struct {
	ln      net.Listener
	backend atomic.Value // string, host:port
}

func newSwitchProxy(t *testing.T, backend string) *switchProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &switchProxy{ln: ln}
	p.backend.Store(backend)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				b, err := net.Dial("tcp", p.backend.Load().(string))
				if err != nil {
					return
				}
				defer b.Close()
				go func() { _, _ = io.Copy(b, c); b.Close() }()
				_, _ = io.Copy(c, b)
			}()
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return p
}

// TestClientReconnectsAfterSwitch: calls go through a switchProxy. After a
// few answers from v1 the proxy switches to v2, v2 is activated and v1
// retired in attestd. The client's kept-alive connection still leads to v1,
// whose evidence attestd now refuses; the client repeats that call on a new
// connection, which reaches v2, so no call fails. (Found by the real-cluster
// E2E: one call of a loop failed with release_retired when v1 retired while
// the loop still ran.)
func TestClientReconnectsAfterSwitch(t *testing.T) {
	lab, err := demo.StartLab(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer lab.Close()
	ctx := context.Background()
	svcs := map[string]string{}
	for _, v := range []string{"v1", "v2"} {
		mr, err := lab.Build(v)
		if err != nil {
			t.Fatal(err)
		}
		if err := lab.Register(ctx, "aggregate", v, mr); err != nil {
			t.Fatal(err)
		}
		u, err := lab.StartSample(v)
		if err != nil {
			t.Fatal(err)
		}
		pu, _ := url.Parse(u)
		svcs[v] = pu.Host
	}
	if _, err := lab.Transition(ctx, "aggregate", "v1", "activate"); err != nil {
		t.Fatal(err)
	}
	proxy := newSwitchProxy(t, svcs["v1"])
	var out, errb bytes.Buffer
	done := make(chan error, 1)
	go func() {
		done <- runClient([]string{"--attestd", lab.AttestdURL(), "--service", "http://" + proxy.ln.Addr().String(),
			"--allow-simulated", "--calls", "12", "--interval", "150ms"}, &out, &errb)
	}()
	time.Sleep(700 * time.Millisecond) // a few calls on v1
	proxy.backend.Store(svcs["v2"])
	if _, err := lab.Transition(ctx, "aggregate", "v2", "activate"); err != nil {
		t.Fatal(err)
	}
	if st, err := lab.Transition(ctx, "aggregate", "v1", "retire"); err != nil || st != "retired" {
		t.Fatalf("retire v1: %s, %v", st, err)
	}
	var err2 error
	select {
	case err2 = <-done:
	case <-time.After(60 * time.Second):
		t.Fatal("client did not finish")
	}
	var rep clientReport
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("%v\n%s\n%s", err, out.String(), errb.String())
	}
	if err2 != nil || rep.Failures != 0 || rep.Releases["v1"] == 0 || rep.Releases["v2"] == 0 || rep.Reconnects == 0 {
		t.Fatalf("client: %v\n%s", err2, out.String())
	}
}

func TestClientFlags(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"--attestd", "http://a"},
		{"--attestd", "http://a", "--service", "http://s", "--calls", "0"},
		{"--attestd", "http://a", "--service", "http://s", "--values", "1,x"},
		{"--attestd", "http://a", "--service", "http://s", "--connect-to", "nohost"},
	} {
		var out, errb bytes.Buffer
		if err := runClient(args, &out, &errb); err == nil {
			t.Errorf("%q accepted", args)
		}
	}
}

func TestRetryable(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{&net.OpError{Op: "dial", Err: errors.New("connection refused")}, true},
		{fmt.Errorf("ra: %w", ra.ErrTransport), true},
		{&maaclient.ServiceError{StatusCode: 503}, true},
		{&maaclient.ServiceError{StatusCode: 429}, true},
		{&maaclient.ServiceError{StatusCode: 400}, false},
		{errors.New("ra: attestation refused: release retired"), false},
	} {
		if got := retryable(tc.err); got != tc.want {
			t.Errorf("retryable(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

// TestStaleServer: only attestd refusing the reached instance's release as
// no longer trusted asks for a new connection; other refusals stay final.
func TestStaleServer(t *testing.T) {
	pe := func(msg string) error {
		return fmt.Errorf("ra: verify server evidence: %w", &maaclient.ServiceError{StatusCode: 400, Code: "PolicyEvaluationError", Message: msg})
	}
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{pe(`reference values: evidence rejected: release_retired (app "aggregate", release "v1"): release is retired`), true},
		{pe(`reference values: evidence rejected: release_revoked (app "aggregate", release "v1"): key leak`), true},
		{pe(`reference values: evidence rejected: drain_expired (app "aggregate", release "v1")`), true},
		{pe(`reference values: evidence rejected: no_matching_release (app "aggregate")`), false},
		{pe(`reference values: evidence rejected: debug_not_allowed`), false},
		{&maaclient.ServiceError{StatusCode: 400, Code: "InvalidParameter", Message: "release_retired"}, false},
		{errors.New("release_retired"), false},
	} {
		if got := staleServer(tc.err); got != tc.want {
			t.Errorf("staleServer(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

func TestOneshot(t *testing.T) {
	dir := t.TempDir()
	lab, err := demo.StartLab(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer lab.Close()
	mr, err := lab.Build("v3")
	if err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	if err := runOneshot([]string{"--sim-dir", lab.SimDir(), "--version", "v3", "--values", "1,2,3"}, &out, &errb); err != nil {
		t.Fatalf("%v: %s", err, errb.String())
	}
	if s := out.String(); !strings.Contains(s, "SIMULATED enclave aggregate v3 (MRENCLAVE "+mr+")") || !strings.Contains(s, "sum 6") {
		t.Fatalf("output: %s", s)
	}
	if err := runOneshot([]string{"--sim-dir", dir + "/none"}, &out, &errb); err == nil {
		t.Fatal("a missing platform was accepted")
	}
	if err := runOneshot(nil, &out, &errb); err == nil {
		t.Fatal("no --sim-dir accepted")
	}
}
