package sim

import (
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"sync"
	"time"
)

// DefaultFMSPC is the FMSPC of simulated platforms unless configured: the
// bytes spell "SIM".
var DefaultFMSPC = [6]byte{'S', 'I', 'M', 0, 0, 0}

// DefaultCollateralValidity is how long simulated TCB Info, QE Identity and
// CRLs stay valid after they are issued (Intel's are also valid for 30 days).
const DefaultCollateralValidity = 30 * 24 * time.Hour

// Config is the configurable state of a simulated platform. The zero value is
// an UpToDate platform with the default FMSPC whose PCK certificate the
// Processor CA issued.
type Config struct {
	// FMSPC of the platform; zero means DefaultFMSPC.
	FMSPC [6]byte
	// PCEID of the platform; zero is Intel's PCE ID 0000.
	PCEID [2]byte
	// PCKCA is the CA that issues the PCK certificate; "" means CAProcessor.
	PCKCA CA
	// TCBStatus is the status the simulated TCB Info gives the platform's TCB
	// (CPUSVN, PCESVN and, for TDs, TEE_TCB_SVN); "" means UpToDate.
	TCBStatus TCBStatus
	// QESVN is the ISVSVN of the simulated QE and TD QE; 0 means DefaultQESVN.
	// The QE Identity rates DefaultQESVN UpToDate and QEOutOfDateSVN OutOfDate.
	QESVN uint16
	// TDXModuleSVN is the SVN of the platform's TDX module (major version 1);
	// 0 means DefaultTDXModuleSVN. The TDX TCB Info's module identity TDX_01
	// rates DefaultTDXModuleSVN UpToDate and TDXModuleOutOfDateSVN OutOfDate.
	TDXModuleSVN uint8
	// PCKRevoked lists the platform's PCK certificate in the PCK CRL.
	PCKRevoked bool
	// PPID of the platform; zero means derived from the platform's keys.
	PPID [16]byte
	// PlatformInstanceID (in PCK certificates of the Platform CA); zero means
	// derived from the platform's keys.
	PlatformInstanceID [16]byte
}

// Options are the runtime settings of a platform that are not persisted.
type Options struct {
	// Now is the clock that dates collateral; nil means time.Now.
	Now func() time.Time
	// CollateralValidity is the time from issueDate to nextUpdate of TCB Info,
	// QE Identity and CRLs; zero means DefaultCollateralValidity.
	CollateralValidity time.Duration
}

// keySet holds the platform's private keys.
type keySet struct {
	root, processorCA, platformCA, tcbSigning, pck, attestation *ecdsa.PrivateKey
}

// keyLabels names the keys (derivation labels and file names).
var keyLabels = []string{"root-ca", "pck-processor-ca", "pck-platform-ca", "tcb-signing", "pck", "attestation"}

func (k *keySet) byLabel() map[string]**ecdsa.PrivateKey {
	return map[string]**ecdsa.PrivateKey{
		"root-ca": &k.root, "pck-processor-ca": &k.processorCA, "pck-platform-ca": &k.platformCA,
		"tcb-signing": &k.tcbSigning, "pck": &k.pck, "attestation": &k.attestation,
	}
}

// Platform is a simulated SGX/TDX platform. Its methods are safe for
// concurrent use.
type Platform struct {
	mu    sync.RWMutex
	cfg   Config
	keys  *keySet
	certs *certSet
	opts  Options
}

// ErrEmptySeed is returned by New for an empty seed.
var ErrEmptySeed = errors.New("sim: seed is empty")

// New makes the platform determined by seed: the same seed always gives the
// same keys and certificates.
func New(seed []byte, cfg Config, opts Options) (*Platform, error) {
	if len(seed) == 0 {
		return nil, ErrEmptySeed
	}
	k := &keySet{}
	for label, dst := range k.byLabel() {
		key, err := deriveKey(seed, label)
		if err != nil {
			return nil, fmt.Errorf("sim: deriving %s key: %w", label, err)
		}
		*dst = key
	}
	return newPlatform(k, cfg, opts)
}

// NewRandom makes a fresh platform from a random seed.
func NewRandom(cfg Config, opts Options) (*Platform, error) {
	seed := make([]byte, 32)
	if _, err := rand.Read(seed); err != nil {
		return nil, err
	}
	return New(seed, cfg, opts)
}

func newPlatform(k *keySet, cfg Config, opts Options) (*Platform, error) {
	certs, err := issueCAs(k)
	if err != nil {
		return nil, err
	}
	p := &Platform{keys: k, certs: certs, opts: opts}
	if err := p.SetConfig(cfg); err != nil {
		return nil, err
	}
	return p, nil
}

// derivedID derives a 16-byte platform identifier from the PCK key.
func derivedID(k *keySet, label string) [16]byte {
	b, _ := k.pck.PublicKey.Bytes()
	h := sha256.Sum256(append([]byte("sgxops SIMULATED "+label+":"), b...))
	var out [16]byte
	copy(out[:], h[:16])
	return out
}

// withDefaults fills the zero fields of cfg and checks the rest.
func (p *Platform) withDefaults(cfg Config) (Config, error) {
	if cfg.FMSPC == [6]byte{} {
		cfg.FMSPC = DefaultFMSPC
	}
	if cfg.PCKCA == "" {
		cfg.PCKCA = CAProcessor
	}
	if !cfg.PCKCA.valid() {
		return cfg, fmt.Errorf("sim: config PCKCA %q: want %q or %q", cfg.PCKCA, CAProcessor, CAPlatform)
	}
	if cfg.TCBStatus == "" {
		cfg.TCBStatus = UpToDate
	}
	if _, err := ParseTCBStatus(string(cfg.TCBStatus)); err != nil {
		return cfg, fmt.Errorf("sim: config TCBStatus: %w", err)
	}
	if cfg.QESVN == 0 {
		cfg.QESVN = DefaultQESVN
	}
	if cfg.TDXModuleSVN == 0 {
		cfg.TDXModuleSVN = DefaultTDXModuleSVN
	}
	if cfg.PPID == [16]byte{} {
		cfg.PPID = derivedID(p.keys, "PPID")
	}
	if cfg.PlatformInstanceID == [16]byte{} {
		cfg.PlatformInstanceID = derivedID(p.keys, "platform instance ID")
	}
	return cfg, nil
}

// SetConfig changes the platform's configuration and re-issues its PCK
// certificate to match (a new TCB level means new SVNs in the certificate).
func (p *Platform) SetConfig(cfg Config) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	cfg, err := p.withDefaults(cfg)
	if err != nil {
		return err
	}
	certs := *p.certs
	if err := certs.issuePCK(p.keys, &cfg); err != nil {
		return err
	}
	p.cfg, p.certs = cfg, &certs
	return nil
}

// Config returns the platform's configuration with defaults filled in.
func (p *Platform) Config() Config {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.cfg
}

// SetTCBStatus puts the platform's TCB at the level the simulated TCB Info
// rates status.
func (p *Platform) SetTCBStatus(status TCBStatus) error {
	cfg := p.Config()
	cfg.TCBStatus = status
	return p.SetConfig(cfg)
}

// SetPCKRevoked lists (or unlists) the PCK certificate in the PCK CRL.
func (p *Platform) SetPCKRevoked(revoked bool) error {
	cfg := p.Config()
	cfg.PCKRevoked = revoked
	return p.SetConfig(cfg)
}

// RootCertificate returns the simulated root CA certificate: the trust anchor
// a verifier must be given explicitly to accept this platform's quotes.
func (p *Platform) RootCertificate() *x509.Certificate {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.certs.root
}

// RootPEM returns the root CA certificate as PEM.
func (p *Platform) RootPEM() []byte { return pemCert(p.RootCertificate()) }

// PCKCertificate returns the platform's current PCK certificate.
func (p *Platform) PCKCertificate() *x509.Certificate {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.certs.pck
}

// PCKChainPEM returns the PCK certificate chain as quotes carry it: PCK
// certificate, PCK CA, root CA.
func (p *Platform) PCKChainPEM() []byte {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return pemCert(p.certs.pck, p.certs.pckCA(p.cfg.PCKCA), p.certs.root)
}

func (p *Platform) now() time.Time {
	if p.opts.Now != nil {
		return p.opts.Now().UTC().Truncate(time.Second)
	}
	return time.Now().UTC().Truncate(time.Second)
}

func (p *Platform) validity() time.Duration {
	if p.opts.CollateralValidity > 0 {
		return p.opts.CollateralValidity
	}
	return DefaultCollateralValidity
}
