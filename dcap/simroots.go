package dcap

import (
	"crypto/x509"
	"errors"
	"fmt"

	"github.com/sgxops/sgxops/internal/pemcert"
)

// ErrNotSimulationRoot is wrapped by ParseSimulationRoots for a certificate
// that must not be trusted as a simulation root.
var ErrNotSimulationRoot = errors.New("dcap: not a simulation root")

// ParseSimulationRoots decodes the PEM root CAs of a simulated platform for
// Options.InsecureSimulationRoots, with the rules every caller (the sgxops
// CLI, attestd) applies: each certificate must be a CA, and Intel's production
// root is refused, since it is always trusted and marking its verdicts
// simulated would hide real ones.
func ParseSimulationRoots(b []byte) ([]*x509.Certificate, error) {
	certs, err := pemcert.Parse(b)
	if err != nil {
		return nil, err
	}
	for _, c := range certs {
		if !c.IsCA {
			return nil, fmt.Errorf("%w: certificate %q is not a CA certificate", ErrNotSimulationRoot, c.Subject.CommonName)
		}
		if c.Equal(IntelSGXRootCA()) {
			return nil, fmt.Errorf("%w: this is Intel's production SGX Root CA, which is always trusted; it is not a simulation root", ErrNotSimulationRoot)
		}
	}
	return certs, nil
}

// SimulationRootPool returns a pool of roots for Options.InsecureSimulationRoots.
func SimulationRootPool(roots []*x509.Certificate) *x509.CertPool {
	pool := x509.NewCertPool()
	for _, r := range roots {
		pool.AddCert(r)
	}
	return pool
}
