package sim

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// Files of a platform state directory.
const (
	ConfigFile = "config.json"
	// RootCAFile is the simulated root CA certificate (PEM), the file to hand
	// to a verifier's insecure simulation-root option.
	RootCAFile   = "root-ca.pem"
	PCKChainFile = "pck-chain.pem"
)

// stateFormat is the version of the state directory layout.
const stateFormat = 1

// stateJSON is config.json.
type stateJSON struct {
	Simulated          bool   `json:"simulated"`
	Format             int    `json:"format"`
	FMSPC              string `json:"fmspc"`
	PCEID              string `json:"pce_id"`
	PCKCA              string `json:"pck_ca"`
	TCBStatus          string `json:"tcb_status"`
	QESVN              uint16 `json:"qe_svn"`
	TDXModuleSVN       uint8  `json:"tdx_module_svn"`
	PCKRevoked         bool   `json:"pck_revoked"`
	PPID               string `json:"ppid"`
	PlatformInstanceID string `json:"platform_instance_id"`
}

// StateError reports a problem with a platform state directory, naming the
// file (and field) at fault.
type StateError struct {
	File   string
	Field  string
	Reason string
}

func (e *StateError) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("sim: state %s: field %q: %s", e.File, e.Field, e.Reason)
	}
	return fmt.Sprintf("sim: state %s: %s", e.File, e.Reason)
}

// MaxConfigSize bounds config.json.
const MaxConfigSize = 64 << 10

// ParseConfig decodes a state directory's config.json.
func ParseConfig(b []byte) (Config, error) {
	var cfg Config
	if len(b) > MaxConfigSize {
		return cfg, &StateError{File: ConfigFile, Reason: fmt.Sprintf("%d bytes exceeds the %d-byte limit", len(b), MaxConfigSize)}
	}
	var s stateJSON
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return cfg, &StateError{File: ConfigFile, Reason: "not a valid config object: " + err.Error()}
	}
	if !s.Simulated {
		return cfg, &StateError{File: ConfigFile, Field: "simulated", Reason: "must be true"}
	}
	if s.Format != stateFormat {
		return cfg, &StateError{File: ConfigFile, Field: "format", Reason: fmt.Sprintf("format %d is not supported (want %d)", s.Format, stateFormat)}
	}
	for _, f := range []struct {
		name string
		in   string
		out  []byte
	}{
		{"fmspc", s.FMSPC, cfg.FMSPC[:]},
		{"pce_id", s.PCEID, cfg.PCEID[:]},
		{"ppid", s.PPID, cfg.PPID[:]},
		{"platform_instance_id", s.PlatformInstanceID, cfg.PlatformInstanceID[:]},
	} {
		b, err := hex.DecodeString(f.in)
		if err != nil || len(b) != len(f.out) {
			return cfg, &StateError{File: ConfigFile, Field: f.name, Reason: fmt.Sprintf("want %d bytes of hex, got %q", len(f.out), f.in)}
		}
		copy(f.out, b)
	}
	cfg.PCKCA = CA(s.PCKCA)
	if !cfg.PCKCA.valid() {
		return cfg, &StateError{File: ConfigFile, Field: "pck_ca", Reason: fmt.Sprintf("%q is not %q or %q", s.PCKCA, CAProcessor, CAPlatform)}
	}
	st, err := ParseTCBStatus(s.TCBStatus)
	if err != nil {
		return cfg, &StateError{File: ConfigFile, Field: "tcb_status", Reason: err.Error()}
	}
	cfg.TCBStatus = st
	if s.QESVN == 0 {
		return cfg, &StateError{File: ConfigFile, Field: "qe_svn", Reason: "must be positive"}
	}
	if s.TDXModuleSVN == 0 {
		return cfg, &StateError{File: ConfigFile, Field: "tdx_module_svn", Reason: "must be positive"}
	}
	cfg.QESVN, cfg.TDXModuleSVN, cfg.PCKRevoked = s.QESVN, s.TDXModuleSVN, s.PCKRevoked
	return cfg, nil
}

// MarshalConfig encodes cfg as config.json.
func MarshalConfig(cfg Config) ([]byte, error) {
	return json.MarshalIndent(stateJSON{
		Simulated: true, Format: stateFormat,
		FMSPC: hex.EncodeToString(cfg.FMSPC[:]), PCEID: hex.EncodeToString(cfg.PCEID[:]),
		PCKCA: string(cfg.PCKCA), TCBStatus: string(cfg.TCBStatus), QESVN: cfg.QESVN, TDXModuleSVN: cfg.TDXModuleSVN,
		PCKRevoked: cfg.PCKRevoked, PPID: hex.EncodeToString(cfg.PPID[:]),
		PlatformInstanceID: hex.EncodeToString(cfg.PlatformInstanceID[:]),
	}, "", "  ")
}

// Save writes the platform's state to dir (created if missing): config.json,
// each private key as PKCS#8 PEM (<name>.key, mode 0600) and the certificates
// (<name>.pem; root-ca.pem is the root CA, pck-chain.pem the PCK chain).
func (p *Platform) Save(dir string) error {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("sim: %w", err)
	}
	cfg, err := MarshalConfig(p.cfg)
	if err != nil {
		return err
	}
	files := map[string][]byte{
		ConfigFile:             append(cfg, '\n'),
		RootCAFile:             pemCert(p.certs.root),
		"pck-processor-ca.pem": pemCert(p.certs.processorCA),
		"pck-platform-ca.pem":  pemCert(p.certs.platformCA),
		"tcb-signing.pem":      pemCert(p.certs.tcbSigning),
		"pck.pem":              pemCert(p.certs.pck),
		PCKChainFile:           pemCert(p.certs.pck, p.certs.pckCA(p.cfg.PCKCA), p.certs.root),
	}
	for name, b := range files {
		if err := writeFile(filepath.Join(dir, name), b, 0o644); err != nil {
			return err
		}
	}
	for label, key := range p.keys.byLabel() {
		der, err := x509.MarshalPKCS8PrivateKey(*key)
		if err != nil {
			return fmt.Errorf("sim: encoding %s key: %w", label, err)
		}
		b := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
		if err := writeFile(filepath.Join(dir, label+".key"), b, 0o600); err != nil {
			return err
		}
	}
	return nil
}

func writeFile(path string, b []byte, mode os.FileMode) error {
	if err := os.WriteFile(path, b, mode); err != nil {
		return fmt.Errorf("sim: %w", err)
	}
	// WriteFile keeps the mode of an existing file; keys must not stay readable.
	if err := os.Chmod(path, mode); err != nil {
		return fmt.Errorf("sim: %w", err)
	}
	return nil
}

// Load reads a platform saved by Save. The certificates are re-issued from the
// keys and configuration (they are deterministic); the root CA certificate in
// the directory must be the one the keys give, so that a verifier trusting
// DIR/root-ca.pem trusts this platform.
func Load(dir string, opts Options) (*Platform, error) {
	b, err := readLimited(filepath.Join(dir, ConfigFile), MaxConfigSize)
	if err != nil {
		return nil, err
	}
	cfg, err := ParseConfig(b)
	if err != nil {
		return nil, err
	}
	k := &keySet{}
	for label, dst := range k.byLabel() {
		key, err := loadKey(filepath.Join(dir, label+".key"))
		if err != nil {
			return nil, err
		}
		*dst = key
	}
	p, err := newPlatform(k, cfg, opts)
	if err != nil {
		return nil, err
	}
	root, err := readLimited(filepath.Join(dir, RootCAFile), 64<<10)
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(bytes.TrimSpace(root), bytes.TrimSpace(p.RootPEM())) {
		return nil, &StateError{File: RootCAFile, Reason: "is not the certificate of root-ca.key (state directory mixed up?)"}
	}
	return p, nil
}

func readLimited(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("sim: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("sim: %w", err)
	}
	if int64(len(b)) > limit {
		return nil, &StateError{File: filepath.Base(path), Reason: fmt.Sprintf("exceeds the %d-byte limit", limit)}
	}
	return b, nil
}

func loadKey(path string) (*ecdsa.PrivateKey, error) {
	name := filepath.Base(path)
	b, err := readLimited(path, 16<<10)
	if err != nil {
		return nil, err
	}
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "PRIVATE KEY" {
		return nil, &StateError{File: name, Reason: "not a PEM \"PRIVATE KEY\" (PKCS#8) block"}
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, &StateError{File: name, Reason: err.Error()}
	}
	ek, ok := k.(*ecdsa.PrivateKey)
	if !ok || ek.Curve != elliptic.P256() {
		return nil, &StateError{File: name, Reason: "not an ECDSA P-256 key"}
	}
	return ek, nil
}
