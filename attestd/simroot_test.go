package attestd

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sgxops/sgxops/attestd/config"
	"github.com/sgxops/sgxops/dcap"
)

// simRootPEM returns a PEM self-signed certificate, a CA or not.
func simRootPEM(t *testing.T, cn string, ca bool) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: ca, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// TestSimulationRootRules: attestd builds its simulation root through
// dcap.ParseSimulationRoots, as the sgxops CLI does: Intel's production root
// and non-CA certificates are refused as simulation roots.
func TestSimulationRootRules(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	dir := t.TempDir()
	tests := []struct {
		name    string
		pem     []byte
		refused bool
	}{
		{"simulated CA", simRootPEM(t, "sgxops SIMULATED SGX Root CA", true), false},
		{"Intel's production root", []byte(dcap.IntelSGXRootCAPEM), true},
		{"not a CA", simRootPEM(t, "leaf", false), true},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := filepath.Join(dir, strings.Repeat("r", i+1)+".pem")
			if err := os.WriteFile(f, tc.pem, 0o600); err != nil {
				t.Fatal(err)
			}
			_, _, sim, err := buildVerifier(config.CollateralConfig{PCS: "https://pcs.invalid", InsecureSimulationRoot: f}, time.Now, log)
			if tc.refused {
				if !errors.Is(err, dcap.ErrNotSimulationRoot) {
					t.Fatalf("err %v, want %v", err, dcap.ErrNotSimulationRoot)
				}
				return
			}
			if err != nil || !sim {
				t.Fatalf("sim %v, err %v", sim, err)
			}
		})
	}
}

// TestCollateralServiceRules: attestd's collateral service goes through
// collateral.Network, with the CLI's rules: base URLs without a query string,
// the PCS key and the PCCS TLS exception only with their service.
func TestCollateralServiceRules(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	key := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(key, []byte("k\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		cc    config.CollateralConfig
		field string // config.Error field; "" = accepted
	}{
		{"pcs", config.CollateralConfig{PCS: "https://pcs.example"}, ""},
		{"default pcs with a key", config.CollateralConfig{APIKeyFile: key}, ""},
		{"pcs with a query string", config.CollateralConfig{PCS: "https://pcs.example/?subscription=1"}, "collateral.pcs"},
		{"pccs with an empty query", config.CollateralConfig{PCCS: "https://pccs.example:8081/?"}, "collateral.pccs"},
		{"thim with a fragment", config.CollateralConfig{THIM: "https://thim.example/#x"}, "collateral.thim"},
		{"key with pccs", config.CollateralConfig{PCCS: "https://pccs.example", APIKeyFile: key}, "collateral.apiKeyFile"},
		{"insecure tls with thim", config.CollateralConfig{THIM: "https://thim.example", PCCSInsecureSkipVerify: true}, "collateral.pccsInsecureSkipVerify"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := config.Default()
			cfg.Collateral = tc.cc
			err := cfg.Validate()
			var ce *config.Error
			if tc.field == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
			} else if !errors.As(err, &ce) || ce.Field != tc.field {
				t.Fatalf("Validate: %v, want a %s error", err, tc.field)
			}
			// buildVerifier refuses the same without Validate.
			_, _, _, err = buildVerifier(tc.cc, time.Now, log)
			if (err == nil) != (tc.field == "") {
				t.Fatalf("buildVerifier: %v", err)
			}
		})
	}
}
