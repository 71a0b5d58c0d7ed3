package cli

import (
	"crypto/x509"
	"fmt"
	"io"
	"os"

	"github.com/spf13/pflag"

	"github.com/sgxops/sgxops/dcap"
)

// simRootFlags is the --insecure-simulation-root flag of the sgxops commands
// that verify quotes. Intel's root stays trusted either way; the flag adds
// simulation roots, whose verdicts dcap marks Simulated. The roots are parsed
// by dcap.ParseSimulationRoots, with the rules attestd applies too.
//
// A command uses it as:
//
//	var sr simRootFlags
//	sr.addFlags(cmd.Flags())
//	...
//	pool, err := sr.pool(cmd.ErrOrStderr()) // nil when the flag is absent
//	if err != nil { return err }
//	opts := dcap.Options{InsecureSimulationRoots: pool}
type simRootFlags struct {
	Files []string // --insecure-simulation-root FILE, repeatable
}

const simRootFlag = "insecure-simulation-root"

func (f *simRootFlags) addFlags(fs *pflag.FlagSet) {
	fs.StringArrayVar(&f.Files, simRootFlag, nil,
		"INSECURE: also trust this simulated root CA (PEM), e.g. DIR/root-ca.pem of \"sgxops sim init\"; "+
			"its quotes prove nothing about real hardware and verdicts say simulated (repeatable)")
}

// pool reads the simulation roots. It returns nil (trust Intel only) when the
// flag was not given, and warns on w for every root it adds. A file that is
// not a PEM CA certificate, or that is Intel's production root, is a usage
// error: Intel's root must never be passed as "simulated".
func (f *simRootFlags) pool(w io.Writer) (*x509.CertPool, error) {
	if len(f.Files) == 0 {
		return nil, nil
	}
	var roots []*x509.Certificate
	for _, file := range f.Files {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, withExit(ExitUsage, fmt.Errorf("--%s: %w", simRootFlag, err))
		}
		certs, err := dcap.ParseSimulationRoots(b)
		if err != nil {
			return nil, withExit(ExitUsage, fmt.Errorf("--%s %s: %w", simRootFlag, file, err))
		}
		roots = append(roots, certs...)
		for _, c := range certs {
			fmt.Fprintf(w, "sgxops: WARNING: trusting simulation root %q from %s: quotes chaining to it are SIMULATED\n", c.Subject.CommonName, file)
		}
	}
	return dcap.SimulationRootPool(roots), nil
}
