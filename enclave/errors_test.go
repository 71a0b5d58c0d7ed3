package enclave

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"

	"github.com/sgxops/sgxops/internal/corpus"
)

// Offsets inside the PCE ELF (corpus), found with readelf: the .note.sgxmeta
// section (index 21) starts at 0x1F916C; its note name "sgx_metadata" is 13
// bytes and the metadata follows unpadded at 0x1F9185; the SIGSTRUCT is at
// metadata+64. The section header table is at 0x1FF250.
const (
	pceNote      = 0x1F916C
	pceMetadata  = 0x1F9185
	pceSigstruct = 0x1F91C5
	pceShdrNote  = 0x1FF250 + 21*64
)

type errCase struct {
	name   string
	in     []byte
	reason Reason
	field  string
	offset int64
}

func mutate(b []byte, f func(c []byte)) []byte {
	c := append([]byte{}, b...)
	f(c)
	return c
}

func putU32(off int, v uint32) func([]byte) {
	return func(c []byte) { binary.LittleEndian.PutUint32(c[off:], v) }
}

func putU64(off int, v uint64) func([]byte) {
	return func(c []byte) { binary.LittleEndian.PutUint64(c[off:], v) }
}

func runErrCases(t *testing.T, cases []errCase) {
	t.Helper()
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			m, err := MeasureBytes(tt.in)
			if err == nil {
				t.Fatalf("no error; measured %+v", m)
			}
			wantErr(t, err, tt.reason, tt.field, tt.offset)
			t.Log(err)
		})
	}
}

func TestMeasureErrorsGeneric(t *testing.T) {
	le := corpus.Read(t, "sigstruct/intel-linux-sgx/le_prod_css.bin")
	runErrCases(t, []errCase{
		{"empty", nil, ReasonEmpty, "", 0},
		{"text", []byte("hello, not an enclave\n"), ReasonUnknownFormat, "", 0},
		{"zero page", make([]byte, 4096), ReasonUnknownFormat, "", 0},
		{"sigstruct truncated", le[:1000], ReasonTruncated, "sigstruct", 1000},
		{"sigstruct header only", le[:12], ReasonTruncated, "sigstruct", 12},
		{"sigstruct trailing byte", append(append([]byte{}, le...), 0), ReasonTooLarge, "sigstruct", 1808},
		{"sigstruct wrong header magic", mutate(le, func(c []byte) { c[0] = 0x07 }), ReasonMalformed, "header", 0},
		{"sigstruct wrong header2", mutate(le, func(c []byte) { c[30] = 0xff }), ReasonMalformed, "header2", 24},
		{"sigstruct vendor", mutate(le, putU32(16, 0x8087)), ReasonMalformed, "vendor", 16},
		{"sigstruct reserved", mutate(le, func(c []byte) { c[50] = 1 }), ReasonMalformed, "reserved1", 50},
	})
}

func TestMeasureErrorsSGXSDK(t *testing.T) {
	pce := corpus.Read(t, pceFile)
	noEnclave := buildELF64([]elfSection{{name: ".text", typ: uint32(elf.SHT_PROGBITS), data: []byte{0xc3}}})
	runErrCases(t, []errCase{
		{"truncated ELF", pce[:4096], ReasonMalformed, "elf", 0},
		{"ELF header only", pce[:64], ReasonMalformed, "elf", 0},
		{"ELF without enclave metadata", noEnclave, ReasonNoSigstruct, "", 0},
		{"note descsz absurd", mutate(pce, putU32(pceNote+4, 0xfffffff0)), ReasonTooLarge, "note.descsz", pceNote + 4},
		{"note namesz absurd", mutate(pce, putU32(pceNote, 0x7fffffff)), ReasonTooLarge, "note.namesz", pceNote},
		{"metadata magic", mutate(pce, func(c []byte) { c[pceMetadata] ^= 0xff }), ReasonMalformed, "metadata.magic_num", pceMetadata},
		{"metadata size absurd", mutate(pce, putU32(pceMetadata+16, 0x7fffffff)), ReasonTooLarge, "metadata.size", pceMetadata + 16},
		{"metadata size too small", mutate(pce, putU32(pceMetadata+16, 100)), ReasonTooLarge, "metadata.size", pceMetadata + 16},
		{"section size absurd", mutate(pce, putU64(pceShdrNote+32, 1<<40)), ReasonTooLarge, "section .note.sgxmeta.size", pceNote},
		{"embedded sigstruct vendor", mutate(pce, putU32(pceSigstruct+16, 0x1234)), ReasonMalformed, "sigstruct.vendor", pceSigstruct + 16},
		{"embedded sigstruct header", mutate(pce, func(c []byte) { c[pceSigstruct+4] = 0 }), ReasonMalformed, "sigstruct.header", pceSigstruct},
		{"embedded sigstruct reserved", mutate(pce, func(c []byte) { c[pceSigstruct+1030] = 1 }), ReasonMalformed, "sigstruct.reserved4", pceSigstruct + 1030},
	})
}

func TestMeasureErrorsOpenEnclave(t *testing.T) {
	sig := corpus.Read(t, "sigstruct/intel-linux-sgx/le_prod_css.bin")
	build := func(info []byte) ([]byte, int64) {
		img := buildELF64([]elfSection{{name: ".oeinfo", typ: uint32(elf.SHT_PROGBITS), flags: uint64(elf.SHF_ALLOC), data: info}})
		f, err := elf.NewFile(bytes.NewReader(img))
		if err != nil {
			t.Fatal(err)
		}
		return img, int64(f.Section(".oeinfo").Offset)
	}
	unsigned, off := build(oeProperties(oeSizeCurrent, oeTypeSGX, make([]byte, 1808)))
	badSize, _ := build(oeProperties(2000, oeTypeSGX, sig))
	optee, _ := build(oeProperties(oeSizeCurrent, 3, sig))
	short, _ := build(oeProperties(oeSizeCurrent, oeTypeSGX, sig)[:1000])
	tiny, _ := build(make([]byte, 20))
	badSig, _ := build(oeProperties(oeSizeLegacy, oeTypeSGX, mutate(sig, func(c []byte) { c[24] = 0 })))
	runErrCases(t, []errCase{
		{"unsigned (zero SIGSTRUCT)", unsigned, ReasonUnsigned, "oeinfo.sigstruct", off + 144},
		{"unknown properties size", badSize, ReasonTooLarge, "oeinfo.header.size", off},
		{"OP-TEE enclave type", optee, ReasonUnsupported, "oeinfo.header.enclave_type", off + 4},
		{"truncated properties", short, ReasonTruncated, "oeinfo", off},
		{"section smaller than header", tiny, ReasonTruncated, "oeinfo.header", off},
		{"malformed SIGSTRUCT", badSig, ReasonMalformed, "sigstruct.header2", off + 112 + 24},
	})
}

func TestMeasureErrorsSGXS(t *testing.T) {
	s := corpus.Read(t, "sigstruct/fortanix-rust-sgx/test_enclave.sgxs")
	// Layout of test_enclave.sgxs: record 0 ECREATE at 0, record 1 EADD at 64,
	// records 2.. EEXTEND at 128, 448, ... (320 bytes each).
	runErrCases(t, []errCase{
		{"truncated in record header", s[:128+30], ReasonTruncated, "record[2]", 128},
		{"truncated in EEXTEND data", s[:128+100], ReasonTruncated, "record[2].data", 128},
		{"truncated after ECREATE", s[:70], ReasonTruncated, "record[1]", 64},
		{"unknown tag", mutate(s, func(c []byte) { copy(c[64:72], "EBLAH\x00\x00\x00") }), ReasonMalformed, "record[1].tag", 64},
		{"second ECREATE", mutate(s, func(c []byte) { copy(c[64:72], "ECREATE\x00") }), ReasonMalformed, "record[1].tag", 64},
		{"ECREATE size not a power of two", mutate(s, putU64(12, 0x40001)), ReasonTooLarge, "record[0].size", 12},
		{"ECREATE size absurd zero", mutate(s, putU64(12, 0)), ReasonTooLarge, "record[0].size", 12},
		{"ECREATE ssaframesize 0", mutate(s, putU32(8, 0)), ReasonMalformed, "record[0].ssaframesize", 8},
		{"ECREATE reserved", mutate(s, func(c []byte) { c[40] = 1 }), ReasonMalformed, "record[0].reserved", 40},
		{"EADD misaligned", mutate(s, putU64(72, 0x10)), ReasonMalformed, "record[1].offset", 72},
		{"EADD outside enclave", mutate(s, putU64(72, 0x40000)), ReasonMalformed, "record[1].offset", 72},
		{"EADD page type", mutate(s, putU64(80, 0x303)), ReasonMalformed, "record[1].secinfo.flags", 80},
		{"EADD reserved flag bit", mutate(s, putU64(80, 0x10203)), ReasonMalformed, "record[1].secinfo.flags", 80},
		{"EADD secinfo reserved", mutate(s, func(c []byte) { c[94] = 1 }), ReasonMalformed, "record[1].secinfo.reserved", 94},
		{"EEXTEND misaligned", mutate(s, putU64(136, 0x10)), ReasonMalformed, "record[2].offset", 136},
		{"EEXTEND outside the EADD page", mutate(s, putU64(136, 0x1000)), ReasonMalformed, "record[2].offset", 136},
		{"EEXTEND twice", mutate(s, putU64(456, 0)), ReasonMalformed, "record[3].offset", 456},
		{"EEXTEND reserved", mutate(s, func(c []byte) { c[150] = 1 }), ReasonMalformed, "record[2].reserved", 150},
		{"UNMEASRD record", mutate(s, func(c []byte) { copy(c[128:136], "UNMEASRD") }), ReasonUnsupported, "record[2].tag", 128},
		{"UNSIZED stream", mutate(s, func(c []byte) { copy(c[0:8], "UNSIZED\x00") }), ReasonUnsupported, "record[0].tag", 0},
		{"stream not starting with ECREATE", s[64:], ReasonUnknownFormat, "", 0},
	})

	// Directly through MeasureSGXS the missing ECREATE is named.
	_, err := MeasureSGXS(bytes.NewReader(s[64:]))
	wantErr(t, err, ReasonMalformed, "record[0].tag", 0)
	_, err = MeasureSGXS(bytes.NewReader(nil))
	wantErr(t, err, ReasonEmpty, "", 0)
}

func TestMeasureFileErrors(t *testing.T) {
	dir := t.TempDir()
	_, err := Measure(filepath.Join(dir, "missing.sig"))
	wantErr(t, err, ReasonIO, "", 0)
	_, err = Measure(dir)
	wantErr(t, err, ReasonIO, "", 0)
	p := filepath.Join(dir, "empty.sig")
	if err := os.WriteFile(p, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = Measure(p)
	wantErr(t, err, ReasonEmpty, "", 0)
}

func TestMeasureNoteBudget(t *testing.T) {
	const size = 5 << 20
	var secs []elfSection
	for _, n := range []string{".note.a", ".note.b", ".note.c", ".note.d"} {
		secs = append(secs, elfSection{name: n, typ: uint32(elf.SHT_NOTE), data: make([]byte, size)})
	}
	img := buildELF64(secs)
	f, err := elf.NewFile(bytes.NewReader(img))
	if err != nil {
		t.Fatal(err)
	}
	_, err = MeasureBytes(img)
	wantErr(t, err, ReasonTooLarge, "section .note.d.size", int64(f.Section(".note.d").Offset))
}
