package audit

import (
	"errors"
	"fmt"
	"time"
)

// Reason says why a chain is broken.
type Reason string

// Reasons reported in a ChainError.
const (
	// ReasonMalformed: the entry's fields are not well formed.
	ReasonMalformed Reason = "malformed entry"
	// ReasonSeq: the entry's seq is not its predecessor's plus one (an entry
	// is missing, duplicated or out of order).
	ReasonSeq Reason = "seq out of order"
	// ReasonPrevHash: prev_hash is not the predecessor's hash.
	ReasonPrevHash Reason = "prev_hash mismatch"
	// ReasonHash: the stored hash is not the hash of the entry's contents.
	ReasonHash Reason = "hash mismatch"
	// ReasonTime: the entry's time is before its predecessor's.
	ReasonTime Reason = "time goes backwards"
	// ReasonHead: the chain does not end at the head the store recorded
	// (entries were removed from, or added to, the end).
	ReasonHead Reason = "head mismatch"
)

// ErrBrokenChain is matched (errors.Is) by every *ChainError.
var ErrBrokenChain = errors.New("audit: broken chain")

// ChainError reports the first entry at which a chain fails to verify.
type ChainError struct {
	Seq    uint64 // seq of the offending entry (the position expected, for ReasonSeq and ReasonHead)
	Reason Reason
	Detail string
}

func (e *ChainError) Error() string {
	return fmt.Sprintf("audit: chain broken at seq %d: %s: %s", e.Seq, e.Reason, e.Detail)
}

// Is reports whether target is ErrBrokenChain.
func (e *ChainError) Is(target error) bool { return target == ErrBrokenChain }

// Verify checks a whole chain from the genesis head. An empty chain is valid.
func Verify(entries []Entry) error {
	_, err := VerifyFrom(Head{}, entries)
	return err
}

// VerifyFrom checks that entries continue the chain ending at prev and returns
// the new head. For each entry, in this order: form, seq, prev_hash, hash,
// time order; the first failure is returned as a *ChainError.
func VerifyFrom(prev Head, entries []Entry) (Head, error) {
	for _, e := range entries {
		want := prev.Seq + 1
		if err := e.Validate(); err != nil {
			return prev, &ChainError{Seq: want, Reason: ReasonMalformed, Detail: err.Error()}
		}
		if e.Seq != want {
			return prev, &ChainError{Seq: want, Reason: ReasonSeq, Detail: fmt.Sprintf("found seq %d", e.Seq)}
		}
		if e.PrevHash != prev.Hash {
			return prev, &ChainError{Seq: e.Seq, Reason: ReasonPrevHash,
				Detail: fmt.Sprintf("prev_hash %s, previous entry's hash %s", e.PrevHash, prev.Hash)}
		}
		if got := e.ComputeHash(); got != e.Hash {
			return prev, &ChainError{Seq: e.Seq, Reason: ReasonHash,
				Detail: fmt.Sprintf("stored %s, computed %s", e.Hash, got)}
		}
		if e.Time.Before(prev.Time) {
			return prev, &ChainError{Seq: e.Seq, Reason: ReasonTime,
				Detail: fmt.Sprintf("%s is before %s", e.Time.Format(time.RFC3339Nano), prev.Time.Format(time.RFC3339Nano))}
		}
		prev = e.Head()
	}
	return prev, nil
}

// CheckHead reports a *ChainError with ReasonHead when a verified chain's end
// (got, from VerifyFrom) is not the head a store recorded (want).
func CheckHead(got, want Head) error {
	if got.Seq == want.Seq && got.Hash == want.Hash {
		return nil
	}
	seq := min(got.Seq, want.Seq) + 1
	return &ChainError{Seq: seq, Reason: ReasonHead,
		Detail: fmt.Sprintf("chain ends at seq %d hash %s, recorded head is seq %d hash %s", got.Seq, got.Hash, want.Seq, want.Hash)}
}
