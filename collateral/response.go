package collateral

import (
	"bytes"
	"crypto/x509"
	"encoding/asn1"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"

	"github.com/sgxops/sgxops/internal/pemcert"
)

// MaxResponseSize bounds every response body read from a collateral service.
// Real responses are a few KiB (a PCK Platform CA CRL is the largest).
const MaxResponseSize = 8 << 20

// parseSignedResponse splits a PCS response of the form
// {"<field>":{...},"signature":"<hex>"} into the exact bytes of the field's value
// (what the signature covers, byte for byte as served) and the decoded signature.
// Keys are matched exactly; a repeated key or trailing data is an error.
func parseSignedResponse(body []byte, field string) (signed, sig []byte, err error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	tok, err := dec.Token()
	if err != nil || tok != json.Delim('{') {
		return nil, nil, invalidf("body", "not a JSON object")
	}
	var signedRaw, sigRaw json.RawMessage
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, nil, invalidf("body", "offset %d: %v", dec.InputOffset(), err)
		}
		key, ok := tok.(string)
		if !ok {
			return nil, nil, invalidf("body", "offset %d: expected an object key", dec.InputOffset())
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, nil, invalidf(key, "offset %d: %v", dec.InputOffset(), err)
		}
		if seen[key] {
			return nil, nil, invalidf(key, "key appears twice")
		}
		seen[key] = true
		switch key {
		case field:
			signedRaw = v
		case "signature":
			sigRaw = v
		}
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return nil, nil, invalidf("body", "offset %d: %v", dec.InputOffset(), err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, nil, invalidf("body", "offset %d: data after the JSON object", dec.InputOffset())
	}
	if signedRaw == nil {
		return nil, nil, invalidf(field, "missing")
	}
	if signedRaw[0] != '{' {
		return nil, nil, invalidf(field, "not a JSON object")
	}
	if sigRaw == nil {
		return nil, nil, invalidf("signature", "missing")
	}
	var sigHex string
	if err := json.Unmarshal(sigRaw, &sigHex); err != nil {
		return nil, nil, invalidf("signature", "not a JSON string")
	}
	sig, err = hex.DecodeString(sigHex)
	if err != nil {
		return nil, nil, invalidf("signature", "not hex: %v", err)
	}
	if len(sig) != 64 {
		return nil, nil, invalidf("signature", "decodes to %d bytes, want 64 (r‖s)", len(sig))
	}
	return []byte(signedRaw), sig, nil
}

// parseIssuerChain decodes an issuer-chain header: a URL-encoded PEM chain of
// one or more certificates. Every PEM block must be a parsable certificate.
func parseIssuerChain(header string) ([]byte, error) {
	if strings.TrimSpace(header) == "" {
		return nil, errors.New("missing or empty")
	}
	chain, err := url.PathUnescape(header)
	if err != nil {
		return nil, fmt.Errorf("not URL-encoded: %v", err)
	}
	err = checkPEMChain([]byte(chain))
	if err != nil && strings.Contains(header, "+") {
		// A form-style encoder writes spaces ("BEGIN CERTIFICATE") as '+'; a literal
		// '+' of the base64 body would then be "%2B", so this reading is unambiguous.
		if alt, aerr := url.QueryUnescape(header); aerr == nil && checkPEMChain([]byte(alt)) == nil {
			return []byte(alt), nil
		}
	}
	if err != nil {
		return nil, err
	}
	return []byte(chain), nil
}

// checkPEMChain checks that b is one or more PEM certificates and nothing else.
func checkPEMChain(b []byte) error {
	_, err := pemcert.Parse(b)
	return err
}

// decodeCRL returns the DER of a CRL served as DER, PEM ("X509 CRL") or hex text
// (what a PCCS serves for the root CA CRL). The result parses as a CRL.
func decodeCRL(b []byte) ([]byte, error) {
	if len(b) == 0 {
		return nil, errors.New("empty")
	}
	_, derErr := parseCRL(b)
	if derErr == nil {
		return b, nil
	}
	t := bytes.TrimSpace(b)
	var der []byte
	switch {
	case bytes.HasPrefix(t, []byte("-----BEGIN")):
		block, rest := pem.Decode(t)
		if block == nil || block.Type != "X509 CRL" {
			return nil, errors.New("PEM but not an X509 CRL block")
		}
		if len(bytes.TrimSpace(rest)) != 0 {
			return nil, errors.New("data after the PEM CRL")
		}
		der = block.Bytes
	case isHexText(t):
		s := strings.TrimPrefix(strings.TrimPrefix(string(t), "0x"), "0X")
		var err error
		if der, err = hex.DecodeString(s); err != nil {
			return nil, fmt.Errorf("hex text: %v", err)
		}
	default:
		return nil, fmt.Errorf("neither a DER, PEM nor hex CRL: %v", derErr)
	}
	if _, err := parseCRL(der); err != nil {
		return nil, err
	}
	return der, nil
}

// parseCRL parses a DER CRL and, unlike x509.ParseRevocationList, rejects bytes
// after it.
func parseCRL(der []byte) (*x509.RevocationList, error) {
	var outer asn1.RawValue
	rest, err := asn1.Unmarshal(der, &outer)
	if err != nil {
		return nil, fmt.Errorf("not DER: %v", err)
	}
	if len(rest) != 0 {
		return nil, fmt.Errorf("%d bytes after the CRL", len(rest))
	}
	return x509.ParseRevocationList(der)
}

func isHexText(t []byte) bool {
	s := strings.TrimPrefix(strings.TrimPrefix(string(t), "0x"), "0X")
	if s == "" {
		return false
	}
	for _, c := range []byte(s) {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}
