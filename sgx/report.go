package sgx

import "encoding/binary"

// ReportBodySize is the size of an SGX REPORT BODY (the enclave part of a quote, and the QE report).
const ReportBodySize = 384

// ReportBody is the SGX enclave REPORT BODY as carried in quotes (Intel SGX DCAP quote
// format, "Enclave Report Body"), including the KSS fields.
type ReportBody struct {
	CPUSVN       [16]byte
	MiscSelect   MiscSelect
	Reserved1    [12]byte
	ISVExtProdID [16]byte
	Attributes   Attributes
	MREnclave    [32]byte
	Reserved2    [32]byte
	MRSigner     [32]byte
	Reserved3    [32]byte
	ConfigID     [64]byte
	ISVProdID    uint16
	ISVSVN       uint16
	ConfigSVN    uint16
	Reserved4    [42]byte
	ISVFamilyID  [16]byte
	ReportData   [64]byte
}

// Reserved fields are kept (not rejected when non-zero) because they are covered by
// the quote signature: a verifier must see exactly the bytes that were signed, and
// the signature check, not the parser, decides whether they are acceptable.

// ParseReportBody decodes a 384-byte report body. structName names the container for errors.
func ParseReportBody(b []byte) (*ReportBody, error) { return parseReportBody(b, "report body", 0) }

func parseReportBody(b []byte, structName string, base int) (*ReportBody, error) {
	if len(b) < ReportBodySize {
		return nil, perr(structName, "report_body", base, "truncated: need %d bytes, have %d", ReportBodySize, len(b))
	}
	r := &ReportBody{}
	copy(r.CPUSVN[:], b[0:16])
	r.MiscSelect = MiscSelect(binary.LittleEndian.Uint32(b[16:20]))
	copy(r.Reserved1[:], b[20:32])
	copy(r.ISVExtProdID[:], b[32:48])
	r.Attributes, _ = ParseAttributes(b[48:64])
	copy(r.MREnclave[:], b[64:96])
	copy(r.Reserved2[:], b[96:128])
	copy(r.MRSigner[:], b[128:160])
	copy(r.Reserved3[:], b[160:192])
	copy(r.ConfigID[:], b[192:256])
	r.ISVProdID = binary.LittleEndian.Uint16(b[256:258])
	r.ISVSVN = binary.LittleEndian.Uint16(b[258:260])
	r.ConfigSVN = binary.LittleEndian.Uint16(b[260:262])
	copy(r.Reserved4[:], b[262:304])
	copy(r.ISVFamilyID[:], b[304:320])
	copy(r.ReportData[:], b[320:384])
	return r, nil
}

// Marshal encodes the report body as 384 bytes.
func (r *ReportBody) Marshal() []byte {
	b := make([]byte, ReportBodySize)
	copy(b[0:16], r.CPUSVN[:])
	binary.LittleEndian.PutUint32(b[16:20], uint32(r.MiscSelect))
	copy(b[20:32], r.Reserved1[:])
	copy(b[32:48], r.ISVExtProdID[:])
	a := r.Attributes.Marshal()
	copy(b[48:64], a[:])
	copy(b[64:96], r.MREnclave[:])
	copy(b[96:128], r.Reserved2[:])
	copy(b[128:160], r.MRSigner[:])
	copy(b[160:192], r.Reserved3[:])
	copy(b[192:256], r.ConfigID[:])
	binary.LittleEndian.PutUint16(b[256:258], r.ISVProdID)
	binary.LittleEndian.PutUint16(b[258:260], r.ISVSVN)
	binary.LittleEndian.PutUint16(b[260:262], r.ConfigSVN)
	copy(b[262:304], r.Reserved4[:])
	copy(b[304:320], r.ISVFamilyID[:])
	copy(b[320:384], r.ReportData[:])
	return b
}

// TD report body sizes.
const (
	TDReportBody10Size = 584 // TDX 1.0 (quote v4, v5 body type 2)
	TDReportBody15Size = 648 // TDX 1.5 (quote v5 body type 3)
)

// TDReportBody is the TD quote body (TDX 1.0, and 1.5 when Is15 is true).
type TDReportBody struct {
	TEETCBSVN      [16]byte
	MRSEAM         [48]byte
	MRSignerSEAM   [48]byte
	SEAMAttributes [8]byte
	TDAttributes   [8]byte
	XFAM           [8]byte
	MRTD           [48]byte
	MRConfigID     [48]byte
	MROwner        [48]byte
	MROwnerConfig  [48]byte
	RTMRs          [4][48]byte
	ReportData     [64]byte
	// TDX 1.5 only.
	Is15        bool
	TEETCBSVN2  [16]byte
	MRServiceTD [48]byte
}

// TDDebug reports whether the TD's DEBUG attribute (TDATTRIBUTES bit 0) is set.
func (t *TDReportBody) TDDebug() bool { return t.TDAttributes[0]&1 != 0 }

// Size is the encoded size of the body.
func (t *TDReportBody) Size() int {
	if t.Is15 {
		return TDReportBody15Size
	}
	return TDReportBody10Size
}

func parseTDReportBody(b []byte, is15 bool, structName string, base int) (*TDReportBody, error) {
	size := TDReportBody10Size
	if is15 {
		size = TDReportBody15Size
	}
	if len(b) < size {
		return nil, perr(structName, "td_report_body", base, "truncated: need %d bytes, have %d", size, len(b))
	}
	t := &TDReportBody{Is15: is15}
	o := 0
	take := func(dst []byte) { copy(dst, b[o:o+len(dst)]); o += len(dst) }
	take(t.TEETCBSVN[:])
	take(t.MRSEAM[:])
	take(t.MRSignerSEAM[:])
	take(t.SEAMAttributes[:])
	take(t.TDAttributes[:])
	take(t.XFAM[:])
	take(t.MRTD[:])
	take(t.MRConfigID[:])
	take(t.MROwner[:])
	take(t.MROwnerConfig[:])
	for i := range t.RTMRs {
		take(t.RTMRs[i][:])
	}
	take(t.ReportData[:])
	if is15 {
		take(t.TEETCBSVN2[:])
		take(t.MRServiceTD[:])
	}
	return t, nil
}

// Marshal encodes the TD report body.
func (t *TDReportBody) Marshal() []byte {
	b := make([]byte, 0, t.Size())
	b = append(b, t.TEETCBSVN[:]...)
	b = append(b, t.MRSEAM[:]...)
	b = append(b, t.MRSignerSEAM[:]...)
	b = append(b, t.SEAMAttributes[:]...)
	b = append(b, t.TDAttributes[:]...)
	b = append(b, t.XFAM[:]...)
	b = append(b, t.MRTD[:]...)
	b = append(b, t.MRConfigID[:]...)
	b = append(b, t.MROwner[:]...)
	b = append(b, t.MROwnerConfig[:]...)
	for i := range t.RTMRs {
		b = append(b, t.RTMRs[i][:]...)
	}
	b = append(b, t.ReportData[:]...)
	if t.Is15 {
		b = append(b, t.TEETCBSVN2[:]...)
		b = append(b, t.MRServiceTD[:]...)
	}
	return b
}
