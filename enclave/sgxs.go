package enclave

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"io"
	"strconv"
)

// SGXS stream layout (Fortanix rust-sgx doc/SGXS.md; record contents are the
// MRENCLAVE update blobs of ECREATE, EADD and EEXTEND in the Intel SDM):
// 64-byte records beginning with an 8-byte tag; an EEXTEND record is followed
// by the 256 measured bytes.
const (
	sgxsRecordSize  = 64
	sgxsExtendData  = 256
	sgxsExtendTotal = sgxsRecordSize + sgxsExtendData
	pageSize        = 4096
	// sgxsBufSize is the read buffer: large reads keep the hash fed (SHA-NI
	// hashes faster than small reads are issued).
	sgxsBufSize = 4 << 20
)

func sgxsTag(s string) uint64 {
	var b [8]byte
	copy(b[:], s)
	return binary.LittleEndian.Uint64(b[:])
}

var (
	tagECREATE  = sgxsTag("ECREATE")
	tagEADD     = sgxsTag("EADD")
	tagEEXTEND  = sgxsTag("EEXTEND")
	tagUNSIZED  = sgxsTag("UNSIZED")
	tagUNMEASRD = sgxsTag("UNMEASRD")
)

// SECINFO.FLAGS fields measured by EADD.
const (
	secinfoRWX      uint64 = 0x7
	secinfoPTShift         = 8
	secinfoPTTCS    uint64 = 1
	secinfoPTREG    uint64 = 2
	secinfoValidBit uint64 = 0xff07 // R, W, X and the page type; the rest must be zero for EADD
)

// SGXSInfo is the result of measuring an SGXS stream.
type SGXSInfo struct {
	MREnclave    [32]byte // SHA-256 of the whole stream
	EnclaveSize  uint64   // ECREATE SIZE in bytes
	SSAFrameSize uint32   // ECREATE SSAFRAMESIZE in pages
	Pages        int      // EADD records
	Extends      int      // EEXTEND records (256 measured bytes each)
	StreamSize   int64    // bytes in the stream
}

// MeasureSGXS reads an SGXS stream to its end, validates its record structure
// and returns the MRENCLAVE it measures. The stream must be canonical (see
// the SGXS specification): ECREATE first and only once, EADD offsets page
// aligned and increasing, each EEXTEND inside the page of the preceding EADD
// and each 256-byte chunk of a page extended at most once. Enhanced SGXS
// records (UNSIZED, UNMEASRD) are rejected because the stream's hash would not
// be MRENCLAVE. The stream is processed in fixed-size chunks.
func MeasureSGXS(r io.Reader) (*SGXSInfo, error) {
	bufSize := sgxsBufSize
	// Small inputs of known size (bytes.Reader, io.SectionReader) get a small buffer.
	if s, ok := r.(interface{ Size() int64 }); ok && s.Size() < int64(bufSize) {
		bufSize = int(s.Size())
	}
	return measureSGXS(r, bufSize)
}

func measureSGXS(r io.Reader, bufSize int) (*SGXSInfo, error) {
	if bufSize < sgxsExtendTotal {
		bufSize = sgxsExtendTotal
	}
	h := sha256.New()
	buf := make([]byte, bufSize)
	p := &sgxsParser{}
	pending := 0
	var base int64
	for {
		n, rerr := io.ReadFull(r, buf[pending:])
		if n > 0 {
			h.Write(buf[pending : pending+n])
			pending += n
		}
		c, err := p.parse(buf[:pending], base)
		if err != nil {
			return nil, err
		}
		if c > 0 {
			pending = copy(buf, buf[c:pending])
			base += int64(c)
		}
		if rerr == io.EOF || errors.Is(rerr, io.ErrUnexpectedEOF) {
			break
		}
		if rerr != nil {
			return nil, &Error{Format: FormatSGXS, Reason: ReasonIO, Field: p.field(""), Offset: base + int64(pending), Err: rerr}
		}
	}
	if pending > 0 {
		field := p.field("")
		if pending >= sgxsRecordSize {
			field = p.field("data")
		}
		return nil, newErr(FormatSGXS, ReasonTruncated, field, base, "stream ends %d bytes into a record", pending)
	}
	if p.records == 0 {
		return nil, newErr(FormatSGXS, ReasonEmpty, "", 0, "no records")
	}
	p.info.StreamSize = base
	h.Sum(p.info.MREnclave[:0])
	return &p.info, nil
}

// sgxsParser validates records; it keeps only the state canonicality needs.
type sgxsParser struct {
	info     SGXSInfo
	records  int
	havePage bool
	page     uint64 // offset of the page of the last EADD
	extended uint16 // 256-byte chunks of that page already extended
}

// field names a field of the current record, e.g. "record[3].offset".
func (p *sgxsParser) field(name string) string {
	f := "record[" + strconv.Itoa(p.records) + "]"
	if name != "" {
		f += "." + name
	}
	return f
}

// parse consumes the complete records at the start of b (which begins at
// stream offset base) and returns how many bytes it consumed.
func (p *sgxsParser) parse(b []byte, base int64) (int, error) {
	le := binary.LittleEndian
	used := 0
	for len(b)-used >= sgxsRecordSize {
		rec := b[used:]
		tag := le.Uint64(rec)
		size := sgxsRecordSize
		if tag == tagEEXTEND {
			size = sgxsExtendTotal
			if len(rec) < size {
				break
			}
		}
		if err := p.record(tag, rec[:sgxsRecordSize], base+int64(used)); err != nil {
			return used, err
		}
		p.records++
		used += size
	}
	return used, nil
}

func (p *sgxsParser) bad(off int64, name string, format string, args ...any) *Error {
	return newErr(FormatSGXS, ReasonMalformed, p.field(name), off, format, args...)
}

func (p *sgxsParser) record(tag uint64, rec []byte, off int64) error {
	le := binary.LittleEndian
	if p.records == 0 && tag != tagECREATE {
		if tag == tagUNSIZED {
			return newErr(FormatSGXS, ReasonUnsupported, p.field("tag"), off, "enhanced SGXS UNSIZED record: the enclave size is not final, the stream cannot be measured")
		}
		return p.bad(off, "tag", "stream must start with an ECREATE record, found tag %q", tagString(rec[:8]))
	}
	switch tag {
	case tagECREATE:
		if p.records != 0 {
			return p.bad(off, "tag", "second ECREATE record")
		}
		ssa := le.Uint32(rec[8:])
		size := le.Uint64(rec[12:])
		if ssa == 0 {
			return p.bad(off+8, "ssaframesize", "SSA frame size is 0")
		}
		if size < pageSize || size&(size-1) != 0 {
			return newErr(FormatSGXS, ReasonTooLarge, p.field("size"), off+12, "enclave size 0x%x is not a power of two of at least one page", size)
		}
		if i := nonZero(rec[20:]); i >= 0 {
			return p.bad(off+20+int64(i), "reserved", "must be zero")
		}
		p.info.SSAFrameSize, p.info.EnclaveSize = ssa, size
	case tagEADD:
		page := le.Uint64(rec[8:])
		flags := le.Uint64(rec[16:])
		switch {
		case page%pageSize != 0:
			return p.bad(off+8, "offset", "EADD offset 0x%x is not page aligned", page)
		case page >= p.info.EnclaveSize:
			return p.bad(off+8, "offset", "EADD offset 0x%x outside the enclave (size 0x%x)", page, p.info.EnclaveSize)
		case p.havePage && page <= p.page:
			return p.bad(off+8, "offset", "EADD offset 0x%x not above the previous EADD 0x%x (non-canonical stream)", page, p.page)
		}
		pt := flags >> secinfoPTShift & 0xff
		if flags&^secinfoValidBit != 0 || (pt != secinfoPTTCS && pt != secinfoPTREG) || (pt == secinfoPTTCS && flags&secinfoRWX != 0) {
			return p.bad(off+16, "secinfo.flags", "invalid SECINFO flags 0x%x for EADD", flags)
		}
		if i := nonZero(rec[24:]); i >= 0 {
			return p.bad(off+24+int64(i), "secinfo.reserved", "must be zero")
		}
		p.havePage, p.page, p.extended = true, page, 0
		p.info.Pages++
	case tagEEXTEND:
		at := le.Uint64(rec[8:])
		switch {
		case at%sgxsExtendData != 0:
			return p.bad(off+8, "offset", "EEXTEND offset 0x%x is not 256-byte aligned", at)
		case !p.havePage || at&^(pageSize-1) != p.page:
			return p.bad(off+8, "offset", "EEXTEND offset 0x%x is not in the page of the preceding EADD (non-canonical stream)", at)
		}
		chunk := uint16(1) << (at % pageSize / sgxsExtendData)
		if p.extended&chunk != 0 {
			return p.bad(off+8, "offset", "EEXTEND offset 0x%x extended twice", at)
		}
		p.extended |= chunk
		if i := nonZero(rec[16:]); i >= 0 {
			return p.bad(off+16+int64(i), "reserved", "must be zero")
		}
		p.info.Extends++
	case tagUNMEASRD, tagUNSIZED:
		return newErr(FormatSGXS, ReasonUnsupported, p.field("tag"), off, "enhanced SGXS record %q: the stream is not a pure measurement stream", tagString(rec[:8]))
	default:
		return p.bad(off, "tag", "unknown record tag %q", tagString(rec[:8]))
	}
	return nil
}

func nonZero(b []byte) int {
	for i, c := range b {
		if c != 0 {
			return i
		}
	}
	return -1
}

func tagString(b []byte) string {
	end := len(b)
	for end > 0 && b[end-1] == 0 {
		end--
	}
	return string(b[:end])
}
