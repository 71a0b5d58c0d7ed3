package collateral

import (
	"errors"
	"testing"
)

func TestNetworkSource(t *testing.T) {
	tests := []struct {
		name  string
		n     Network
		base  string
		field string // ServiceError field; "" = accepted
	}{
		{"none", Network{}, "", ""},
		{"pcs", Network{PCS: "https://pcs.example/", APIKey: "k"}, "https://pcs.example", ""},
		{"pccs insecure", Network{PCCS: "https://pccs.example:8081", InsecurePCCSTLS: true}, "https://pccs.example:8081", ""},
		{"thim", Network{THIM: "http://169.254.169.254/metadata/THIM/sgx"}, "http://169.254.169.254/metadata/THIM/sgx", ""},
		{"two", Network{PCS: "https://a.example", THIM: "https://b.example"}, "", "source"},
		{"query", Network{PCS: "https://a.example/?x=1"}, "", "pcs"},
		{"empty query", Network{PCCS: "https://a.example/?"}, "", "pccs"},
		{"fragment", Network{THIM: "https://a.example/#f"}, "", "thim"},
		{"user info", Network{PCS: "https://u:p@a.example"}, "", "pcs"},
		{"no scheme", Network{PCS: "a.example"}, "", "pcs"},
		{"key without pcs", Network{PCCS: "https://a.example", APIKey: "k"}, "", "api key"},
		{"insecure tls without pccs", Network{InsecurePCCSTLS: true}, "", "insecure PCCS TLS"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src, base, err := tc.n.Source()
			var se *ServiceError
			if tc.field != "" {
				if !errors.As(err, &se) || se.Field != tc.field {
					t.Fatalf("err %v, want a %q ServiceError", err, tc.field)
				}
				return
			}
			if err != nil || base != tc.base || (src == nil) != (tc.base == "") {
				t.Fatalf("source %T, base %q, err %v", src, base, err)
			}
		})
	}
}
