package aggregate

import (
	"bytes"
	"crypto/sha256"
	"path/filepath"
	"testing"

	"github.com/sgxops/sgxops/enclave"
	"github.com/sgxops/sgxops/sgx"
)

func TestImageMeasuresAsSGXS(t *testing.T) {
	m1, err := Measure("v1")
	if err != nil {
		t.Fatal(err)
	}
	img, err := Image("v1")
	if err != nil {
		t.Fatal(err)
	}
	// MRENCLAVE of a pure SGXS stream is the SHA-256 of the stream.
	if m1.MREnclave != sha256.Sum256(img) || m1.Format != enclave.FormatSGXS {
		t.Fatalf("measurement %+v", m1)
	}
	if m1.SGXS.Pages != imagePages || m1.SGXS.Extends != imagePages*pageSize/chunkSize || m1.SGXS.EnclaveSize != enclaveSize {
		t.Fatalf("SGXS info %+v", m1.SGXS)
	}
	again, _ := Image("v1")
	if !bytes.Equal(img, again) {
		t.Fatal("image not deterministic")
	}
	m2, err := Measure("v2")
	if err != nil {
		t.Fatal(err)
	}
	if m1.MREnclave == m2.MREnclave {
		t.Fatal("v1 and v2 have the same MRENCLAVE")
	}
	// Written to a file, it measures the same through enclave.Measure.
	path := filepath.Join(t.TempDir(), "sample-v2.sgxs")
	if err := WriteImage(path, "v2"); err != nil {
		t.Fatal(err)
	}
	mf, err := enclave.Measure(path)
	if err != nil {
		t.Fatal(err)
	}
	if mf.MREnclave != m2.MREnclave {
		t.Fatal("file measurement differs")
	}
	for _, bad := range []string{"", string(make([]byte, maxVersion+1))} {
		if _, err := Image(bad); err == nil {
			t.Fatalf("version of %d bytes accepted", len(bad))
		}
	}
}

func TestSimulatedIdentity(t *testing.T) {
	m, err := Measure("v1")
	if err != nil {
		t.Fatal(err)
	}
	id := SimulatedIdentity(m, false)
	if id.MREnclave != m.MREnclave || id.MRSigner != SimulatedMRSigner || id.Attributes.Debug() ||
		id.Attributes.Flags&sgx.AttrMode64Bit == 0 || id.ISVProdID != ISVProdID {
		t.Fatalf("identity %+v", id)
	}
	if !SimulatedIdentity(m, true).Attributes.Debug() {
		t.Fatal("debug identity without DEBUG")
	}
}
