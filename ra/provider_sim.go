package ra

import (
	"errors"

	"github.com/sgxops/sgxops/sim"
)

// SimulatedProvider makes quotes with a SIMULATED SGX platform (package sim)
// for a fixed enclave identity. It exercises the same verification path as
// hardware, but protects nothing: the "enclave" is an ordinary process and
// the platform's keys are in memory. Verifiers accept its quotes only when
// explicitly told to trust the simulation root, and then mark them Simulated.
type SimulatedProvider struct {
	// Platform is the simulated platform. Required.
	Platform *sim.Platform
	// Identity is the enclave identity the quotes claim.
	Identity sim.Identity
}

// Name describes the provider; it always says SIMULATED.
func (p *SimulatedProvider) Name() string {
	return "SIMULATED sgx (sgxops sim platform, not secure hardware)"
}

// Quote returns a simulated DCAP v3 quote for p.Identity and reportData.
func (p *SimulatedProvider) Quote(reportData [64]byte) ([]byte, error) {
	if p.Platform == nil {
		return nil, errors.New("ra: SIMULATED provider has no platform")
	}
	return p.Platform.Quote(p.Identity, reportData)
}
