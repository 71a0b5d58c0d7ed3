package audit

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"slices"
	"time"
)

// Action names what an entry records.
type Action string

// Actions written by the registry. Verify accepts other actions of the same
// form (lowercase letters, digits and '-') so that old verifiers can check
// newer logs.
const (
	ActionRegister    Action = "register"
	ActionActivate    Action = "activate"
	ActionDrain       Action = "drain"
	ActionRetire      Action = "retire"
	ActionRevoke      Action = "revoke"
	ActionPolicySet   Action = "policy-set"
	ActionPolicyReset Action = "policy-reset"
	// ActionPolicyCertAdd and ActionPolicyCertRemove change the
	// policy-management certificates (details: thumbprint, subject).
	ActionPolicyCertAdd    Action = "policy-cert-add"
	ActionPolicyCertRemove Action = "policy-cert-remove"
	// ActionSigningKeyRotate records a token-signing key rotation (details:
	// kid, previous_kid).
	ActionSigningKeyRotate Action = "signing-key-rotate"
)

// Hash is a SHA-256 value; its text form is 64 lowercase hex characters.
type Hash [sha256.Size]byte

// String returns the lowercase hex form.
func (h Hash) String() string { return hex.EncodeToString(h[:]) }

// IsZero reports whether h is all zero (the genesis prev_hash).
func (h Hash) IsZero() bool { return h == Hash{} }

// MarshalText returns the lowercase hex form.
func (h Hash) MarshalText() ([]byte, error) { return []byte(h.String()), nil }

// UnmarshalText accepts exactly 64 lowercase hex characters.
func (h *Hash) UnmarshalText(b []byte) error {
	if len(b) != 2*len(h) {
		return fmt.Errorf("audit: hash: want %d hex characters, got %d: %w", 2*len(h), len(b), ErrMalformed)
	}
	for i, c := range b {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return fmt.Errorf("audit: hash: invalid character at offset %d (want lowercase hex): %w", i, ErrMalformed)
		}
	}
	_, err := hex.Decode(h[:], b)
	return err
}

// Record is what a writer supplies; the store seals it into an Entry.
type Record struct {
	Time    time.Time
	Actor   string
	Action  Action
	App     string // empty for entries that are not about a release
	Release string
	Details map[string]string
}

// Entry is one sealed element of the chain.
type Entry struct {
	Seq      uint64            `json:"seq"`
	Time     time.Time         `json:"time"`
	Actor    string            `json:"actor"`
	Action   Action            `json:"action"`
	App      string            `json:"app,omitempty"`
	Release  string            `json:"release,omitempty"`
	Details  map[string]string `json:"details,omitempty"`
	PrevHash Hash              `json:"prev_hash"`
	Hash     Hash              `json:"hash"`
}

// Head identifies the end of a chain: the last entry's seq, hash and time.
// The zero Head is the genesis head of an empty log.
type Head struct {
	Seq  uint64    `json:"seq"`
	Hash Hash      `json:"hash"`
	Time time.Time `json:"time,omitzero"`
}

// Head returns the head of a chain that ends with e.
func (e Entry) Head() Head { return Head{Seq: e.Seq, Hash: e.Hash, Time: e.Time} }

const domain = "sgxops-audit-v1\n"

// Canonical returns the canonical encoding of e without its Hash (see the
// package documentation).
func (e Entry) Canonical() []byte {
	b := make([]byte, 0, 128+len(e.Actor)+len(e.App)+len(e.Release))
	b = append(b, domain...)
	b = binary.BigEndian.AppendUint64(b, e.Seq)
	b = binary.BigEndian.AppendUint64(b, uint64(e.Time.Unix()))
	b = binary.BigEndian.AppendUint32(b, uint32(e.Time.Nanosecond()))
	for _, s := range []string{e.Actor, string(e.Action), e.App, e.Release} {
		b = appendStr(b, s)
	}
	keys := make([]string, 0, len(e.Details))
	for k := range e.Details {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b = binary.BigEndian.AppendUint32(b, uint32(len(keys)))
	for _, k := range keys {
		b = appendStr(b, k)
		b = appendStr(b, e.Details[k])
	}
	return append(b, e.PrevHash[:]...)
}

func appendStr(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

// ComputeHash returns SHA-256 of e.Canonical().
func (e Entry) ComputeHash() Hash { return sha256.Sum256(e.Canonical()) }

// Seal turns r into the entry that follows prev: seq prev.Seq+1, prev_hash
// prev.Hash, and the hash. The time is r.Time in UTC without a monotonic
// reading, raised to prev.Time if it is earlier (writers with a clock behind
// the last entry's must not break the chain's time order). A zero r.Time is
// an error.
func Seal(prev Head, r Record) (Entry, error) {
	if r.Time.IsZero() {
		return Entry{}, fmt.Errorf("audit: time: required: %w", ErrMalformed)
	}
	t := r.Time.Round(0).UTC()
	if t.Before(prev.Time) {
		t = prev.Time.Round(0).UTC()
	}
	e := Entry{
		Seq: prev.Seq + 1, Time: t, Actor: r.Actor, Action: r.Action,
		App: r.App, Release: r.Release, Details: cloneDetails(r.Details), PrevHash: prev.Hash,
	}
	if err := e.Validate(); err != nil {
		return Entry{}, err
	}
	e.Hash = e.ComputeHash()
	return e, nil
}

func cloneDetails(d map[string]string) map[string]string {
	if len(d) == 0 {
		return nil
	}
	c := make(map[string]string, len(d))
	for k, v := range d {
		c[k] = v
	}
	return c
}
