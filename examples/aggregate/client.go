package aggregate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/sgxops/sgxops/ra"
)

// Client aggregates values with the sample service over an attested channel.
// It keeps one session and makes a new one (with a new attestation) when the
// service no longer knows it, e.g. after traffic moved to another release.
// Its configuration names a service URL and a verifier, never a measurement.
type Client struct {
	// URL is the service's base URL. Required.
	URL string
	// Verifier checks the service's evidence. Required.
	Verifier ra.Verifier
	// HTTP is the HTTP client; nil means http.DefaultClient.
	HTTP *http.Client

	mu   sync.Mutex
	sess *ra.HTTPSession
}

// Answer is a result with the attestation of the session that produced it.
type Answer struct {
	Result      Result
	Attestation *ra.Attestation
	// NewSession is true when this call made a new session (and attested).
	NewSession bool
}

// Aggregate sends values and returns the service's result.
func (c *Client) Aggregate(ctx context.Context, values []float64) (*Answer, error) {
	req, err := json.Marshal(Request{Values: values})
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	fresh := false
	// An attestation is not trusted past its token's expiry: attest again.
	if c.sess != nil {
		if exp := c.sess.Attestation().Expires; !exp.IsZero() && time.Now().After(exp) {
			_ = c.sess.Close(ctx)
			c.sess = nil
		}
	}
	for attempt := 0; ; attempt++ {
		if c.sess == nil {
			s, err := (&ra.Client{Verifier: c.Verifier}).DialHTTP(ctx, c.URL, c.HTTP)
			if err != nil {
				return nil, err
			}
			c.sess, fresh = s, true
		}
		out, err := c.sess.Call(ctx, OpAggregate, req)
		if err != nil {
			// A session the server no longer knows (restart, expiry, traffic
			// switched to another release) or one whose state may be out of
			// step after a transport error is replaced once.
			if attempt == 0 && !fresh && (errors.Is(err, ra.ErrUnknownSession) || errors.Is(err, ra.ErrTransport)) {
				c.sess = nil
				continue
			}
			var re *ra.RemoteError
			if !errors.As(err, &re) {
				c.sess = nil
			}
			return nil, err
		}
		var r Result
		if err := json.Unmarshal(out, &r); err != nil {
			return nil, fmt.Errorf("aggregate: bad answer: %w", err)
		}
		return &Answer{Result: r, Attestation: c.sess.Attestation(), NewSession: fresh}, nil
	}
}

// Close ends the current session, if any.
func (c *Client) Close(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sess == nil {
		return nil
	}
	err := c.sess.Close(ctx)
	c.sess = nil
	return err
}
