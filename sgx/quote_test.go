package sgx_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
	"testing"

	"github.com/sgxops/sgxops/internal/corpus"
	"github.com/sgxops/sgxops/sgx"
)

// loadQuote decodes and parses a corpus quote, failing the test on error.
func loadQuote(t *testing.T, rel string) ([]byte, *sgx.Quote) {
	t.Helper()
	raw, _, err := sgx.DecodeBinary(corpus.Read(t, rel))
	if err != nil {
		t.Fatalf("%s: decode: %v", rel, err)
	}
	q, err := sgx.ParseQuote(raw)
	if err != nil {
		t.Fatalf("%s: parse: %v", rel, err)
	}
	return raw, q
}

func TestParseQuoteRoundTripCorpus(t *testing.T) {
	for _, rel := range corpus.Quotes {
		t.Run(rel, func(t *testing.T) {
			raw, q := loadQuote(t, rel)
			got := q.Marshal()
			want := raw[:len(raw)-q.Trailing]
			if !bytes.Equal(got, want) {
				t.Fatalf("Marshal differs from input (len %d vs %d)", len(got), len(want))
			}
			// Re-parse of the marshalled form is identical too.
			q2, err := sgx.ParseQuote(got)
			if err != nil || !bytes.Equal(q2.Marshal(), got) || q2.Trailing != 0 {
				t.Fatalf("re-parse: %v", err)
			}
		})
	}
}

// TestParseQuoteFields pins identity values stated in corpus/PROVENANCE.md.
func TestParseQuoteFields(t *testing.T) {
	tests := []struct {
		rel       string
		version   uint16
		tdx       bool
		body      uint16
		mrenclave string // prefix, SGX
		mrsigner  string // prefix, SGX
		prodID    uint16
		svn       uint16
		debug     bool
	}{
		{rel: "phala-dcap-qvl/sgx_quote", version: 3, body: sgx.BodyTypeSGX, mrenclave: "33d8736d", mrsigner: "815f42f1"},
		{rel: "automata/quotev3.hex", version: 3, body: sgx.BodyTypeSGX, mrenclave: "a4f45c39", mrsigner: "8f2dbc0f"},
		{rel: "automata/solana/quote_sgx.bin", version: 3, body: sgx.BodyTypeSGX, mrenclave: "a39d532e", mrsigner: "9affcfae", debug: true},
		{rel: "openenclave/sgx_quote", version: 3, body: sgx.BodyTypeSGX, mrenclave: "80c698b5", mrsigner: "4a3a116e", prodID: 1, svn: 1, debug: true},
		{rel: "phala-dcap-qvl/tdx_quote", version: 4, tdx: true, body: sgx.BodyTypeTD10},
		{rel: "phala-dcap-qvl/tdx_quote_outdated", version: 5, tdx: true, body: sgx.BodyTypeTD15},
		{rel: "automata/quotev5.dat", version: 5, tdx: true, body: sgx.BodyTypeTD15},
	}
	for _, tc := range tests {
		t.Run(tc.rel, func(t *testing.T) {
			_, q := loadQuote(t, tc.rel)
			if q.Header.Version != tc.version || q.IsTDX() != tc.tdx || q.BodyType != tc.body {
				t.Fatalf("got v%d tdx=%v body=%d", q.Header.Version, q.IsTDX(), q.BodyType)
			}
			if q.Header.QEVendorID != sgx.IntelQEVendorID {
				t.Errorf("QE vendor ID %x is not Intel's", q.Header.QEVendorID)
			}
			if q.Signature.CertData.Type != sgx.CertPCKChain {
				t.Errorf("cert data type %v", q.Signature.CertData.Type)
			}
			chain, err := q.Signature.CertData.PCKChain()
			if err != nil || len(chain) != 3 {
				t.Fatalf("PCK chain: %d certs, %v", len(chain), err)
			}
			if !strings.Contains(chain[2].Subject.CommonName, "Intel SGX Root CA") {
				t.Errorf("chain ends in %q", chain[2].Subject.CommonName)
			}
			if tc.tdx {
				if q.TDBody.Is15 != (tc.body == sgx.BodyTypeTD15) {
					t.Errorf("Is15 = %v", q.TDBody.Is15)
				}
				return
			}
			b := q.SGXBody
			if got := hexs(b.MREnclave[:]); !strings.HasPrefix(got, tc.mrenclave) {
				t.Errorf("MRENCLAVE %s", got)
			}
			if got := hexs(b.MRSigner[:]); !strings.HasPrefix(got, tc.mrsigner) {
				t.Errorf("MRSIGNER %s", got)
			}
			if b.ISVProdID != tc.prodID || b.ISVSVN != tc.svn || b.Attributes.Debug() != tc.debug {
				t.Errorf("prodid %d svn %d debug %v", b.ISVProdID, b.ISVSVN, b.Attributes.Debug())
			}
		})
	}
}

func hexs(b []byte) string {
	const d = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		out = append(out, d[c>>4], d[c&15])
	}
	return string(out)
}

// TestParseQuoteTruncated cuts every real quote at every length short of its
// signature data: each must fail with a *ParseError, never panic.
func TestParseQuoteTruncated(t *testing.T) {
	for _, rel := range []string{"phala-dcap-qvl/sgx_quote", "phala-dcap-qvl/tdx_quote", "automata/quotev5.dat"} {
		raw, q := loadQuote(t, rel)
		full := len(raw) - q.Trailing
		for n := 0; n < full; n++ {
			_, err := sgx.ParseQuote(raw[:n])
			var pe *sgx.ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("%s cut at %d: got %v, want *ParseError", rel, n, err)
			}
		}
	}
}

func TestParseQuoteErrors(t *testing.T) {
	raw, _ := loadQuote(t, "phala-dcap-qvl/sgx_quote")
	tdx, _ := loadQuote(t, "automata/quotev5.dat")
	mut := func(src []byte, f func(b []byte)) []byte {
		b := bytes.Clone(src)
		f(b)
		return b
	}
	tests := []struct {
		name   string
		in     []byte
		field  string
		offset int
	}{
		{"empty", nil, "header.version", 0},
		{"version 2", mut(raw, func(b []byte) { b[0] = 2 }), "header.version", 0},
		{"version 9", mut(raw, func(b []byte) { b[0] = 9 }), "header.version", 0},
		{"key type EPID", mut(raw, func(b []byte) { b[2] = 0 }), "header.attestation_key_type", 2},
		{"v3 with TDX tee type", mut(raw, func(b []byte) { b[4] = 0x81 }), "header.tee_type", 4},
		{"unknown tee type", mut(tdx, func(b []byte) { b[4] = 0x42 }), "header.tee_type", 4},
		{"v5 body type 9", mut(tdx, func(b []byte) { b[48] = 9 }), "body.type", 48},
		{"v5 body size lies", mut(tdx, func(b []byte) { b[50]++ }), "body.size", 50},
		{"v5 SGX body in TDX quote", mut(tdx, func(b []byte) { b[48] = 1; binary.LittleEndian.PutUint32(b[50:], 384) }), "body.type", 48},
		{"signature length absurd", mut(raw, func(b []byte) { binary.LittleEndian.PutUint32(b[432:], 0xffffffff) }), "signature_data_len", 432},
		{"signature length short", mut(raw, func(b []byte) { binary.LittleEndian.PutUint32(b[432:], 100) }), "signature.attestation_key", 500},
		{"cert data type 0", mut(raw, func(b []byte) {
			off := 436 + 128 + 384 + 64
			al := int(binary.LittleEndian.Uint16(b[off:]))
			binary.LittleEndian.PutUint16(b[off+2+al:], 0)
		}), "signature.certification_data.type", 436 + 128 + 384 + 64 + 2 + 32},
		{"auth data size too big", mut(raw, func(b []byte) { binary.LittleEndian.PutUint16(b[436+128+384+64:], 0xffff) }), "signature.qe_auth_data", 436 + 128 + 384 + 64 + 2},
		{"v5 outer cert type not 6", mut(tdx, func(b []byte) {
			off := 48 + 6 + 648 + 4 + 128
			b[off] = 5
		}), "signature.certification_data.type", 48 + 6 + 648 + 4 + 128},
		{"oversized input", make([]byte, sgx.MaxQuoteSize+1), "length", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := sgx.ParseQuote(tc.in)
			var pe *sgx.ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("got %v, want *ParseError", err)
			}
			if pe.Field != tc.field || pe.Offset != tc.offset {
				t.Fatalf("got field %s offset %d (%v), want %s at %d", pe.Field, pe.Offset, err, tc.field, tc.offset)
			}
			if !strings.HasPrefix(err.Error(), "sgx: ") {
				t.Errorf("error lacks package prefix: %v", err)
			}
		})
	}
}

func TestDecodeBinary(t *testing.T) {
	raw, _ := loadQuote(t, "phala-dcap-qvl/sgx_quote")
	hexText := []byte(hexs(raw))
	tests := []struct {
		name string
		in   []byte
		enc  sgx.Encoding
		err  bool
	}{
		{"raw", raw, sgx.EncodingRaw, false},
		{"hex", hexText, sgx.EncodingHex, false},
		{"0x hex with newline", append(append([]byte("0x"), hexText...), '\n'), sgx.EncodingHex, false},
		{"base64 std", []byte(b64std(raw)), sgx.EncodingBase64, false},
		{"base64 url unpadded", []byte(strings.TrimRight(strings.NewReplacer("+", "-", "/", "_").Replace(b64std(raw)), "=")), sgx.EncodingBase64, false},
		{"empty", nil, "", true},
		{"whitespace only", []byte(" \n\t"), "", true},
		{"not hex not base64", []byte("this is *not* a quote!"), "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, enc, err := sgx.DecodeBinary(tc.in)
			if tc.err {
				if err == nil {
					t.Fatalf("want error, got %d bytes as %s", len(got), enc)
				}
				return
			}
			if err != nil || enc != tc.enc || !bytes.Equal(got, raw) {
				t.Fatalf("got %s, %v, equal=%v", enc, err, bytes.Equal(got, raw))
			}
		})
	}
}

func FuzzParseQuote(f *testing.F) {
	for _, rel := range corpus.Quotes {
		raw, _, err := sgx.DecodeBinary(corpus.Read(f, rel))
		if err == nil {
			f.Add(raw)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		q, err := sgx.ParseQuote(b)
		if err != nil {
			var pe *sgx.ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error is not a *ParseError: %v", err)
			}
			return
		}
		// Anything accepted must round-trip to the bytes it was parsed from.
		if out := q.Marshal(); !bytes.Equal(out, b[:len(b)-q.Trailing]) {
			t.Fatalf("accepted input does not round-trip")
		}
	})
}

func FuzzDecodeBinary(f *testing.F) {
	f.Add(corpus.Read(f, "automata/quotev3.hex"))
	f.Add(corpus.Read(f, "phala-dcap-qvl/tdx-quote.hex"))
	f.Add([]byte("AQID"))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _, _ = sgx.DecodeBinary(b) // must not panic
	})
}
