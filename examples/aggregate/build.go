package aggregate

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"os"

	"github.com/sgxops/sgxops/enclave"
	"github.com/sgxops/sgxops/sgx"
	"github.com/sgxops/sgxops/sim"
)

// App is the application name the sample registers its releases under.
const App = "aggregate"

// SGXS record layout (see package enclave): 64-byte records starting with an
// 8-byte tag; EEXTEND records are followed by 256 measured bytes.
const (
	pageSize    = 4096
	chunkSize   = 256
	enclaveSize = 0x10000 // 64 KiB: a power of two, as ECREATE requires
	ssaFrames   = 1
	flagsTCS    = 1 << 8           // SECINFO page type TCS, no permissions
	flagsCode   = 2<<8 | 0x1 | 0x4 // PT_REG, R, X
	flagsData   = 2<<8 | 0x1 | 0x2 // PT_REG, R, W
	maxVersion  = 64               // bytes of version string
	codePages   = 2
	dataPages   = 1
	imagePages  = 1 + codePages + dataPages
	recordSize  = 64
	imageRecord = 1 + imagePages*(1+pageSize/chunkSize)
)

// SimulatedMRSigner is the MRSIGNER of simulated sample builds: SHA-256 of a
// label, since a simulated build has no SIGSTRUCT (and so no signing key).
var SimulatedMRSigner = sha256.Sum256([]byte("sgxops SIMULATED sample signer"))

// ISVProdID and ISVSVN of the sample enclave.
const (
	ISVProdID = 1
	ISVSVN    = 1
)

// record returns a 64-byte SGXS record: the tag, then little-endian fields
// at offset 8 (each 8 bytes).
func record(tag string, fields ...uint64) []byte {
	r := make([]byte, recordSize)
	copy(r, tag)
	for i, f := range fields {
		binary.LittleEndian.PutUint64(r[8+8*i:], f)
	}
	return r
}

// ecreate returns the ECREATE record: SSAFRAMESIZE (32 bits) at 8, SIZE at 12.
func ecreate(ssa uint32, size uint64) []byte {
	r := make([]byte, recordSize)
	copy(r, "ECREATE")
	binary.LittleEndian.PutUint32(r[8:], ssa)
	binary.LittleEndian.PutUint64(r[12:], size)
	return r
}

// pageContent returns the bytes of page i of the image for version.
func pageContent(version string, i int) []byte {
	p := make([]byte, pageSize)
	switch {
	case i == 0: // TCS: left zero (the measurement covers it as is)
	case i <= codePages:
		text := fmt.Sprintf("sgxops sample confidential service %q, version %q, code page %d.\n"+
			"SIMULATED build artifact: a generated SGXS measurement stream standing in for an\n"+
			"enclave build in simulation mode. It is measured like a real .sgxs; it runs nothing.\n",
			App, version, i)
		copy(p, text)
		// Fill the rest deterministically so every chunk is distinct.
		h := sha256.Sum256([]byte(text))
		for j := len(text); j < pageSize; j++ {
			p[j] = h[j%len(h)] ^ byte(j)
		}
	default: // data page: zero
	}
	return p
}

// Image returns the canonical SGXS measurement stream of the sample enclave
// for version ("v1", "v2", ...; at most 64 bytes). It is deterministic.
func Image(version string) ([]byte, error) {
	if version == "" || len(version) > maxVersion {
		return nil, fmt.Errorf("aggregate: version must be 1..%d bytes, got %d", maxVersion, len(version))
	}
	out := make([]byte, 0, imageRecord*recordSize+imagePages*pageSize)
	out = append(out, ecreate(ssaFrames, enclaveSize)...)
	for i := 0; i < imagePages; i++ {
		flags := uint64(flagsData)
		switch {
		case i == 0:
			flags = flagsTCS
		case i <= codePages:
			flags = flagsCode
		}
		base := uint64(i * pageSize)
		out = append(out, record("EADD", base, flags)...)
		content := pageContent(version, i)
		for c := 0; c < pageSize; c += chunkSize {
			out = append(out, record("EEXTEND", base+uint64(c))...)
			out = append(out, content[c:c+chunkSize]...)
		}
	}
	return out, nil
}

// Measure generates the image for version and measures it with package
// enclave.
func Measure(version string) (*enclave.Measurement, error) {
	img, err := Image(version)
	if err != nil {
		return nil, err
	}
	return enclave.MeasureBytes(img)
}

// WriteImage writes the image for version to path (mode 0644), so that it can
// be measured from a file (sgxops measure PATH, enclave.Measure).
func WriteImage(path, version string) error {
	img, err := Image(version)
	if err != nil {
		return err
	}
	return os.WriteFile(path, img, 0o644)
}

// SimulatedIdentity returns the simulated enclave identity of a measured
// build: its MRENCLAVE, SimulatedMRSigner, the sample's product ID and SVN,
// and production (non-debug) attributes unless debug is set.
func SimulatedIdentity(m *enclave.Measurement, debug bool) sim.Identity {
	id := sim.Identity{
		MREnclave: m.MREnclave,
		MRSigner:  SimulatedMRSigner,
		ISVProdID: ISVProdID,
		ISVSVN:    ISVSVN,
	}
	id.Attributes.Flags = sgx.AttrInit | sgx.AttrMode64Bit
	id.Attributes.XFRM = 0x3 // x87 and SSE
	if debug {
		id.Attributes.Flags |= sgx.AttrDebug
	}
	return id
}
