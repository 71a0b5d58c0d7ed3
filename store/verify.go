package store

import (
	"context"
	"errors"

	"github.com/sgxops/sgxops/audit"
)

// LogStatus describes a verified audit log.
type LogStatus struct {
	Entries uint64     `json:"entries"`
	Head    audit.Head `json:"head"`
}

// verifyPage is how many entries VerifyLog reads at a time.
const verifyPage = 1024

// VerifyLog verifies s's whole audit chain (audit.VerifyFrom) and that it ends
// at the head s recorded. A broken chain, an undecodable entry or a chain
// that does not end at the recorded head is an *audit.ChainError; other
// errors mean the store could not be read. Entries appended concurrently
// after the head read at the start are not checked.
func VerifyLog(ctx context.Context, s Store) (LogStatus, error) {
	return verifyLog(ctx, s, nil)
}

// verifyLog is VerifyLog; each, when not nil, is called with every page of
// verified entries, in order.
func verifyLog(ctx context.Context, s Store, each func([]audit.Entry) error) (LogStatus, error) {
	recorded, err := s.AuditHead(ctx)
	if err != nil {
		return LogStatus{}, err
	}
	var head audit.Head
	for head.Seq < recorded.Seq {
		es, err := s.ListAudit(ctx, head.Seq, int(min(verifyPage, recorded.Seq-head.Seq)))
		if err != nil {
			return LogStatus{Entries: head.Seq, Head: head}, asChainError(err)
		}
		if len(es) == 0 {
			break
		}
		next, err := audit.VerifyFrom(head, es)
		if err != nil {
			return LogStatus{Entries: next.Seq, Head: next}, err
		}
		if each != nil {
			if err := each(es); err != nil {
				return LogStatus{Entries: head.Seq, Head: head}, err
			}
		}
		head = next
	}
	st := LogStatus{Entries: head.Seq, Head: head}
	if err := audit.CheckHead(head, recorded); err != nil {
		return st, err
	}
	// Entries beyond the recorded head are forged unless a writer appended
	// them meanwhile, in which case the head has moved.
	more, err := s.ListAudit(ctx, recorded.Seq, 1)
	if err != nil {
		return st, asChainError(err)
	}
	if len(more) > 0 {
		now, err := s.AuditHead(ctx)
		if err != nil {
			return st, err
		}
		if now.Seq == recorded.Seq && now.Hash == recorded.Hash {
			last := more[0].Head()
			return st, audit.CheckHead(last, recorded)
		}
	}
	return st, nil
}

// asChainError reports an undecodable stored entry as a broken chain at its seq.
func asChainError(err error) error {
	var ee *EntryError
	if errors.As(err, &ee) {
		return &audit.ChainError{Seq: ee.Seq, Reason: audit.ReasonMalformed, Detail: ee.Err.Error()}
	}
	return err
}
