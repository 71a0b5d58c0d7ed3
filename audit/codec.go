package audit

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
)

// Encode returns the JSON form of e, as stored and as served to clients.
func (e Entry) Encode() ([]byte, error) {
	if err := e.Validate(); err != nil {
		return nil, err
	}
	return json.Marshal(e)
}

// Decode parses the JSON form of one entry strictly: unknown fields (which
// the hash would not cover), trailing data and malformed fields are errors.
// It checks the entry's form (Validate) but not its hash; that is Verify's
// job, so that a tampered entry is reported with its seq.
func Decode(b []byte) (Entry, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var e Entry
	if err := dec.Decode(&e); err != nil {
		return Entry{}, fmt.Errorf("audit: decoding entry: %v: %w", err, ErrMalformed)
	}
	if _, err := dec.Token(); err != io.EOF {
		return Entry{}, fmt.Errorf("audit: decoding entry: trailing data after the object: %w", ErrMalformed)
	}
	if err := e.Validate(); err != nil {
		return Entry{}, err
	}
	return e, nil
}
