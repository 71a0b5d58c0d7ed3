package ra

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
)

// maxFrame bounds any frame on a stream: the larger of a record and a
// ServerHello.
const maxFrame = MaxRecordSize

// writeFrame writes a 4-byte big-endian length followed by msg.
func writeFrame(w io.Writer, msg []byte) error {
	b := make([]byte, 4, 4+len(msg))
	binary.BigEndian.PutUint32(b, uint32(len(msg)))
	if _, err := w.Write(append(b, msg...)); err != nil {
		return newErr("write frame", ReasonTransport, "", err)
	}
	return nil
}

// readFrame reads one frame. A stream that ends exactly at a frame boundary
// gives io.EOF; one that ends inside a frame gives ErrTruncated.
func readFrame(r io.Reader) ([]byte, error) {
	const op = "read frame"
	var hdr [4]byte
	n, err := io.ReadFull(r, hdr[:])
	switch {
	case err == io.EOF:
		return nil, io.EOF
	case errors.Is(err, io.ErrUnexpectedEOF):
		return nil, &Error{Op: op, Reason: ReasonTruncated, Field: "length", Offset: n, Detail: "stream ended inside the length prefix"}
	case err != nil:
		return nil, newErr(op, ReasonTransport, "", err)
	}
	size := binary.BigEndian.Uint32(hdr[:])
	if size == 0 || size > maxFrame {
		return nil, fieldErr(op, "length", 0, fmt.Sprintf("frame of %d bytes not in 1..%d", size, maxFrame))
	}
	msg := make([]byte, size)
	n, err = io.ReadFull(r, msg)
	if err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF) {
		return nil, &Error{Op: op, Reason: ReasonTruncated, Field: "frame", Offset: 4 + n,
			Detail: fmt.Sprintf("stream ended after %d of %d bytes", n, size)}
	}
	if err != nil {
		return nil, newErr(op, ReasonTransport, "", err)
	}
	return msg, nil
}

// Handshake runs the server side of a handshake over rw and returns the
// attested connection.
func (s *Server) Handshake(rw io.ReadWriter) (*Conn, error) {
	hello, err := readFrame(rw)
	if err == io.EOF {
		return nil, newErr("server handshake", ReasonTruncated, "stream ended before the client hello", nil)
	}
	if err != nil {
		return nil, err
	}
	reply, sess, err := s.Respond(hello)
	if err != nil {
		return nil, err
	}
	if err := writeFrame(rw, reply); err != nil {
		return nil, err
	}
	return &Conn{rw: rw, sess: sess}, nil
}

// Handshake runs the client side of a handshake over rw: it verifies the
// server's evidence and returns the attested connection. ctx bounds the
// verification (the stream itself is not interrupted by ctx).
func (c *Client) Handshake(ctx context.Context, rw io.ReadWriter) (*Conn, error) {
	p, hello, err := c.Hello()
	if err != nil {
		return nil, err
	}
	if err := writeFrame(rw, hello); err != nil {
		return nil, err
	}
	reply, err := readFrame(rw)
	if err == io.EOF {
		return nil, newErr("client handshake", ReasonTruncated, "stream ended before the server hello", nil)
	}
	if err != nil {
		return nil, err
	}
	sess, err := p.Finish(ctx, reply)
	if err != nil {
		return nil, err
	}
	return &Conn{rw: rw, sess: sess}, nil
}

// Conn is an attested, encrypted, message-oriented connection over a
// stream. Send and Recv may be called concurrently with each other; any
// receive error is final (a stream with a forged or missing record is not
// trusted further). Close sends a close record; the peer's Recv then returns
// io.EOF, while a stream that just ends gives ErrTruncated.
type Conn struct {
	rw   io.ReadWriter
	sess *Session

	wmu     sync.Mutex
	wclosed bool

	rmu  sync.Mutex
	rerr error
}

// Session returns the underlying session.
func (c *Conn) Session() *Session { return c.sess }

// Attestation returns what the server proved (client side), or nil.
func (c *Conn) Attestation() *Attestation { return c.sess.attestation }

// Send encrypts and writes one message.
func (c *Conn) Send(msg []byte) error {
	return c.write(RecordData, msg)
}

// SendError sends an application error message, which the peer's Recv
// returns as a *RemoteError.
func (c *Conn) SendError(message string) error {
	return c.write(RecordError, []byte(message))
}

func (c *Conn) write(typ RecordType, msg []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.wclosed {
		return newErr("send", ReasonClosed, "", nil)
	}
	rec, err := c.sess.Seal(typ, msg, nil)
	if err != nil {
		return err
	}
	if typ == RecordClose {
		c.wclosed = true
	}
	return writeFrame(c.rw, rec)
}

// Recv reads and decrypts one message.
func (c *Conn) Recv() ([]byte, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	if c.rerr != nil {
		return nil, c.rerr
	}
	msg, err := c.recv()
	if err != nil {
		var re *RemoteError
		if !errors.As(err, &re) {
			c.rerr = err
		}
	}
	return msg, err
}

func (c *Conn) recv() ([]byte, error) {
	rec, err := readFrame(c.rw)
	if err == io.EOF {
		return nil, newErr("recv", ReasonTruncated, "stream ended without a close record", nil)
	}
	if err != nil {
		return nil, err
	}
	typ, pt, err := c.sess.Open(rec, nil)
	if err != nil {
		return nil, err
	}
	switch typ {
	case RecordClose:
		return nil, io.EOF
	case RecordError:
		return nil, &RemoteError{Op: "recv", Message: string(pt)}
	}
	return pt, nil
}

// Close sends a close record. It does not close the underlying stream.
func (c *Conn) Close() error {
	return c.write(RecordClose, nil)
}
