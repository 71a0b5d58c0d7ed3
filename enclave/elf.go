package enclave

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"io"

	"github.com/sgxops/sgxops/sgx"
)

// SGX SDK enclave metadata (intel/linux-sgx common/inc/internal/metadata.h):
// metadata_t starts with magic_num (u64), version (u64), size (u32), then
// tcs_policy, ssa_frame_size, max_save_buffer_size, desired_misc_select,
// tcs_min_pool (u32 each), enclave_size (u64), attributes (16 bytes), and then
// enclave_css, the SIGSTRUCT, at offset 64. The signer stores one or more
// metadata_t back to back in a note named "sgx_metadata" (section .note.sgxmeta).
const (
	sdkMetadataMagic  uint64 = 0x86A80294635D0E4C
	sdkMetadataCSSOff        = 64
	sdkNoteName              = "sgx_metadata"
)

// Open Enclave oe_sgx_enclave_properties_t (openenclave include/openenclave/bits/
// sgx/sgxproperties.h and properties.h): a 32-byte header whose first u32 is
// the structure size and second the enclave type, then config and image_info,
// then the 1808-byte sigstruct and a u64 end marker. The sigstruct therefore
// sits at size-1816. Two layouts have shipped: size 1928 (16-byte config,
// sigstruct at 112) and size 1960 (64-byte config with xfrm, family and
// extended product IDs; sigstruct at 144).
const (
	oeInfoSection    = ".oeinfo"
	oeHeaderSize     = 32
	oeTrailerSize    = 8
	oeSizeLegacy     = 1928
	oeSizeCurrent    = 1960
	oeTypeSGXLegacy  = 0 // OE_ENCLAVE_TYPE_SGX in early releases
	oeTypeAuto       = 1
	oeTypeSGX        = 2
	maxSectionRead   = 16 << 20 // metadata notes are tens of KiB; refuse absurd section sizes
	elfNoteHeaderLen = 12
)

// elfSigstruct is a SIGSTRUCT found inside an ELF file.
type elfSigstruct struct {
	format Format
	raw    []byte
	offset int64 // file offset of the SIGSTRUCT
}

// sigstructFromELF finds the SIGSTRUCT of a signed SGX SDK or Open Enclave ELF.
func sigstructFromELF(r io.ReaderAt) (found *elfSigstruct, err error) {
	// debug/elf is hardened against malformed input, but a library that is
	// fed untrusted files must not crash its caller: turn a panic into an error.
	defer func() {
		if v := recover(); v != nil {
			found, err = nil, newErr(FormatELF, ReasonMalformed, "", 0, "ELF parser failed: %v", v)
		}
	}()
	f, err := elf.NewFile(r)
	if err != nil {
		return nil, &Error{Format: FormatELF, Reason: ReasonMalformed, Field: "elf", Detail: "not a valid ELF file", Err: err}
	}
	defer f.Close()
	budget := uint64(maxSectionRead) // total note bytes read: many sections must not multiply the work
	for _, s := range f.Sections {
		if s.Type != elf.SHT_NOTE {
			continue
		}
		if s.Size > budget {
			return nil, newErr(FormatELF, ReasonTooLarge, "section "+s.Name+".size", int64(s.Offset), "note sections exceed %d bytes in total", maxSectionRead)
		}
		budget -= s.Size
		data, err := sectionData(s, FormatSGXSDK)
		if err != nil {
			return nil, err
		}
		found, err := sdkFromNotes(data, int64(s.Offset))
		if err != nil || found != nil {
			return found, err
		}
	}
	if s := f.Section(oeInfoSection); s != nil {
		data, err := sectionData(s, FormatOpenEnclave)
		if err != nil {
			return nil, err
		}
		return oeFromInfo(data, int64(s.Offset))
	}
	return nil, newErr(FormatELF, ReasonNoSigstruct, "", 0, "ELF has no SGX SDK %q note and no Open Enclave %s section", sdkNoteName, oeInfoSection)
}

func sectionData(s *elf.Section, f Format) ([]byte, error) {
	if s.Size > maxSectionRead {
		return nil, newErr(f, ReasonTooLarge, "section "+s.Name+".size", int64(s.Offset), "section size %d exceeds %d", s.Size, maxSectionRead)
	}
	data, err := io.ReadAll(io.LimitReader(s.Open(), maxSectionRead))
	if err != nil {
		return nil, &Error{Format: f, Reason: ReasonTruncated, Field: "section " + s.Name, Offset: int64(s.Offset), Err: err}
	}
	if uint64(len(data)) != s.Size {
		return nil, newErr(f, ReasonTruncated, "section "+s.Name, int64(s.Offset), "section holds %d bytes, header says %d", len(data), s.Size)
	}
	return data, nil
}

// sdkFromNotes scans the notes of one SHT_NOTE section (data at file offset
// base) for the SGX SDK metadata. It returns nil, nil when there is none.
func sdkFromNotes(d []byte, base int64) (*elfSigstruct, error) {
	le := binary.LittleEndian
	for off := 0; len(d)-off >= elfNoteHeaderLen; {
		namesz, descsz := int64(le.Uint32(d[off:])), int64(le.Uint32(d[off+4:]))
		nameAt := int64(off + elfNoteHeaderLen)
		if namesz > int64(len(d))-nameAt {
			return nil, newErr(FormatELF, ReasonTooLarge, "note.namesz", base+int64(off), "name size %d exceeds the section", namesz)
		}
		name := string(bytes.TrimRight(d[nameAt:nameAt+namesz], "\x00"))
		if name == sdkNoteName {
			// The SGX SDK signer writes the descriptor directly after the
			// 13-byte name, without the 4-byte alignment the ELF format
			// prescribes; accept either placement, identified by the magic.
			for _, at := range []int64{nameAt + namesz, nameAt + align4(namesz)} {
				if at+8 <= int64(len(d)) && le.Uint64(d[at:]) == sdkMetadataMagic {
					if descsz > int64(len(d))-at {
						return nil, newErr(FormatSGXSDK, ReasonTooLarge, "note.descsz", base+int64(off)+4, "descriptor size %d exceeds the section", descsz)
					}
					return sdkFromMetadata(d[at:at+descsz], base+at)
				}
			}
			return nil, newErr(FormatSGXSDK, ReasonMalformed, "metadata.magic_num", base+nameAt+namesz, "%q note does not start with the metadata magic 0x%x", sdkNoteName, sdkMetadataMagic)
		}
		next := nameAt + align4(namesz) + align4(descsz)
		if next > int64(len(d)) {
			break
		}
		off = int(next)
	}
	return nil, nil
}

// sdkFromMetadata walks the metadata_t entries (each `size` bytes) and takes
// the SIGSTRUCT of the highest version, as the SDK loader does.
func sdkFromMetadata(d []byte, base int64) (*elfSigstruct, error) {
	le := binary.LittleEndian
	const minSize = sdkMetadataCSSOff + sgx.SigstructSize
	best, bestVersion := int64(-1), uint64(0)
	for pos := int64(0); pos+8 <= int64(len(d)) && le.Uint64(d[pos:]) == sdkMetadataMagic; {
		if int64(len(d))-pos < minSize {
			return nil, newErr(FormatSGXSDK, ReasonTruncated, "metadata", base+pos, "metadata needs at least %d bytes, %d left", minSize, int64(len(d))-pos)
		}
		version, size := le.Uint64(d[pos+8:]), int64(le.Uint32(d[pos+16:]))
		if size < minSize || size > int64(len(d))-pos {
			return nil, newErr(FormatSGXSDK, ReasonTooLarge, "metadata.size", base+pos+16, "metadata size %d outside [%d, %d]", size, minSize, int64(len(d))-pos)
		}
		if best < 0 || version > bestVersion {
			best, bestVersion = pos, version
		}
		pos += size
	}
	if best < 0 {
		return nil, newErr(FormatSGXSDK, ReasonMalformed, "metadata.magic_num", base, "no metadata entry")
	}
	at := best + sdkMetadataCSSOff
	return &elfSigstruct{format: FormatSGXSDK, raw: d[at : at+sgx.SigstructSize], offset: base + at}, nil
}

// oeFromInfo reads oe_sgx_enclave_properties_t from the .oeinfo section data.
func oeFromInfo(d []byte, base int64) (*elfSigstruct, error) {
	le := binary.LittleEndian
	if len(d) < oeHeaderSize {
		return nil, newErr(FormatOpenEnclave, ReasonTruncated, "oeinfo.header", base, "need %d bytes, section has %d", oeHeaderSize, len(d))
	}
	size, typ := int64(le.Uint32(d[0:])), le.Uint32(d[4:])
	switch typ {
	case oeTypeSGXLegacy, oeTypeAuto, oeTypeSGX:
	default:
		return nil, newErr(FormatOpenEnclave, ReasonUnsupported, "oeinfo.header.enclave_type", base+4, "enclave type %d is not SGX", typ)
	}
	if size != oeSizeLegacy && size != oeSizeCurrent {
		return nil, newErr(FormatOpenEnclave, ReasonTooLarge, "oeinfo.header.size", base, "unknown oe_sgx_enclave_properties_t size %d (known: %d, %d)", size, oeSizeLegacy, oeSizeCurrent)
	}
	if size > int64(len(d)) {
		return nil, newErr(FormatOpenEnclave, ReasonTruncated, "oeinfo", base, "properties need %d bytes, section has %d", size, len(d))
	}
	at := size - oeTrailerSize - sgx.SigstructSize
	raw := d[at : at+sgx.SigstructSize]
	if nonZero(raw) < 0 {
		return nil, newErr(FormatOpenEnclave, ReasonUnsigned, "oeinfo.sigstruct", base+at, "the SIGSTRUCT is all zero: the enclave was not signed with oesign")
	}
	return &elfSigstruct{format: FormatOpenEnclave, raw: raw, offset: base + at}, nil
}

func align4(n int64) int64 { return (n + 3) &^ 3 }
