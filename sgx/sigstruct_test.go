package sgx

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"testing"

	"github.com/sgxops/sgxops/internal/corpus"
)

// pceSigstructOffset is where PROVENANCE.md locates the SIGSTRUCT inside the
// Intel-signed PCE ELF.
const pceSigstructOffset = 0x1F91C5

// sigstructCase is one real SIGSTRUCT of the corpus with the values that
// corpus/PROVENANCE.md ("SIGSTRUCT values") states for it.
type sigstructCase struct {
	name      string
	file      string
	offset    int // offset of the SIGSTRUCT inside file
	mrenclave string
	mrsigner  string
	prodID    uint16
	svn       uint16
	vendor    uint32
	date      string
	attr      [2]string // hex of attributes bytes [0:2] and [8:10]
	mask      [2]string // hex of attributemask bytes [0:len] and [8:10]
}

var sigstructCases = []sigstructCase{
	{"enarx", "sigstruct/enarx-sgx/encl.ss", 0,
		"b999536238fcf4e9d360ef6cd3e0c20ef8a684c7b93f74a9c4a4c6d517d61fc0",
		"2f9f8fd4fe12d77232f1d87571ca8252ca27714efe7705e46222cffd5a22e8c4", 0, 0, 0, "",
		[2]string{"0400", "0300"}, [2]string{"0000000000000000", "0000"}},
	{"fortanix test_enclave", "sigstruct/fortanix-rust-sgx/test_enclave.sig", 0,
		"784acfd7d5096a8f0fbd3265760bff21b120f62407a9a9e5ba31aa3c8ed198fc",
		"fb4bab3d6036ac1d730fa83d7366df1dd2dfeac194ef335d6854d8a6c6475542", 65535, 0, 0, "2016-12-14",
		[2]string{"0400", "0300"}, [2]string{"fdff", "1bff"}},
	{"intel LE", "sigstruct/intel-linux-sgx/le_prod_css.bin", 0,
		"7881af9f9def547da9908c008f29cde9bd78064e36ac7e14c83c294ca4806150",
		"acb77012053e05a63d413b8bbae8fb6c5d73b3f2996d91c43bbbf90959c0f8d4", 32, 7, 0x8086, "2024-08-11",
		[2]string{"2400", "0300"}, [2]string{"ffffffffffff00ff", "1bff"}},
	{"intel PCE in ELF", "sigstruct/fortanix-rust-sgx/libsgx_pce.signed.so.1.25.100.1", pceSigstructOffset,
		"03e3f07e8c11cc08a1fa2afa93a8f2699cc8d9e17efa890af5df4e3cf7696578",
		"c54a62f2be9ef76efb1f3930ad81ea7f60defc1f5f25e09b7c067a815ae0c6cb", 1, 16, 0x8086, "2024-08-11",
		[2]string{"1400", "0300"}, [2]string{"ffffffffffff00ff", "1bff"}},
	{"auditee", "sigstruct/initc3-auditee/sigstruct", 0,
		"f19de84787f1a90ad7bc2d4c2fd952e05545c6f177e8b10b112a4cef31ba0454",
		"bd71c6380ef77c5417e8b2d1ce2d4b6504b9f418e5049342440cfff2443d95bd", 0, 1, 0, "2021-02-10",
		[2]string{"0400", "0300"}, [2]string{"fdff", "1bff"}},
}

func (c sigstructCase) bytes(t testing.TB) []byte {
	b := corpus.Read(t, c.file)
	if len(b) < c.offset+SigstructSize {
		t.Fatalf("%s: %d bytes, need SIGSTRUCT at %d", c.file, len(b), c.offset)
	}
	return b[c.offset : c.offset+SigstructSize]
}

func TestParseSigstructCorpus(t *testing.T) {
	for _, c := range sigstructCases {
		t.Run(c.name, func(t *testing.T) {
			raw := c.bytes(t)
			s, err := ParseSigstruct(raw)
			if err != nil {
				t.Fatal(err)
			}
			if got := hex.EncodeToString(s.MREnclave[:]); got != c.mrenclave {
				t.Errorf("MRENCLAVE %s, want %s", got, c.mrenclave)
			}
			mrs := s.MRSigner()
			if got := hex.EncodeToString(mrs[:]); got != c.mrsigner {
				t.Errorf("MRSIGNER %s, want %s", got, c.mrsigner)
			}
			if s.ISVProdID != c.prodID || s.ISVSVN != c.svn {
				t.Errorf("ISVPRODID/ISVSVN %d/%d, want %d/%d", s.ISVProdID, s.ISVSVN, c.prodID, c.svn)
			}
			if s.Vendor != c.vendor || s.DateString() != c.date {
				t.Errorf("vendor/date 0x%x %q, want 0x%x %q", s.Vendor, s.DateString(), c.vendor, c.date)
			}
			a, m := s.Attributes.Marshal(), s.AttributeMask.Marshal()
			if got := hex.EncodeToString(a[:len(c.attr[0])/2]); got != c.attr[0] {
				t.Errorf("attributes flags %s, want prefix %s", got, c.attr[0])
			}
			if got := hex.EncodeToString(a[8 : 8+len(c.attr[1])/2]); got != c.attr[1] {
				t.Errorf("attributes xfrm %s, want prefix %s", got, c.attr[1])
			}
			if got := hex.EncodeToString(m[:len(c.mask[0])/2]); got != c.mask[0] {
				t.Errorf("attribute mask flags %s, want prefix %s", got, c.mask[0])
			}
			if got := hex.EncodeToString(m[8 : 8+len(c.mask[1])/2]); got != c.mask[1] {
				t.Errorf("attribute mask xfrm %s, want prefix %s", got, c.mask[1])
			}
			if !bytes.Equal(s.Marshal(), raw) {
				t.Error("Marshal does not reproduce the input bytes")
			}
			if err := s.VerifySignature(); err != nil {
				t.Errorf("VerifySignature: %v", err)
			}
			signed := s.SignedBytes()
			if !bytes.Equal(signed, append(append([]byte{}, raw[0:128]...), raw[900:1028]...)) {
				t.Error("SignedBytes is not [0,128) ‖ [900,1028)")
			}
		})
	}
}

func TestParseSigstructErrors(t *testing.T) {
	good := sigstructCases[1].bytes(t)
	mut := func(f func(b []byte) []byte) []byte { return f(append([]byte{}, good...)) }
	tests := []struct {
		name   string
		in     []byte
		field  string
		offset int
	}{
		{"empty", nil, "sigstruct", 0},
		{"truncated", good[:1000], "sigstruct", 1000},
		{"one byte short", good[:SigstructSize-1], "sigstruct", SigstructSize - 1},
		{"trailing byte", append(append([]byte{}, good...), 0), "sigstruct", SigstructSize},
		{"header magic", mut(func(b []byte) []byte { b[0] = 0x07; return b }), "header", 0},
		{"header byte 4", mut(func(b []byte) []byte { b[4] = 0xe2; return b }), "header", 0},
		{"type low bits", mut(func(b []byte) []byte { b[12] = 1; return b }), "header.type", 12},
		{"vendor", mut(func(b []byte) []byte { binary.LittleEndian.PutUint32(b[16:], 0x1234); return b }), "vendor", 16},
		{"header2", mut(func(b []byte) []byte { b[28] = 0x61; return b }), "header2", 24},
		{"reserved1", mut(func(b []byte) []byte { b[100] = 1; return b }), "reserved1", 100},
		{"reserved2", mut(func(b []byte) []byte { b[909] = 1; return b }), "reserved2", 909},
		{"reserved3", mut(func(b []byte) []byte { b[992] = 1; return b }), "reserved3", 992},
		{"reserved4", mut(func(b []byte) []byte { b[1039] = 1; return b }), "reserved4", 1039},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := ParseSigstruct(tt.in)
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("got %v, %v; want *ParseError", s, err)
			}
			if pe.Struct != "SIGSTRUCT" || pe.Field != tt.field || pe.Offset != tt.offset {
				t.Errorf("error %q: field %s offset %d, want %s %d", err, pe.Field, pe.Offset, tt.field, tt.offset)
			}
		})
	}
}

func TestSigstructTypeDebugBitAccepted(t *testing.T) {
	b := append([]byte{}, sigstructCases[0].bytes(t)...)
	binary.LittleEndian.PutUint32(b[12:], SigstructTypeDebug)
	s, err := ParseSigstruct(b)
	if err != nil {
		t.Fatal(err)
	}
	if s.Type != SigstructTypeDebug || !bytes.Equal(s.Marshal(), b) {
		t.Errorf("type 0x%x does not round-trip", s.Type)
	}
	// The type word is signed: changing it breaks the signature.
	var se *SignatureError
	if err := s.VerifySignature(); !errors.As(err, &se) || se.Reason != SignatureMismatch {
		t.Errorf("VerifySignature after changing the type word: %v", err)
	}
}

func TestVerifySignatureErrors(t *testing.T) {
	for _, c := range sigstructCases {
		good := c.bytes(t)
		mut := func(f func(b []byte)) []byte {
			b := append([]byte{}, good...)
			f(b)
			return b
		}
		tests := []struct {
			name   string
			in     []byte
			reason SignatureReason
			field  string
			offset int
		}{
			{"signature byte", mut(func(b []byte) { b[600] ^= 0x01 }), SignatureMismatch, "signature", 516},
			{"signed header byte (date)", mut(func(b []byte) { b[20] ^= 0x01 }), SignatureMismatch, "signature", 516},
			{"signed body byte (isvsvn)", mut(func(b []byte) { b[1026] ^= 0x01 }), SignatureMismatch, "signature", 516},
			{"signed body byte (enclavehash)", mut(func(b []byte) { b[970] ^= 0x80 }), SignatureMismatch, "signature", 516},
			{"modulus byte", mut(func(b []byte) { b[300] ^= 0x01 }), SignatureMismatch, "signature", 516},
			{"even modulus", mut(func(b []byte) { b[128] ^= 0x01 }), SignatureBadModulus, "modulus", 128},
			{"short modulus", mut(func(b []byte) { b[511] = 0 }), SignatureBadModulus, "modulus", 128},
			{"exponent 65537", mut(func(b []byte) { binary.LittleEndian.PutUint32(b[512:], 65537) }), SignatureBadExponent, "exponent", 512},
			{"exponent 0", mut(func(b []byte) { binary.LittleEndian.PutUint32(b[512:], 0) }), SignatureBadExponent, "exponent", 512},
			{"signature >= modulus", mut(func(b []byte) { copy(b[516:900], b[128:512]) }), SignatureMismatch, "signature", 516},
			{"q1", mut(func(b []byte) { b[1100] ^= 0x01 }), SignatureBadQ1, "q1", 1040},
			{"q2", mut(func(b []byte) { b[1500] ^= 0x01 }), SignatureBadQ2, "q2", 1424},
		}
		for _, tt := range tests {
			t.Run(c.name+"/"+tt.name, func(t *testing.T) {
				s, err := ParseSigstruct(tt.in)
				if err != nil {
					t.Fatalf("parse: %v", err)
				}
				err = s.VerifySignature()
				if !errors.Is(err, ErrSigstructSignature) {
					t.Fatalf("VerifySignature = %v, want ErrSigstructSignature", err)
				}
				var se *SignatureError
				if !errors.As(err, &se) {
					t.Fatalf("%T is not *SignatureError", err)
				}
				if se.Reason != tt.reason || se.Field != tt.field || se.Offset != tt.offset {
					t.Errorf("got %v (reason %v field %s offset %d), want %v %s %d", err, se.Reason, se.Field, se.Offset, tt.reason, tt.field, tt.offset)
				}
			})
		}
	}
}

func TestSigstructDateString(t *testing.T) {
	tests := []struct {
		date uint32
		want string
	}{
		{0x20240811, "2024-08-11"},
		{0x20161214, "2016-12-14"},
		{0, ""},
		{0x2024081a, ""},
		{0xffffffff, ""},
	}
	for _, tt := range tests {
		if got := (&Sigstruct{Date: tt.date}).DateString(); got != tt.want {
			t.Errorf("DateString(0x%08x) = %q, want %q", tt.date, got, tt.want)
		}
	}
}

func FuzzParseSigstruct(f *testing.F) {
	for _, c := range sigstructCases {
		f.Add(c.bytes(f))
	}
	f.Add(make([]byte, SigstructSize))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := ParseSigstruct(b)
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error %v is not a *ParseError", err)
			}
			return
		}
		if !bytes.Equal(s.Marshal(), b) {
			t.Fatal("Marshal does not reproduce accepted input")
		}
		if err := s.VerifySignature(); err != nil && !errors.Is(err, ErrSigstructSignature) {
			t.Fatalf("VerifySignature returned a foreign error: %v", err)
		}
	})
}
