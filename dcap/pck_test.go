package dcap

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"testing"

	"github.com/sgxops/sgxops/internal/corpus"
)

func sgxExtValue(t testing.TB, c *x509.Certificate) []byte {
	t.Helper()
	for _, e := range c.Extensions {
		if e.Id.Equal(OIDSGXExtensions) {
			return e.Value
		}
	}
	t.Fatalf("certificate %q has no SGX extension", c.Subject.CommonName)
	return nil
}

// TestPCKCertificateExtensions checks the values PROVENANCE.md states for the
// enarx PCK certificates (taken from enarx's own tests).
func TestPCKCertificateExtensions(t *testing.T) {
	cases := []struct {
		rel    string
		fmspc  string
		pcesvn uint16
		comps  [16]byte
	}{
		{"pck-certs/enarx-sgx/single_pck.crt", "00706e470000", 10, [16]byte{6, 6, 2, 2, 2, 1, 4}},
		{"pck-certs/enarx-sgx/multi_pck.crt", "00606a000000", 11, [16]byte{4, 4, 3, 3, 255, 255}},
	}
	for _, c := range cases {
		cert, err := x509.ParseCertificate(corpus.Read(t, c.rel))
		if err != nil {
			t.Fatal(err)
		}
		x, err := PCKCertificateExtensions(cert)
		if err != nil {
			t.Fatalf("%s: %v", c.rel, err)
		}
		if hex.EncodeToString(x.FMSPC[:]) != c.fmspc || x.PCESVN != c.pcesvn || x.TCBComponents != c.comps || x.PCEID != [2]byte{} {
			t.Errorf("%s: %+v", c.rel, x)
		}
		if x.SGXType < 0 {
			t.Errorf("%s: SGX type missing", c.rel)
		}
	}
	// Quote leaves: the FMSPC agrees with the corpus bundle names.
	for rel, fmspc := range map[string]string{
		"phala-dcap-qvl/sgx_quote":         "00a067110000",
		"phala-dcap-qvl/tdx_quote":         "b0c06f000000",
		"automata/quotev4.hex":             "00806f050000",
		"go-tdx-guest/quote_v5_sample.dat": "90c06f000000",
		"trustee/tdx_quote_6.dat":          "00a06d080000",
	} {
		x, err := PCKCertificateExtensions(realLeaf(t, loadQuote(t, rel)))
		if err != nil || hex.EncodeToString(x.FMSPC[:]) != fmspc {
			t.Errorf("%s: %+v, %v; want FMSPC %s", rel, x, err, fmspc)
		}
	}
}

func TestPCKCertificateExtensionsNegative(t *testing.T) {
	cert, err := x509.ParseCertificate(corpus.Read(t, "pck-certs/enarx-sgx/single_pck.crt"))
	if err != nil {
		t.Fatal(err)
	}
	val := sgxExtValue(t, cert)
	if _, err := parseSGXExtensions(val); err != nil {
		t.Fatal(err)
	}
	fmspcOID := []byte{0x06, 0x0a, 0x2a, 0x86, 0x48, 0x86, 0xf8, 0x4d, 0x01, 0x0d, 0x01, 0x04} // 1.2.840.113741.1.13.1.4
	i := bytes.Index(val, fmspcOID)
	if i < 0 {
		t.Fatal("FMSPC OID not found")
	}
	for name, mut := range map[string][]byte{
		"truncated":     val[:len(val)-3],
		"trailing":      append(bytes.Clone(val), 0),
		"empty":         {},
		"FMSPC renamed": append(append(bytes.Clone(val[:i+len(fmspcOID)-1]), 0x09), val[i+len(fmspcOID):]...),
		"FMSPC 5 bytes": func() []byte { // OCTET STRING length 6 -> 5 (and its SEQUENCE lengths stay: parse error)
			m := bytes.Clone(val)
			m[i+len(fmspcOID)+1] = 5
			return m
		}(),
	} {
		if _, err := parseSGXExtensions(mut); !errors.Is(err, ErrChainInvalid) {
			t.Errorf("%s: err = %v", name, err)
		}
	}
	// No SGX extension at all.
	root := IntelSGXRootCA()
	if _, err := PCKCertificateExtensions(root); !errors.Is(err, ErrChainInvalid) {
		t.Errorf("root CA: %v", err)
	}
}

func FuzzParseSGXExtensions(f *testing.F) {
	for _, rel := range []string{"pck-certs/enarx-sgx/single_pck.crt", "pck-certs/enarx-sgx/multi_pck.crt", "automata/solana/pck.der"} {
		c, err := x509.ParseCertificate(corpus.Read(f, rel))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(sgxExtValue(f, c))
	}
	for _, rel := range []string{"phala-dcap-qvl/sgx_quote", "phala-dcap-qvl/tdx_quote", "trustee/tdx_quote_6.dat"} {
		f.Add(sgxExtValue(f, realLeaf(f, loadQuote(f, rel))))
	}
	f.Fuzz(func(t *testing.T, der []byte) {
		x, err := parseSGXExtensions(der)
		if err != nil {
			var de *Error
			if x != nil || !errors.As(err, &de) || de.Reason != ReasonChainInvalid {
				t.Fatalf("x %v, err %v", x, err)
			}
			return
		}
		if x.SGXType < -1 {
			t.Fatalf("SGX type %d", x.SGXType)
		}
	})
}

// TestEmbeddedRoot checks the embedded root against the corpus copy of Intel's
// production root certificate.
func TestEmbeddedRoot(t *testing.T) {
	der := corpus.Read(t, "automata/solana/root.der")
	if !bytes.Equal(IntelSGXRootCA().Raw, der) {
		t.Fatal("embedded Intel SGX Root CA differs from automata/solana/root.der")
	}
	sum := sha256.Sum256(IntelSGXRootCA().Raw)
	if hex.EncodeToString(sum[:8]) != "44a0196b2b99f889" {
		t.Fatalf("SHA-256 %x", sum)
	}
	if got := IntelSGXRootCA().SerialNumber.Text(16); got != "22650cd65a9d3489f383b49552bf501b392706ac" {
		t.Fatalf("serial %s", got)
	}
	if IntelSGXRootCA().Subject.CommonName != intelNamePrefix+roleRoot {
		t.Fatalf("subject %v", IntelSGXRootCA().Subject)
	}
}
