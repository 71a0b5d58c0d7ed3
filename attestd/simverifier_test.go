package attestd

import (
	"crypto/x509"
	"log/slog"
	"testing"
	"time"

	"github.com/sgxops/sgxops/attestd/config"
)

type x509Cert = x509.Certificate

// newSimVerifier builds the production verifier (buildVerifier) for the
// simulated platform of a test environment.
func newSimVerifier(t testing.TB, cc config.CollateralConfig, log *slog.Logger) (Verifier, *collateralProbe, bool) {
	t.Helper()
	v, probe, sim, err := buildVerifier(cc, time.Now, log)
	if err != nil {
		t.Fatal(err)
	}
	return v, probe, sim
}
