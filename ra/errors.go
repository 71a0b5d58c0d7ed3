package ra

import (
	"errors"
	"fmt"
)

// Reason classifies an *Error.
type Reason int

// Reasons. Each has a sentinel error (ErrMalformed, ...) that errors.Is
// matches for every *Error of that reason.
const (
	// ReasonMalformed: a message could not be decoded (length, version, field).
	ReasonMalformed Reason = iota + 1
	// ReasonTampered: a record failed AEAD authentication (modified, wrong key
	// or wrong additional data).
	ReasonTampered
	// ReasonReplay: an authentic record with an already-used sequence number.
	ReasonReplay
	// ReasonReorder: an authentic record from the future: one or more records
	// before it were dropped or are still in flight.
	ReasonReorder
	// ReasonTruncated: a record or stream ended early (no close record).
	ReasonTruncated
	// ReasonBinding: the verified report data does not bind the handshake
	// transcript or the certificate key (e.g. a man in the middle).
	ReasonBinding
	// ReasonAttestation: the verifier rejected the evidence.
	ReasonAttestation
	// ReasonProvider: the quote provider failed.
	ReasonProvider
	// ReasonClosed: the session or connection is closed.
	ReasonClosed
	// ReasonUnknownSession: the server has no session with that ID (expired,
	// closed, or never made).
	ReasonUnknownSession
	// ReasonExhausted: the 64-bit sequence number space is used up.
	ReasonExhausted
	// ReasonTransport: the underlying stream or HTTP exchange failed.
	ReasonTransport
)

var reasonInfo = map[Reason]struct {
	name     string
	sentinel error
}{
	ReasonMalformed:      {"malformed", ErrMalformed},
	ReasonTampered:       {"tampered", ErrTampered},
	ReasonReplay:         {"replay", ErrReplay},
	ReasonReorder:        {"reorder", ErrReorder},
	ReasonTruncated:      {"truncated", ErrTruncated},
	ReasonBinding:        {"binding", ErrBinding},
	ReasonAttestation:    {"attestation", ErrAttestation},
	ReasonProvider:       {"provider", ErrProvider},
	ReasonClosed:         {"closed", ErrClosed},
	ReasonUnknownSession: {"unknown_session", ErrUnknownSession},
	ReasonExhausted:      {"exhausted", ErrExhausted},
	ReasonTransport:      {"transport", ErrTransport},
}

// Sentinels, one per Reason.
var (
	ErrMalformed      = errors.New("ra: malformed message")
	ErrTampered       = errors.New("ra: record authentication failed")
	ErrReplay         = errors.New("ra: replayed record")
	ErrReorder        = errors.New("ra: out-of-order record")
	ErrTruncated      = errors.New("ra: truncated")
	ErrBinding        = errors.New("ra: evidence does not bind the channel")
	ErrAttestation    = errors.New("ra: attestation rejected")
	ErrProvider       = errors.New("ra: quote provider failed")
	ErrClosed         = errors.New("ra: closed")
	ErrUnknownSession = errors.New("ra: unknown session")
	ErrExhausted      = errors.New("ra: sequence numbers exhausted")
	ErrTransport      = errors.New("ra: transport failed")
)

// String returns the stable reason code, e.g. "replay".
func (r Reason) String() string {
	if i, ok := reasonInfo[r]; ok {
		return i.name
	}
	return fmt.Sprintf("reason(%d)", int(r))
}

// ParseReason returns the Reason whose String is s, or 0.
func ParseReason(s string) Reason {
	for r, i := range reasonInfo {
		if i.name == s {
			return r
		}
	}
	return 0
}

// Error is the error type of this package. Field and Offset locate a
// decoding problem (Offset is -1 when it does not apply); Err is the cause.
type Error struct {
	Op     string // what was being done: "decode client hello", "open record", ...
	Reason Reason
	Field  string
	Offset int
	Detail string
	Err    error
}

func (e *Error) Error() string {
	s := "ra: " + e.Op + ": " + e.Reason.String()
	if e.Field != "" {
		s += ": field " + e.Field
		if e.Offset >= 0 {
			s += fmt.Sprintf(" at offset %d", e.Offset)
		}
	}
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Is reports whether target is the sentinel of e's Reason.
func (e *Error) Is(target error) bool {
	i, ok := reasonInfo[e.Reason]
	return ok && target == i.sentinel
}

func newErr(op string, r Reason, detail string, cause error) *Error {
	return &Error{Op: op, Reason: r, Offset: -1, Detail: detail, Err: cause}
}

func fieldErr(op, field string, offset int, detail string) *Error {
	return &Error{Op: op, Reason: ReasonMalformed, Field: field, Offset: offset, Detail: detail}
}

// RemoteError is an error the peer's application handler returned, carried
// in an authenticated error record.
type RemoteError struct {
	Op      string
	Message string
}

func (e *RemoteError) Error() string {
	return fmt.Sprintf("ra: remote %s: %s", e.Op, e.Message)
}
