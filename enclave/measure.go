package enclave

import (
	"bytes"
	"debug/elf"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/sgxops/sgxops/sgx"
)

// Format names the kind of input that was measured.
type Format string

const (
	// FormatSigstruct is a raw 1808-byte SIGSTRUCT (Gramine .sig, SGX SDK css, enarx .ss).
	FormatSigstruct Format = "sigstruct"
	// FormatSGXSDK is an ELF enclave signed with the Intel SGX SDK (sgx_sign).
	FormatSGXSDK Format = "sgx-sdk-elf"
	// FormatOpenEnclave is an ELF enclave signed with Open Enclave's oesign.
	FormatOpenEnclave Format = "openenclave-elf"
	// FormatSGXS is a Fortanix SGXS measurement stream.
	FormatSGXS Format = "sgxs"
	// FormatELF appears only in errors: an ELF file whose enclave kind is not known.
	FormatELF Format = "elf"
)

// DebugPolicy says whether the SIGSTRUCT lets the enclave be launched in DEBUG
// mode. EINIT accepts a SECS only if (SECS.ATTRIBUTES & ATTRIBUTEMASK) ==
// (SIGSTRUCT.ATTRIBUTES & ATTRIBUTEMASK), so:
//   - ATTRIBUTEMASK.DEBUG = 1 and ATTRIBUTES.DEBUG = 0: only production launches (DebugForbidden);
//   - ATTRIBUTEMASK.DEBUG = 1 and ATTRIBUTES.DEBUG = 1: only debug launches (DebugRequired);
//   - ATTRIBUTEMASK.DEBUG = 0: the signer does not constrain DEBUG, the host
//     chooses (DebugAllowed).
//
// A debug enclave's memory can be read and written by the host (EDBGRD/EDBGWR):
// it has no confidentiality or integrity. Whether a given quote came from a
// debug launch is visible only in the quote's attributes.
type DebugPolicy int

const (
	// DebugUnknown: there is no SIGSTRUCT (a bare SGXS stream).
	DebugUnknown DebugPolicy = iota
	// DebugForbidden: the signer forces DEBUG=0.
	DebugForbidden
	// DebugAllowed: the signer lets the host launch with or without DEBUG.
	DebugAllowed
	// DebugRequired: the signer forces DEBUG=1; every launch is a debug enclave.
	DebugRequired
)

func (d DebugPolicy) String() string {
	switch d {
	case DebugForbidden:
		return "forbidden"
	case DebugAllowed:
		return "allowed"
	case DebugRequired:
		return "required"
	}
	return "unknown"
}

// DebugPolicyOf derives the debug policy from a SIGSTRUCT's attributes and mask.
func DebugPolicyOf(s *sgx.Sigstruct) DebugPolicy {
	if s == nil {
		return DebugUnknown
	}
	if s.AttributeMask.Flags&sgx.AttrDebug == 0 {
		return DebugAllowed
	}
	if s.Attributes.Flags&sgx.AttrDebug != 0 {
		return DebugRequired
	}
	return DebugForbidden
}

// MatchStatus compares an SGXS stream's MRENCLAVE with its sibling SIGSTRUCT.
type MatchStatus int

const (
	// MatchNotApplicable: not an SGXS stream, or no sibling .sig.
	MatchNotApplicable MatchStatus = iota
	// MatchOK: the recomputed MRENCLAVE equals the SIGSTRUCT's ENCLAVEHASH.
	MatchOK
	// MatchMismatch: they differ; EINIT would reject this pair.
	MatchMismatch
)

func (m MatchStatus) String() string {
	switch m {
	case MatchOK:
		return "match"
	case MatchMismatch:
		return "mismatch"
	}
	return "not applicable"
}

// Measurement is what sgxops reports about one enclave file.
type Measurement struct {
	Format Format
	// Sigstruct is the parsed SIGSTRUCT; nil for an SGXS stream without a sibling .sig.
	Sigstruct *sgx.Sigstruct
	// SigstructOffset is the SIGSTRUCT's byte offset in the input (0 for a raw SIGSTRUCT).
	SigstructOffset int64
	// SigstructPath is the sibling .sig file used for an SGXS stream, else "".
	SigstructPath string

	// MREnclave is the SIGSTRUCT's ENCLAVEHASH, or for an SGXS stream the recomputed value.
	MREnclave [32]byte
	// MRSigner is SHA-256 of the SIGSTRUCT modulus; zero without a SIGSTRUCT.
	MRSigner       [32]byte
	ISVProdID      uint16
	ISVSVN         uint16
	Attributes     sgx.Attributes
	AttributeMask  sgx.Attributes
	MiscSelect     sgx.MiscSelect
	MiscMask       sgx.MiscSelect
	Date           uint32 // BCD yyyymmdd
	Vendor         uint32
	SignatureValid bool
	// SignatureErr says why SignatureValid is false (a *sgx.SignatureError), or
	// is ErrNoSigstruct for a bare SGXS stream.
	SignatureErr error
	Debug        DebugPolicy

	// SGXS holds the recomputed measurement of an SGXS stream, else nil.
	SGXS  *SGXSInfo
	Match MatchStatus
}

// DebugAllowed reports whether the signer permits a DEBUG launch (policy
// allowed or required). Such an enclave must not be trusted with secrets
// unless a quote proves it was launched without DEBUG.
func (m *Measurement) DebugAllowed() bool {
	return m.Debug == DebugAllowed || m.Debug == DebugRequired
}

// ErrNoSigstruct is Measurement.SignatureErr for an SGXS stream measured without a SIGSTRUCT.
var ErrNoSigstruct = errors.New("enclave: no SIGSTRUCT (SGXS stream without a sibling .sig)")

// Measure measures the enclave file at path. The format is detected from the
// content. ELF files and SGXS streams are read incrementally, not loaded
// whole. For an SGXS stream, a sibling file with the same base name and the
// extension .sig is parsed and compared when it exists.
func Measure(path string) (*Measurement, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, &Error{Reason: ReasonIO, Err: err}
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, &Error{Reason: ReasonIO, Err: err}
	}
	if !st.Mode().IsRegular() {
		return nil, newErr("", ReasonIO, "", 0, "%s is not a regular file", path)
	}
	m, err := measure(f, st.Size())
	if err != nil || m.Format != FormatSGXS {
		return m, err
	}
	sib := strings.TrimSuffix(path, filepath.Ext(path)) + ".sig"
	if sib == path {
		return m, nil
	}
	b, err := os.ReadFile(sib)
	if errors.Is(err, fs.ErrNotExist) {
		return m, nil
	}
	if err != nil {
		return nil, &Error{Format: FormatSGXS, Reason: ReasonIO, Detail: "sibling SIGSTRUCT", Err: err}
	}
	s, err := parseSigstruct(b, FormatSGXS, 0, "sibling_sig.")
	if err != nil {
		var e *Error
		if errors.As(err, &e) {
			e.Detail = "sibling SIGSTRUCT " + sib + ": " + e.Detail
		}
		return nil, err
	}
	m.SigstructPath = sib
	m.fillFromSigstruct(s)
	m.MREnclave = m.SGXS.MREnclave
	m.Match = MatchOK
	if m.SGXS.MREnclave != s.MREnclave {
		m.Match = MatchMismatch
	}
	return m, nil
}

// MeasureBytes measures an enclave held in memory; see Measure. No sibling
// .sig is looked for.
func MeasureBytes(b []byte) (*Measurement, error) {
	return measure(bytes.NewReader(b), int64(len(b)))
}

func measure(r io.ReaderAt, size int64) (*Measurement, error) {
	if size == 0 {
		return nil, newErr("", ReasonEmpty, "", 0, "input has no bytes")
	}
	var head [16]byte
	n, err := r.ReadAt(head[:], 0)
	if n < len(head) && err != nil && err != io.EOF {
		return nil, &Error{Reason: ReasonIO, Err: err}
	}
	h := head[:n]
	switch {
	case bytes.HasPrefix(h, []byte(elf.ELFMAG)):
		loc, err := sigstructFromELF(r)
		if err != nil {
			return nil, err
		}
		s, err := parseSigstruct(loc.raw, loc.format, loc.offset, "sigstruct.")
		if err != nil {
			return nil, err
		}
		m := &Measurement{Format: loc.format, SigstructOffset: loc.offset}
		m.fillFromSigstruct(s)
		return m, nil
	case looksLikeSGXS(h):
		info, err := MeasureSGXS(io.NewSectionReader(r, 0, size))
		if err != nil {
			return nil, err
		}
		return &Measurement{Format: FormatSGXS, SGXS: info, MREnclave: info.MREnclave, SignatureErr: ErrNoSigstruct}, nil
	case sgx.IsSigstruct(h) || size == sgx.SigstructSize:
		// A file of exactly SIGSTRUCT size is parsed as one even when its
		// header is wrong, so that the error names the bad field.
		if size > sgx.SigstructSize {
			return nil, newErr(FormatSigstruct, ReasonTooLarge, "sigstruct", sgx.SigstructSize, "%d bytes; a SIGSTRUCT has %d", size, sgx.SigstructSize)
		}
		b := make([]byte, size)
		if _, err := r.ReadAt(b, 0); err != nil && err != io.EOF {
			return nil, &Error{Format: FormatSigstruct, Reason: ReasonIO, Err: err}
		}
		s, err := parseSigstruct(b, FormatSigstruct, 0, "")
		if err != nil {
			return nil, err
		}
		m := &Measurement{Format: FormatSigstruct}
		m.fillFromSigstruct(s)
		return m, nil
	}
	return nil, newErr("", ReasonUnknownFormat, "", 0, "not a SIGSTRUCT, signed SGX SDK or Open Enclave ELF, or SGXS stream (first bytes %x)", h)
}

// looksLikeSGXS reports whether the input starts with an SGXS or enhanced SGXS first record tag.
func looksLikeSGXS(h []byte) bool {
	return bytes.HasPrefix(h, []byte("ECREATE\x00")) || bytes.HasPrefix(h, []byte("UNSIZED\x00"))
}

// parseSigstruct parses and wraps parse errors with the file offset; prefix
// is prepended to the SIGSTRUCT field name in errors.
func parseSigstruct(b []byte, f Format, base int64, prefix string) (*sgx.Sigstruct, error) {
	s, err := sgx.ParseSigstruct(b)
	if err == nil {
		return s, nil
	}
	r := ReasonMalformed
	if len(b) < sgx.SigstructSize {
		r = ReasonTruncated
	}
	var pe *sgx.ParseError
	if errors.As(err, &pe) {
		return nil, &Error{Format: f, Reason: r, Field: prefix + pe.Field, Offset: base + int64(pe.Offset), Detail: pe.Reason, Err: err}
	}
	return nil, &Error{Format: f, Reason: r, Offset: base, Err: err}
}

func (m *Measurement) fillFromSigstruct(s *sgx.Sigstruct) {
	m.Sigstruct = s
	m.MREnclave = s.MREnclave
	m.MRSigner = s.MRSigner()
	m.ISVProdID, m.ISVSVN = s.ISVProdID, s.ISVSVN
	m.Attributes, m.AttributeMask = s.Attributes, s.AttributeMask
	m.MiscSelect, m.MiscMask = s.MiscSelect, s.MiscMask
	m.Date, m.Vendor = s.Date, s.Vendor
	m.Debug = DebugPolicyOf(s)
	m.SignatureErr = s.VerifySignature()
	m.SignatureValid = m.SignatureErr == nil
}
