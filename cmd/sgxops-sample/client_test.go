package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"testing"

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
