package ra

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
)

// HTTPSession is the client side of an attested session over HTTP. Calls are
// serialised (records must arrive in order). A call that fails other than
// with a *RemoteError leaves the session's sequence numbers possibly out of
// step with the server's, so every later call fails with ErrClosed: dial a
// new session.
type HTTPSession struct {
	base string
	hc   *http.Client

	mu     sync.Mutex
	sess   *Session
	closed bool
	broken bool // a call failed after sealing its request: counters may be out of step
}

// DialHTTP performs a handshake with the service at baseURL (its root, the
// HTTP form's paths are appended) and verifies the evidence. hc nil means
// http.DefaultClient.
func (c *Client) DialHTTP(ctx context.Context, baseURL string, hc *http.Client) (*HTTPSession, error) {
	const op = "dial"
	if hc == nil {
		hc = http.DefaultClient
	}
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, newErr(op, ReasonMalformed, fmt.Sprintf("base URL %q is not an http(s) URL", baseURL), err)
	}
	base := strings.TrimRight(baseURL, "/")
	p, hello, err := c.Hello()
	if err != nil {
		return nil, err
	}
	reply, err := post(ctx, hc, http.MethodPost, base+SessionPath, hello, "handshake")
	if err != nil {
		return nil, err
	}
	sess, err := p.Finish(ctx, reply)
	if err != nil {
		return nil, err
	}
	return &HTTPSession{base: base, hc: hc, sess: sess}, nil
}

// Session returns the underlying session.
func (s *HTTPSession) Session() *Session { return s.sess }

// Attestation returns what the server proved in the handshake.
func (s *HTTPSession) Attestation() *Attestation { return s.sess.attestation }

// Call sends req as operation op and returns the decrypted response. An
// application error from the server is a *RemoteError.
func (s *HTTPSession) Call(ctx context.Context, op string, req []byte) ([]byte, error) {
	if !validOp(op) || op == closeOp {
		return nil, fieldErr("call", "op", -1, fmt.Sprintf("invalid operation name %q", op))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, newErr("call", ReasonClosed, "", nil)
	}
	if s.broken {
		// The server may have answered a request whose answer never arrived;
		// that answer would be accepted as the next call's. Never go on.
		return nil, newErr("call", ReasonClosed, "an earlier call failed; dial a new session", nil)
	}
	pt, err := s.call(ctx, op, req)
	if err != nil {
		var re *RemoteError
		if !errors.As(err, &re) {
			s.broken = true
		}
	}
	return pt, err
}

func (s *HTTPSession) call(ctx context.Context, op string, req []byte) ([]byte, error) {
	rec, err := s.sess.Seal(RecordData, req, []byte(op))
	if err != nil {
		return nil, err
	}
	resp, err := post(ctx, s.hc, http.MethodPost, s.base+SessionPath+"/"+s.sess.ID()+"/"+op, rec, op)
	if err != nil {
		return nil, err
	}
	typ, pt, err := s.sess.Open(resp, []byte(op))
	if err != nil {
		return nil, err
	}
	switch typ {
	case RecordData:
		return pt, nil
	case RecordError:
		return nil, &RemoteError{Op: op, Message: string(pt)}
	}
	return nil, fieldErr("call", "type", 1, fmt.Sprintf("unexpected record type %d", typ))
}

// Close ends the session on the server with an authenticated close record.
func (s *HTTPSession) Close(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	rec, err := s.sess.Seal(RecordClose, nil, []byte(closeOp))
	if err != nil {
		return err
	}
	_, err = post(ctx, s.hc, http.MethodDelete, s.base+SessionPath+"/"+s.sess.ID(), rec, closeOp)
	return err
}

// post sends body and returns the response body of a 2xx answer; otherwise
// the server's error, typed by its reason code.
func post(ctx context.Context, hc *http.Client, method, u string, body []byte, what string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, u, bytes.NewReader(body))
	if err != nil {
		return nil, newErr(what, ReasonTransport, "", err)
	}
	req.Header.Set("Content-Type", ContentType)
	resp, err := hc.Do(req)
	if err != nil {
		return nil, newErr(what, ReasonTransport, "", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxFrame+1))
	if err != nil {
		return nil, newErr(what, ReasonTransport, "read response", err)
	}
	if resp.StatusCode/100 == 2 {
		if len(b) > maxFrame {
			return nil, fieldErr(what, "response", maxFrame, "too large")
		}
		return b, nil
	}
	var he httpError
	if json.Unmarshal(b, &he) == nil && he.Error.Code != "" {
		r := ParseReason(he.Error.Code)
		if r == 0 {
			r = ReasonTransport
		}
		return nil, newErr(what, r, fmt.Sprintf("server answered %d: %s", resp.StatusCode, he.Error.Message), nil)
	}
	return nil, newErr(what, ReasonTransport, fmt.Sprintf("server answered %d", resp.StatusCode), nil)
}
