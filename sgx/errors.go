package sgx

import "fmt"

// ParseError reports malformed input: which structure and field was wrong and
// at which byte offset of the input.
type ParseError struct {
	Struct string // e.g. "quote v3", "SIGSTRUCT"
	Field  string // e.g. "header.version", "signature_data_len"
	Offset int    // byte offset of the field in the input
	Reason string
}

func (e *ParseError) Error() string {
	return fmt.Sprintf("sgx: %s: field %s at offset %d: %s", e.Struct, e.Field, e.Offset, e.Reason)
}

func perr(structName, field string, off int, format string, args ...any) *ParseError {
	return &ParseError{Struct: structName, Field: field, Offset: off, Reason: fmt.Sprintf(format, args...)}
}
