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
	"github.com/sgxops/sgxops/sgx"
)

// attestOptions are the flags of "sgxops attest".
type attestOptions struct {
	service     string
	caCert      string
	runtimeData string
	runtimeJSON bool
	openEnclave bool
	nonce       string
	app         string
	candidate   string
	releases    []string
	mrenclave   []string
	mrsigner    string
	productID   uint16
	minSVN      uint16
	anyIdentity bool
	allowDebug  bool
	allowSim    bool
	output      string
	timeout     time.Duration
	printToken  bool
}

func newAttestCmd() *cobra.Command {
	o := &attestOptions{}
	cmd := &cobra.Command{
		Use:   "attest --attestd URL QUOTE (--expect-mrenclave HEX | --expect-mrsigner HEX | --app NAME)",
		Short: "Attest a quote with attestd (or any MAA-compatible service) and verify the token",
		Long: `Send an SGX quote (raw, hex or base64) to an MAA-compatible attestation service,
then verify the token as a careful relying party: issuer and key URL pinned to
--attestd, the key from its /certs, RS256 only, expiry, runtime-data binding,
debug and simulated evidence rejected unless allowed, and the expected
measurements or sgxops release.

Exit codes: 0 attested and verified, 1 bad input, 2 usage, 3 rejected (by the
service or by the token checks), 4 the service has no collateral for the
platform (try again later), 5 other failures (e.g. the service is unreachable).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runAttest(cmd.Context(), o, args[0], cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.service, "attestd", "", "base URL of the attestation service (= the token issuer), e.g. https://127.0.0.1:8443")
	f.StringVar(&o.caCert, "ca-cert", "", "PEM CA certificate(s) to trust for the service's TLS (e.g. attestd-data/dev-tls-cert.pem)")
	f.StringVar(&o.runtimeData, "runtime-data", "", "file with the runtime data the quote binds (report_data[0:32] = SHA-256 of it)")
	f.BoolVar(&o.runtimeJSON, "runtime-json", false, "send the runtime data as dataType JSON")
	f.BoolVar(&o.openEnclave, "open-enclave", false, "QUOTE is an Open Enclave report (16-byte header + quote): use /attest/OpenEnclave")
	f.StringVar(&o.nonce, "nonce", "", "nonce to send and expect back")
	f.StringVar(&o.app, "app", "", "expect (and ask the service to match) a release of this sgxops app")
	f.StringVar(&o.candidate, "candidate", "", "ask the service to accept this candidate release (a rollout's test)")
	f.StringSliceVar(&o.releases, "expect-release", nil, "acceptable release names (with --app)")
	f.StringSliceVar(&o.mrenclave, "expect-mrenclave", nil, "acceptable MRENCLAVE (hex), repeatable")
	f.StringVar(&o.mrsigner, "expect-mrsigner", "", "expected MRSIGNER (hex), with --expect-product-id and --expect-min-svn")
	f.Uint16Var(&o.productID, "expect-product-id", 0, "expected ISVPRODID (with --expect-mrsigner)")
	f.Uint16Var(&o.minSVN, "expect-min-svn", 0, "minimum ISVSVN (with --expect-mrsigner)")
	f.BoolVar(&o.anyIdentity, "any-identity", false, "accept any enclave identity (the service's policy decides)")
	f.BoolVar(&o.allowDebug, "allow-debug", false, "accept a debug enclave (its memory is readable by the host)")
	f.BoolVar(&o.allowSim, "allow-simulated", false, "accept evidence from the SIMULATED platform")
	f.StringVar(&o.output, "output", "text", "output format: text or json")
	f.DurationVar(&o.timeout, "timeout", 30*time.Second, "overall timeout")
	f.BoolVar(&o.printToken, "print-token", false, "also print the raw token")
	return cmd
}

func runAttest(ctx context.Context, o *attestOptions, quotePath string, out io.Writer) error {
	format, err := parseOutput(o.output)
	if err != nil {
		return err
	}
	if o.service == "" {
		return withExit(ExitUsage, errors.New("--attestd URL is required"))
	}
	raw, err := os.ReadFile(quotePath)
	if err != nil {
		return withExit(ExitInvalidInput, err)
	}
	evidence, _, err := sgx.DecodeBinary(raw)
	if err != nil {
		return withExit(ExitInvalidInput, fmt.Errorf("%s: %w", quotePath, err))
	}
	var ao maaclient.AttestOptions
	if o.runtimeData != "" {
		if ao.RuntimeData, err = os.ReadFile(o.runtimeData); err != nil {
			return withExit(ExitInvalidInput, err)
		}
	}
	ao.RuntimeDataJSON, ao.Nonce, ao.App, ao.Candidate = o.runtimeJSON, o.nonce, o.app, o.candidate
	exp := maaclient.Expectations{
		MREnclave: o.mrenclave, MRSigner: o.mrsigner, ProductID: o.productID, MinSVN: o.minSVN,
		App: o.app, Releases: o.releases, AnyIdentity: o.anyIdentity, AllowDebug: o.allowDebug, AllowSimulated: o.allowSim,
	}
	hc := &http.Client{Timeout: o.timeout}
	if o.caCert != "" {
		pem, err := os.ReadFile(o.caCert)
		if err != nil {
			return withExit(ExitInvalidInput, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return withExit(ExitInvalidInput, fmt.Errorf("--ca-cert %s: no PEM certificate", o.caCert))
		}
		hc.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
	}
	c, err := maaclient.New(strings.TrimSpace(o.service), maaclient.Options{HTTPClient: hc})
	if err != nil {
		return withExit(ExitUsage, err)
	}
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	var tok *maaclient.Token
	if o.openEnclave {
		tok, err = c.AttestOpenEnclave(ctx, evidence, ao, exp)
	} else {
		tok, err = c.AttestSGX(ctx, evidence, ao, exp)
	}
	if err != nil {
		return attestExit(err)
	}
	if format == outputJSON {
		v := map[string]any{"verified": true, "claims": tok.Claims}
		if o.printToken {
			v["token"] = tok.Raw
		}
		return writeJSON(out, v)
	}
	fmt.Fprintf(out, "verified token from %s (kid %s, expires %s)\n", c.Issuer(), tok.KeyID, tok.Expiry.UTC().Format(time.RFC3339))
	fmt.Fprintf(out, "mrenclave:  %s\nmrsigner:   %s\nproduct id: %d\nsvn:        %d\ndebug:      %v\n", tok.MREnclave, tok.MRSigner, tok.ProductID, tok.SVN, tok.Debug)
	if tok.Release != "" {
		fmt.Fprintf(out, "release:    %s/%s (%s)\n", tok.App, tok.Release, tok.ReleaseState)
	}
	if tok.TCBStatus != "" {
		fmt.Fprintf(out, "tcb status: %s %v\n", tok.TCBStatus, tok.AdvisoryIDs)
	}
	if tok.Simulated {
		fmt.Fprintln(out, "SIMULATED:  the evidence came from the simulated platform, not SGX hardware")
	}
	if o.printToken {
		fmt.Fprintln(out, tok.Raw)
	}
	return nil
}

// attestExit maps client errors to exit codes.
func attestExit(err error) error {
	var se *maaclient.ServiceError
	var te *maaclient.Error
	switch {
	case errors.As(err, &se) && se.StatusCode == http.StatusServiceUnavailable:
		return withExit(ExitCollateral, err)
	case errors.As(err, &se) && se.StatusCode/100 == 4:
		return withExit(ExitVerifyFailed, err)
	case errors.As(err, &te) && te.Reason != maaclient.ReasonKeys:
		if te.Reason == maaclient.ReasonNoExpectation {
			return withExit(ExitUsage, err)
		}
		return withExit(ExitVerifyFailed, err)
	}
	return withExit(ExitInternal, err)
}
