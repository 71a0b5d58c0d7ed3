package cli

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/sgxops/sgxops/sim"
)

// simNotice is printed on stderr by every sim command.
const simNotice = "sgxops: SIMULATED SGX platform: its quotes and collateral prove nothing about real hardware;\n" +
	"sgxops: verifiers accept them only when given its root explicitly (--insecure-simulation-root)."

func newSimCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "sim",
		Short: "Run a SIMULATED SGX platform: PCK hierarchy, quoting enclave, PCS-compatible collateral server",
		Long: `A simulated SGX/TDX platform whose quotes go through the same verification as
real ones, trusting a simulation root CA that must be named explicitly.
Everything it issues says SIMULATED. The platform state (keys, certificates,
configuration) lives in a directory; DIR/root-ca.pem is its root certificate.`,
		PersistentPreRun: func(cmd *cobra.Command, args []string) {
			fmt.Fprintln(cmd.ErrOrStderr(), simNotice)
		},
	}
	cmd.AddCommand(newSimInitCmd(), newSimQuoteCmd(), newSimPCSCmd(), newSimCollateralCmd())
	return cmd
}

// simInitOptions are the flags of "sim init".
type simInitOptions struct {
	dir       string
	seed      string
	tcbStatus string
	revoked   bool
	pckCA     string
	qeSVN     uint16
	force     bool
	output    string
	secret    string
	namespace string
}

func newSimInitCmd() *cobra.Command {
	o := &simInitOptions{}
	cmd := &cobra.Command{
		Use:   "init --dir DIR",
		Short: "Create a simulated platform's state in DIR",
		Long: `Create a simulated platform and save its state in DIR: keys (PKCS#8 PEM,
mode 0600), certificates and config.json. DIR/root-ca.pem is the simulated root CA.

With --seed the platform is deterministic: the same seed always gives the same
keys and certificates. --tcb-status puts the platform's TCB at the level the
simulated TCB Info rates with that status (UpToDate, SWHardeningNeeded,
ConfigurationNeeded, ConfigurationAndSWHardeningNeeded, OutOfDate,
OutOfDateConfigurationNeeded, Revoked; BelowAllLevels matches no level).
--revoked lists the PCK certificate in the PCK CRL. Running init again on an
existing state directory needs --force and keeps nothing of the old platform.

--output secret-yaml prints the state as a Kubernetes Secret manifest
(--secret-name, --namespace) on stdout instead, for
"kubectl apply -f -"; --dir is then optional (also save the state there).
The Secret holds private keys of the SIMULATED platform and is labelled
sgxops.io/simulated=true.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runSimInit(cmd.OutOrStdout(), o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.dir, "dir", "", "state directory (required unless --output secret-yaml)")
	f.StringVar(&o.seed, "seed", "", "derive every key from this seed (default: random)")
	f.StringVar(&o.tcbStatus, "tcb-status", string(sim.UpToDate), "TCB status the platform's TCB is rated at")
	f.BoolVar(&o.revoked, "revoked", false, "list the PCK certificate in the PCK CRL")
	f.StringVar(&o.pckCA, "pck-ca", string(sim.CAProcessor), "PCK CA that issues the PCK certificate: processor or platform")
	f.Uint16Var(&o.qeSVN, "qe-svn", sim.DefaultQESVN, fmt.Sprintf("ISVSVN of the quoting enclaves (%d is UpToDate, %d OutOfDate)", sim.DefaultQESVN, sim.QEOutOfDateSVN))
	f.BoolVar(&o.force, "force", false, "overwrite an existing state directory")
	f.StringVar(&o.output, "output", "text", "text (a summary) or secret-yaml (a Kubernetes Secret manifest on stdout)")
	f.StringVar(&o.secret, "secret-name", "sgxops-sim-platform", "name of the Secret (with --output secret-yaml)")
	f.StringVar(&o.namespace, "namespace", "", "namespace of the Secret (with --output secret-yaml; empty: none, kubectl's)")
	return cmd
}

func runSimInit(out io.Writer, o *simInitOptions) error {
	switch o.output {
	case "text":
		if o.dir == "" {
			return withExit(ExitUsage, errors.New("--dir is required"))
		}
	case simOutputSecret:
		if err := checkSecretNames(o.secret, o.namespace); err != nil {
			return withExit(ExitUsage, err)
		}
	default:
		return withExit(ExitUsage, fmt.Errorf("--output must be text or %s, not %q", simOutputSecret, o.output))
	}
	status, err := sim.ParseTCBStatus(o.tcbStatus)
	if err != nil {
		return withExit(ExitUsage, fmt.Errorf("--tcb-status: %w", err))
	}
	if o.qeSVN == 0 {
		return withExit(ExitUsage, errors.New("--qe-svn must be positive"))
	}
	cfg := sim.Config{TCBStatus: status, PCKRevoked: o.revoked, PCKCA: sim.CA(o.pckCA), QESVN: o.qeSVN}
	if o.dir == "" { // secret-yaml only: the state goes through a private temporary directory
		tmp, err := os.MkdirTemp("", "sgxops-sim-")
		if err != nil {
			return withExit(ExitInternal, err)
		}
		defer os.RemoveAll(tmp)
		o2 := *o
		o2.dir = filepath.Join(tmp, "state")
		o = &o2
	}
	if _, err := os.Stat(filepath.Join(o.dir, sim.ConfigFile)); err == nil && !o.force {
		return withExit(ExitInvalidInput, fmt.Errorf("%s already holds a simulated platform (use --force to replace it)", o.dir))
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return withExit(ExitInternal, err)
	} else if err != nil {
		// Not a platform state directory: write only into a new or empty one,
		// so that a wrong --dir never mixes keys into someone's files.
		entries, rerr := os.ReadDir(o.dir)
		if rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
			return withExit(ExitInvalidInput, rerr)
		}
		if len(entries) > 0 {
			return withExit(ExitInvalidInput, fmt.Errorf("%s is not empty and holds no simulated platform; choose a new or empty directory", o.dir))
		}
	}
	var p *sim.Platform
	if o.seed != "" {
		p, err = sim.New([]byte(o.seed), cfg, sim.Options{})
	} else {
		p, err = sim.NewRandom(cfg, sim.Options{})
	}
	if err != nil {
		return withExit(ExitUsage, err)
	}
	if err := p.Save(o.dir); err != nil {
		return withExit(ExitInternal, err)
	}
	if o.output == simOutputSecret {
		return writeSimSecret(out, o.dir, o.secret, o.namespace)
	}
	c := p.Config()
	fmt.Fprintf(out, "simulated platform saved in %s\n", o.dir)
	fmt.Fprintf(out, "  root CA:     %s (trust only with --insecure-simulation-root)\n", filepath.Join(o.dir, sim.RootCAFile))
	fmt.Fprintf(out, "  FMSPC:       %x\n", c.FMSPC)
	fmt.Fprintf(out, "  PCK CA:      %s\n", c.PCKCA)
	fmt.Fprintf(out, "  TCB status:  %s\n", c.TCBStatus)
	fmt.Fprintf(out, "  PCK revoked: %v\n", c.PCKRevoked)
	return nil
}

func loadSim(dir string) (*sim.Platform, error) {
	p, err := sim.Load(dir, sim.Options{})
	if err != nil {
		return nil, withExit(ExitInvalidInput, fmt.Errorf("loading simulated platform (run \"sgxops sim init --dir %s\" first?): %w", dir, err))
	}
	return p, nil
}
