package cli

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/sgxops/sgxops/maaclient"
	"github.com/sgxops/sgxops/probe"
)

// Exit codes of "sgxops probe" (a Job's test: ok or not).
const (
	probeOK     = 0
	probeFailed = 1
)

// probeOptions are the flags of "sgxops probe".
type probeOptions struct {
	service   string
	attestd   string
	app       string
	release   string
	states    []string
	allowSim  bool
	attestdCA string
	timeout   time.Duration
	output    string
}

func newProbeCmd() *cobra.Command {
	o := &probeOptions{}
	cmd := &cobra.Command{
		Use:   "probe --service URL --attestd URL --app APP --release NAME",
		Short: "A rollout's test: attest a service through attestd, naming one release, and check the token",
		Long: `Open an attested channel to the service at --service (the ra protocol of the
sample service), have its quote verified by attestd asking for release
--release of --app by name, and verify the token as a careful relying party:
RS256 signature with a key from attestd's /certs, issuer and key URL pinned to
--attestd, expiry, report data bound to the channel, app and release name, and
the release's state (--state, default candidate or active). When the release
is a candidate, a request that does not name it must be refused, too.

Exit codes: 0 the probe passed; 1 it failed (one line on stderr says why);
2 usage.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runProbe(cmd.Context(), o, cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.service, "service", "", "base URL of the service to attest (required)")
	f.StringVar(&o.attestd, "attestd", "", "attestd's base URL, exactly its token issuer (required)")
	f.StringVar(&o.app, "app", "", "app whose release the service must attest as (required)")
	f.StringVar(&o.release, "release", "", "release the request names and the token must name (required)")
	f.StringSliceVar(&o.states, "state", nil, "accepted release states (default candidate,active)")
	f.BoolVar(&o.allowSim, "allow-simulated", false, "accept evidence from the SIMULATED platform")
	f.StringVar(&o.attestdCA, "attestd-ca", "", "PEM CA certificate(s) for attestd's TLS")
	f.DurationVar(&o.timeout, "timeout", 30*time.Second, "overall timeout")
	f.StringVar(&o.output, "output", "text", "output format: text or json")
	return cmd
}

// probeReport is the JSON output of "sgxops probe".
type probeReport struct {
	OK             bool   `json:"ok"`
	Reason         string `json:"reason,omitempty"`
	Error          string `json:"error,omitempty"`
	App            string `json:"app"`
	Release        string `json:"release"`
	State          string `json:"state,omitempty"`
	MREnclave      string `json:"mrenclave,omitempty"`
	Simulated      bool   `json:"simulated,omitempty"`
	TCBStatus      string `json:"tcb_status,omitempty"`
	Verifier       string `json:"verifier,omitempty"`
	Expires        string `json:"token_expires,omitempty"`
	UnnamedRefused string `json:"unnamed_refused,omitempty"`
}

func runProbe(ctx context.Context, o *probeOptions, out io.Writer) error {
	format, err := parseOutput(o.output)
	if err != nil {
		return err
	}
	var missing []string
	for _, f := range []struct{ name, v string }{{"--service", o.service}, {"--attestd", o.attestd}, {"--app", o.app}, {"--release", o.release}} {
		if f.v == "" {
			missing = append(missing, f.name)
		}
	}
	if len(missing) > 0 {
		return withExit(ExitUsage, fmt.Errorf("probe: %s required", strings.Join(missing, ", ")))
	}
	if o.timeout <= 0 {
		return withExit(ExitUsage, errors.New("probe: --timeout must be positive"))
	}
	hc := &http.Client{Timeout: o.timeout}
	if o.attestdCA != "" {
		pem, err := os.ReadFile(o.attestdCA)
		if err != nil {
			return withExit(ExitUsage, fmt.Errorf("probe: --attestd-ca: %w", err))
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return withExit(ExitUsage, fmt.Errorf("probe: --attestd-ca %s: no PEM certificate", o.attestdCA))
		}
		hc.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
	}
	mc, err := maaclient.New(strings.TrimRight(strings.TrimSpace(o.attestd), "/"), maaclient.Options{HTTPClient: hc})
	if err != nil {
		return withExit(ExitUsage, err)
	}
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	res, err := probe.Run(ctx, probe.Options{
		ServiceURL: strings.TrimSpace(o.service), Attestd: mc, App: o.app, Release: o.release,
		States: o.states, AllowSimulated: o.allowSim, HTTP: &http.Client{Timeout: o.timeout},
	})
	rep := probeReport{OK: err == nil, App: o.app, Release: o.release}
	if err != nil {
		var pe *probe.Error
		if errors.As(err, &pe) {
			rep.Reason = string(pe.Reason)
		}
		rep.Error = oneLine(err.Error())
		if format == outputJSON {
			_ = writeJSON(out, rep)
		}
		return withExit(probeFailed, errors.New(rep.Error))
	}
	a := res.Attestation
	rep.State, rep.MREnclave, rep.Simulated, rep.TCBStatus, rep.Verifier = a.ReleaseState, a.MREnclave, a.Simulated, a.TCBStatus, a.Verifier
	if !a.Expires.IsZero() {
		rep.Expires = a.Expires.UTC().Format(time.RFC3339)
	}
	if res.UnnamedRefused != nil {
		rep.UnnamedRefused = oneLine(res.UnnamedRefused.Error())
	}
	if format == outputJSON {
		return withExit(ExitInternal, writeJSON(out, rep))
	}
	sim := ""
	if a.Simulated {
		sim = " SIMULATED"
	}
	fmt.Fprintf(out, "ok: %s attests as release %s/%s (%s), MRENCLAVE %s,%s TCB %s, verified by %s\n",
		o.service, a.App, a.Release, a.ReleaseState, a.MREnclave, sim, a.TCBStatus, a.Verifier)
	if res.UnnamedRefused != nil {
		fmt.Fprintf(out, "ok: a request that does not name candidate %s is refused\n", a.Release)
	}
	return nil
}

// oneLine folds an error message onto one line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
