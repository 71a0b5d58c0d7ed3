package attestd

import (
	"fmt"
	"os"

	"github.com/sgxops/sgxops/dcap"
)

// trustSimulationRoots adds the simulation roots in the PEM file at path to
// opts through dcap's explicit insecure option (verdicts that rely on them say
// Simulated). dcap.ParseSimulationRoots applies the rules of the sgxops CLI:
// CA certificates only, and never Intel's production root.
func trustSimulationRoots(opts *dcap.Options, path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("attestd: simulation root: %w", err)
	}
	roots, err := dcap.ParseSimulationRoots(b)
	if err != nil {
		return fmt.Errorf("attestd: simulation root %s: %w", path, err)
	}
	opts.InsecureSimulationRoots = dcap.SimulationRootPool(roots)
	return nil
}
