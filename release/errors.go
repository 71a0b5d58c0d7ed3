package release

import (
	"errors"
	"fmt"
)

var (
	// ErrInvalid is matched (errors.Is) by every *FieldError.
	ErrInvalid = errors.New("release: invalid release")
	// ErrInvalidTransition is matched (errors.Is) by every *TransitionError.
	ErrInvalidTransition = errors.New("release: invalid transition")
)

// FieldError reports an invalid field of a release: which field, and for
// malformed hex the offset of the first bad character within the field's
// value (-1 when no offset applies).
type FieldError struct {
	Field  string // JSON name of the field, e.g. "mrenclave", "app"
	Offset int    // offset within the field's value, or -1
	Reason string
}

func (e *FieldError) Error() string {
	if e.Offset >= 0 {
		return fmt.Sprintf("release: %s: %s at offset %d", e.Field, e.Reason, e.Offset)
	}
	return fmt.Sprintf("release: %s: %s", e.Field, e.Reason)
}

// Is reports whether target is ErrInvalid.
func (e *FieldError) Is(target error) bool { return target == ErrInvalid }

func fieldErr(field, format string, args ...any) *FieldError {
	return &FieldError{Field: field, Offset: -1, Reason: fmt.Sprintf(format, args...)}
}

// TransitionError reports a lifecycle transition that is not allowed.
type TransitionError struct {
	App, Name string
	From, To  State
	Reason    string // why, when the table alone does not say (e.g. "drain expired")
}

func (e *TransitionError) Error() string {
	s := fmt.Sprintf("release: %s/%s: cannot go from %s to %s", e.App, e.Name, e.From, e.To)
	if e.Reason != "" {
		s += ": " + e.Reason
	}
	return s
}

// Is reports whether target is ErrInvalidTransition.
func (e *TransitionError) Is(target error) bool { return target == ErrInvalidTransition }
