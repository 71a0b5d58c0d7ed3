package sim

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"time"
)

// Certificate subject names. Every one says SIMULATED, so that a simulated
// certificate can never be mistaken for Intel's.
const (
	RootCAName       = "sgxops SIMULATED SGX Root CA"
	ProcessorCAName  = "sgxops SIMULATED SGX PCK Processor CA"
	PlatformCAName   = "sgxops SIMULATED SGX PCK Platform CA"
	PCKCertName      = "sgxops SIMULATED SGX PCK Certificate"
	TCBSigningName   = "sgxops SIMULATED SGX TCB Signing"
	OrganizationName = "sgxops SIMULATED platform (not Intel)"
)

// SimulatedHost is the reserved (RFC 2606 .invalid) host named in the CRL
// distribution points of simulated certificates; it never resolves.
const SimulatedHost = "sgxops-simulated.invalid"

// Certificate validity is fixed (not derived from the clock) so that the same
// seed always yields byte-identical certificates.
var (
	certNotBefore = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	certNotAfter  = time.Date(2049, 12, 31, 23, 59, 59, 0, time.UTC)
)

func simName(cn string) pkix.Name {
	return pkix.Name{CommonName: cn, Organization: []string{OrganizationName}}
}

// keyID is the subject key identifier: a truncated SHA-256 of the public key.
func keyID(pub *ecdsa.PublicKey) []byte {
	b, _ := pub.Bytes()
	h := sha256.Sum256(b)
	return h[:20]
}

// serialFor derives a positive 20-byte serial number, unique per certificate
// contents, as Intel's are.
func serialFor(label string, pub *ecdsa.PublicKey, extra []byte) *big.Int {
	b, _ := pub.Bytes()
	h := sha256.New()
	h.Write([]byte("sgxops SIMULATED serial:" + label + ":"))
	h.Write(b)
	h.Write(extra)
	sum := h.Sum(nil)[:20]
	sum[0] &= 0x7f
	sum[0] |= 0x01 // never zero, never negative
	return new(big.Int).SetBytes(sum)
}

type certSpec struct {
	label   string
	subject string
	key     *ecdsa.PrivateKey // subject key
	ca      bool
	pathLen int
	crlPath string // CRL distribution point path on the simulated PCS
	extra   []byte // distinguishes serials of re-issued certificates
	ext     []pkix.Extension
}

// issue creates a certificate for spec, signed by parent (nil: self-signed).
func issue(spec certSpec, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (*x509.Certificate, error) {
	tmpl := &x509.Certificate{
		SerialNumber:          serialFor(spec.label, &spec.key.PublicKey, spec.extra),
		Subject:               simName(spec.subject),
		NotBefore:             certNotBefore,
		NotAfter:              certNotAfter,
		SubjectKeyId:          keyID(&spec.key.PublicKey),
		BasicConstraintsValid: true,
		IsCA:                  spec.ca,
		CRLDistributionPoints: []string{"https://" + SimulatedHost + spec.crlPath},
		ExtraExtensions:       spec.ext,
	}
	if spec.ca {
		tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign
		tmpl.MaxPathLen = spec.pathLen
		tmpl.MaxPathLenZero = spec.pathLen == 0
	} else {
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment
	}
	signer := parentKey
	if parent == nil {
		parent, signer = tmpl, spec.key
		tmpl.AuthorityKeyId = tmpl.SubjectKeyId
	}
	der, err := x509.CreateCertificate(nil, tmpl, parent, &spec.key.PublicKey, detSigner{signer})
	if err != nil {
		return nil, fmt.Errorf("sim: issuing %s certificate: %w", spec.label, err)
	}
	return x509.ParseCertificate(der)
}

// CA selects which PCK CA issues the platform's PCK certificate.
type CA string

// PCK CAs, named as the PCS "ca" query parameter names them.
const (
	CAProcessor CA = "processor"
	CAPlatform  CA = "platform"
)

func (c CA) valid() bool { return c == CAProcessor || c == CAPlatform }

const (
	rootCRLPath = "/sgx/certification/v4/rootcacrl"
)

func pckCRLPath(ca CA) string {
	return "/sgx/certification/v4/pckcrl?ca=" + string(ca) + "&encoding=der"
}

// certSet holds the platform's certificates.
type certSet struct {
	root, processorCA, platformCA, tcbSigning, pck *x509.Certificate
}

// issueCAs creates the certificates that do not depend on the platform's TCB.
func issueCAs(k *keySet) (*certSet, error) {
	var c certSet
	var err error
	if c.root, err = issue(certSpec{label: "root-ca", subject: RootCAName, key: k.root, ca: true, pathLen: 1, crlPath: rootCRLPath}, nil, nil); err != nil {
		return nil, err
	}
	if c.processorCA, err = issue(certSpec{label: "pck-processor-ca", subject: ProcessorCAName, key: k.processorCA, ca: true, pathLen: 0, crlPath: rootCRLPath}, c.root, k.root); err != nil {
		return nil, err
	}
	if c.platformCA, err = issue(certSpec{label: "pck-platform-ca", subject: PlatformCAName, key: k.platformCA, ca: true, pathLen: 0, crlPath: rootCRLPath}, c.root, k.root); err != nil {
		return nil, err
	}
	if c.tcbSigning, err = issue(certSpec{label: "tcb-signing", subject: TCBSigningName, key: k.tcbSigning, crlPath: rootCRLPath}, c.root, k.root); err != nil {
		return nil, err
	}
	return &c, nil
}

// issuePCK (re-)issues the PCK certificate for the platform's configuration.
func (c *certSet) issuePCK(k *keySet, cfg *Config) error {
	lvl := sgxLevelFor(cfg.TCBStatus)
	v := pckExtensionValues{
		PPID: cfg.PPID, CPUSVN: lvl.sgx, PCESVN: lvl.pcesvn, PCEID: cfg.PCEID, FMSPC: cfg.FMSPC,
		SGXType: sgxTypeStandard,
	}
	parent, parentKey := c.processorCA, k.processorCA
	if cfg.PCKCA == CAPlatform {
		parent, parentKey = c.platformCA, k.platformCA
		v.SGXType, v.PlatformCA, v.InstanceID = sgxTypeScalable, true, cfg.PlatformInstanceID
	}
	ext, err := marshalSGXExtension(v)
	if err != nil {
		return err
	}
	c.pck, err = issue(certSpec{
		label: "pck", subject: PCKCertName, key: k.pck, crlPath: pckCRLPath(cfg.PCKCA),
		extra: ext, ext: []pkix.Extension{{Id: oidSGXExtension, Value: ext}},
	}, parent, parentKey)
	return err
}

// pckCA returns the CA certificate that issued the PCK certificate.
func (c *certSet) pckCA(ca CA) *x509.Certificate {
	if ca == CAPlatform {
		return c.platformCA
	}
	return c.processorCA
}

func pemCert(certs ...*x509.Certificate) []byte {
	var b bytes.Buffer
	for _, c := range certs {
		_ = pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	return b.Bytes()
}
