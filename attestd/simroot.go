package attestd

import (
	"crypto/x509"

	"github.com/sgxops/sgxops/dcap"
)

// trustSimulationRoots adds simulation roots to opts through dcap's explicit
// insecure option: verdicts that rely on them say Simulated.
func trustSimulationRoots(opts *dcap.Options, roots []*x509.Certificate) error {
	pool := x509.NewCertPool()
	for _, r := range roots {
		pool.AddCert(r)
	}
	opts.InsecureSimulationRoots = pool
	return nil
}
