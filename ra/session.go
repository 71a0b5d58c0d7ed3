package ra

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math"
	"sync"
)

// RecordType is the type byte of a record.
type RecordType byte

// Record types.
const (
	// RecordData carries application data.
	RecordData RecordType = 1
	// RecordError carries an application error message (see RemoteError).
	RecordError RecordType = 2
	// RecordClose ends a stream; its payload is empty. A stream that ends
	// without it was truncated.
	RecordClose RecordType = 3
)

func (t RecordType) valid() bool { return t >= RecordData && t <= RecordClose }

// Record layout constants.
const (
	// RecordHeaderSize is version(1) ‖ type(1) ‖ sequence number(8, big endian).
	RecordHeaderSize = 10
	// MaxPlaintextSize bounds the payload of one record.
	MaxPlaintextSize = 1 << 20
	// MaxRecordSize bounds an encoded record.
	MaxRecordSize = RecordHeaderSize + MaxPlaintextSize + tagSize
	tagSize       = 16
	keySize       = 32
	ivSize        = 12
)

// HKDF info labels. Keys and IVs for the two directions are independent.
const (
	infoC2SKey = "sgxops/ra/v1 client-to-server key"
	infoC2SIV  = "sgxops/ra/v1 client-to-server iv"
	infoS2CKey = "sgxops/ra/v1 server-to-client key"
	infoS2CIV  = "sgxops/ra/v1 server-to-client iv"
)

// direction is one half of a session: an AEAD key, its IV and the next
// sequence number.
type direction struct {
	mu   sync.Mutex
	aead cipher.AEAD
	iv   [ivSize]byte
	next uint64
	done bool // sequence space used up
}

func newDirection(secret, salt []byte, keyInfo, ivInfo string) (*direction, error) {
	key, err := hkdf.Key(sha256.New, secret, salt, keyInfo, keySize)
	if err != nil {
		return nil, err
	}
	iv, err := hkdf.Key(sha256.New, secret, salt, ivInfo, ivSize)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	d := &direction{aead: aead}
	copy(d.iv[:], iv)
	return d, nil
}

// nonce returns iv XOR (0^4 ‖ seq big endian), as in TLS 1.3.
func (d *direction) nonce(seq uint64) []byte {
	n := make([]byte, ivSize)
	copy(n, d.iv[:])
	var s [8]byte
	binary.BigEndian.PutUint64(s[:], seq)
	for i := range s {
		n[4+i] ^= s[i]
	}
	return n
}

// additionalData is the record header followed by the caller's channel data,
// length-prefixed so that header and data cannot be confused.
func additionalData(header, ad []byte) []byte {
	b := make([]byte, 0, len(header)+4+len(ad))
	b = append(b, header...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(ad)))
	return append(b, ad...)
}

// Session holds the keys and sequence numbers of one attested session. Seal
// and Open are safe for concurrent use; each direction is serialised.
type Session struct {
	id          string
	send, recv  *direction
	attestation *Attestation // client side: what the server proved
}

// newSession derives the session keys from the ECDH shared secret and the
// transcript. isClient selects which direction is "send".
func newSession(id string, shared, transcript []byte, isClient bool) (*Session, error) {
	th := sha256.Sum256(transcript)
	c2s, err := newDirection(shared, th[:], infoC2SKey, infoC2SIV)
	if err != nil {
		return nil, newErr("derive keys", ReasonMalformed, "", err)
	}
	s2c, err := newDirection(shared, th[:], infoS2CKey, infoS2CIV)
	if err != nil {
		return nil, newErr("derive keys", ReasonMalformed, "", err)
	}
	if isClient {
		return &Session{id: id, send: c2s, recv: s2c}, nil
	}
	return &Session{id: id, send: s2c, recv: c2s}, nil
}

// ID returns the session ID the server chose.
func (s *Session) ID() string { return s.id }

// Attestation returns what the server's evidence proved, on the client side
// of a session; nil on the server side.
func (s *Session) Attestation() *Attestation { return s.attestation }

// Seal encrypts plaintext as the next record of type typ. ad is authenticated
// but not sent (e.g. the HTTP operation name); the peer must pass the same ad
// to Open.
func (s *Session) Seal(typ RecordType, plaintext, ad []byte) ([]byte, error) {
	const op = "seal record"
	if !typ.valid() {
		return nil, newErr(op, ReasonMalformed, fmt.Sprintf("invalid record type %d", typ), nil)
	}
	if len(plaintext) > MaxPlaintextSize {
		return nil, newErr(op, ReasonMalformed, fmt.Sprintf("plaintext of %d bytes exceeds %d", len(plaintext), MaxPlaintextSize), nil)
	}
	d := s.send
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.done {
		return nil, newErr(op, ReasonExhausted, "", nil)
	}
	seq := d.next
	out := make([]byte, RecordHeaderSize, RecordHeaderSize+len(plaintext)+tagSize)
	out[0] = Version
	out[1] = byte(typ)
	binary.BigEndian.PutUint64(out[2:], seq)
	out = d.aead.Seal(out, d.nonce(seq), plaintext, additionalData(out[:RecordHeaderSize], ad))
	if seq == math.MaxUint64 {
		d.done = true
	} else {
		d.next++
	}
	return out, nil
}

// Open authenticates and decrypts the next record. It accepts exactly the
// next sequence number: an authentic earlier one gives ErrReplay, a later one
// ErrReorder; a record that fails authentication gives ErrTampered; one too
// short to hold a header and tag gives ErrTruncated. A rejected record leaves
// the session unchanged.
func (s *Session) Open(record, ad []byte) (RecordType, []byte, error) {
	const op = "open record"
	if len(record) < RecordHeaderSize {
		return 0, nil, &Error{Op: op, Reason: ReasonTruncated, Field: "header", Offset: len(record),
			Detail: fmt.Sprintf("%d bytes, need %d", len(record), RecordHeaderSize)}
	}
	if record[0] != Version {
		return 0, nil, fieldErr(op, "version", 0, fmt.Sprintf("unsupported version %d", record[0]))
	}
	typ := RecordType(record[1])
	if !typ.valid() {
		return 0, nil, fieldErr(op, "type", 1, fmt.Sprintf("unknown record type %d", record[1]))
	}
	if len(record) < RecordHeaderSize+tagSize {
		return 0, nil, &Error{Op: op, Reason: ReasonTruncated, Field: "ciphertext", Offset: RecordHeaderSize,
			Detail: fmt.Sprintf("%d bytes, need at least the %d-byte tag", len(record)-RecordHeaderSize, tagSize)}
	}
	if len(record) > MaxRecordSize {
		return 0, nil, fieldErr(op, "ciphertext", RecordHeaderSize, fmt.Sprintf("record of %d bytes exceeds %d", len(record), MaxRecordSize))
	}
	seq := binary.BigEndian.Uint64(record[2:RecordHeaderSize])
	d := s.recv
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.done {
		return 0, nil, newErr(op, ReasonExhausted, "", nil)
	}
	pt, err := d.aead.Open(nil, d.nonce(seq), record[RecordHeaderSize:], additionalData(record[:RecordHeaderSize], ad))
	if err != nil {
		return 0, nil, newErr(op, ReasonTampered, fmt.Sprintf("sequence %d", seq), err)
	}
	switch {
	case seq < d.next:
		return 0, nil, newErr(op, ReasonReplay, fmt.Sprintf("sequence %d already received (next is %d)", seq, d.next), nil)
	case seq > d.next:
		return 0, nil, newErr(op, ReasonReorder, fmt.Sprintf("sequence %d received, expected %d", seq, d.next), nil)
	}
	if seq == math.MaxUint64 {
		d.done = true
	} else {
		d.next++
	}
	return typ, pt, nil
}
