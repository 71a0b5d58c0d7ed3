package corpusfetch

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/sgxops/sgxops/collateral"
	"github.com/sgxops/sgxops/internal/corpusfetch/manifest"
)

// Build makes the derived file d from the files under dir. input returns the
// bytes of a named Input (only "fetch" steps use it; nil when there is none).
func Build(dir string, d manifest.Derived, input func(name string) ([]byte, error)) ([]byte, error) {
	read := func(rel string) ([]byte, error) { return os.ReadFile(filepath.Join(dir, filepath.FromSlash(rel))) }
	if len(d.Bundle) > 0 {
		return buildBundle(read, d.Bundle)
	}
	var b []byte
	var err error
	for _, s := range d.Steps {
		if b, err = step(read, input, b, s); err != nil {
			return nil, fmt.Errorf("corpusfetch: %s: %s: %w", d.Path, s.Op, err)
		}
	}
	return b, nil
}

func step(read func(string) ([]byte, error), input func(string) ([]byte, error), b []byte, s manifest.Step) ([]byte, error) {
	inRange := func(off int) error {
		if off < 0 || off >= len(b) {
			return fmt.Errorf("offset %d outside %d bytes", off, len(b))
		}
		return nil
	}
	switch s.Op {
	case "read":
		return read(s.File)
	case "fetch":
		if input == nil {
			return nil, fmt.Errorf("input %s not available", s.Input)
		}
		return input(s.Input)
	case "hex-decode":
		return hex.DecodeString(strings.TrimPrefix(strings.Join(strings.Fields(string(b)), ""), "0x"))
	case "slice":
		if s.Start < 0 || s.End > len(b) || s.Start > s.End {
			return nil, fmt.Errorf("[%d:%d] outside %d bytes", s.Start, s.End, len(b))
		}
		return append([]byte(nil), b[s.Start:s.End]...), nil
	case "json-bytes":
		return jsonBytes(b, s.Pointer)
	case "xor", "add", "set":
		if err := inRange(s.Offset); err != nil {
			return nil, err
		}
		out := append([]byte(nil), b...)
		switch s.Op {
		case "xor":
			out[s.Offset] ^= byte(s.Value)
		case "add":
			out[s.Offset] += byte(s.Value)
		default:
			out[s.Offset] = byte(s.Value)
		}
		return out, nil
	case "sol-hex-constant":
		re := regexp.MustCompile(regexp.QuoteMeta(s.Name) + `\s*=\s*hex"([0-9a-fA-F]*)"`)
		m := re.FindSubmatch(b)
		if m == nil {
			return nil, fmt.Errorf("no %s = hex\"…\" literal", s.Name)
		}
		return hex.DecodeString(string(m[1]))
	}
	return nil, fmt.Errorf("unknown step")
}

// jsonBytes returns the JSON array of byte values at pointer (RFC 6901, object
// keys and array indexes only).
func jsonBytes(b []byte, pointer string) ([]byte, error) {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, err
	}
	for _, tok := range strings.Split(strings.TrimPrefix(pointer, "/"), "/") {
		switch c := v.(type) {
		case map[string]any:
			v = c[tok]
		case []any:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(c) {
				return nil, fmt.Errorf("%s: no index %q", pointer, tok)
			}
			v = c[i]
		default:
			return nil, fmt.Errorf("%s: %q not found", pointer, tok)
		}
	}
	arr, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("%s: not an array", pointer)
	}
	out := make([]byte, len(arr))
	for i, e := range arr {
		f, ok := e.(float64)
		if !ok || f < 0 || f > 255 || f != float64(int(f)) {
			return nil, fmt.Errorf("%s[%d]: not a byte", pointer, i)
		}
		out[i] = byte(f)
	}
	return out, nil
}

// buildBundle assembles a collateral.Collateral from the fields and writes it
// with collateral's own bundle encoder, laid out as the corpus stores it (JSON
// indented by one space, final newline). ParseBundle must accept the result.
func buildBundle(read func(string) ([]byte, error), fields []manifest.BundleField) ([]byte, error) {
	var c collateral.Collateral
	targets := map[string]*[]byte{
		"pck_crl_issuer_chain": &c.PCKCRLIssuerChain, "root_ca_crl": &c.RootCACRL, "pck_crl": &c.PCKCRL,
		"tcb_info_issuer_chain": &c.TCBInfoIssuerChain, "tcb_info": &c.TCBInfo, "tcb_info_signature": &c.TCBInfoSignature,
		"qe_identity_issuer_chain": &c.QEIdentityIssuerChain, "qe_identity": &c.QEIdentity,
		"qe_identity_signature": &c.QEIdentitySignature, "pck_certificate_chain": &c.PCKCertificateChain,
	}
	for _, f := range fields {
		dst, ok := targets[f.Name]
		if !ok {
			return nil, fmt.Errorf("corpusfetch: bundle field %q unknown", f.Name)
		}
		v, err := bundleField(read, f)
		if err != nil {
			return nil, fmt.Errorf("corpusfetch: bundle field %q: %w", f.Name, err)
		}
		*dst = v
	}
	raw, err := c.MarshalBundle()
	if err != nil {
		return nil, err
	}
	if _, err := collateral.ParseBundle(raw); err != nil {
		return nil, fmt.Errorf("corpusfetch: rebuilt bundle does not parse: %w", err)
	}
	var compact, out bytes.Buffer
	if err := json.Compact(&compact, raw); err != nil {
		return nil, err
	}
	if err := json.Indent(&out, compact.Bytes(), "", " "); err != nil {
		return nil, err
	}
	out.WriteByte('\n')
	return out.Bytes(), nil
}

func bundleField(read func(string) ([]byte, error), f manifest.BundleField) ([]byte, error) {
	var parts [][]byte
	for _, rel := range f.From {
		b, err := read(rel)
		if err != nil {
			return nil, err
		}
		if f.OEBlob != nil {
			if b, err = oeBlob(b, *f.OEBlob); err != nil {
				return nil, fmt.Errorf("%s: %w", rel, err)
			}
		}
		parts = append(parts, b)
	}
	if len(parts) == 0 {
		return nil, fmt.Errorf("no source")
	}
	switch f.Op {
	case "pem":
		var out []byte
		for _, der := range parts {
			out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
		}
		return out, nil
	case "text":
		return bytes.Join(parts, nil), nil
	case "crl":
		b := bytes.TrimSpace(parts[0])
		if len(b) > 0 && b[0] == 0x30 {
			return parts[0], nil // DER
		}
		return hex.DecodeString(string(b))
	case "body", "sig":
		body, sig, err := signedResponse(parts[0], f.Key)
		if f.Op == "body" {
			return body, err
		}
		return sig, err
	}
	return nil, fmt.Errorf("unknown op %q", f.Op)
}

// signedResponse splits a PCS response {"<key>":{…},"signature":"<hex>"} into the
// exact bytes of key's value (what the signature covers) and the signature.
func signedResponse(b []byte, key string) (body, sig []byte, err error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, nil, err
	}
	body, ok := m[key]
	if !ok {
		return nil, nil, fmt.Errorf("no %q", key)
	}
	var s string
	if err := json.Unmarshal(m["signature"], &s); err != nil {
		return nil, nil, fmt.Errorf("signature: %w", err)
	}
	sig, err = hex.DecodeString(s)
	return []byte(body), sig, err
}

// oeBlob returns blob n, NUL stripped, of an Open Enclave collateral dump: a
// header (uint32 version, uint32 tee type) then seven (pointer, size) uint64
// pairs, then the blobs back to back in pointer order.
func oeBlob(b []byte, n int) ([]byte, error) {
	const pairs, hdr = 7, 8 + 7*16
	if n < 0 || n >= pairs || len(b) < hdr {
		return nil, fmt.Errorf("not an Open Enclave collateral dump or no blob %d", n)
	}
	base := binary.LittleEndian.Uint64(b[8:])
	ptr := binary.LittleEndian.Uint64(b[8+16*n:])
	size := binary.LittleEndian.Uint64(b[16+16*n:])
	off := hdr + (ptr - base)
	if ptr < base || off+size > uint64(len(b)) {
		return nil, fmt.Errorf("blob %d outside the file", n)
	}
	return bytes.TrimRight(b[off:off+size], "\x00"), nil
}
