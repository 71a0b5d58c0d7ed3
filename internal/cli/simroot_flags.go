package cli

import (
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/pflag"

	"github.com/sgxops/sgxops/dcap"
	"github.com/sgxops/sgxops/internal/pemcert"
)

// simRootFlags is the --insecure-simulation-root flag of the commands that
// verify quotes (quote verify, attestd). Intel's root stays trusted either way;
// the flag adds simulation roots, whose verdicts dcap marks Simulated.
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
	pool := x509.NewCertPool()
	for _, file := range f.Files {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, withExit(ExitUsage, fmt.Errorf("--%s: %w", simRootFlag, err))
		}
		certs, err := parseRootPEM(b)
		if err != nil {
			return nil, withExit(ExitUsage, fmt.Errorf("--%s %s: %w", simRootFlag, file, err))
		}
		for _, c := range certs {
			pool.AddCert(c)
			fmt.Fprintf(w, "sgxops: WARNING: trusting simulation root %q from %s: quotes chaining to it are SIMULATED\n", c.Subject.CommonName, file)
		}
	}
	return pool, nil
}

// parseRootPEM decodes PEM CA certificates, refusing Intel's production root.
func parseRootPEM(b []byte) ([]*x509.Certificate, error) {
	certs, err := pemcert.Parse(b)
	if err != nil {
		return nil, err
	}
	for _, c := range certs {
		if !c.IsCA {
			return nil, fmt.Errorf("certificate %q is not a CA certificate", c.Subject.CommonName)
		}
		if c.Equal(dcap.IntelSGXRootCA()) {
			return nil, errors.New("this is Intel's production SGX Root CA, which is always trusted; it is not a simulation root")
		}
	}
	return certs, nil
}
