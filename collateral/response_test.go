package collateral

import (
	"bytes"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/sgxops/sgxops/internal/corpus"
)

// rawResponses pairs real PCS responses from the corpus with the bundle whose
// tcb_info / qe_identity were cut out of them (PROVENANCE.md: the exact substring
// between {"tcbInfo": and ,"signature":").
var rawResponses = []struct {
	response, field, bundle string
	tcb                     bool
}{
	{"automata/evm-0825/sgx_tcbinfov3_00606a000000.json", "tcbInfo", "bundles/automata-evm-0825-sgx-00606a000000.json", true},
	{"automata/evm-0825/sgx_qeidentity_v4.json", "enclaveIdentity", "bundles/automata-evm-0825-sgx-00606a000000.json", false},
	{"automata/evm-1025/tcb_info.json", "tcbInfo", "bundles/automata-evm-1025-tdx-00806f050000.json", true},
	{"automata/evm-1025/identity.json", "enclaveIdentity", "bundles/automata-evm-1025-tdx-00806f050000.json", false},
	{"automata/evm-0625/tcbinfo.json", "tcbInfo", "bundles/automata-evm-0625-sgx-00606a000000-tcbinfov2.json", true},
	{"go-tdx-guest/sample_tcbInfo_response", "tcbInfo", "bundles/go-tdx-guest-2023-tdx-50806f000000.json", true},
	{"go-tdx-guest/sample_qeIdentity_response", "enclaveIdentity", "bundles/go-tdx-guest-2023-tdx-50806f000000.json", false},
	{"trustee/tcbInfo.json", "tcbInfo", "bundles/trustee-2025-10-tdx-00a06d080000.json", true},
	{"trustee/enclaveIdentity.json", "enclaveIdentity", "bundles/trustee-2025-10-tdx-00a06d080000.json", false},
}

func TestParseSignedResponseMatchesCorpusBundles(t *testing.T) {
	for _, tc := range rawResponses {
		t.Run(tc.response, func(t *testing.T) {
			raw := corpus.Read(t, tc.response)
			b, err := ParseBundle(corpus.Read(t, tc.bundle))
			if err != nil {
				t.Fatal(err)
			}
			signed, sig, err := parseSignedResponse(raw, tc.field)
			if err != nil {
				t.Fatal(err)
			}
			wantBody, wantSig := b.QEIdentity, b.QEIdentitySignature
			if tc.tcb {
				wantBody, wantSig = b.TCBInfo, b.TCBInfoSignature
			}
			if !bytes.Equal(signed, wantBody) {
				t.Errorf("signed body differs from the bundle's (%d vs %d bytes)", len(signed), len(wantBody))
			}
			if !bytes.Equal(sig, wantSig) {
				t.Errorf("signature %x, bundle has %x", sig, wantSig)
			}
		})
	}
}

func TestParseSignedResponseKeepsBytesExact(t *testing.T) {
	body := `{"id":"QE", "version":2,"nextUpdate":"2030-01-01T00:00:00Z"}`
	sig := strings.Repeat("ab", 64)
	// Whitespace around the value, other keys, key order: the value's bytes survive unchanged.
	resp := "{ \"other\": [1,2],\n \"enclaveIdentity\" :  " + body + " ,\n\t\"signature\": \"" + sig + "\" }\n"
	signed, s, err := parseSignedResponse([]byte(resp), "enclaveIdentity")
	if err != nil {
		t.Fatal(err)
	}
	if string(signed) != body {
		t.Errorf("signed = %q, want %q", signed, body)
	}
	if hex.EncodeToString(s) != sig {
		t.Errorf("signature = %x", s)
	}
}

func TestParseSignedResponseRejects(t *testing.T) {
	sig := strings.Repeat("00", 64)
	body := `{"id":"SGX"}`
	tests := []struct {
		name, resp, field string
	}{
		{"empty", ``, "body"},
		{"array", `[1]`, "body"},
		{"truncated", `{"tcbInfo":{"id":"SGX"`, "tcbInfo"},
		{"missing body", `{"signature":"` + sig + `"}`, "tcbInfo"},
		{"body not object", `{"tcbInfo":"x","signature":"` + sig + `"}`, "tcbInfo"},
		{"body null", `{"tcbInfo":null,"signature":"` + sig + `"}`, "tcbInfo"},
		{"missing signature", `{"tcbInfo":` + body + `}`, "signature"},
		{"signature not string", `{"tcbInfo":` + body + `,"signature":5}`, "signature"},
		{"signature not hex", `{"tcbInfo":` + body + `,"signature":"` + strings.Repeat("zz", 64) + `"}`, "signature"},
		{"signature short", `{"tcbInfo":` + body + `,"signature":"` + sig[:126] + `"}`, "signature"},
		{"duplicate body", `{"tcbInfo":` + body + `,"tcbInfo":` + body + `,"signature":"` + sig + `"}`, "tcbInfo"},
		{"duplicate signature", `{"tcbInfo":` + body + `,"signature":"` + sig + `","signature":"` + sig + `"}`, "signature"},
		{"trailing data", `{"tcbInfo":` + body + `,"signature":"` + sig + `"}{}`, "body"},
		{"key case differs", `{"TCBINFO":` + body + `,"signature":"` + sig + `"}`, "tcbInfo"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := parseSignedResponse([]byte(tc.resp), "tcbInfo")
			var fe *FetchError
			if !errors.As(err, &fe) || !errors.Is(err, ErrInvalid) {
				t.Fatalf("err = %v, want a FetchError wrapping ErrInvalid", err)
			}
			if fe.Field != tc.field {
				t.Errorf("field = %q, want %q (%v)", fe.Field, tc.field, err)
			}
		})
	}
}

func TestParseIssuerChain(t *testing.T) {
	b, err := ParseBundle(corpus.Read(t, "phala-dcap-qvl/sgx_quote_collateral.json"))
	if err != nil {
		t.Fatal(err)
	}
	chain := string(b.TCBInfoIssuerChain)
	tests := []struct {
		name, header string
		ok           bool
	}{
		{"path-escaped", url.PathEscape(chain), true},
		{"query-escaped (spaces as +)", url.QueryEscape(chain), true},
		{"every byte escaped", percentEncodeAll(chain), true},
		{"empty", "", false},
		{"not escaped PEM text", "garbage", false},
		{"bad escape", "%zz" + url.PathEscape(chain), false},
		{"not a certificate", url.PathEscape(string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{1, 2, 3}}))), false},
		{"wrong block type", url.PathEscape(string(pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: b.PCKCRL}))), false},
		{"trailing junk", url.PathEscape(chain + "junk"), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseIssuerChain(tc.header)
			if !tc.ok {
				if err == nil {
					t.Fatalf("accepted %q", tc.header)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != chain {
				t.Errorf("decoded chain differs from the served one")
			}
		})
	}
}

func percentEncodeAll(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		b.WriteString("%" + strings.ToUpper(hex.EncodeToString([]byte{s[i]})))
	}
	return b.String()
}

func TestDecodeCRL(t *testing.T) {
	der := corpus.Read(t, "automata/evm-0825/platform_crl.der")
	pemCRL := pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der})
	tests := []struct {
		name string
		in   []byte
		ok   bool
	}{
		{"DER", der, true},
		{"PEM", pemCRL, true},
		{"hex", []byte(hex.EncodeToString(der)), true},
		{"HEX with 0x and newline", []byte("0x" + strings.ToUpper(hex.EncodeToString(der)) + "\n"), true},
		{"empty", nil, false},
		{"truncated DER", der[:len(der)-1], false},
		{"DER with trailing byte", append(append([]byte(nil), der...), 0), false},
		{"PEM certificate", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), false},
		{"odd hex", []byte(hex.EncodeToString(der)[1:]), false},
		{"hex of garbage", []byte("deadbeef"), false},
		{"text", []byte("<html>error</html>"), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := decodeCRL(tc.in)
			if !tc.ok {
				if err == nil {
					t.Fatal("accepted")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, der) {
				t.Error("decoded DER differs")
			}
		})
	}
}

// FuzzParseSignedResponse checks that the PCS response parser never panics and
// that what it accepts is consistent: the signed body is a JSON object that
// occurs verbatim in the input, and the signature is 64 bytes.
func FuzzParseSignedResponse(f *testing.F) {
	for _, tc := range rawResponses {
		f.Add(corpus.Read(f, tc.response), tc.field == "tcbInfo")
	}
	f.Add([]byte(`{"tcbInfo":{},"signature":"`+strings.Repeat("0", 128)+`"}`), true)
	f.Fuzz(func(t *testing.T, resp []byte, tcb bool) {
		field := "enclaveIdentity"
		if tcb {
			field = "tcbInfo"
		}
		signed, sig, err := parseSignedResponse(resp, field)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error does not wrap ErrInvalid: %v", err)
			}
			return
		}
		if len(sig) != 64 {
			t.Fatalf("signature of %d bytes accepted", len(sig))
		}
		if len(signed) == 0 || signed[0] != '{' || !bytes.Contains(resp, signed) {
			t.Fatalf("signed body %q is not an object taken from the input", signed)
		}
	})
}

// FuzzDecodeCRL checks that CRL decoding never panics and only returns DER that
// parses as a CRL.
func FuzzDecodeCRL(f *testing.F) {
	for _, p := range []string{"automata/evm-0825/platform_crl.der", "automata/solana/intel_root_ca_crl.der", "go-tdx-guest/pckcrl"} {
		der := corpus.Read(f, p)
		f.Add(der)
		f.Add([]byte(hex.EncodeToString(der)))
		f.Add(pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der}))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		der, err := decodeCRL(in)
		if err != nil {
			return
		}
		if _, err := decodeCRL(der); err != nil {
			t.Fatalf("accepted input decodes to DER that does not parse: %v", err)
		}
	})
}
