package pemcert

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/sgxops/sgxops/internal/corpus"
)

func chain(t testing.TB) []byte {
	var b struct {
		Chain string `json:"tcb_info_issuer_chain"`
	}
	if err := json.Unmarshal(corpus.Read(t, "phala-dcap-qvl/sgx_quote_collateral.json"), &b); err != nil {
		t.Fatal(err)
	}
	return []byte(b.Chain) // TCB Signing + Root CA, real Intel certificates
}

func TestParse(t *testing.T) {
	good := chain(t)
	first := good[:bytes.Index(good, []byte("-----END CERTIFICATE-----"))+len("-----END CERTIFICATE-----")]
	tests := []struct {
		name  string
		in    []byte
		n     int
		error string
	}{
		{"chain", good, 2, ""},
		{"NUL padded", append(bytes.Clone(good), 0, 0, 0), 2, ""},
		{"surrounding whitespace", append(append([]byte("\n  "), good...), "\r\n"...), 2, ""},
		{"one certificate", first, 1, ""},
		{"empty", nil, 0, "no PEM certificate"},
		{"whitespace only", []byte(" \n"), 0, "no PEM certificate"},
		{"junk before", append([]byte("junk "), good...), 0, "not PEM"},
		{"junk between", append(append(bytes.Clone(first), "\nx\n"...), good...), 0, "after certificate 1"},
		{"junk after", append(bytes.Clone(good), "tail"...), 0, "after certificate 2"},
		{"key block", []byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"), 0, "PRIVATE KEY"},
		{"truncated block", good[:len(good)/3], 0, "malformed"},
		{"bad DER", []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), 0, "certificate 0"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			certs, err := Parse(tc.in)
			if tc.error != "" {
				if err == nil || !strings.Contains(err.Error(), tc.error) {
					t.Fatalf("err %v, want %q", err, tc.error)
				}
				return
			}
			if err != nil || len(certs) != tc.n {
				t.Fatalf("%d certs, %v", len(certs), err)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	f.Add(chain(f))
	f.Fuzz(func(t *testing.T, b []byte) { _, _ = Parse(b) })
}
