package ra

import (
	"bytes"
	"context"
	"crypto/ecdh"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"testing"

	"github.com/sgxops/sgxops/dcap"
	"github.com/sgxops/sgxops/policy"
	"github.com/sgxops/sgxops/release"
)

// pipeHandshake runs both sides over net.Pipe and returns the connections.
func pipeHandshake(t *testing.T, srv *Server, cli *Client) (*Conn, *Conn, error) {
	t.Helper()
	a, b := net.Pipe()
	t.Cleanup(func() { a.Close(); b.Close() })
	type res struct {
		c   *Conn
		err error
	}
	ch := make(chan res, 1)
	go func() {
		c, err := srv.Handshake(b)
		if err != nil {
			b.Close() // unblock the client
		}
		ch <- res{c, err}
	}()
	cc, cerr := cli.Handshake(context.Background(), a)
	if cerr != nil {
		a.Close()
	}
	r := <-ch
	if cerr != nil {
		return nil, nil, cerr
	}
	return cc, r.c, r.err
}

func TestStreamHandshakeAndMessages(t *testing.T) {
	srv := &Server{Provider: provider(t, "seed-a", "v1", false)}
	cli := &Client{Verifier: localVerifier(t, "seed-a", trustSet(rel("v1", release.Active)))}
	cc, sc, err := pipeHandshake(t, srv, cli)
	if err != nil {
		t.Fatal(err)
	}
	att := cc.Attestation()
	if att == nil || att.Release != "v1" || att.ReleaseState != "active" || att.App != "agg" {
		t.Fatalf("attestation %+v, want app agg release v1 active", att)
	}
	if att.MREnclave != hexOf(measurement("mrenclave v1")) || att.Debug || att.TCBStatus != "UpToDate" {
		t.Fatalf("attestation identity %+v", att)
	}
	if sc.Attestation() != nil {
		t.Fatal("server side has an attestation")
	}
	if cc.Session().ID() != sc.Session().ID() || cc.Session().ID() == "" {
		t.Fatalf("session IDs %q / %q", cc.Session().ID(), sc.Session().ID())
	}

	done := make(chan error, 1)
	go func() {
		for {
			m, err := sc.Recv()
			if err == io.EOF {
				done <- sc.Close()
				return
			}
			if err != nil {
				done <- err
				return
			}
			if err := sc.Send(append([]byte("echo:"), m...)); err != nil {
				done <- err
				return
			}
		}
	}()
	for _, msg := range []string{"secret 1", "", "secret 3"} {
		if err := cc.Send([]byte(msg)); err != nil {
			t.Fatal(err)
		}
		got, err := cc.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != "echo:"+msg {
			t.Fatalf("got %q, want %q", got, "echo:"+msg)
		}
	}
	if err := cc.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := cc.Recv(); err != io.EOF {
		t.Fatalf("after close: %v, want io.EOF", err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	wantReason(t, cc.Send([]byte("late")), ReasonClosed)
}

// mitm relays a handshake and lets a function rewrite the hellos.
func TestManInTheMiddleSwappingKeysIsDetected(t *testing.T) {
	attacker, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	srv := &Server{Provider: provider(t, "seed-a", "v1", false)}
	cli := &Client{Verifier: localVerifier(t, "seed-a", trustSet(rel("v1", release.Active)))}
	tests := []struct {
		name        string
		swapClient  bool // replace the client's key on the way to the server
		swapServer  bool // replace the server's key on the way to the client
		wantBinding bool
	}{
		{name: "server key swapped", swapServer: true, wantBinding: true},
		{name: "client key swapped", swapClient: true, wantBinding: true},
		{name: "both swapped", swapClient: true, swapServer: true, wantBinding: true},
		{name: "untouched relay", wantBinding: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, hello, err := cli.Hello()
			if err != nil {
				t.Fatal(err)
			}
			if tc.swapClient {
				ch, err := ParseClientHello(hello)
				if err != nil {
					t.Fatal(err)
				}
				ch.PublicKey = attacker.PublicKey().Bytes()
				hello = ch.Marshal()
			}
			reply, _, err := srv.Respond(hello)
			if err != nil {
				t.Fatal(err)
			}
			if tc.swapServer {
				sh, err := ParseServerHello(reply)
				if err != nil {
					t.Fatal(err)
				}
				sh.PublicKey = attacker.PublicKey().Bytes()
				reply = sh.Marshal()
			}
			sess, err := p.Finish(context.Background(), reply)
			if !tc.wantBinding {
				if err != nil {
					t.Fatalf("relay without tampering failed: %v", err)
				}
				if sess.Attestation().Release != "v1" {
					t.Fatalf("attestation %+v", sess.Attestation())
				}
				return
			}
			wantReason(t, err, ReasonBinding)
		})
	}
}

func TestEvidenceRejected(t *testing.T) {
	tests := []struct {
		name     string
		provider *SimulatedProvider
		verifier *LocalVerifier
		check    func(t *testing.T, err error)
	}{
		{
			name:     "debug enclave",
			provider: provider(t, "seed-a", "v1", true),
			verifier: localVerifier(t, "seed-a", trustSet(rel("v1", release.Active))),
			check:    wantPolicy(policy.ReasonDebugNotAllowed),
		},
		{
			name:     "revoked release",
			provider: provider(t, "seed-a", "v1", false),
			verifier: localVerifier(t, "seed-a", trustSet(rel("v1", release.Revoked))),
			check:    wantPolicy(policy.ReasonReleaseRevoked),
		},
		{
			name:     "retired release",
			provider: provider(t, "seed-a", "v1", false),
			verifier: localVerifier(t, "seed-a", trustSet(rel("v1", release.Retired))),
			check:    wantPolicy(policy.ReasonReleaseRetired),
		},
		{
			name:     "candidate not requested",
			provider: provider(t, "seed-a", "v2", false),
			verifier: localVerifier(t, "seed-a", trustSet(rel("v1", release.Active), rel("v2", release.Candidate))),
			check:    wantPolicy(policy.ReasonCandidateNotRequested),
		},
		{
			name:     "unknown measurement",
			provider: provider(t, "seed-a", "rogue", false),
			verifier: localVerifier(t, "seed-a", trustSet(rel("v1", release.Active))),
			check:    wantPolicy(policy.ReasonNoMatchingRelease),
		},
		{
			name:     "untrusted root",
			provider: provider(t, "seed-foreign", "v1", false),
			verifier: localVerifier(t, "seed-a", trustSet(rel("v1", release.Active))),
			check: func(t *testing.T, err error) {
				var de *dcap.Error
				if !errors.As(err, &de) {
					t.Fatalf("error %v, want a *dcap.Error in the chain", err)
				}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := pipeHandshake(t, &Server{Provider: tc.provider}, &Client{Verifier: tc.verifier})
			wantReason(t, err, ReasonAttestation)
			tc.check(t, err)
		})
	}
}

func TestCandidateAcceptedWhenRequested(t *testing.T) {
	v := localVerifier(t, "seed-a", trustSet(rel("v1", release.Active), rel("v2", release.Candidate)))
	v.Candidate = "v2"
	cc, _, err := pipeHandshake(t, &Server{Provider: provider(t, "seed-a", "v2", false)}, &Client{Verifier: v})
	if err != nil {
		t.Fatal(err)
	}
	if a := cc.Attestation(); a.Release != "v2" || a.ReleaseState != "candidate" {
		t.Fatalf("attestation %+v, want candidate v2", a)
	}
}

func wantPolicy(r policy.Reason) func(t *testing.T, err error) {
	return func(t *testing.T, err error) {
		t.Helper()
		var pe *policy.RejectError
		if !errors.As(err, &pe) {
			t.Fatalf("error %v, want a *policy.RejectError", err)
		}
		if pe.Reason != r {
			t.Fatalf("policy reason %s, want %s (%v)", pe.Reason, r, err)
		}
	}
}

func TestStreamTruncatedWithoutClose(t *testing.T) {
	srv := &Server{Provider: provider(t, "seed-a", "v1", false)}
	cli := &Client{Verifier: localVerifier(t, "seed-a", trustSet(rel("v1", release.Active)))}
	a, b := net.Pipe()
	defer a.Close()
	errc := make(chan error, 1)
	go func() {
		sc, err := srv.Handshake(b)
		if err == nil {
			err = sc.Send([]byte("only message"))
		}
		b.Close() // ends the stream without a close record
		errc <- err
	}()
	cc, err := cli.Handshake(context.Background(), a)
	if err != nil {
		t.Fatal(err)
	}
	if m, err := cc.Recv(); err != nil || string(m) != "only message" {
		t.Fatalf("Recv = %q, %v", m, err)
	}
	_, err = cc.Recv()
	wantReason(t, err, ReasonTruncated)
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	// The error is final.
	_, err = cc.Recv()
	wantReason(t, err, ReasonTruncated)
}

func TestStreamFrameCutShort(t *testing.T) {
	tests := []struct {
		name   string
		stream []byte
		want   Reason
	}{
		{"inside length prefix", []byte{0, 0}, ReasonTruncated},
		{"inside frame", []byte{0, 0, 0, 10, 1, 2, 3}, ReasonTruncated},
		{"zero length", []byte{0, 0, 0, 0}, ReasonMalformed},
		{"oversized length", []byte{0xff, 0xff, 0xff, 0xff}, ReasonMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := readFrame(bytes.NewReader(tc.stream))
			wantReason(t, err, tc.want)
		})
	}
	if _, err := readFrame(bytes.NewReader(nil)); err != io.EOF {
		t.Fatalf("empty stream: %v, want io.EOF", err)
	}
}

func TestRemoteErrorOverStream(t *testing.T) {
	srv := &Server{Provider: provider(t, "seed-a", "v1", false)}
	cli := &Client{Verifier: localVerifier(t, "seed-a", trustSet(rel("v1", release.Active)))}
	cc, sc, err := pipeHandshake(t, srv, cli)
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = sc.SendError("values must be finite"); _ = sc.Send([]byte("after")) }()
	_, err = cc.Recv()
	var re *RemoteError
	if !errors.As(err, &re) || re.Message != "values must be finite" {
		t.Fatalf("Recv error %v, want RemoteError", err)
	}
	// A remote application error is not fatal to the connection.
	if m, err := cc.Recv(); err != nil || string(m) != "after" {
		t.Fatalf("Recv after remote error = %q, %v", m, err)
	}
}

func TestMissingConfiguration(t *testing.T) {
	_, _, err := (&Server{}).Respond(nil)
	wantReason(t, err, ReasonProvider)
	_, _, err = (&Client{}).Hello()
	wantReason(t, err, ReasonAttestation)
}

// A verifier that forgets the binding cannot let a wrong report data through.
func TestBindingCheckedEvenIfVerifierIsSloppy(t *testing.T) {
	sloppy := VerifierFunc(func(ctx context.Context, ev Evidence) (*Attestation, error) {
		return &Attestation{Verifier: "sloppy"}, nil // report data all zero
	})
	_, _, err := pipeHandshake(t, &Server{Provider: provider(t, "seed-a", "v1", false)}, &Client{Verifier: sloppy})
	wantReason(t, err, ReasonBinding)
	nilAtt := VerifierFunc(func(ctx context.Context, ev Evidence) (*Attestation, error) { return nil, nil })
	_, _, err = pipeHandshake(t, &Server{Provider: provider(t, "seed-a", "v1", false)}, &Client{Verifier: nilAtt})
	wantReason(t, err, ReasonAttestation)
}

// A PendingHandshake completes at most one session: two sessions with the
// same keys would both start at sequence 0 and reuse AES-GCM nonces. A
// Finish that failed (e.g. the verifier was unreachable) may be retried.
func TestFinishOnce(t *testing.T) {
	lv := localVerifier(t, "seed-a", trustSet(rel("v1", release.Active)))
	calls := 0
	flaky := VerifierFunc(func(ctx context.Context, ev Evidence) (*Attestation, error) {
		calls++
		if calls == 1 {
			return nil, errors.New("attestation service unreachable")
		}
		return lv.Verify(ctx, ev)
	})
	cli := &Client{Verifier: flaky}
	srv := &Server{Provider: provider(t, "seed-a", "v1", false)}
	p, hello, err := cli.Hello()
	if err != nil {
		t.Fatal(err)
	}
	reply, _, err := srv.Respond(hello)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	_, err = p.Finish(ctx, reply)
	wantReason(t, err, ReasonAttestation)
	s1, err := p.Finish(ctx, reply)
	if err != nil {
		t.Fatalf("retry after a failed verification: %v", err)
	}
	s2, err := p.Finish(ctx, reply)
	if err == nil {
		a, _ := s1.Seal(RecordData, []byte("attack at dawn"), nil)
		b, _ := s2.Seal(RecordData, []byte("attack at dusk"), nil)
		t.Fatalf("second session from one handshake (records with the same nonce: %x / %x)", a[:RecordHeaderSize], b[:RecordHeaderSize])
	}
	wantReason(t, err, ReasonClosed)
}
