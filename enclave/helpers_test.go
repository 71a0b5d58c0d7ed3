package enclave

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"
)

// sgxsWriter writes an SGXS stream record by record (test-side generator,
// written from the SGXS specification, independent of the parser).
type sgxsWriter struct {
	w   io.Writer
	err error
}

func (s *sgxsWriter) write(b []byte) {
	if s.err == nil {
		_, s.err = s.w.Write(b)
	}
}

func (s *sgxsWriter) header(tag string, fill func(r []byte)) {
	var r [64]byte
	copy(r[:8], tag)
	fill(r[:])
	s.write(r[:])
}

func (s *sgxsWriter) ecreate(ssaFrameSize uint32, size uint64) {
	s.header("ECREATE", func(r []byte) {
		binary.LittleEndian.PutUint32(r[8:], ssaFrameSize)
		binary.LittleEndian.PutUint64(r[12:], size)
	})
}

func (s *sgxsWriter) eadd(offset, secinfoFlags uint64) {
	s.header("EADD", func(r []byte) {
		binary.LittleEndian.PutUint64(r[8:], offset)
		binary.LittleEndian.PutUint64(r[16:], secinfoFlags)
	})
}

// eextendPage measures a whole 4096-byte page as 16 EEXTEND records.
func (s *sgxsWriter) eextendPage(offset uint64, page []byte) {
	for i := 0; i < 16; i++ {
		s.header("EEXTEND", func(r []byte) { binary.LittleEndian.PutUint64(r[8:], offset+uint64(i*256)) })
		s.write(page[i*256 : (i+1)*256])
	}
}

// SECINFO flags used by the generator.
const (
	flagsTCS    = 0x100 // PT_TCS, no permissions
	flagsRegRWX = 0x207 // PT_REG, R|W|X
	flagsRegRW  = 0x203
)

// elfSection is one section of a synthetic ELF file.
type elfSection struct {
	name  string
	typ   uint32
	flags uint64
	data  []byte
}

// buildELF64 writes a minimal little-endian ELF64 shared object with the given
// sections (no program headers): the ELF header, the section contents, a
// .shstrtab, then the section header table. It is a synthetic test input;
// the layout follows the System V gABI.
func buildELF64(sections []elfSection) []byte {
	le := binary.LittleEndian
	var shstr bytes.Buffer
	shstr.WriteByte(0)
	nameOff := make([]uint32, len(sections)+1)
	for i, s := range sections {
		nameOff[i] = uint32(shstr.Len())
		shstr.WriteString(s.name)
		shstr.WriteByte(0)
	}
	nameOff[len(sections)] = uint32(shstr.Len())
	shstr.WriteString(".shstrtab\x00")
	all := append(append([]elfSection{}, sections...), elfSection{typ: 3 /* SHT_STRTAB */, data: shstr.Bytes()})

	out := make([]byte, 64)
	offsets := make([]uint64, len(all))
	for i, s := range all {
		for len(out)%8 != 0 {
			out = append(out, 0)
		}
		offsets[i] = uint64(len(out))
		out = append(out, s.data...)
	}
	for len(out)%8 != 0 {
		out = append(out, 0)
	}
	shoff := uint64(len(out))
	out = append(out, make([]byte, 64)...) // null section header
	for i, s := range all {
		var sh [64]byte
		le.PutUint32(sh[0:], nameOff[i])
		le.PutUint32(sh[4:], s.typ)
		le.PutUint64(sh[8:], s.flags)
		le.PutUint64(sh[16:], 0) // addr
		le.PutUint64(sh[24:], offsets[i])
		le.PutUint64(sh[32:], uint64(len(s.data)))
		le.PutUint64(sh[48:], 1) // addralign
		out = append(out, sh[:]...)
	}
	copy(out[0:], "\x7fELF")
	out[4], out[5], out[6] = 2, 1, 1 // ELFCLASS64, ELFDATA2LSB, EV_CURRENT
	le.PutUint16(out[16:], 3)        // ET_DYN
	le.PutUint16(out[18:], 62)       // EM_X86_64
	le.PutUint32(out[20:], 1)        // EV_CURRENT
	le.PutUint64(out[40:], shoff)
	le.PutUint16(out[52:], 64) // ehsize
	le.PutUint16(out[58:], 64) // shentsize
	le.PutUint16(out[60:], uint16(len(all)+1))
	le.PutUint16(out[62:], uint16(len(all))) // shstrndx: the last section
	return out
}

// oeProperties builds an oe_sgx_enclave_properties_t of the given total size
// (1928 or 1960) holding sigstruct, per Open Enclave's sgxproperties.h.
func oeProperties(size uint32, enclaveType uint32, sigstruct []byte) []byte {
	p := make([]byte, size)
	le := binary.LittleEndian
	le.PutUint32(p[0:], size)
	le.PutUint32(p[4:], enclaveType)
	le.PutUint64(p[8:], 1024) // num_heap_pages
	le.PutUint64(p[16:], 256) // num_stack_pages
	le.PutUint64(p[24:], 4)   // num_tcs
	le.PutUint16(p[32:], 7)   // config.product_id (the SIGSTRUCT is authoritative)
	copy(p[size-8-1808:], sigstruct)
	le.PutUint64(p[size-8:], 0xecececececececec) // end_marker
	return p
}

// wantErr checks that err is an *Error with the given reason, field and offset.
func wantErr(t *testing.T, err error, reason Reason, field string, offset int64) *Error {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not an *enclave.Error", err, err)
	}
	if e.Reason != reason || e.Field != field || e.Offset != offset {
		t.Errorf("error %q: reason %v field %q offset %d; want %v %q %d", err, e.Reason, e.Field, e.Offset, reason, field, offset)
	}
	return e
}
