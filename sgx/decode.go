package sgx

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
)

// Encoding names the text form DecodeBinary recognised.
type Encoding string

const (
	EncodingRaw    Encoding = "raw"
	EncodingHex    Encoding = "hex"
	EncodingBase64 Encoding = "base64"
)

// ErrEmptyInput is returned for empty input.
var ErrEmptyInput = errors.New("sgx: input is empty")

// DecodeBinary turns a file's contents into the binary structure it carries: raw
// bytes as they are; hex text (optionally "0x"-prefixed, whitespace ignored);
// base64 text (standard or URL alphabet, padded or not). Raw input is recognised
// by containing bytes that are not printable text.
func DecodeBinary(b []byte) ([]byte, Encoding, error) {
	if len(b) == 0 {
		return nil, "", ErrEmptyInput
	}
	if !isText(b) {
		return b, EncodingRaw, nil
	}
	t := bytes.Join(bytes.Fields(b), nil)
	if len(t) == 0 {
		return nil, "", ErrEmptyInput
	}
	h := t
	if bytes.HasPrefix(h, []byte("0x")) || bytes.HasPrefix(h, []byte("0X")) {
		h = h[2:]
	}
	if isHex(h) {
		out := make([]byte, hex.DecodedLen(len(h)))
		if _, err := hex.Decode(out, h); err != nil {
			return nil, "", &ParseError{Struct: "hex input", Field: "text", Offset: 0, Reason: err.Error()}
		}
		return out, EncodingHex, nil
	}
	s := string(bytes.TrimRight(t, "="))
	for _, enc := range []*base64.Encoding{base64.RawStdEncoding, base64.RawURLEncoding} {
		if out, err := enc.DecodeString(s); err == nil {
			return out, EncodingBase64, nil
		}
	}
	return nil, "", &ParseError{Struct: "input", Field: "text", Offset: 0, Reason: "text input is neither hex nor base64"}
}

func isText(b []byte) bool {
	for _, c := range b {
		if c == '\n' || c == '\r' || c == '\t' || c == ' ' {
			continue
		}
		if c < 0x21 || c > 0x7e {
			return false
		}
	}
	return true
}

func isHex(b []byte) bool {
	if len(b)%2 != 0 {
		return false
	}
	for _, c := range b {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}
