package attestd

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// MaxRequestBytes bounds an attestation or policy request body. Quotes are a
// few KiB; runtime data is typically a public key or a small JSON document.
const MaxRequestBytes = 1 << 20

// EvidenceKind is the attestation type of a request.
type EvidenceKind int

const (
	// KindSGX is /attest/SgxEnclave: "quote" is an SGX DCAP quote.
	KindSGX EvidenceKind = iota + 1
	// KindOpenEnclave is /attest/OpenEnclave: "report" is a 16-byte Open
	// Enclave header followed by the SGX quote.
	KindOpenEnclave
	// KindTDX is /attest/TdxVm: "quote" is a TDX DCAP quote (v4 or v5).
	KindTDX
	// KindSEVSNP is /attest/SevSnpVm: "report" is MAA's JSON envelope
	// {"SnpReport","VcekCertChain"}, a raw report or an Azure HCL report.
	KindSEVSNP
)

// String returns the MAA attestation type name.
func (k EvidenceKind) String() string {
	switch k {
	case KindSGX:
		return "SgxEnclave"
	case KindOpenEnclave:
		return "OpenEnclave"
	case KindTDX:
		return "TdxVm"
	case KindSEVSNP:
		return "SevSnpVm"
	}
	return "unknown"
}

// RequestError reports a malformed attestation request, naming the JSON
// field and, for encodings, the offset of the first bad character.
type RequestError struct {
	Field  string
	Offset int // -1 when no offset applies
	Reason string
}

func (e *RequestError) Error() string {
	if e.Offset >= 0 {
		return fmt.Sprintf("attestd: request field %s: %s at offset %d", e.Field, e.Reason, e.Offset)
	}
	return fmt.Sprintf("attestd: request field %s: %s", e.Field, e.Reason)
}

func reqErr(field string, offset int, format string, args ...any) *RequestError {
	return &RequestError{Field: field, Offset: offset, Reason: fmt.Sprintf(format, args...)}
}

// Data is decoded runtimeData or initTimeData.
type Data struct {
	// Bytes are the decoded data; SHA-256 of them is what the quote binds.
	Bytes []byte
	// JSON is true for dataType "JSON"; Parsed then holds the decoded value.
	JSON   bool
	Parsed any
}

// AttestRequest is a decoded /attest/SgxEnclave or /attest/OpenEnclave body.
type AttestRequest struct {
	Kind EvidenceKind
	// Evidence is the evidence exactly as submitted (OpenEnclave: with its
	// header); x-ms-sgx-collateral.quotehash is its SHA-256.
	Evidence []byte
	// Quote is the SGX quote (Evidence without the Open Enclave header).
	Quote []byte
	// RuntimeData and InitTimeData are nil when absent (or sent without data).
	RuntimeData  *Data
	InitTimeData *Data
	// DraftPolicy is the policy text of draftPolicyForAttestation; HasDraft
	// says whether the field was given.
	DraftPolicy string
	HasDraft    bool
	// Nonce is echoed into the token's nonce claim when HasNonce.
	Nonce    string
	HasNonce bool
}

// wireData is runtimeData / initTimeData as clients send it.
type wireData struct {
	Data     *string `json:"data"`
	DataType *string `json:"dataType"`
}

// wireAttest is the union of the SGX and OE request shapes. encoding/json
// matches keys case-insensitively, which gives the C++ SDK's "inittimeData"
// alias; unknown fields are ignored.
type wireAttest struct {
	Quote        *string         `json:"quote"`
	Report       *string         `json:"report"`
	RuntimeData  *wireData       `json:"runtimeData"`
	InitTimeData *wireData       `json:"initTimeData"`
	DraftPolicy  *string         `json:"draftPolicyForAttestation"`
	Nonce        json.RawMessage `json:"nonce"`
}

// DecodeAttestRequest decodes an attestation request body leniently, as the
// MAA clients in the wild need: any base64 flavour (standard or URL
// alphabet, padded or not, whitespace ignored), the "inittimeData" alias, a
// missing dataType meaning Binary, data missing meaning absent, extra fields
// ignored. Errors are *RequestError.
func DecodeAttestRequest(kind EvidenceKind, body []byte) (*AttestRequest, error) {
	if len(body) > MaxRequestBytes {
		return nil, reqErr("(body)", -1, "%d bytes exceeds the %d-byte limit", len(body), MaxRequestBytes)
	}
	var w wireAttest
	if err := json.Unmarshal(body, &w); err != nil {
		return nil, reqErr("(body)", jsonErrOffset(err), "not a JSON object: %v", err)
	}
	out := &AttestRequest{Kind: kind}
	field, enc := "quote", w.Quote
	if kind == KindOpenEnclave || kind == KindSEVSNP {
		field, enc = "report", w.Report
		if enc == nil && w.Quote != nil { // lenient: a report posted as "quote"
			field, enc = "quote", w.Quote
		}
	}
	if enc == nil || strings.TrimSpace(*enc) == "" {
		return nil, reqErr(field, -1, "required")
	}
	ev, err := DecodeBase64(field, *enc)
	if err != nil {
		return nil, err
	}
	if len(ev) == 0 {
		return nil, reqErr(field, -1, "decodes to no bytes")
	}
	out.Evidence = ev
	out.Quote = ev
	if kind == KindOpenEnclave {
		if out.Quote, err = ParseOEReport(field, ev); err != nil {
			return nil, err
		}
	}
	if out.RuntimeData, err = decodeData("runtimeData", w.RuntimeData); err != nil {
		return nil, err
	}
	if out.InitTimeData, err = decodeData("initTimeData", w.InitTimeData); err != nil {
		return nil, err
	}
	if w.DraftPolicy != nil {
		out.DraftPolicy, out.HasDraft = *w.DraftPolicy, true
	}
	if len(w.Nonce) > 0 && !bytes.Equal(bytes.TrimSpace(w.Nonce), []byte("null")) {
		var s string
		if err := json.Unmarshal(w.Nonce, &s); err != nil {
			return nil, reqErr("nonce", -1, "must be a string")
		}
		out.Nonce, out.HasNonce = s, true
	}
	return out, nil
}

func jsonErrOffset(err error) int {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return int(se.Offset)
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return int(te.Offset)
	}
	return -1
}

func decodeData(field string, d *wireData) (*Data, error) {
	if d == nil || d.Data == nil || strings.TrimSpace(*d.Data) == "" {
		return nil, nil // Python sends {"dataType":"JSON"} without data
	}
	isJSON := false
	if d.DataType != nil {
		switch strings.ToLower(strings.TrimSpace(*d.DataType)) {
		case "", "binary":
		case "json":
			isJSON = true
		default:
			return nil, reqErr(field+".dataType", -1, "%q is neither Binary nor JSON", *d.DataType)
		}
	}
	b, err := DecodeBase64(field+".data", *d.Data)
	if err != nil {
		return nil, err
	}
	out := &Data{Bytes: b, JSON: isJSON}
	if isJSON {
		if !utf8.Valid(b) {
			return nil, reqErr(field+".data", -1, "dataType JSON but the data is not UTF-8")
		}
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.UseNumber()
		if err := dec.Decode(&out.Parsed); err != nil {
			return nil, reqErr(field+".data", jsonErrOffset(err), "dataType JSON but the data is not JSON: %v", err)
		}
		if dec.More() {
			return nil, reqErr(field+".data", int(dec.InputOffset()), "dataType JSON but the data has trailing content")
		}
	}
	return out, nil
}

// DecodeBase64 decodes s in any base64 flavour: standard or URL alphabet (or
// a mix), with or without padding, ignoring whitespace. field names the JSON
// field in errors; the offset is into s.
func DecodeBase64(field, s string) ([]byte, error) {
	// Fast paths for the canonical forms clients send.
	if b, err := base64.RawURLEncoding.Strict().DecodeString(s); err == nil {
		return b, nil
	}
	if b, err := base64.StdEncoding.Strict().DecodeString(s); err == nil {
		return b, nil
	}
	buf := make([]byte, 0, len(s))
	pad := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
			continue
		case c == '=':
			pad++
			continue
		case pad > 0:
			return nil, reqErr(field, i, "base64 data after padding")
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-', c == '_':
			buf = append(buf, c)
		case c == '+':
			buf = append(buf, '-')
		case c == '/':
			buf = append(buf, '_')
		default:
			return nil, reqErr(field, i, "invalid base64 character %q", rune(c))
		}
	}
	if pad > 2 {
		return nil, reqErr(field, len(s)-1, "too much base64 padding")
	}
	if pad > 0 && len(buf) == 0 {
		return nil, reqErr(field, 0, "base64 padding without data")
	}
	if len(buf)%4 == 1 {
		return nil, reqErr(field, len(s), "truncated base64 (length %d is impossible)", len(buf))
	}
	out, err := base64.RawURLEncoding.DecodeString(string(buf))
	if err != nil {
		// Only non-canonical trailing bits remain possible here.
		off := -1
		var ce base64.CorruptInputError
		if errors.As(err, &ce) {
			off = int(ce)
		}
		return nil, reqErr(field, off, "invalid base64: %v", err)
	}
	return out, nil
}

// Open Enclave report header (MAA REST API, Attest Open Enclave:
// https://learn.microsoft.com/rest/api/attestation/): version 1, report type 2
// (SGX remote), report size = length of the quote that follows.
const (
	oeHeaderSize       = 16
	oeReportVersion    = 1
	oeReportTypeRemote = 2
)

// ParseOEReport checks the 16-byte Open Enclave header of an OE remote report
// and returns the SGX quote that follows it. field names the JSON field.
func ParseOEReport(field string, b []byte) ([]byte, error) {
	if len(b) < oeHeaderSize {
		return nil, reqErr(field, len(b), "Open Enclave report truncated: need a %d-byte header, have %d bytes", oeHeaderSize, len(b))
	}
	if v := binary.LittleEndian.Uint32(b[0:4]); v != oeReportVersion {
		return nil, reqErr(field, 0, "Open Enclave report version %d, want %d", v, oeReportVersion)
	}
	if t := binary.LittleEndian.Uint32(b[4:8]); t != oeReportTypeRemote {
		return nil, reqErr(field, 4, "Open Enclave report type %d, want %d (SGX remote)", t, oeReportTypeRemote)
	}
	size := binary.LittleEndian.Uint64(b[8:16])
	if size != uint64(len(b)-oeHeaderSize) {
		return nil, reqErr(field, 8, "Open Enclave report size %d, but %d bytes follow the header", size, len(b)-oeHeaderSize)
	}
	return b[oeHeaderSize:], nil
}

// MarshalOEReport prefixes an SGX quote with the Open Enclave remote report
// header, as Open Enclave's oe_get_report does.
func MarshalOEReport(quote []byte) []byte {
	out := make([]byte, oeHeaderSize, oeHeaderSize+len(quote))
	binary.LittleEndian.PutUint32(out[0:4], oeReportVersion)
	binary.LittleEndian.PutUint32(out[4:8], oeReportTypeRemote)
	binary.LittleEndian.PutUint64(out[8:16], uint64(len(quote)))
	return append(out, quote...)
}
