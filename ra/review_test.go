package ra

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/sgxops/sgxops/release"
)

// Security review regressions.

// holdAndSubstitute is a network attacker between an HTTPSession and the
// server: it relays the first call to the server, keeps the server's real
// answer and tells the client the connection failed; on the next call it
// relays the request again and answers with the kept response instead of the
// new one.
type holdAndSubstitute struct {
	mu   sync.Mutex
	step int // 0: hold the next call's response; 1: substitute it; 2: relay
	held []byte
}

func (m *holdAndSubstitute) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil || req.URL.Path == SessionPath {
		return resp, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	switch m.step {
	case 0:
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return nil, err
		}
		m.held, m.step = b, 1
		return nil, errors.New("connection reset by peer (simulated)")
	case 1:
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		m.step = 2
		resp.Body = io.NopCloser(bytes.NewReader(m.held))
		resp.ContentLength = int64(len(m.held))
		return resp, nil
	}
	return resp, nil
}

// After a call failed in transport (the server may have answered), the
// session's counters are out of step with the server's. The client must not
// go on: otherwise the server's answer to the failed call, held back by an
// attacker, is accepted as the answer to the next call of the same
// operation.
func TestReviewHTTPSessionNoResponseMisattribution(t *testing.T) {
	_, ts := newHTTPService(t, nil)
	cli := &Client{Verifier: localVerifier(t, "seed-a", trustSet(rel("v1", release.Active)))}
	hc := &http.Client{Transport: &holdAndSubstitute{}}
	ctx := context.Background()
	s, err := cli.DialHTTP(ctx, ts.URL, hc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Call(ctx, "sum", []byte("first request")); err == nil {
		t.Fatal("first call succeeded through a failing transport")
	} else {
		wantReason(t, err, ReasonTransport)
	}
	got, err := s.Call(ctx, "sum", []byte("second request"))
	if err == nil {
		t.Fatalf("second call on a desynchronised session returned %q (the answer to another request)", got)
	}
	wantReason(t, err, ReasonClosed)
}

// An application error (an authenticated error record) leaves the counters in
// step, so the session stays usable; see TestHTTPSession. A server-side
// rejection does not: the session is not used further.
func TestReviewHTTPSessionUnusableAfterServerRejection(t *testing.T) {
	_, ts := newHTTPService(t, nil)
	cli := &Client{Verifier: localVerifier(t, "seed-a", trustSet(rel("v1", release.Active)))}
	ctx := context.Background()
	s, err := cli.DialHTTP(ctx, ts.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Burn the client's next sequence number, as a lost request would: the
	// server then sees a record from the future.
	if _, err := s.Session().Seal(RecordData, nil, []byte("sum")); err != nil {
		t.Fatal(err)
	}
	_, err = s.Call(ctx, "sum", []byte("x"))
	wantReason(t, err, ReasonReorder)
	_, err = s.Call(ctx, "sum", []byte("y"))
	wantReason(t, err, ReasonClosed)
}

// A PendingHandshake completes at most one session: two sessions with the
// same keys would both start at sequence 0 and reuse AES-GCM nonces. A
// Finish that failed (e.g. the verifier was unreachable) may be retried.
func TestReviewFinishOnce(t *testing.T) {
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

// Records that fail authentication do not change a session, including its
// idle timer: someone who sees the session ID in a URL cannot keep an
// abandoned session alive.
func TestReviewForgedRecordsDoNotRefreshIdle(t *testing.T) {
	var mu sync.Mutex
	now := testNow
	clk := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	_, ts := newHTTPService(t, &HTTPServerOptions{IdleTimeout: time.Minute, Now: clk})
	cli := &Client{Verifier: localVerifier(t, "seed-a", trustSet(rel("v1", release.Active)))}
	ctx := context.Background()
	s, err := cli.DialHTTP(ctx, ts.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	forged := make([]byte, RecordHeaderSize+tagSize+4)
	forged[0], forged[1] = Version, byte(RecordData)
	for i := 0; i < 3; i++ {
		advance(40 * time.Second)
		_, err := post(ctx, http.DefaultClient, http.MethodPost, ts.URL+SessionPath+"/"+s.Session().ID()+"/sum", forged, "sum")
		if i < 1 {
			wantReason(t, err, ReasonTampered)
		} else if err == nil {
			t.Fatal("forged record accepted")
		}
	}
	_, err = s.Call(ctx, "sum", nil)
	wantReason(t, err, ReasonUnknownSession)
}

// The client judges the leaf the server proved possession of, not any
// certificate of the chain: a genuine RA-TLS certificate placed behind an
// attacker's leaf does not help (confirms ClientConfig; no fix needed).
func TestReviewRATLSChainStuffing(t *testing.T) {
	v := localVerifier(t, "seed-a", trustSet(rel("v1", release.Active)))
	genuine, err := NewCertificate(provider(t, "seed-a", "v1", false), &CertificateOptions{Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	leaf := certWith(t, key, nil, testNow.Add(time.Hour))
	mitm := &tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{{
		Certificate: [][]byte{leaf.Raw, genuine.Leaf.Raw}, PrivateKey: key}}}
	if _, err := tlsHandshake(t, mitm, v); err == nil {
		t.Fatal("handshake with a genuine RA-TLS certificate behind an attacker's leaf succeeded")
	} else {
		wantReason(t, err, ReasonMalformed)
	}
}
