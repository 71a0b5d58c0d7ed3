package enclave

import (
	"errors"
	"fmt"

	"github.com/sgxops/sgxops/sgx"
)

// Reason classifies why an input could not be measured.
type Reason int

const (
	// ReasonEmpty: the input has no bytes.
	ReasonEmpty Reason = iota + 1
	// ReasonUnknownFormat: the input is none of the recognised formats.
	ReasonUnknownFormat
	// ReasonTruncated: the input ends inside a structure.
	ReasonTruncated
	// ReasonMalformed: a structure has an invalid value (bad magic, tag, alignment, non-zero reserved bytes ...).
	ReasonMalformed
	// ReasonTooLarge: a size field is absurd (larger than the input or a sane limit).
	ReasonTooLarge
	// ReasonNoSigstruct: an ELF file carries no SGX SDK metadata note and no Open Enclave .oeinfo section.
	ReasonNoSigstruct
	// ReasonUnsigned: the enclave has a placeholder (all-zero) SIGSTRUCT, i.e. it was never signed.
	ReasonUnsigned
	// ReasonUnsupported: a recognised but unsupported variant (e.g. an enhanced SGXS stream).
	ReasonUnsupported
	// ReasonIO: reading the input failed.
	ReasonIO
)

func (r Reason) String() string {
	switch r {
	case ReasonEmpty:
		return "empty input"
	case ReasonUnknownFormat:
		return "unknown format"
	case ReasonTruncated:
		return "truncated"
	case ReasonMalformed:
		return "malformed"
	case ReasonTooLarge:
		return "size out of range"
	case ReasonNoSigstruct:
		return "no SIGSTRUCT"
	case ReasonUnsigned:
		return "not signed"
	case ReasonUnsupported:
		return "unsupported"
	case ReasonIO:
		return "I/O error"
	}
	return fmt.Sprintf("Reason(%d)", int(r))
}

// Error reports an input that could not be measured: which format and field was
// wrong, at which byte offset of the input, and why. Err, when set, is the
// underlying error (for example a *sgx.ParseError or a *elf.FormatError).
type Error struct {
	Format Format // format being parsed, "" before detection
	Field  string // e.g. "record[3].tag", "sigstruct.vendor", "note.descsz"
	Offset int64  // byte offset in the input (file offset for ELF)
	Reason Reason
	Detail string
	Err    error
}

func (e *Error) Error() string {
	f := string(e.Format)
	if f == "" {
		f = "input"
	}
	msg := fmt.Sprintf("enclave: %s: %s", f, e.Reason)
	if e.Field != "" {
		msg += fmt.Sprintf(": field %s at offset %d", e.Field, e.Offset)
	}
	if e.Detail != "" {
		msg += ": " + e.Detail
	}
	// A wrapped *sgx.ParseError is already spelled out by Field, Offset and Detail.
	var pe *sgx.ParseError
	if e.Err != nil && !errors.As(e.Err, &pe) {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

func newErr(f Format, r Reason, field string, off int64, format string, args ...any) *Error {
	return &Error{Format: f, Reason: r, Field: field, Offset: off, Detail: fmt.Sprintf(format, args...)}
}
