package ra

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/sgxops/sgxops/release"
)

func echoHandler(ctx context.Context, op string, req []byte) ([]byte, error) {
	if op == "fail" {
		return nil, errors.New("bad input: " + string(req))
	}
	return append([]byte(op+":"), req...), nil
}

// recorder is an http.RoundTripper that keeps the request bodies it relays,
// as a network observer would.
type recorder struct {
	mu     sync.Mutex
	bodies map[string][]byte // last body by path
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		b, err := io.ReadAll(req.Body)
		if err != nil {
			return nil, err
		}
		r.mu.Lock()
		r.bodies[req.URL.Path] = b
		r.mu.Unlock()
		req.Body = io.NopCloser(bytes.NewReader(b))
	}
	return http.DefaultTransport.RoundTrip(req)
}

func newHTTPService(t *testing.T, opts *HTTPServerOptions) (*HTTPServer, *httptest.Server) {
	t.Helper()
	h := NewHTTPServer(provider(t, "seed-a", "v1", false), echoHandler, opts)
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	return h, ts
}

func TestHTTPSession(t *testing.T) {
	h, ts := newHTTPService(t, nil)
	rec := &recorder{bodies: map[string][]byte{}}
	hc := &http.Client{Transport: rec}
	cli := &Client{Verifier: localVerifier(t, "seed-a", trustSet(rel("v1", release.Active)))}
	s, err := cli.DialHTTP(context.Background(), ts.URL+"/", hc)
	if err != nil {
		t.Fatal(err)
	}
	if a := s.Attestation(); a.Release != "v1" || a.App != "agg" {
		t.Fatalf("attestation %+v", a)
	}
	for i := 0; i < 3; i++ {
		msg := fmt.Sprintf("secret %d", i)
		got, err := s.Call(context.Background(), "sum", []byte(msg))
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != "sum:"+msg {
			t.Fatalf("got %q", got)
		}
		if bytes.Contains(rec.bodies["/session/"+s.Session().ID()+"/sum"], []byte("secret")) {
			t.Fatal("plaintext visible on the wire")
		}
	}
	_, err = s.Call(context.Background(), "fail", []byte("NaN"))
	var re *RemoteError
	if !errors.As(err, &re) || re.Message != "bad input: NaN" || re.Op != "fail" {
		t.Fatalf("error %v, want RemoteError", err)
	}
	// An application error does not break the session.
	if _, err := s.Call(context.Background(), "sum", nil); err != nil {
		t.Fatal(err)
	}

	// A network observer replays the last request record: rejected.
	path := "/session/" + s.Session().ID() + "/sum"
	resp, err := http.Post(ts.URL+path, ContentType, bytes.NewReader(rec.bodies[path]))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusConflict || !bytes.Contains(body, []byte(`"replay"`)) {
		t.Fatalf("replay answered %d %s", resp.StatusCode, body)
	}
	// ... and the session still works.
	if _, err := s.Call(context.Background(), "sum", []byte("after replay")); err != nil {
		t.Fatal(err)
	}

	if h.Sessions() != 1 {
		t.Fatalf("%d sessions", h.Sessions())
	}
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if h.Sessions() != 0 {
		t.Fatalf("%d sessions after close", h.Sessions())
	}
	_, err = s.Call(context.Background(), "sum", nil)
	wantReason(t, err, ReasonClosed)
}

func TestHTTPRecordForOtherOperationRejected(t *testing.T) {
	_, ts := newHTTPService(t, nil)
	cli := &Client{Verifier: localVerifier(t, "seed-a", trustSet(rel("v1", release.Active)))}
	s, err := cli.DialHTTP(context.Background(), ts.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := s.Session().Seal(RecordData, []byte("x"), []byte("sum"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = post(context.Background(), http.DefaultClient, http.MethodPost, ts.URL+"/session/"+s.Session().ID()+"/mean", rec, "mean")
	wantReason(t, err, ReasonTampered)
}

func TestHTTPErrors(t *testing.T) {
	now := testNow
	h, ts := newHTTPService(t, &HTTPServerOptions{IdleTimeout: time.Minute, MaxSessions: 2, Now: func() time.Time { return now }})
	cli := &Client{Verifier: localVerifier(t, "seed-a", trustSet(rel("v1", release.Active)))}
	ctx := context.Background()

	_, err := post(ctx, http.DefaultClient, http.MethodPost, ts.URL+"/session/nope/sum", make([]byte, 40), "sum")
	wantReason(t, err, ReasonUnknownSession)
	_, err = post(ctx, http.DefaultClient, http.MethodPost, ts.URL+"/session", []byte{1, 1, 0}, "handshake")
	wantReason(t, err, ReasonMalformed)

	s1, err := cli.DialHTTP(ctx, ts.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cli.DialHTTP(ctx, ts.URL, nil); err != nil {
		t.Fatal(err)
	}
	// Full: a third session is refused ...
	if _, err := cli.DialHTTP(ctx, ts.URL, nil); err == nil || h.Sessions() != 2 {
		t.Fatalf("third session: %v, %d sessions", err, h.Sessions())
	}
	// ... until the idle ones expire.
	now = now.Add(2 * time.Minute)
	s3, err := cli.DialHTTP(ctx, ts.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	if h.Sessions() != 1 {
		t.Fatalf("%d sessions after expiry", h.Sessions())
	}
	_, err = s1.Call(ctx, "sum", nil)
	wantReason(t, err, ReasonUnknownSession)
	if _, err := s3.Call(ctx, "sum", nil); err != nil {
		t.Fatal(err)
	}
	_, err = s3.Call(ctx, "BAD OP", nil)
	wantReason(t, err, ReasonMalformed)
	_, err = cli.DialHTTP(ctx, "ftp://x", nil)
	wantReason(t, err, ReasonMalformed)
}

// Concurrent calls on one session are serialised and all succeed (-race).
func TestHTTPConcurrentCalls(t *testing.T) {
	_, ts := newHTTPService(t, nil)
	cli := &Client{Verifier: localVerifier(t, "seed-a", trustSet(rel("v1", release.Active)))}
	s, err := cli.DialHTTP(context.Background(), ts.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			msg := fmt.Sprint(i)
			got, err := s.Call(context.Background(), "sum", []byte(msg))
			if err == nil && string(got) != "sum:"+msg {
				err = fmt.Errorf("got %q for %q", got, msg)
			}
			errs <- err
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}

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
func TestHTTPSessionNoResponseMisattribution(t *testing.T) {
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
func TestHTTPSessionUnusableAfterServerRejection(t *testing.T) {
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

// Records that fail authentication do not change a session, including its
// idle timer: someone who sees the session ID in a URL cannot keep an
// abandoned session alive.
func TestForgedRecordsDoNotRefreshIdle(t *testing.T) {
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
