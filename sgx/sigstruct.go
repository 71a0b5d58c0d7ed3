package sgx

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math/big"
)

// SigstructSize is the size of an SGX enclave signature structure (SIGSTRUCT).
const SigstructSize = 1808

// SIGSTRUCT VENDOR values.
const (
	SigstructVendorISV   uint32 = 0x0000
	SigstructVendorIntel uint32 = 0x8086
)

// SigstructTypeDebug is bit 31 of the SIGSTRUCT header type word (bytes 12..15).
// Intel's SDK sets it when signing with a debug (non-production) key; all other
// bits of the word are zero.
const SigstructTypeDebug uint32 = 1 << 31

// SIGSTRUCT offsets (Intel SDM vol. 3D, "Enclave Signature Structure").
const (
	sigOffHeader       = 0
	sigOffType         = 12
	sigOffVendor       = 16
	sigOffDate         = 20
	sigOffHeader2      = 24
	sigOffSWDefined    = 40
	sigOffReserved1    = 44 // 84 bytes
	sigOffModulus      = 128
	sigOffExponent     = 512
	sigOffSignature    = 516
	sigOffMiscSelect   = 900
	sigOffMiscMask     = 904
	sigOffReserved2    = 908 // 4 bytes
	sigOffISVFamilyID  = 912
	sigOffAttributes   = 928
	sigOffAttrMask     = 944
	sigOffEnclaveHash  = 960
	sigOffReserved3    = 992 // 16 bytes
	sigOffISVExtProdID = 1008
	sigOffISVProdID    = 1024
	sigOffISVSVN       = 1026
	sigOffReserved4    = 1028 // 12 bytes
	sigOffQ1           = 1040
	sigOffQ2           = 1424
	sigKeySize         = 384
	sigName            = "SIGSTRUCT"
)

// Constant header byte strings: HEADER (first 12 bytes; the next 4 are the type
// word) and HEADER2.
var (
	sigHeader  = [12]byte{0x06, 0, 0, 0, 0xe1, 0, 0, 0, 0, 0, 0x01, 0}
	sigHeader2 = [16]byte{0x01, 0x01, 0, 0, 0x60, 0, 0, 0, 0x60, 0, 0, 0, 0x01, 0, 0, 0}
)

// reserved regions that must be zero.
var sigReserved = []struct {
	name     string
	off, len int
}{
	{"reserved1", sigOffReserved1, 84},
	{"reserved2", sigOffReserved2, 4},
	{"reserved3", sigOffReserved3, 16},
	{"reserved4", sigOffReserved4, 12},
}

// Sigstruct is the 1808-byte SGX enclave signature structure. The constant
// headers and the reserved regions are checked by ParseSigstruct and written
// back by Marshal; they are not stored.
type Sigstruct struct {
	Type          uint32     // header word at 12: 0, or SigstructTypeDebug
	Vendor        uint32     // SigstructVendorISV or SigstructVendorIntel
	Date          uint32     // build date as BCD yyyymmdd, e.g. 0x20240811 (may be 0)
	SWDefined     uint32     // software-defined (HWVERSION for launch enclaves)
	Modulus       [384]byte  // RSA-3072 modulus, little-endian as stored
	Exponent      uint32     // RSA public exponent; EINIT requires 3
	Signature     [384]byte  // RSA signature, little-endian as stored
	MiscSelect    MiscSelect // required MISCSELECT
	MiscMask      MiscSelect // which MISCSELECT bits EINIT compares
	ISVFamilyID   [16]byte
	Attributes    Attributes // required ATTRIBUTES
	AttributeMask Attributes // which ATTRIBUTES bits EINIT compares
	MREnclave     [32]byte   // ENCLAVEHASH: the MRENCLAVE the signer approved
	ISVExtProdID  [16]byte
	ISVProdID     uint16
	ISVSVN        uint16
	Q1            [384]byte // floor(signature^2 / modulus), little-endian
	Q2            [384]byte // floor((signature^3 - Q1*signature*modulus) / modulus), little-endian
}

// IsSigstruct reports whether b begins with the SIGSTRUCT header bytes. It does
// not check the length or anything else.
func IsSigstruct(b []byte) bool {
	return len(b) >= len(sigHeader) && bytes.Equal(b[:len(sigHeader)], sigHeader[:])
}

// ParseSigstruct decodes a SIGSTRUCT. b must be exactly SigstructSize bytes;
// the constant headers, the type word, the vendor and the reserved regions are
// checked. The signature is not verified (see VerifySignature).
func ParseSigstruct(b []byte) (*Sigstruct, error) {
	if len(b) < SigstructSize {
		return nil, perr(sigName, "sigstruct", len(b), "truncated: need %d bytes, have %d", SigstructSize, len(b))
	}
	if len(b) > SigstructSize {
		return nil, perr(sigName, "sigstruct", SigstructSize, "%d trailing bytes after the %d-byte structure", len(b)-SigstructSize, SigstructSize)
	}
	if !bytes.Equal(b[sigOffHeader:sigOffType], sigHeader[:]) {
		return nil, perr(sigName, "header", sigOffHeader, "got %x, want %x", b[sigOffHeader:sigOffType], sigHeader[:])
	}
	le := binary.LittleEndian
	s := &Sigstruct{
		Type:      le.Uint32(b[sigOffType:]),
		Vendor:    le.Uint32(b[sigOffVendor:]),
		Date:      le.Uint32(b[sigOffDate:]),
		SWDefined: le.Uint32(b[sigOffSWDefined:]),
		Exponent:  le.Uint32(b[sigOffExponent:]),
	}
	if s.Type&^SigstructTypeDebug != 0 {
		return nil, perr(sigName, "header.type", sigOffType, "bits 0..30 must be zero, got 0x%08x", s.Type)
	}
	if s.Vendor != SigstructVendorISV && s.Vendor != SigstructVendorIntel {
		return nil, perr(sigName, "vendor", sigOffVendor, "must be 0x0000 or 0x8086, got 0x%x", s.Vendor)
	}
	if !bytes.Equal(b[sigOffHeader2:sigOffSWDefined], sigHeader2[:]) {
		return nil, perr(sigName, "header2", sigOffHeader2, "got %x, want %x", b[sigOffHeader2:sigOffSWDefined], sigHeader2[:])
	}
	for _, r := range sigReserved {
		for i, c := range b[r.off : r.off+r.len] {
			if c != 0 {
				return nil, perr(sigName, r.name, r.off+i, "reserved byte is 0x%02x, must be zero", c)
			}
		}
	}
	copy(s.Modulus[:], b[sigOffModulus:])
	copy(s.Signature[:], b[sigOffSignature:])
	s.MiscSelect = MiscSelect(le.Uint32(b[sigOffMiscSelect:]))
	s.MiscMask = MiscSelect(le.Uint32(b[sigOffMiscMask:]))
	copy(s.ISVFamilyID[:], b[sigOffISVFamilyID:])
	s.Attributes, _ = ParseAttributes(b[sigOffAttributes : sigOffAttributes+AttributesSize])
	s.AttributeMask, _ = ParseAttributes(b[sigOffAttrMask : sigOffAttrMask+AttributesSize])
	copy(s.MREnclave[:], b[sigOffEnclaveHash:])
	copy(s.ISVExtProdID[:], b[sigOffISVExtProdID:])
	s.ISVProdID = le.Uint16(b[sigOffISVProdID:])
	s.ISVSVN = le.Uint16(b[sigOffISVSVN:])
	copy(s.Q1[:], b[sigOffQ1:])
	copy(s.Q2[:], b[sigOffQ2:])
	return s, nil
}

// Marshal encodes the SIGSTRUCT as 1808 bytes.
func (s *Sigstruct) Marshal() []byte {
	b := make([]byte, SigstructSize)
	le := binary.LittleEndian
	copy(b[sigOffHeader:], sigHeader[:])
	le.PutUint32(b[sigOffType:], s.Type)
	le.PutUint32(b[sigOffVendor:], s.Vendor)
	le.PutUint32(b[sigOffDate:], s.Date)
	copy(b[sigOffHeader2:], sigHeader2[:])
	le.PutUint32(b[sigOffSWDefined:], s.SWDefined)
	copy(b[sigOffModulus:], s.Modulus[:])
	le.PutUint32(b[sigOffExponent:], s.Exponent)
	copy(b[sigOffSignature:], s.Signature[:])
	le.PutUint32(b[sigOffMiscSelect:], uint32(s.MiscSelect))
	le.PutUint32(b[sigOffMiscMask:], uint32(s.MiscMask))
	copy(b[sigOffISVFamilyID:], s.ISVFamilyID[:])
	a := s.Attributes.Marshal()
	copy(b[sigOffAttributes:], a[:])
	m := s.AttributeMask.Marshal()
	copy(b[sigOffAttrMask:], m[:])
	copy(b[sigOffEnclaveHash:], s.MREnclave[:])
	copy(b[sigOffISVExtProdID:], s.ISVExtProdID[:])
	le.PutUint16(b[sigOffISVProdID:], s.ISVProdID)
	le.PutUint16(b[sigOffISVSVN:], s.ISVSVN)
	copy(b[sigOffQ1:], s.Q1[:])
	copy(b[sigOffQ2:], s.Q2[:])
	return b
}

// SignedBytes returns the bytes the signature covers: SIGSTRUCT[0,128) ‖ [900,1028).
func (s *Sigstruct) SignedBytes() []byte {
	b := s.Marshal()
	out := make([]byte, 0, 256)
	out = append(out, b[0:sigOffModulus]...)
	return append(out, b[sigOffMiscSelect:sigOffReserved4]...)
}

// MRSigner returns MRSIGNER: SHA-256 of the modulus bytes as stored (little-endian).
func (s *Sigstruct) MRSigner() [32]byte { return sha256.Sum256(s.Modulus[:]) }

// DateString renders the BCD date as "yyyy-mm-dd", or "" when the date is zero
// or not valid BCD.
func (s *Sigstruct) DateString() string {
	d := fmt.Sprintf("%08x", s.Date)
	for _, c := range d {
		if c < '0' || c > '9' {
			return ""
		}
	}
	if s.Date == 0 {
		return ""
	}
	return d[0:4] + "-" + d[4:6] + "-" + d[6:8]
}

// SignatureReason says why a SIGSTRUCT signature check failed.
type SignatureReason int

const (
	// SignatureBadExponent: the RSA exponent is not 3 (EINIT accepts only 3).
	SignatureBadExponent SignatureReason = iota + 1
	// SignatureBadModulus: the modulus is not an odd 3072-bit number.
	SignatureBadModulus
	// SignatureMismatch: the RSA PKCS#1 v1.5 SHA-256 signature does not verify.
	SignatureMismatch
	// SignatureBadQ1: Q1 is not floor(signature^2 / modulus).
	SignatureBadQ1
	// SignatureBadQ2: Q2 is not floor((signature^3 - Q1*signature*modulus) / modulus).
	SignatureBadQ2
)

func (r SignatureReason) String() string {
	switch r {
	case SignatureBadExponent:
		return "bad exponent"
	case SignatureBadModulus:
		return "bad modulus"
	case SignatureMismatch:
		return "signature mismatch"
	case SignatureBadQ1:
		return "bad Q1"
	case SignatureBadQ2:
		return "bad Q2"
	}
	return fmt.Sprintf("SignatureReason(%d)", int(r))
}

// ErrSigstructSignature matches (errors.Is) every *SignatureError.
var ErrSigstructSignature = errors.New("sgx: SIGSTRUCT signature invalid")

// SignatureError reports a SIGSTRUCT that parsed but whose signature material
// does not check out. Field and Offset name the SIGSTRUCT field at fault.
type SignatureError struct {
	Reason SignatureReason
	Field  string
	Offset int
	Detail string
}

func (e *SignatureError) Error() string {
	return fmt.Sprintf("sgx: SIGSTRUCT signature invalid: %s: field %s at offset %d: %s", e.Reason, e.Field, e.Offset, e.Detail)
}

// Is makes errors.Is(err, ErrSigstructSignature) true.
func (e *SignatureError) Is(target error) bool { return target == ErrSigstructSignature }

// sha256DigestInfo is the DER prefix of a PKCS#1 v1.5 SHA-256 DigestInfo.
var sha256DigestInfo = []byte{0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20}

// VerifySignature checks the SIGSTRUCT the way EINIT does: RSA-3072 with
// exponent 3, PKCS#1 v1.5 SHA-256 over SignedBytes, and the Q1/Q2 helper
// values. It returns nil or a *SignatureError. It says nothing about who the
// signer is; compare MRSigner with a reference value for that. (This is the
// one check in package sgx: a SIGSTRUCT is self-signed and needs no collateral.)
func (s *Sigstruct) VerifySignature() error {
	if s.Exponent != 3 {
		return &SignatureError{SignatureBadExponent, "exponent", sigOffExponent, fmt.Sprintf("exponent is %d, must be 3", s.Exponent)}
	}
	n := leInt(s.Modulus[:])
	if n.BitLen() != 3072 || n.Bit(0) == 0 {
		return &SignatureError{SignatureBadModulus, "modulus", sigOffModulus, fmt.Sprintf("not an odd 3072-bit modulus (%d bits)", n.BitLen())}
	}
	sig := leInt(s.Signature[:])
	if sig.Cmp(n) >= 0 {
		return &SignatureError{SignatureMismatch, "signature", sigOffSignature, "signature is not less than the modulus"}
	}
	sig2 := new(big.Int).Mul(sig, sig)
	sig3 := new(big.Int).Mul(sig2, sig)
	em := new(big.Int).Mod(sig3, n).FillBytes(make([]byte, sigKeySize))
	digest := sha256.Sum256(s.SignedBytes())
	if !bytes.Equal(em, pkcs1v15SHA256(digest)) {
		return &SignatureError{SignatureMismatch, "signature", sigOffSignature, "RSA PKCS#1 v1.5 SHA-256 signature over bytes [0,128) and [900,1028) does not verify"}
	}
	q1 := new(big.Int).Quo(sig2, n)
	if q1.Cmp(leInt(s.Q1[:])) != 0 {
		return &SignatureError{SignatureBadQ1, "q1", sigOffQ1, "Q1 != floor(signature^2 / modulus)"}
	}
	t := new(big.Int).Mul(q1, sig)
	t.Mul(t, n)
	q2 := t.Sub(sig3, t).Quo(t, n)
	if q2.Cmp(leInt(s.Q2[:])) != 0 {
		return &SignatureError{SignatureBadQ2, "q2", sigOffQ2, "Q2 != floor((signature^3 - Q1*signature*modulus) / modulus)"}
	}
	return nil
}

// pkcs1v15SHA256 builds the 384-byte encoded message 00 01 FF.. 00 DigestInfo hash.
func pkcs1v15SHA256(digest [32]byte) []byte {
	em := make([]byte, sigKeySize)
	em[1] = 0x01
	tLen := len(sha256DigestInfo) + len(digest)
	for i := 2; i < sigKeySize-tLen-1; i++ {
		em[i] = 0xff
	}
	copy(em[sigKeySize-tLen:], sha256DigestInfo)
	copy(em[sigKeySize-len(digest):], digest[:])
	return em
}

// leInt decodes a little-endian unsigned integer.
func leInt(le []byte) *big.Int {
	be := make([]byte, len(le))
	for i, c := range le {
		be[len(le)-1-i] = c
	}
	return new(big.Int).SetBytes(be)
}
