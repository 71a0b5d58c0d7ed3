package store

import (
	"errors"
	"fmt"
)

var (
	// ErrNotFound: the release or policy does not exist.
	ErrNotFound = errors.New("store: not found")
	// ErrConflict is matched by *ConflictError: an optimistic-concurrency
	// check failed; reload and retry.
	ErrConflict = errors.New("store: conflict")
	// ErrInvalidChange: a Change is malformed (invalid release, duplicate
	// key, empty change ...). Retrying does not help.
	ErrInvalidChange = errors.New("store: invalid change")
	// ErrCorrupt: stored data cannot be read (not a store, damaged file,
	// undecodable record).
	ErrCorrupt = errors.New("store: corrupt")
	// ErrSchemaTooNew is matched by *SchemaError for a file written by a
	// newer schema than this build understands.
	ErrSchemaTooNew = errors.New("store: schema too new")
	// ErrLocked: another process holds the store's file lock.
	ErrLocked = errors.New("store: locked by another process")
	// ErrReadOnly: a write on a store opened read-only.
	ErrReadOnly = errors.New("store: read-only")
	// ErrClosed: the store was closed.
	ErrClosed = errors.New("store: closed")
)

// ConflictError reports which optimistic-concurrency check failed.
type ConflictError struct {
	Key      string // "release/APP/NAME", "policy/TYPE" or "app/APP"
	Expected uint64
	Actual   uint64
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("store: conflict on %s: expected revision %d, found %d", e.Key, e.Expected, e.Actual)
}

// Is reports whether target is ErrConflict.
func (e *ConflictError) Is(target error) bool { return target == ErrConflict }

// SchemaError reports a schema version this build cannot use.
type SchemaError struct {
	Found, Supported uint64
}

func (e *SchemaError) Error() string {
	return fmt.Sprintf("store: schema version %d is newer than the supported %d; upgrade sgxops", e.Found, e.Supported)
}

// Is reports whether target is ErrSchemaTooNew.
func (e *SchemaError) Is(target error) bool { return target == ErrSchemaTooNew }

// EntryError reports an audit entry that is stored but cannot be decoded.
type EntryError struct {
	Seq uint64 // the seq it is stored under
	Err error
}

func (e *EntryError) Error() string {
	return fmt.Sprintf("store: audit entry %d: %v", e.Seq, e.Err)
}

// Unwrap returns the decoding error.
func (e *EntryError) Unwrap() error { return e.Err }

// Is reports whether target is ErrCorrupt.
func (e *EntryError) Is(target error) bool { return target == ErrCorrupt }

func invalid(format string, args ...any) error {
	return fmt.Errorf("store: %s: %w", fmt.Sprintf(format, args...), ErrInvalidChange)
}
