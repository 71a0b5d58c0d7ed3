package enclave

import (
	"bytes"
	"crypto/sha256"
	"debug/elf"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/sgxops/sgxops/internal/corpus"
	"github.com/sgxops/sgxops/sgx"
)

const pceFile = "sigstruct/fortanix-rust-sgx/libsgx_pce.signed.so.1.25.100.1"

// measureCase is a corpus enclave file with the values corpus/PROVENANCE.md
// states for it ("SIGSTRUCT values" table).
type measureCase struct {
	file      string
	format    Format
	offset    int64
	mrenclave string
	mrsigner  string
	prodID    uint16
	svn       uint16
	debug     DebugPolicy
}

var measureCases = []measureCase{
	{"sigstruct/enarx-sgx/encl.ss", FormatSigstruct, 0,
		"b999536238fcf4e9d360ef6cd3e0c20ef8a684c7b93f74a9c4a4c6d517d61fc0",
		"2f9f8fd4fe12d77232f1d87571ca8252ca27714efe7705e46222cffd5a22e8c4", 0, 0, DebugAllowed},
	{"sigstruct/fortanix-rust-sgx/test_enclave.sig", FormatSigstruct, 0,
		"784acfd7d5096a8f0fbd3265760bff21b120f62407a9a9e5ba31aa3c8ed198fc",
		"fb4bab3d6036ac1d730fa83d7366df1dd2dfeac194ef335d6854d8a6c6475542", 65535, 0, DebugAllowed},
	{"sigstruct/fortanix-rust-sgx/test_enclave.sgxs", FormatSGXS, 0,
		"784acfd7d5096a8f0fbd3265760bff21b120f62407a9a9e5ba31aa3c8ed198fc",
		"fb4bab3d6036ac1d730fa83d7366df1dd2dfeac194ef335d6854d8a6c6475542", 65535, 0, DebugAllowed},
	{"sigstruct/intel-linux-sgx/le_prod_css.bin", FormatSigstruct, 0,
		"7881af9f9def547da9908c008f29cde9bd78064e36ac7e14c83c294ca4806150",
		"acb77012053e05a63d413b8bbae8fb6c5d73b3f2996d91c43bbbf90959c0f8d4", 32, 7, DebugForbidden},
	{pceFile, FormatSGXSDK, 0x1F91C5,
		"03e3f07e8c11cc08a1fa2afa93a8f2699cc8d9e17efa890af5df4e3cf7696578",
		"c54a62f2be9ef76efb1f3930ad81ea7f60defc1f5f25e09b7c067a815ae0c6cb", 1, 16, DebugForbidden},
	{"sigstruct/initc3-auditee/sigstruct", FormatSigstruct, 0,
		"f19de84787f1a90ad7bc2d4c2fd952e05545c6f177e8b10b112a4cef31ba0454",
		"bd71c6380ef77c5417e8b2d1ce2d4b6504b9f418e5049342440cfff2443d95bd", 0, 1, DebugAllowed},
}

func TestMeasureCorpus(t *testing.T) {
	for _, c := range measureCases {
		t.Run(filepath.Base(c.file), func(t *testing.T) {
			m, err := Measure(corpus.Path(t, c.file))
			if err != nil {
				t.Fatal(err)
			}
			if m.Format != c.format || m.SigstructOffset != c.offset {
				t.Errorf("format %s offset 0x%x, want %s 0x%x", m.Format, m.SigstructOffset, c.format, c.offset)
			}
			if got := hex.EncodeToString(m.MREnclave[:]); got != c.mrenclave {
				t.Errorf("MRENCLAVE %s, want %s", got, c.mrenclave)
			}
			if got := hex.EncodeToString(m.MRSigner[:]); got != c.mrsigner {
				t.Errorf("MRSIGNER %s, want %s", got, c.mrsigner)
			}
			if m.ISVProdID != c.prodID || m.ISVSVN != c.svn {
				t.Errorf("ISVPRODID/ISVSVN %d/%d, want %d/%d", m.ISVProdID, m.ISVSVN, c.prodID, c.svn)
			}
			if !m.SignatureValid || m.SignatureErr != nil {
				t.Errorf("signature valid=%v err=%v", m.SignatureValid, m.SignatureErr)
			}
			if m.Debug != c.debug || m.DebugAllowed() != (c.debug != DebugForbidden) {
				t.Errorf("debug policy %v (allowed %v), want %v", m.Debug, m.DebugAllowed(), c.debug)
			}
			wantMatch := MatchNotApplicable
			if c.format == FormatSGXS {
				wantMatch = MatchOK
			}
			if m.Match != wantMatch {
				t.Errorf("match %v, want %v", m.Match, wantMatch)
			}
			if c.format != FormatSGXS {
				// In-memory measurement agrees with the file measurement.
				mb, err := MeasureBytes(corpus.Read(t, c.file))
				if err != nil || mb.MREnclave != m.MREnclave || mb.MRSigner != m.MRSigner || mb.SigstructOffset != m.SigstructOffset {
					t.Errorf("MeasureBytes disagrees: %+v, %v", mb, err)
				}
			}
		})
	}
}

func TestMeasureSGXSStream(t *testing.T) {
	path := corpus.Path(t, "sigstruct/fortanix-rust-sgx/test_enclave.sgxs")
	m, err := Measure(path)
	if err != nil {
		t.Fatal(err)
	}
	want := SGXSInfo{EnclaveSize: 0x40000, SSAFrameSize: 1, Pages: 9, Extends: 144, StreamSize: 46720}
	got := *m.SGXS
	got.MREnclave = [32]byte{}
	if got != want {
		t.Errorf("SGXS info %+v, want %+v", got, want)
	}
	if hex.EncodeToString(m.SGXS.MREnclave[:]) != "784acfd7d5096a8f0fbd3265760bff21b120f62407a9a9e5ba31aa3c8ed198fc" {
		t.Errorf("recomputed MRENCLAVE %x", m.SGXS.MREnclave)
	}
	if m.SigstructPath != filepath.Join(filepath.Dir(path), "test_enclave.sig") || m.Sigstruct == nil {
		t.Errorf("sibling SIGSTRUCT %q not used", m.SigstructPath)
	}

	// Without its .sig (in memory) the stream still measures, unsigned.
	mb, err := MeasureBytes(corpus.Read(t, "sigstruct/fortanix-rust-sgx/test_enclave.sgxs"))
	if err != nil {
		t.Fatal(err)
	}
	if mb.MREnclave != m.MREnclave || mb.Sigstruct != nil || mb.SignatureValid || !errors.Is(mb.SignatureErr, ErrNoSigstruct) ||
		mb.Debug != DebugUnknown || mb.Match != MatchNotApplicable || mb.MRSigner != ([32]byte{}) {
		t.Errorf("bare stream: %+v", mb)
	}
}

// copyTo writes b to dir/name and returns the path.
func copyTo(t *testing.T, dir, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestMeasureSGXSSiblingMismatch(t *testing.T) {
	dir := t.TempDir()
	p := copyTo(t, dir, "app.sgxs", corpus.Read(t, "sigstruct/fortanix-rust-sgx/test_enclave.sgxs"))
	copyTo(t, dir, "app.sig", corpus.Read(t, "sigstruct/intel-linux-sgx/le_prod_css.bin"))
	m, err := Measure(p)
	if err != nil {
		t.Fatal(err)
	}
	if m.Match != MatchMismatch {
		t.Errorf("match %v, want mismatch", m.Match)
	}
	if m.MREnclave != m.SGXS.MREnclave || m.MREnclave == m.Sigstruct.MREnclave {
		t.Errorf("MREnclave %x should be the recomputed value, not the SIGSTRUCT's", m.MREnclave)
	}
	if !m.SignatureValid {
		t.Errorf("the sibling's own signature is valid: %v", m.SignatureErr)
	}

	copyTo(t, dir, "app.sig", corpus.Read(t, "sigstruct/intel-linux-sgx/le_prod_css.bin")[:1000])
	_, err = Measure(p)
	wantErr(t, err, ReasonTruncated, "sibling_sig.sigstruct", 1000)
}

// The enarx SIGSTRUCT signs the measurement of encl.bin loaded as one TCS page
// followed by RWX regular pages, SSA frame size 1, enclave size 32 KiB
// (PROVENANCE.md). Building that SGXS stream with the test generator and
// measuring it cross-checks the generator and the parser against a real value.
func TestMeasureSGXSEnarxImage(t *testing.T) {
	img := corpus.Read(t, "sigstruct/enarx-sgx/encl.bin")
	var buf bytes.Buffer
	w := &sgxsWriter{w: &buf}
	w.ecreate(1, 32768)
	for off := 0; off < len(img); off += pageSize {
		flags := uint64(flagsRegRWX)
		if off == 0 {
			flags = flagsTCS
		}
		w.eadd(uint64(off), flags)
		w.eextendPage(uint64(off), img[off:off+pageSize])
	}
	info, err := MeasureSGXS(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if got := hex.EncodeToString(info.MREnclave[:]); got != "b999536238fcf4e9d360ef6cd3e0c20ef8a684c7b93f74a9c4a4c6d517d61fc0" {
		t.Errorf("MRENCLAVE of encl.bin %s, want the encl.ss ENCLAVEHASH", got)
	}
}

func TestMeasureOpenEnclaveSynthetic(t *testing.T) {
	// Synthetic: there is no Open Enclave enclave in the corpus. The ELF and the
	// properties structure are built here; the SIGSTRUCT inside is real.
	sig := corpus.Read(t, "sigstruct/intel-linux-sgx/le_prod_css.bin")
	for _, size := range []uint32{oeSizeLegacy, oeSizeCurrent} {
		for _, typ := range []uint32{oeTypeSGXLegacy, oeTypeAuto, oeTypeSGX} {
			img := buildELF64([]elfSection{
				{name: ".text", typ: uint32(elf.SHT_PROGBITS), flags: uint64(elf.SHF_ALLOC | elf.SHF_EXECINSTR), data: []byte{0xc3}},
				{name: ".oeinfo", typ: uint32(elf.SHT_PROGBITS), flags: uint64(elf.SHF_ALLOC), data: oeProperties(size, typ, sig)},
			})
			f, err := elf.NewFile(bytes.NewReader(img))
			if err != nil || f.Section(".oeinfo") == nil {
				t.Fatalf("synthetic ELF is not valid for debug/elf: %v", err)
			}
			sec := f.Section(".oeinfo")
			m, err := MeasureBytes(img)
			if err != nil {
				t.Fatalf("size %d type %d: %v", size, typ, err)
			}
			wantOff := int64(sec.Offset) + int64(size) - 8 - sgx.SigstructSize
			if m.Format != FormatOpenEnclave || m.SigstructOffset != wantOff {
				t.Errorf("format %s offset %d, want %s %d", m.Format, m.SigstructOffset, FormatOpenEnclave, wantOff)
			}
			if hex.EncodeToString(m.MREnclave[:]) != "7881af9f9def547da9908c008f29cde9bd78064e36ac7e14c83c294ca4806150" || !m.SignatureValid || m.ISVProdID != 32 {
				t.Errorf("measurement %+v", m)
			}
		}
	}
}

func TestMeasureSignatureInvalid(t *testing.T) {
	le := corpus.Read(t, "sigstruct/intel-linux-sgx/le_prod_css.bin")
	pce := corpus.Read(t, pceFile)
	flip := func(b []byte, off int, mask byte) []byte {
		c := append([]byte{}, b...)
		c[off] ^= mask
		return c
	}
	exp := append([]byte{}, le...)
	binary.LittleEndian.PutUint32(exp[512:], 65537)
	tests := []struct {
		name   string
		in     []byte
		reason sgx.SignatureReason
	}{
		{"raw: signature byte", flip(le, 700, 0x01), sgx.SignatureMismatch},
		{"raw: signed byte isvsvn", flip(le, 1026, 0x01), sgx.SignatureMismatch},
		{"raw: exponent", exp, sgx.SignatureBadExponent},
		{"raw: q1", flip(le, 1041, 0x01), sgx.SignatureBadQ1},
		{"raw: q2", flip(le, 1425, 0x01), sgx.SignatureBadQ2},
		{"elf: signature byte", flip(pce, 0x1F91C5+600, 0x01), sgx.SignatureMismatch},
		{"elf: signed byte enclavehash", flip(pce, 0x1F91C5+960, 0x01), sgx.SignatureMismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := MeasureBytes(tt.in)
			if err != nil {
				t.Fatalf("measure: %v", err)
			}
			var se *sgx.SignatureError
			if m.SignatureValid || !errors.As(m.SignatureErr, &se) || se.Reason != tt.reason {
				t.Errorf("signature valid=%v err=%v, want reason %v", m.SignatureValid, m.SignatureErr, tt.reason)
			}
		})
	}
}

func TestMeasureSGXSChunkBoundaries(t *testing.T) {
	b := corpus.Read(t, "sigstruct/fortanix-rust-sgx/test_enclave.sgxs")
	want := sha256.Sum256(b)
	for _, size := range []int{1, 320, 321, 383, 640, 4096, 65536} {
		info, err := measureSGXS(bytes.NewReader(b), size)
		if err != nil || info.MREnclave != want {
			t.Errorf("buffer %d: %v, %v", size, info, err)
		}
	}
}
