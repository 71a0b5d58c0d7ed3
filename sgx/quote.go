package sgx

import (
	"crypto/x509"
	"encoding/binary"
	"fmt"

	"github.com/sgxops/sgxops/internal/pemcert"
)

// Quote versions.
const (
	QuoteV3 = 3 // SGX ECDSA quote
	QuoteV4 = 4 // TDX 1.0 (or SGX with TEE type 0)
	QuoteV5 = 5 // TDX 1.5 / SGX, with a typed body
)

// TEE types in the quote header.
const (
	TEETypeSGX uint32 = 0x00000000
	TEETypeTDX uint32 = 0x00000081
)

// AttestationKeyECDSAP256 is the only attestation key type sgxops verifies (ECDSA-256 with P-256).
const AttestationKeyECDSAP256 uint16 = 2

// HeaderSize is the size of the quote header.
const HeaderSize = 48

// IntelQEVendorID is the QE vendor ID of Intel's quoting enclaves.
var IntelQEVendorID = [16]byte{0x93, 0x9a, 0x72, 0x33, 0xf7, 0x9c, 0x4c, 0xa9, 0x94, 0x0a, 0x0d, 0xb3, 0x95, 0x7f, 0x06, 0x07}

// Header is the 48-byte quote header shared by v3, v4 and v5. In v3 the TEEType
// bytes are reserved and zero.
type Header struct {
	Version            uint16
	AttestationKeyType uint16
	TEEType            uint32
	QESVN              uint16
	PCESVN             uint16
	QEVendorID         [16]byte
	UserData           [20]byte
}

// Marshal encodes the header.
func (h *Header) Marshal() []byte {
	b := make([]byte, HeaderSize)
	binary.LittleEndian.PutUint16(b[0:2], h.Version)
	binary.LittleEndian.PutUint16(b[2:4], h.AttestationKeyType)
	binary.LittleEndian.PutUint32(b[4:8], h.TEEType)
	binary.LittleEndian.PutUint16(b[8:10], h.QESVN)
	binary.LittleEndian.PutUint16(b[10:12], h.PCESVN)
	copy(b[12:28], h.QEVendorID[:])
	copy(b[28:48], h.UserData[:])
	return b
}

// Body types of a v5 quote.
const (
	BodyTypeSGX  uint16 = 1
	BodyTypeTD10 uint16 = 2
	BodyTypeTD15 uint16 = 3
)

// Certification data types (Intel DCAP quote format, "Certification Data").
type CertDataType uint16

const (
	CertPPIDCleartext    CertDataType = 1
	CertPPIDRSA2048      CertDataType = 2
	CertPPIDRSA3072      CertDataType = 3
	CertPCKLeaf          CertDataType = 4
	CertPCKChain         CertDataType = 5
	CertQEReport         CertDataType = 6
	CertPlatformManifest CertDataType = 7
)

func (t CertDataType) String() string {
	switch t {
	case CertPPIDCleartext:
		return "PPID cleartext + CPUSVN + PCESVN + PCEID"
	case CertPPIDRSA2048:
		return "PPID encrypted RSA-2048 + CPUSVN + PCESVN + PCEID"
	case CertPPIDRSA3072:
		return "PPID encrypted RSA-3072 + CPUSVN + PCESVN + PCEID"
	case CertPCKLeaf:
		return "PCK leaf certificate"
	case CertPCKChain:
		return "PCK certificate chain (PEM)"
	case CertQEReport:
		return "QE report certification data"
	case CertPlatformManifest:
		return "platform manifest"
	}
	return fmt.Sprintf("unknown certification data type %d", uint16(t))
}

// CertificationData is a typed blob of certification data.
type CertificationData struct {
	Type CertDataType
	Data []byte
}

// PCKChain decodes a type-5 certification data blob: PEM certificates, leaf first.
func (c CertificationData) PCKChain() ([]*x509.Certificate, error) {
	if c.Type != CertPCKChain {
		return nil, fmt.Errorf("sgx: certification data is %v, not a PCK certificate chain", c.Type)
	}
	certs, err := pemcert.Parse(c.Data)
	if err != nil {
		return nil, fmt.Errorf("sgx: PCK chain: %w", err)
	}
	return certs, nil
}

// ECDSASignatureData is the ECDSA-256 quote signature data. For v4/v5 quotes the
// QE report, its signature, the QE auth data and the inner certification data are
// carried inside a type-6 certification data blob; they are flattened here and
// re-wrapped by Marshal.
type ECDSASignatureData struct {
	Signature         [64]byte // ECDSA signature (r‖s) over header ‖ body by the attestation key
	AttestationKey    [64]byte // raw P-256 public key (x‖y)
	QEReport          ReportBody
	QEReportSignature [64]byte // ECDSA signature (r‖s) over QEReport by the PCK key
	QEAuthData        []byte
	CertData          CertificationData // normally type 5 (PCK chain)
}

// Quote is a parsed DCAP quote (v3, v4 or v5).
type Quote struct {
	Header Header
	// BodyType is the v5 body type; for v3 it is BodyTypeSGX and for v4 it
	// follows the TEE type.
	BodyType uint16
	// Exactly one of SGXBody and TDBody is set.
	SGXBody   *ReportBody
	TDBody    *TDReportBody
	Signature ECDSASignatureData
	// Trailing counts bytes after the signature data that were ignored (drivers
	// return quotes in zero-padded buffers).
	Trailing int
}

// IsTDX reports whether the quote is a TD quote.
func (q *Quote) IsTDX() bool { return q.TDBody != nil }

// ReportData returns the 64 bytes of report data of the enclave or TD.
func (q *Quote) ReportData() [64]byte {
	if q.TDBody != nil {
		return q.TDBody.ReportData
	}
	return q.SGXBody.ReportData
}

// body returns the encoded body including the v5 type/size prefix.
func (q *Quote) body() []byte {
	var body []byte
	if q.TDBody != nil {
		body = q.TDBody.Marshal()
	} else {
		body = q.SGXBody.Marshal()
	}
	if q.Header.Version < QuoteV5 {
		return body
	}
	pre := make([]byte, 6, 6+len(body))
	binary.LittleEndian.PutUint16(pre[0:2], q.BodyType)
	binary.LittleEndian.PutUint32(pre[2:6], uint32(len(body)))
	return append(pre, body...)
}

// SignedData returns the bytes the attestation key signs: header ‖ body (for v5
// including the body type and size).
func (q *Quote) SignedData() []byte {
	return append(q.Header.Marshal(), q.body()...)
}

// Marshal encodes the quote; Marshal(ParseQuote(b)) equals b without trailing padding.
func (q *Quote) Marshal() []byte {
	out := q.SignedData()
	sig := q.Signature.marshal(q.Header.Version)
	out = binary.LittleEndian.AppendUint32(out, uint32(len(sig)))
	return append(out, sig...)
}

func (s *ECDSASignatureData) marshal(version uint16) []byte {
	var b []byte
	b = append(b, s.Signature[:]...)
	b = append(b, s.AttestationKey[:]...)
	inner := s.QEReport.Marshal()
	inner = append(inner, s.QEReportSignature[:]...)
	inner = binary.LittleEndian.AppendUint16(inner, uint16(len(s.QEAuthData)))
	inner = append(inner, s.QEAuthData...)
	inner = binary.LittleEndian.AppendUint16(inner, uint16(s.CertData.Type))
	inner = binary.LittleEndian.AppendUint32(inner, uint32(len(s.CertData.Data)))
	inner = append(inner, s.CertData.Data...)
	if version == QuoteV3 {
		return append(b, inner...)
	}
	b = binary.LittleEndian.AppendUint16(b, uint16(CertQEReport))
	b = binary.LittleEndian.AppendUint32(b, uint32(len(inner)))
	return append(b, inner...)
}

// MaxQuoteSize bounds what ParseQuote accepts; real quotes are a few KiB.
const MaxQuoteSize = 1 << 20

// reader reads little-endian fields and reports where it failed.
type reader struct {
	b      []byte
	off    int
	strct  string
	failed *ParseError
}

// err returns the first failure as an error (nil when there was none).
func (r *reader) err() error {
	if r.failed == nil {
		return nil
	}
	return r.failed
}

func (r *reader) need(field string, n int) bool {
	if r.failed != nil {
		return false
	}
	if n < 0 || r.off+n > len(r.b) {
		r.failed = perr(r.strct, field, r.off, "truncated: need %d bytes, have %d", n, len(r.b)-r.off)
		return false
	}
	return true
}

func (r *reader) bytes(field string, n int) []byte {
	if !r.need(field, n) {
		return nil
	}
	out := make([]byte, n)
	copy(out, r.b[r.off:r.off+n])
	r.off += n
	return out
}

func (r *reader) u16(field string) uint16 {
	if !r.need(field, 2) {
		return 0
	}
	v := binary.LittleEndian.Uint16(r.b[r.off:])
	r.off += 2
	return v
}

func (r *reader) u32(field string) uint32 {
	if !r.need(field, 4) {
		return 0
	}
	v := binary.LittleEndian.Uint32(r.b[r.off:])
	r.off += 4
	return v
}

func (r *reader) array(field string, dst []byte) {
	if r.need(field, len(dst)) {
		copy(dst, r.b[r.off:r.off+len(dst)])
		r.off += len(dst)
	}
}

// ParseQuote decodes a DCAP quote v3, v4 or v5 with ECDSA-P256 signature data.
// Bytes after the signature data are ignored and counted in Quote.Trailing.
func ParseQuote(b []byte) (*Quote, error) {
	if len(b) > MaxQuoteSize {
		return nil, perr("quote", "length", 0, "%d bytes exceeds the %d-byte limit", len(b), MaxQuoteSize)
	}
	r := &reader{b: b, strct: "quote"}
	q := &Quote{}
	h := &q.Header
	h.Version = r.u16("header.version")
	if r.failed != nil {
		return nil, r.err()
	}
	switch h.Version {
	case QuoteV3, QuoteV4, QuoteV5:
	default:
		return nil, perr("quote", "header.version", 0, "unsupported quote version %d (want 3, 4 or 5)", h.Version)
	}
	r.strct = fmt.Sprintf("quote v%d", h.Version)
	h.AttestationKeyType = r.u16("header.attestation_key_type")
	if r.failed == nil && h.AttestationKeyType != AttestationKeyECDSAP256 {
		return nil, perr(r.strct, "header.attestation_key_type", 2, "attestation key type %d is not ECDSA-256-with-P-256 (2)", h.AttestationKeyType)
	}
	h.TEEType = r.u32("header.tee_type")
	if r.failed == nil {
		switch {
		case h.Version == QuoteV3 && h.TEEType != TEETypeSGX:
			return nil, perr(r.strct, "header.tee_type", 4, "v3 quotes are SGX only; reserved bytes hold 0x%x", h.TEEType)
		case h.TEEType != TEETypeSGX && h.TEEType != TEETypeTDX:
			return nil, perr(r.strct, "header.tee_type", 4, "unknown TEE type 0x%x", h.TEEType)
		}
	}
	h.QESVN = r.u16("header.qe_svn")
	h.PCESVN = r.u16("header.pce_svn")
	r.array("header.qe_vendor_id", h.QEVendorID[:])
	r.array("header.user_data", h.UserData[:])
	if r.failed != nil {
		return nil, r.err()
	}

	switch h.Version {
	case QuoteV3:
		q.BodyType = BodyTypeSGX
	case QuoteV4:
		q.BodyType = BodyTypeTD10
		if h.TEEType == TEETypeSGX {
			q.BodyType = BodyTypeSGX
		}
	case QuoteV5:
		off := r.off
		q.BodyType = r.u16("body.type")
		size := r.u32("body.size")
		if r.failed != nil {
			return nil, r.err()
		}
		want := map[uint16]int{BodyTypeSGX: ReportBodySize, BodyTypeTD10: TDReportBody10Size, BodyTypeTD15: TDReportBody15Size}[q.BodyType]
		if want == 0 {
			return nil, perr(r.strct, "body.type", off, "unknown body type %d (want 1, 2 or 3)", q.BodyType)
		}
		if int64(size) != int64(want) {
			return nil, perr(r.strct, "body.size", off+2, "body type %d must be %d bytes, header says %d", q.BodyType, want, size)
		}
		if (q.BodyType == BodyTypeSGX) != (h.TEEType == TEETypeSGX) {
			return nil, perr(r.strct, "body.type", off, "body type %d does not match TEE type 0x%x", q.BodyType, h.TEEType)
		}
	}

	var err error
	bodyOff := r.off
	if q.BodyType == BodyTypeSGX {
		if q.SGXBody, err = parseReportBody(b[r.off:], r.strct, bodyOff); err != nil {
			return nil, err
		}
		r.off += ReportBodySize
	} else {
		if q.TDBody, err = parseTDReportBody(b[r.off:], q.BodyType == BodyTypeTD15, r.strct, bodyOff); err != nil {
			return nil, err
		}
		r.off += q.TDBody.Size()
	}

	sigLenOff := r.off
	sigLen := r.u32("signature_data_len")
	if r.failed != nil {
		return nil, r.err()
	}
	if int64(sigLen) > int64(len(b)-r.off) {
		return nil, perr(r.strct, "signature_data_len", sigLenOff, "says %d bytes, only %d remain", sigLen, len(b)-r.off)
	}
	sigEnd := r.off + int(sigLen)
	sr := &reader{b: b[:sigEnd], off: r.off, strct: r.strct}
	if err := q.Signature.parse(sr, h.Version); err != nil {
		return nil, err
	}
	if sr.off != sigEnd {
		return nil, perr(r.strct, "signature_data", sr.off, "%d unexplained bytes inside signature_data_len", sigEnd-sr.off)
	}
	q.Trailing = len(b) - sigEnd
	return q, nil
}

func (s *ECDSASignatureData) parse(r *reader, version uint16) error {
	r.array("signature.isv_signature", s.Signature[:])
	r.array("signature.attestation_key", s.AttestationKey[:])
	if r.failed != nil {
		return r.err()
	}
	end := len(r.b)
	if version != QuoteV3 {
		typOff := r.off
		typ := CertDataType(r.u16("signature.certification_data.type"))
		size := r.u32("signature.certification_data.size")
		if r.failed != nil {
			return r.err()
		}
		if typ != CertQEReport {
			return perr(r.strct, "signature.certification_data.type", typOff, "v%d quotes carry QE report certification data (6), found %d (%v)", version, typ, typ)
		}
		if int64(size) != int64(len(r.b)-r.off) {
			return perr(r.strct, "signature.certification_data.size", typOff+2, "says %d bytes, signature data leaves %d", size, len(r.b)-r.off)
		}
		end = r.off + int(size)
	}
	qeOff := r.off
	if !r.need("signature.qe_report", ReportBodySize) {
		return r.err()
	}
	qe, err := parseReportBody(r.b[r.off:end], r.strct, qeOff)
	if err != nil {
		return err
	}
	s.QEReport = *qe
	r.off += ReportBodySize
	r.array("signature.qe_report_signature", s.QEReportSignature[:])
	authLen := r.u16("signature.qe_auth_data.size")
	s.QEAuthData = r.bytes("signature.qe_auth_data", int(authLen))
	typOff := r.off
	s.CertData.Type = CertDataType(r.u16("signature.certification_data.type"))
	sizeOff := r.off
	size := r.u32("signature.certification_data.size")
	if r.failed != nil {
		return r.err()
	}
	if s.CertData.Type < CertPPIDCleartext || s.CertData.Type > CertPlatformManifest || s.CertData.Type == CertQEReport {
		return perr(r.strct, "signature.certification_data.type", typOff, "unexpected certification data type %d", uint16(s.CertData.Type))
	}
	if int64(size) > int64(len(r.b)-r.off) {
		return perr(r.strct, "signature.certification_data.size", sizeOff, "says %d bytes, only %d remain", size, len(r.b)-r.off)
	}
	s.CertData.Data = r.bytes("signature.certification_data.data", int(size))
	return r.err()
}
