package kube

import (
	"errors"
	"fmt"

	"github.com/sgxops/sgxops/store"
)

// Reason says how an object differs from what the ledger recorded.
type Reason string

// Reasons of an EditError.
const (
	// ReasonChanged: the object's content is not what attestd wrote.
	ReasonChanged Reason = "changed outside attestd"
	// ReasonDeleted: the ledger records the object but it is gone.
	ReasonDeleted Reason = "deleted outside attestd"
	// ReasonCreated: the object is not in the ledger.
	ReasonCreated Reason = "created outside attestd"
	// ReasonRevision: the object claims a revision no commit has reached.
	ReasonRevision Reason = "revision beyond the ledger's (changed outside attestd)"
)

// EditError reports an object of the store that was changed, deleted or
// created outside attestd (by kubectl, for example). It matches
// store.ErrCorrupt. Restore the object (the ledger's intent or the audit log
// say what it held) or remove the namespace's store.
type EditError struct {
	Kind, Namespace, Name string
	Reason                Reason
	Detail                string
}

func (e *EditError) Error() string {
	s := fmt.Sprintf("kube: %s %s/%s was %s", e.Kind, e.Namespace, e.Name, e.Reason)
	if e.Reason == ReasonRevision {
		s = fmt.Sprintf("kube: %s %s/%s: %s", e.Kind, e.Namespace, e.Name, e.Reason)
	}
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	return s
}

// Is reports whether target is store.ErrCorrupt.
func (e *EditError) Is(target error) bool { return target == store.ErrCorrupt }

// ErrTooLarge is matched, together with store.ErrInvalidChange, by a change
// that would not fit the API server's object size limit (see MaxIntentBytes
// and MaxLedgerBytes).
var ErrTooLarge = errors.New("kube: change too large for the Kubernetes store")

// errMoved: an object read after the ledger carries a newer revision, so the
// ledger moved on; the read is retried on a fresh ledger.
type errMoved struct {
	kind, name string
	rev        int64
}

func (e *errMoved) Error() string {
	return fmt.Sprintf("kube: %s %s is at revision %d, newer than the ledger read", e.kind, e.name, e.rev)
}

func corrupt(format string, args ...any) error {
	return fmt.Errorf("kube: %s: %w", fmt.Sprintf(format, args...), store.ErrCorrupt)
}
