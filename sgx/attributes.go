package sgx

import (
	"encoding/binary"
	"strings"
)

// Attributes is the 16-byte SGX ATTRIBUTES field: 8 bytes of flags and 8 bytes of XFRM.
type Attributes struct {
	Flags uint64
	XFRM  uint64
}

// ATTRIBUTES.FLAGS bits (Intel SDM vol. 3D, 38.7.1).
const (
	AttrInit          uint64 = 1 << 0
	AttrDebug         uint64 = 1 << 1
	AttrMode64Bit     uint64 = 1 << 2
	AttrProvisionKey  uint64 = 1 << 4
	AttrEInitTokenKey uint64 = 1 << 5
	AttrCET           uint64 = 1 << 6
	AttrKSS           uint64 = 1 << 7
	AttrAEXNotify     uint64 = 1 << 10
)

// AttributesSize is the encoded size of Attributes.
const AttributesSize = 16

// ParseAttributes decodes 16 bytes (little-endian flags then XFRM).
func ParseAttributes(b []byte) (Attributes, error) {
	if len(b) != AttributesSize {
		return Attributes{}, perr("ATTRIBUTES", "attributes", 0, "need %d bytes, got %d", AttributesSize, len(b))
	}
	return Attributes{Flags: binary.LittleEndian.Uint64(b[0:8]), XFRM: binary.LittleEndian.Uint64(b[8:16])}, nil
}

// Marshal encodes the attributes as 16 bytes.
func (a Attributes) Marshal() [AttributesSize]byte {
	var out [AttributesSize]byte
	binary.LittleEndian.PutUint64(out[0:8], a.Flags)
	binary.LittleEndian.PutUint64(out[8:16], a.XFRM)
	return out
}

// Debug reports whether the DEBUG flag is set: the enclave's memory is readable by the host.
func (a Attributes) Debug() bool { return a.Flags&AttrDebug != 0 }

// FlagNames lists the names of the set flag bits, lowest first.
func (a Attributes) FlagNames() []string {
	names := []struct {
		bit  uint64
		name string
	}{
		{AttrInit, "INIT"}, {AttrDebug, "DEBUG"}, {AttrMode64Bit, "MODE64BIT"},
		{AttrProvisionKey, "PROVISIONKEY"}, {AttrEInitTokenKey, "EINITTOKEN_KEY"},
		{AttrCET, "CET"}, {AttrKSS, "KSS"}, {AttrAEXNotify, "AEXNOTIFY"},
	}
	var out []string
	for _, n := range names {
		if a.Flags&n.bit != 0 {
			out = append(out, n.name)
		}
	}
	return out
}

// XFRM bits commonly seen in enclaves.
const (
	XFRMX87    uint64 = 1 << 0
	XFRMSSE    uint64 = 1 << 1
	XFRMAVX    uint64 = 1 << 2
	XFRMAVX512 uint64 = 0xe0
	XFRMAMX    uint64 = 0x60000
)

// String renders the flags and XFRM, e.g. "MODE64BIT|DEBUG xfrm=0x3".
func (a Attributes) String() string {
	f := strings.Join(a.FlagNames(), "|")
	if f == "" {
		f = "none"
	}
	return f + " xfrm=0x" + hex64(a.XFRM)
}

func hex64(v uint64) string {
	const digits = "0123456789abcdef"
	if v == 0 {
		return "0"
	}
	var buf [16]byte
	i := len(buf)
	for v > 0 {
		i--
		buf[i] = digits[v&0xf]
		v >>= 4
	}
	return string(buf[i:])
}

// MiscSelect is the 4-byte MISCSELECT field (bit 0: EXINFO, bit 1: CPINFO).
type MiscSelect uint32
