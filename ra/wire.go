package ra

import (
	"crypto/ecdh"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
)

// Wire constants of protocol version 1.
const (
	// Version is the protocol version carried in every message.
	Version = 1
	// NonceSize is the size of the client's handshake nonce.
	NonceSize = 32
	// PublicKeySize is the size of an uncompressed P-256 point (0x04 ‖ X ‖ Y).
	PublicKeySize = 65
	// MaxSessionIDSize bounds the session ID in a ServerHello.
	MaxSessionIDSize = 64
	// MaxQuoteSize bounds the quote in a ServerHello (a DCAP quote with its
	// PCK chain is about 5 KiB).
	MaxQuoteSize = 64 << 10
	// TranscriptLabel separates this protocol's transcripts from any other
	// use of the same keys.
	TranscriptLabel = "sgxops/ra/v1 handshake transcript"
)

// Message types (second byte of every message).
const (
	msgClientHello = 1
	msgServerHello = 2
)

// ClientHello is the first handshake message.
//
//	offset size  field
//	0      1     version (1)
//	1      1     type (1)
//	2      32    nonce
//	34     2     public key length, big endian (65)
//	36     65    client ephemeral P-256 public key, uncompressed
type ClientHello struct {
	Nonce     [NonceSize]byte
	PublicKey []byte
}

// ServerHello is the server's handshake answer.
//
//	offset size  field
//	0      1     version (1)
//	1      1     type (2)
//	2      1     session ID length n (1..64)
//	3      n     session ID (printable ASCII: [0-9A-Za-z_-])
//	3+n    2     public key length, big endian (65)
//	5+n    65    server ephemeral P-256 public key, uncompressed
//	70+n   4     quote length q, big endian (1..MaxQuoteSize)
//	74+n   q     quote
type ServerHello struct {
	SessionID string
	PublicKey []byte
	Quote     []byte
}

// Marshal encodes h.
func (h *ClientHello) Marshal() []byte {
	b := make([]byte, 0, 2+NonceSize+2+len(h.PublicKey))
	b = append(b, Version, msgClientHello)
	b = append(b, h.Nonce[:]...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(h.PublicKey)))
	return append(b, h.PublicKey...)
}

// ParseClientHello decodes and checks a ClientHello: exact length, version,
// type and a valid P-256 point.
func ParseClientHello(b []byte) (*ClientHello, error) {
	const op = "decode client hello"
	r := reader{op: op, b: b}
	if err := r.header(msgClientHello); err != nil {
		return nil, err
	}
	h := &ClientHello{}
	n, err := r.bytes("nonce", NonceSize)
	if err != nil {
		return nil, err
	}
	copy(h.Nonce[:], n)
	if h.PublicKey, err = r.publicKey(); err != nil {
		return nil, err
	}
	if err := r.end(); err != nil {
		return nil, err
	}
	return h, nil
}

// Marshal encodes h.
func (h *ServerHello) Marshal() []byte {
	b := make([]byte, 0, 3+len(h.SessionID)+2+len(h.PublicKey)+4+len(h.Quote))
	b = append(b, Version, msgServerHello, byte(len(h.SessionID)))
	b = append(b, h.SessionID...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(h.PublicKey)))
	b = append(b, h.PublicKey...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(h.Quote)))
	return append(b, h.Quote...)
}

// ParseServerHello decodes and checks a ServerHello.
func ParseServerHello(b []byte) (*ServerHello, error) {
	const op = "decode server hello"
	r := reader{op: op, b: b}
	if err := r.header(msgServerHello); err != nil {
		return nil, err
	}
	h := &ServerHello{}
	idOff := r.off
	idLen, err := r.u8("session_id_length")
	if err != nil {
		return nil, err
	}
	if idLen == 0 || idLen > MaxSessionIDSize {
		return nil, fieldErr(op, "session_id_length", idOff, fmt.Sprintf("%d not in 1..%d", idLen, MaxSessionIDSize))
	}
	idOff = r.off
	id, err := r.bytes("session_id", int(idLen))
	if err != nil {
		return nil, err
	}
	if i := badSessionIDByte(id); i >= 0 {
		return nil, fieldErr(op, "session_id", idOff+i, fmt.Sprintf("invalid byte 0x%02x", id[i]))
	}
	h.SessionID = string(id)
	if h.PublicKey, err = r.publicKey(); err != nil {
		return nil, err
	}
	qOff := r.off
	qLen, err := r.u32("quote_length")
	if err != nil {
		return nil, err
	}
	if qLen == 0 || qLen > MaxQuoteSize {
		return nil, fieldErr(op, "quote_length", qOff, fmt.Sprintf("%d not in 1..%d", qLen, MaxQuoteSize))
	}
	q, err := r.bytes("quote", int(qLen))
	if err != nil {
		return nil, err
	}
	h.Quote = append([]byte(nil), q...)
	if err := r.end(); err != nil {
		return nil, err
	}
	return h, nil
}

// badSessionIDByte returns the index of the first byte outside
// [0-9A-Za-z_-], or -1.
func badSessionIDByte(id []byte) int {
	for i, c := range id {
		switch {
		case c >= '0' && c <= '9', c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '_', c == '-':
		default:
			return i
		}
	}
	return -1
}

// Transcript returns the handshake transcript that the server's quote binds:
//
//	lp(TranscriptLabel) ‖ lp(nonce) ‖ lp(client public key) ‖ lp(server public key)
//
// where lp(x) = uint16 big-endian len(x) ‖ x. It is also the runtime data
// sent to an MAA-compatible service, whose binding rule
// SHA-256(runtimeData) == report_data[0:32] then holds.
func Transcript(nonce [NonceSize]byte, clientPub, serverPub []byte) []byte {
	b := make([]byte, 0, 8+len(TranscriptLabel)+NonceSize+len(clientPub)+len(serverPub))
	for _, part := range [][]byte{[]byte(TranscriptLabel), nonce[:], clientPub, serverPub} {
		b = binary.BigEndian.AppendUint16(b, uint16(len(part)))
		b = append(b, part...)
	}
	return b
}

// ReportData returns the 64-byte report data that binds runtimeData:
// SHA-256(runtimeData) followed by 32 zero bytes (the MAA, Gramine RA-TLS
// and Humane-RAFW convention).
func ReportData(runtimeData []byte) [64]byte {
	var rd [64]byte
	h := sha256.Sum256(runtimeData)
	copy(rd[:], h[:])
	return rd
}

// reader decodes big-endian fields and reports the field and offset of a
// failure.
type reader struct {
	op  string
	b   []byte
	off int
}

func (r *reader) bytes(field string, n int) ([]byte, error) {
	if n < 0 || len(r.b)-r.off < n {
		return nil, &Error{Op: r.op, Reason: ReasonMalformed, Field: field, Offset: r.off,
			Detail: fmt.Sprintf("need %d bytes, have %d", n, len(r.b)-r.off)}
	}
	v := r.b[r.off : r.off+n]
	r.off += n
	return v, nil
}

func (r *reader) u8(field string) (uint8, error) {
	v, err := r.bytes(field, 1)
	if err != nil {
		return 0, err
	}
	return v[0], nil
}

func (r *reader) u16(field string) (uint16, error) {
	v, err := r.bytes(field, 2)
	if err != nil {
		return 0, err
	}
	return binary.BigEndian.Uint16(v), nil
}

func (r *reader) u32(field string) (uint32, error) {
	v, err := r.bytes(field, 4)
	if err != nil {
		return 0, err
	}
	return binary.BigEndian.Uint32(v), nil
}

func (r *reader) header(typ byte) error {
	v, err := r.u8("version")
	if err != nil {
		return err
	}
	if v != Version {
		return fieldErr(r.op, "version", 0, fmt.Sprintf("unsupported version %d (want %d)", v, Version))
	}
	t, err := r.u8("type")
	if err != nil {
		return err
	}
	if t != typ {
		return fieldErr(r.op, "type", 1, fmt.Sprintf("message type %d, want %d", t, typ))
	}
	return nil
}

func (r *reader) publicKey() ([]byte, error) {
	off := r.off
	n, err := r.u16("public_key_length")
	if err != nil {
		return nil, err
	}
	if n != PublicKeySize {
		return nil, fieldErr(r.op, "public_key_length", off, fmt.Sprintf("%d, want %d", n, PublicKeySize))
	}
	off = r.off
	k, err := r.bytes("public_key", PublicKeySize)
	if err != nil {
		return nil, err
	}
	if _, err := ecdh.P256().NewPublicKey(k); err != nil {
		return nil, &Error{Op: r.op, Reason: ReasonMalformed, Field: "public_key", Offset: off,
			Detail: "not a valid uncompressed P-256 point", Err: err}
	}
	return append([]byte(nil), k...), nil
}

func (r *reader) end() error {
	if r.off != len(r.b) {
		return fieldErr(r.op, "trailing", r.off, fmt.Sprintf("%d unexpected trailing bytes", len(r.b)-r.off))
	}
	return nil
}
