package ra

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"sync"
	"time"
)

// EvidenceFormat selects RA-TLS certificate extensions.
type EvidenceFormat uint8

// Evidence formats; combine with |.
const (
	// FormatGramineLegacy is the raw quote in OIDGramineQuote.
	FormatGramineLegacy EvidenceFormat = 1 << iota
	// FormatTCGDice is the tagged evidence in OIDTCGDiceEvidence.
	FormatTCGDice
)

// CertificateOptions configures NewCertificate and ServerConfig. The zero
// value is usable.
type CertificateOptions struct {
	// Formats selects the evidence extensions. Zero means both (two quotes
	// are taken: one per binding).
	Formats EvidenceFormat
	// Validity is the certificate lifetime. Zero means 24 hours.
	Validity time.Duration
	// CommonName is the subject CN. Empty means "sgxops RA-TLS".
	CommonName string
	// Now is the clock. Nil means time.Now.
	Now func() time.Time
}

func (o *CertificateOptions) withDefaults() CertificateOptions {
	var c CertificateOptions
	if o != nil {
		c = *o
	}
	if c.Formats == 0 {
		c.Formats = FormatGramineLegacy | FormatTCGDice
	}
	if c.Validity <= 0 {
		c.Validity = 24 * time.Hour
	}
	if c.CommonName == "" {
		c.CommonName = "sgxops RA-TLS"
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// NewCertificate makes a fresh ECDSA P-256 key and a self-signed certificate
// for it that carries quotes from p binding the key (see OIDGramineQuote and
// OIDTCGDiceEvidence).
func NewCertificate(p QuoteProvider, opts *CertificateOptions) (tls.Certificate, error) {
	const op = "make RA-TLS certificate"
	o := opts.withDefaults()
	if p == nil {
		return tls.Certificate{}, newErr(op, ReasonProvider, "no quote provider configured", nil)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, newErr(op, ReasonProvider, "generate key", err)
	}
	spki, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return tls.Certificate{}, newErr(op, ReasonProvider, "marshal public key", err)
	}
	var exts []pkix.Extension
	if o.Formats&FormatGramineLegacy != 0 {
		q, err := p.Quote(ReportData(spki))
		if err != nil {
			return tls.Certificate{}, newErr(op, ReasonProvider, "legacy quote", err)
		}
		exts = append(exts, pkix.Extension{Id: OIDGramineQuote, Value: q})
	}
	if o.Formats&FormatTCGDice != 0 {
		claims := DICEClaims(spki)
		q, err := p.Quote(ReportData(claims))
		if err != nil {
			return tls.Certificate{}, newErr(op, ReasonProvider, "DICE quote", err)
		}
		// Not critical: common TLS libraries refuse unknown critical extensions.
		exts = append(exts, pkix.Extension{Id: OIDTCGDiceEvidence, Value: MarshalDICEEvidence(q, claims)})
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return tls.Certificate{}, newErr(op, ReasonProvider, "serial", err)
	}
	now := o.Now()
	tmpl := &x509.Certificate{
		SerialNumber:    serial,
		Subject:         pkix.Name{CommonName: o.CommonName},
		NotBefore:       now.Add(-time.Minute),
		NotAfter:        now.Add(o.Validity),
		KeyUsage:        x509.KeyUsageDigitalSignature,
		ExtKeyUsage:     []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		ExtraExtensions: exts,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, newErr(op, ReasonProvider, "create certificate", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, newErr(op, ReasonProvider, "parse certificate", err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
}

// ServerConfig returns a TLS 1.3 server configuration presenting an RA-TLS
// certificate from p. The certificate is made now (so a broken provider fails
// here) and renewed when half its lifetime has passed.
func ServerConfig(p QuoteProvider, opts *CertificateOptions) (*tls.Config, error) {
	o := opts.withDefaults()
	c := &certCache{p: p, opts: o}
	if _, err := c.get(); err != nil {
		return nil, err
	}
	return &tls.Config{
		MinVersion: tls.VersionTLS13,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return c.get()
		},
	}, nil
}

type certCache struct {
	p    QuoteProvider
	opts CertificateOptions

	mu   sync.Mutex
	cert *tls.Certificate
}

func (c *certCache) get() (*tls.Certificate, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.opts.Now()
	if c.cert != nil && now.Before(c.cert.Leaf.NotAfter.Add(-c.opts.Validity/2)) {
		return c.cert, nil
	}
	cert, err := NewCertificate(c.p, &c.opts)
	if err != nil {
		return nil, err
	}
	c.cert = &cert
	return c.cert, nil
}

// TLSClientOptions configures ClientConfig. The zero value is usable.
type TLSClientOptions struct {
	// Timeout bounds the verification of the peer's evidence (crypto/tls
	// gives VerifyConnection no context). Zero means 30 seconds.
	Timeout time.Duration
	// Now is the clock for the certificate's validity. Nil means time.Now.
	Now func() time.Time
	// OnAttested, if set, receives the verified attestation of each
	// successful handshake.
	OnAttested func(*Attestation)
}

// ClientConfig returns a TLS 1.3 client configuration that accepts a server
// only if its certificate carries evidence that v accepts and that binds the
// certificate's key. Web PKI chain and host name checks are replaced by this
// check (InsecureSkipVerify is set so that crypto/tls leaves the decision to
// VerifyConnection); TLS 1.3 itself proves that the server holds the key.
func ClientConfig(v Verifier, opts *TLSClientOptions) *tls.Config {
	var o TLSClientOptions
	if opts != nil {
		o = *opts
	}
	if o.Timeout <= 0 {
		o.Timeout = 30 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &tls.Config{
		MinVersion:         tls.VersionTLS13,
		InsecureSkipVerify: true, // replaced by VerifyConnection below
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return newErr("verify RA-TLS peer", ReasonMalformed, "no peer certificate", nil)
			}
			ctx, cancel := context.WithTimeout(context.Background(), o.Timeout)
			defer cancel()
			att, err := VerifyCertificate(ctx, cs.PeerCertificates[0], v, o.Now())
			if err != nil {
				return err
			}
			if o.OnAttested != nil {
				o.OnAttested(att)
			}
			return nil
		},
	}
}

// VerifyCertificate checks an RA-TLS certificate at time now: its
// self-signature and validity, then the evidence (the DICE extension if
// present, else the Gramine legacy one) with v, and the binding of that
// evidence to the certificate's public key.
func VerifyCertificate(ctx context.Context, cert *x509.Certificate, v Verifier, now time.Time) (*Attestation, error) {
	const op = "verify RA-TLS certificate"
	if err := cert.CheckSignature(cert.SignatureAlgorithm, cert.RawTBSCertificate, cert.Signature); err != nil {
		return nil, newErr(op, ReasonMalformed, "not validly self-signed", err)
	}
	if now.Before(cert.NotBefore) || now.After(cert.NotAfter) {
		return nil, newErr(op, ReasonAttestation, fmt.Sprintf("certificate not valid at %s (valid %s to %s)",
			now.UTC().Format(time.RFC3339), cert.NotBefore.UTC().Format(time.RFC3339), cert.NotAfter.UTC().Format(time.RFC3339)), nil)
	}
	spki := cert.RawSubjectPublicKeyInfo
	var legacy, dice []byte
	for _, e := range cert.Extensions {
		switch {
		case e.Id.Equal(OIDTCGDiceEvidence):
			dice = e.Value
		case e.Id.Equal(OIDGramineQuote):
			legacy = e.Value
		}
	}
	switch {
	case dice != nil:
		ev, err := ParseDICEEvidence(dice)
		if err != nil {
			return nil, err
		}
		h, err := hashSPKI(ev.PubKeyHashAlg, spki)
		if err != nil {
			return nil, newErr(op, ReasonMalformed, "", err)
		}
		if subtle.ConstantTimeCompare(h, ev.PubKeyHash) != 1 {
			return nil, newErr(op, ReasonBinding, "DICE pubkey-hash claim does not match the certificate key", nil)
		}
		return verifyBound(ctx, v, op, ev.Quote, ev.Claims)
	case legacy != nil:
		if len(legacy) == 0 {
			return nil, fieldErr(op, "extension "+OIDGramineQuote.String(), -1, "empty quote")
		}
		return verifyBound(ctx, v, op, legacy, spki)
	}
	return nil, newErr(op, ReasonMalformed, "certificate carries no evidence extension ("+
		OIDTCGDiceEvidence.String()+" or "+OIDGramineQuote.String()+")", errors.New("not an RA-TLS certificate"))
}
