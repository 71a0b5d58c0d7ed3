package enclave

import (
	"bytes"
	"crypto/sha256"
	"debug/elf"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/sgxops/sgxops/internal/corpus"
)

// syntheticOE is a synthetic Open Enclave ELF (built here, no OE enclave in
// the corpus) around a real SIGSTRUCT.
func syntheticOE(t testing.TB) []byte {
	sig := corpus.Read(t, "sigstruct/intel-linux-sgx/le_prod_css.bin")
	return buildELF64([]elfSection{{name: ".oeinfo", typ: uint32(elf.SHT_PROGBITS), flags: uint64(elf.SHF_ALLOC), data: oeProperties(oeSizeCurrent, oeTypeSGX, sig)}})
}

func sameError(a, b error) bool {
	var ea, eb *Error
	if !errors.As(a, &ea) || !errors.As(b, &eb) {
		return false
	}
	return ea.Reason == eb.Reason && ea.Field == eb.Field && ea.Offset == eb.Offset && ea.Format == eb.Format
}

// FuzzMeasure feeds arbitrary bytes to MeasureBytes and, through a file, to
// Measure (the ELF path reads the file through io.ReaderAt); both must agree,
// never panic, and return only *Error.
func FuzzMeasure(f *testing.F) {
	for _, c := range measureCases {
		f.Add(corpus.Read(f, c.file))
	}
	f.Add(corpus.Read(f, "sigstruct/enarx-sgx/encl.bin"))
	f.Add(syntheticOE(f))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := MeasureBytes(b)
		p := filepath.Join(dir, "input.bin")
		if werr := os.WriteFile(p, b, 0o600); werr != nil {
			t.Fatal(werr)
		}
		mf, ferr := Measure(p)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %v (%T) is not an *enclave.Error", err, err)
			}
			if !sameError(err, ferr) {
				t.Fatalf("bytes: %v; file: %v", err, ferr)
			}
			return
		}
		if ferr != nil || mf.MREnclave != m.MREnclave || mf.Format != m.Format || mf.SignatureValid != m.SignatureValid {
			t.Fatalf("bytes and file disagree: %+v / %+v, %v", m, mf, ferr)
		}
		switch {
		case m.Format == FormatSGXS:
			if m.MREnclave != sha256.Sum256(b) {
				t.Fatal("SGXS MRENCLAVE is not the stream's SHA-256")
			}
		case m.Sigstruct != nil:
			raw := b[m.SigstructOffset : m.SigstructOffset+1808]
			if !bytes.Equal(m.Sigstruct.Marshal(), raw) {
				t.Fatal("SIGSTRUCT does not round-trip at its reported offset")
			}
			if m.MRSigner != sha256.Sum256(raw[128:512]) {
				t.Fatal("MRSIGNER is not SHA-256 of the modulus")
			}
		default:
			t.Fatalf("measurement without SIGSTRUCT in format %s", m.Format)
		}
	})
}

// FuzzSGXS checks the streaming SGXS parser: the result must not depend on the
// read buffer size, and an accepted stream measures to its SHA-256.
func FuzzSGXS(f *testing.F) {
	s := corpus.Read(f, "sigstruct/fortanix-rust-sgx/test_enclave.sgxs")
	f.Add(s, uint16(320))
	f.Add(s[:1000], uint16(400))
	f.Add(s[:128+320+64], uint16(777))
	f.Add(s[64:], uint16(1000))
	f.Fuzz(func(t *testing.T, b []byte, bufSize uint16) {
		big, err := MeasureSGXS(bytes.NewReader(b)) // one chunk: the buffer holds the whole input
		small, err2 := measureSGXS(bytes.NewReader(b), int(bufSize))
		if err != nil {
			if !sameError(err, err2) {
				t.Fatalf("buffer sizes disagree: %v / %v", err, err2)
			}
			return
		}
		if err2 != nil || *big != *small {
			t.Fatalf("buffer sizes disagree: %+v / %+v, %v", big, small, err2)
		}
		if big.MREnclave != sha256.Sum256(b) || big.StreamSize != int64(len(b)) {
			t.Fatal("accepted stream does not measure to its SHA-256")
		}
	})
}
