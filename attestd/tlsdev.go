package attestd

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/sgxops/sgxops/internal/pemcert"
)

// Files of the generated development TLS certificate in the data directory.
const (
	DevTLSCertFile = "dev-tls-cert.pem"
	DevTLSKeyFile  = "dev-tls-key.pem"
)

// devCertLifetime is short on purpose: the development certificate is for
// trying attestd out, not for running it.
const devCertLifetime = 90 * 24 * time.Hour

// loadOrCreateDevCert returns a self-signed development certificate for
// localhost, the loopback addresses and the issuer's host, reusing the one
// in dir while it covers those names and has a week left.
func loadOrCreateDevCert(dir, issuer string, now time.Time) (tls.Certificate, string, error) {
	certPath, keyPath := filepath.Join(dir, DevTLSCertFile), filepath.Join(dir, DevTLSKeyFile)
	dns := []string{"localhost"}
	ips := []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}
	if u, err := url.Parse(issuer); err == nil && u.Hostname() != "" {
		if ip := net.ParseIP(u.Hostname()); ip != nil {
			ips = append(ips, ip)
		} else if !slices.Contains(dns, u.Hostname()) {
			dns = append(dns, u.Hostname())
		}
	}
	if c, err := tls.LoadX509KeyPair(certPath, keyPath); err == nil && c.Leaf != nil {
		ok := now.Add(7 * 24 * time.Hour).Before(c.Leaf.NotAfter)
		for _, d := range dns {
			ok = ok && c.Leaf.VerifyHostname(d) == nil
		}
		for _, ip := range ips {
			ok = ok && c.Leaf.VerifyHostname(ip.String()) == nil
		}
		if ok {
			return c, certPath, nil
		}
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, "", err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return tls.Certificate{}, "", err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "attestd development certificate (NOT FOR PRODUCTION)"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(devCertLifetime),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true, // self-signed, so clients can use it as their CA file
		DNSNames:              dns,
		IPAddresses:           ips,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, "", err
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return tls.Certificate{}, "", err
	}
	if err := writeFileAtomic(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		return tls.Certificate{}, "", err
	}
	if err := writeFileAtomic(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return tls.Certificate{}, "", err
	}
	c, err := tls.LoadX509KeyPair(certPath, keyPath)
	if err != nil {
		return tls.Certificate{}, "", fmt.Errorf("attestd: development certificate: %w", err)
	}
	return c, certPath, nil
}

// loadCertPool reads PEM certificates from path into a pool.
func loadCertPool(path string) (*x509.CertPool, error) {
	certs, err := loadCerts(path)
	if err != nil {
		return nil, err
	}
	p := x509.NewCertPool()
	for _, c := range certs {
		p.AddCert(c)
	}
	return p, nil
}

// loadCerts reads every PEM certificate of path (at least one).
func loadCerts(path string) ([]*x509.Certificate, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	certs, err := pemcert.Parse(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return certs, nil
}
