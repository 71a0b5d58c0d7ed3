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
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sgxops/sgxops/collateral"
	"github.com/sgxops/sgxops/doctor"
	"github.com/sgxops/sgxops/doctor/kube"
)

// Exit codes of "sgxops doctor" (they differ from the table in exitcodes.go,
// like probe's): the worst check decides.
const (
	doctorExitOK   = 0
	doctorExitWarn = 1
	doctorExitFail = 2
)

// azdcapEnv are the Azure DCAP client's settings passed on to the checks.
var azdcapEnv = []string{"AZDCAP_BASE_CERT_URL", "AZDCAP_CLIENT_ID", "AZDCAP_COLLATERAL_VERSION"}

type doctorOptions struct {
	root       string
	output     string
	host       bool
	cluster    bool
	fmspc      string
	pckCA      string
	pcs        string
	pccs       string
	thim       string
	timeout    time.Duration
	kubeconfig string
	context    string
	attestdNS  string
	attestdSvc string
	scheme     string
	attestdURL string
	attestdCA  string
	every      time.Duration
}

func newDoctorCmd() *cobra.Command {
	o := &doctorOptions{}
	cmd := &cobra.Command{
		Use:   "doctor",
		Short: "Preflight: why does attestation not work on this node (or cluster)?",
		Long: `Runs checks on this node (SGX CPU flags and devices, EPC, AESM, quote provider
configuration, collateral for this platform, TDX/SEV-SNP guest devices,
configfs-tsm) and, with --cluster, on the cluster (SGX nodes, EPC, device
plugin, AKS quote helper, attestd readiness and /certs across replicas).
Each check is ok, warn or fail with a reason and the fix.

Exit code: 0 all ok, 1 warnings, 2 failures (or a usage error).

In a pod, mount the host's / (read-only) and pass --root /host.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.every <= 0 {
				return runDoctor(cmd.Context(), o, cmd.OutOrStdout())
			}
			for {
				err := runDoctor(cmd.Context(), o, cmd.OutOrStdout())
				var ee *exitError
				if err != nil && (!errors.As(err, &ee) || (ee.code != doctorExitWarn && ee.code != doctorExitFail)) {
					return err // usage or output errors end the loop
				}
				fmt.Fprintf(cmd.OutOrStdout(), "--- next run in %s (%s)\n", o.every, time.Now().UTC().Add(o.every).Format(time.RFC3339))
				time.Sleep(o.every)
			}
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.root, "root", "/", "read the node's files under this directory (a hostPath mount of /)")
	f.StringVarP(&o.output, "output", "o", "text", "output format: text or json")
	f.BoolVar(&o.host, "host", true, "run the host checks")
	f.BoolVar(&o.cluster, "cluster", false, "run the Kubernetes checks (kubeconfig conventions)")
	f.StringVar(&o.fmspc, "fmspc", "", "the platform's FMSPC (12 hex digits) for the collateral checks")
	f.StringVar(&o.pckCA, "pck-ca", "processor", "PCK CA of the platform: processor or platform")
	f.StringVar(&o.pcs, "pcs", "", "check collateral from this PCS-compatible URL instead of the configured service")
	f.StringVar(&o.pccs, "pccs", "", "check collateral from this PCCS instead of the configured service")
	f.StringVar(&o.thim, "thim", "", "check collateral from this THIM URL instead of the configured service")
	f.DurationVar(&o.timeout, "timeout", 10*time.Second, "timeout of each HTTP request")
	f.StringVar(&o.kubeconfig, "kubeconfig", "", "kubeconfig file (default: $KUBECONFIG, then ~/.kube/config, then in-cluster)")
	f.StringVar(&o.context, "context", "", "kubeconfig context (default: the current one)")
	f.StringVar(&o.attestdNS, "attestd-namespace", "", "attestd's namespace (default: search all namespaces)")
	f.StringVar(&o.attestdSvc, "attestd-service", "sgxops-attestd", "attestd's Service name")
	f.StringVar(&o.scheme, "attestd-scheme", "http", "how attestd's pods are called: http or https")
	f.StringVar(&o.attestdURL, "attestd-url", "", "also check attestd at this URL (e.g. its public endpoint)")
	f.StringVar(&o.attestdCA, "attestd-ca", "", "PEM file of CA certificates attestd's TLS certificate chains to (with https)")
	f.DurationVar(&o.every, "every", 0, "repeat the checks at this interval and never exit (the chart's doctor DaemonSet; each report goes to stdout)")
	return cmd
}

func runDoctor(ctx context.Context, o *doctorOptions, w io.Writer) error {
	if ctx == nil {
		ctx = context.Background()
	}
	out, err := parseOutput(o.output)
	if err != nil {
		return err
	}
	if !o.host && !o.cluster {
		return withExit(ExitUsage, errors.New("nothing to check: --host=false without --cluster"))
	}
	if o.scheme != "http" && o.scheme != "https" {
		return withExit(ExitUsage, fmt.Errorf("--attestd-scheme must be http or https, not %q", o.scheme))
	}
	for _, u := range []struct{ flag, v string }{{"--pcs", o.pcs}, {"--pccs", o.pccs}, {"--thim", o.thim}, {"--attestd-url", o.attestdURL}} {
		if u.v != "" {
			if err := checkServiceURL(u.flag, u.v); err != nil {
				return err
			}
		}
	}
	if o.fmspc != "" {
		if err := (collateral.Request{TEE: collateral.TEESGX, FMSPC: o.fmspc, PCKCA: o.pckCA}).Validate(); err != nil {
			return withExit(ExitUsage, fmt.Errorf("--fmspc/--pck-ca: %w", err))
		}
	}
	var results []doctor.Result
	if o.host {
		env := map[string]string{}
		for _, k := range azdcapEnv {
			if v := os.Getenv(k); v != "" {
				env[k] = v
			}
		}
		results = append(results, doctor.Run(ctx, doctor.Options{
			Root: o.root, HTTPClient: &http.Client{Timeout: o.timeout},
			FMSPC: o.fmspc, PCKCA: o.pckCA, PCS: o.pcs, PCCS: o.pccs, THIM: o.thim, Env: env,
		})...)
	}
	if o.cluster {
		rs, err := o.clusterResults(ctx)
		if err != nil {
			return err
		}
		results = append(results, rs...)
	}
	if err := writeDoctor(w, out, results); err != nil {
		return withExit(ExitInternal, err)
	}
	n := map[doctor.Status]int{}
	for _, r := range results {
		n[r.Status]++
	}
	switch doctor.Worst(results) {
	case doctor.Fail:
		return withExit(doctorExitFail, fmt.Errorf("doctor: %d check(s) failed, %d warning(s)", n[doctor.Fail], n[doctor.Warn]))
	case doctor.Warn:
		return withExit(doctorExitWarn, fmt.Errorf("doctor: %d warning(s)", n[doctor.Warn]))
	}
	return nil
}

func (o *doctorOptions) clusterResults(ctx context.Context) ([]doctor.Result, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = o.kubeconfig
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: o.context})
	cfg, err := cc.ClientConfig()
	if err != nil {
		return nil, withExit(ExitUsage, fmt.Errorf("kubeconfig: %w", err))
	}
	sch := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(sch); err != nil {
		return nil, withExit(ExitInternal, err)
	}
	c, err := client.New(cfg, client.Options{Scheme: sch})
	if err != nil {
		return nil, withExit(ExitUsage, fmt.Errorf("kubeconfig: %w", err))
	}
	hc := &http.Client{Timeout: o.timeout}
	if o.attestdCA != "" {
		pem, err := os.ReadFile(o.attestdCA)
		if err != nil {
			return nil, withExit(ExitUsage, fmt.Errorf("--attestd-ca: %w", err))
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, withExit(ExitUsage, fmt.Errorf("--attestd-ca %s: no PEM certificate", o.attestdCA))
		}
		hc.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
	}
	return kube.Run(ctx, kube.Options{
		Client: c, HTTPClient: hc, Namespace: o.attestdNS, Service: o.attestdSvc, Scheme: o.scheme, AttestdURL: o.attestdURL,
	}), nil
}

// doctorReport is the JSON output.
type doctorReport struct {
	Status string          `json:"status"`
	Checks []doctor.Result `json:"checks"`
}

func writeDoctor(w io.Writer, out outputFormat, rs []doctor.Result) error {
	worst := doctor.Worst(rs)
	if out == outputJSON {
		if rs == nil {
			rs = []doctor.Result{}
		}
		return writeJSON(w, doctorReport{Status: string(worst), Checks: rs})
	}
	var b strings.Builder
	n := map[doctor.Status]int{}
	for _, r := range rs {
		n[r.Status]++
		fmt.Fprintf(&b, "%-4s  %-27s %s\n", strings.ToUpper(string(r.Status)), r.ID, r.Reason)
		if r.Fix != "" {
			fmt.Fprintf(&b, "      %-27s fix: %s\n", "", r.Fix)
		}
	}
	fmt.Fprintf(&b, "%s: %d ok, %d warn, %d fail\n", strings.ToUpper(string(worst)), n[doctor.OK], n[doctor.Warn], n[doctor.Fail])
	_, err := io.WriteString(w, b.String())
	return err
}
