package ra

import (
	"context"
	"crypto/ecdh"
	"crypto/rand"
	"encoding/hex"
	"sync"
)

// Server answers handshakes: a fresh ephemeral key per session and a quote
// that binds the transcript. The zero value is unusable: Provider is
// required.
type Server struct {
	// Provider makes the quotes. Required.
	Provider QuoteProvider
}

// Respond handles a ClientHello and returns the ServerHello to send back and
// the new session.
func (s *Server) Respond(clientHello []byte) ([]byte, *Session, error) {
	const op = "server handshake"
	if s == nil || s.Provider == nil {
		return nil, nil, newErr(op, ReasonProvider, "no quote provider configured", nil)
	}
	ch, err := ParseClientHello(clientHello)
	if err != nil {
		return nil, nil, err
	}
	peer, err := ecdh.P256().NewPublicKey(ch.PublicKey)
	if err != nil { // ParseClientHello checked it; kept for safety
		return nil, nil, newErr(op, ReasonMalformed, "client public key", err)
	}
	priv, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		return nil, nil, newErr(op, ReasonProvider, "generate ephemeral key", err)
	}
	pub := priv.PublicKey().Bytes()
	transcript := Transcript(ch.Nonce, ch.PublicKey, pub)
	quote, err := s.Provider.Quote(ReportData(transcript))
	if err != nil {
		return nil, nil, newErr(op, ReasonProvider, "", err)
	}
	if len(quote) == 0 || len(quote) > MaxQuoteSize {
		return nil, nil, newErr(op, ReasonProvider, "quote size out of range", nil)
	}
	shared, err := priv.ECDH(peer)
	if err != nil {
		return nil, nil, newErr(op, ReasonMalformed, "ECDH", err)
	}
	var idb [16]byte
	if _, err := rand.Read(idb[:]); err != nil {
		return nil, nil, newErr(op, ReasonProvider, "session id", err)
	}
	id := hex.EncodeToString(idb[:])
	sess, err := newSession(id, shared, transcript, false)
	if err != nil {
		return nil, nil, err
	}
	sh := &ServerHello{SessionID: id, PublicKey: pub, Quote: quote}
	return sh.Marshal(), sess, nil
}

// Client starts handshakes and verifies the server's evidence. The zero value
// is unusable: Verifier is required.
type Client struct {
	// Verifier checks the server's quote. Required.
	Verifier Verifier
}

// PendingHandshake is a client handshake waiting for the ServerHello. It
// completes at most one session.
type PendingHandshake struct {
	priv  *ecdh.PrivateKey
	hello ClientHello
	v     Verifier

	mu       sync.Mutex
	finished bool // a session was made: a second one would reuse its keys and nonces
}

// Hello starts a handshake: it returns the ClientHello to send and the state
// to finish it with.
func (c *Client) Hello() (*PendingHandshake, []byte, error) {
	const op = "client handshake"
	if c == nil || c.Verifier == nil {
		return nil, nil, newErr(op, ReasonAttestation, "no verifier configured", nil)
	}
	priv, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		return nil, nil, newErr(op, ReasonProvider, "generate ephemeral key", err)
	}
	p := &PendingHandshake{priv: priv, v: c.Verifier}
	if _, err := rand.Read(p.hello.Nonce[:]); err != nil {
		return nil, nil, newErr(op, ReasonProvider, "nonce", err)
	}
	p.hello.PublicKey = priv.PublicKey().Bytes()
	return p, p.hello.Marshal(), nil
}

// Transcript returns the transcript that a ServerHello with serverPub would
// complete; useful for tests and diagnostics.
func (p *PendingHandshake) Transcript(serverPub []byte) []byte {
	return Transcript(p.hello.Nonce, p.hello.PublicKey, serverPub)
}

// Finish verifies the ServerHello's quote against the transcript (with the
// Verifier, then the binding itself) and derives the session keys. After one
// successful Finish, further calls fail with ErrClosed; a failed Finish may
// be retried.
func (p *PendingHandshake) Finish(ctx context.Context, serverHello []byte) (*Session, error) {
	const op = "client handshake"
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.finished {
		return nil, newErr(op, ReasonClosed, "handshake already finished", nil)
	}
	sh, err := ParseServerHello(serverHello)
	if err != nil {
		return nil, err
	}
	peer, err := ecdh.P256().NewPublicKey(sh.PublicKey)
	if err != nil {
		return nil, newErr(op, ReasonMalformed, "server public key", err)
	}
	transcript := Transcript(p.hello.Nonce, p.hello.PublicKey, sh.PublicKey)
	att, err := verifyBound(ctx, p.v, "verify server evidence", sh.Quote, transcript)
	if err != nil {
		return nil, err
	}
	shared, err := p.priv.ECDH(peer)
	if err != nil {
		return nil, newErr(op, ReasonMalformed, "ECDH", err)
	}
	sess, err := newSession(sh.SessionID, shared, transcript, true)
	if err != nil {
		return nil, err
	}
	sess.attestation = att
	p.finished = true
	return sess, nil
}
