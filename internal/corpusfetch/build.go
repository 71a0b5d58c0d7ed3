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
	case "snp-report-json":
		return snpReportFromJSON(b, s.Pointer)
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
	v, err := jsonAt(v, pointer)
	if err != nil {
		return nil, err
	}
	out, err := byteArray(v)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", pointer, err)
	}
	return out, nil
}

// jsonAt walks pointer (RFC 6901, object keys and array indexes only) from v.
func jsonAt(v any, pointer string) (any, error) {
	if pointer == "" || pointer == "/" {
		return v, nil
	}
	for _, tok := range strings.Split(strings.TrimPrefix(pointer, "/"), "/") {
		switch c := v.(type) {
		case map[string]any:
			next, ok := c[tok]
			if !ok {
				return nil, fmt.Errorf("%s: %q not found", pointer, tok)
			}
			v = next
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
	return v, nil
}

// byteArray converts a decoded JSON array of integers 0..255 to bytes.
func byteArray(v any) ([]byte, error) {
	arr, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("not an array")
	}
	out := make([]byte, len(arr))
	for i, e := range arr {
		f, ok := e.(float64)
		if !ok || f < 0 || f > 255 || f != float64(int(f)) {
			return nil, fmt.Errorf("[%d]: not a byte", i)
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

// snpReportFromJSON lays out the SEV-SNP ATTESTATION_REPORT (1184 bytes, AMD SEV
// SNP ABI 1.55, table 22) whose fields the sev crate's serde form holds at
// pointer: integers as JSON numbers, byte arrays as arrays of numbers, TCB
// versions as {bootloader, tee, snp, microcode[, fmc]}, firmware versions as
// {major, minor, build}, the signature as {r, s} (72 little-endian bytes each).
// Reserved bytes are zero. The report's own signature is what proves the layout:
// a misplaced field fails the pinned SHA-256 and the signature check alike.
func snpReportFromJSON(b []byte, pointer string) ([]byte, error) {
	var root any
	if err := json.Unmarshal(b, &root); err != nil {
		return nil, err
	}
	v, err := jsonAt(root, pointer)
	if err != nil {
		return nil, err
	}
	r, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%s: not an object", pointer)
	}
	out := make([]byte, 0x4A0)
	var ferr error
	fail := func(format string, a ...any) {
		if ferr == nil {
			ferr = fmt.Errorf("%s/"+format, append([]any{pointer}, a...)...)
		}
	}
	num := func(key string, max uint64) uint64 {
		f, ok := r[key].(float64)
		if !ok || f < 0 || f > float64(max) || f != float64(uint64(f)) {
			fail("%s: not an integer in [0, %d]", key, max)
			return 0
		}
		return uint64(f)
	}
	putBytes := func(off int, key string, n int) {
		bs, err := byteArray(r[key])
		if err == nil && len(bs) != n {
			err = fmt.Errorf("%d bytes, want %d", len(bs), n)
		}
		if err != nil {
			fail("%s: %w", key, err)
			return
		}
		copy(out[off:], bs)
	}
	tcb := func(off int, key string) {
		t, ok := r[key].(map[string]any)
		if !ok {
			fail("%s: not a TCB version object", key)
			return
		}
		// Milan and Genoa: boot loader, TEE, 4 reserved, SNP, microcode. Turin
		// (with an FMC field) uses another layout, not needed by the corpus.
		if t["fmc"] != nil {
			fail("%s: Turin TCB layout (fmc) not supported", key)
			return
		}
		for i, part := range map[int]string{0: "bootloader", 1: "tee", 6: "snp", 7: "microcode"} {
			f, ok := t[part].(float64)
			if !ok || f < 0 || f > 255 {
				fail("%s/%s: not a byte", key, part)
				return
			}
			out[off+i] = byte(f)
		}
	}
	version := func(off int, key string) {
		t, ok := r[key].(map[string]any)
		if !ok {
			fail("%s: not a version object", key)
			return
		}
		for i, part := range []string{"build", "minor", "major"} {
			f, ok := t[part].(float64)
			if !ok || f < 0 || f > 255 {
				fail("%s/%s: not a byte", key, part)
				return
			}
			out[off+i] = byte(f)
		}
	}
	le := binary.LittleEndian
	le.PutUint32(out[0x00:], uint32(num("version", 1<<32-1)))
	le.PutUint32(out[0x04:], uint32(num("guest_svn", 1<<32-1)))
	le.PutUint64(out[0x08:], num("policy", 1<<53))
	putBytes(0x10, "family_id", 16)
	putBytes(0x20, "image_id", 16)
	le.PutUint32(out[0x30:], uint32(num("vmpl", 1<<32-1)))
	le.PutUint32(out[0x34:], uint32(num("sig_algo", 1<<32-1)))
	tcb(0x38, "current_tcb")
	le.PutUint64(out[0x40:], num("plat_info", 1<<53))
	le.PutUint32(out[0x48:], uint32(num("key_info", 1<<32-1)))
	putBytes(0x50, "report_data", 64)
	putBytes(0x90, "measurement", 48)
	putBytes(0xC0, "host_data", 32)
	putBytes(0xE0, "id_key_digest", 48)
	putBytes(0x110, "author_key_digest", 48)
	putBytes(0x140, "report_id", 32)
	putBytes(0x160, "report_id_ma", 32)
	tcb(0x180, "reported_tcb")
	out[0x188] = byte(num("cpuid_fam_id", 255))
	out[0x189] = byte(num("cpuid_mod_id", 255))
	out[0x18A] = byte(num("cpuid_step", 255))
	putBytes(0x1A0, "chip_id", 64)
	tcb(0x1E0, "committed_tcb")
	version(0x1E8, "current")
	version(0x1EC, "committed")
	tcb(0x1F0, "launch_tcb")
	sig, ok := r["signature"].(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%s/signature: not an object", pointer)
	}
	for i, part := range []string{"r", "s"} {
		bs, err := byteArray(sig[part])
		if err == nil && len(bs) != 72 {
			err = fmt.Errorf("%d bytes, want 72", len(bs))
		}
		if err != nil {
			return nil, fmt.Errorf("%s/signature/%s: %w", pointer, part, err)
		}
		copy(out[0x2A0+72*i:], bs)
	}
	if ferr != nil {
		return nil, ferr
	}
	return out, nil
}
