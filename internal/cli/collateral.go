package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/sgxops/sgxops/collateral"
	"github.com/sgxops/sgxops/internal/atomicfile"
)

func newCollateralCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "collateral",
		Short: "Fetch and inspect Intel DCAP collateral (TCB Info, QE Identity, CRLs)",
	}
	cmd.AddCommand(newCollateralFetchCmd(), newCollateralShowCmd())
	return cmd
}

type collateralFetchOptions struct {
	src   collateralFlags
	fmspc string
	tee   string
	ca    string
	out   string
}

func newCollateralFetchCmd() *cobra.Command {
	o := &collateralFetchOptions{}
	cmd := &cobra.Command{
		Use:   "fetch --fmspc HEX --tee sgx|tdx (--pcs URL | --pccs URL | --thim URL) [--out FILE]",
		Short: "Download the collateral for one platform into an offline bundle",
		Long: `Download TCB Info, QE Identity, the PCK CRL and the Root CA CRL for one platform
(FMSPC) from Intel PCS, a PCCS or Azure THIM, and write them as an offline bundle in
the dcap-qvl JSON layout, for "--collateral FILE". Nothing is verified here: the
signatures are checked when a quote is verified against the bundle.

Exit codes: 0 written, 1 invalid value, 2 usage, 4 collateral unavailable or
malformed, 5 could not write the output.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runCollateralFetch(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), o)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&o.fmspc, "fmspc", "", "platform FMSPC, 12 hex digits (from the PCK certificate; see \"quote inspect\")")
	fs.StringVar(&o.tee, "tee", "", "sgx or tdx")
	fs.StringVar(&o.ca, "ca", collateral.PCKCAProcessor, "PCK CA that issued the platform's PCK certificate: processor or platform")
	fs.StringVar(&o.out, "out", "-", "bundle file to write (- for standard output)")
	o.src.addNetworkFlags(fs)
	return cmd
}

func runCollateralFetch(ctx context.Context, stdout, stderr io.Writer, o *collateralFetchOptions) error {
	if o.fmspc == "" || o.tee == "" {
		return withExit(ExitUsage, errors.New("collateral fetch needs --fmspc and --tee"))
	}
	req, err := collateral.Request{TEE: o.tee, FMSPC: o.fmspc, PCKCA: o.ca}.Normalize()
	if err != nil {
		return withExit(ExitInvalidInput, err)
	}
	src, err := o.src.networkSource()
	if err != nil {
		return err
	}
	if ctx == nil {
		ctx = context.Background()
	}
	c, err := src.Get(ctx, req)
	if err != nil {
		return withExit(collateralExitCode(err), err)
	}
	b, err := c.MarshalBundle()
	if err != nil {
		return withExit(ExitInternal, err)
	}
	b = append(b, '\n')
	if o.out == "-" || o.out == "" {
		if _, err := stdout.Write(b); err != nil {
			return withExit(ExitInternal, err)
		}
		return nil
	}
	if err := atomicfile.Write(o.out, b, 0o644); err != nil {
		return withExit(ExitInternal, err)
	}
	if s, err := collateral.Summarize(c); err == nil {
		fmt.Fprintf(stderr, "wrote %s: %s collateral for FMSPC %s (%s CA), valid until %s\n",
			o.out, s.TEE, s.FMSPC, req.PCKCA, s.NextUpdate.UTC().Format(time.RFC3339))
	}
	return nil
}

// collateralExitCode maps a collateral source error to an exit code: a request
// the sources refuse is invalid input; everything else means the collateral
// could not be had.
func collateralExitCode(err error) int {
	if errors.As(err, new(*collateral.RequestError)) {
		return ExitInvalidInput
	}
	return ExitCollateral
}

type collateralShowOptions struct {
	output string
}

func newCollateralShowCmd() *cobra.Command {
	o := &collateralShowOptions{}
	cmd := &cobra.Command{
		Use:   "show BUNDLE",
		Short: "Print what an offline collateral bundle is for and when its parts expire",
		Long: `Print the TEE, FMSPC and PCK CA of a collateral bundle, its TCB Info and QE
Identity ids, versions and validity windows, and the CRL windows. Nothing is
verified: the signatures are checked when a quote is verified against the bundle.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			format, err := parseOutput(o.output)
			if err != nil {
				return err
			}
			return runCollateralShow(cmd.OutOrStdout(), args[0], format)
		},
	}
	cmd.Flags().StringVarP(&o.output, "output", "o", "text", "output format: text or json")
	return cmd
}

func runCollateralShow(w io.Writer, path string, format outputFormat) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return withExit(ExitInvalidInput, err)
	}
	c, err := collateral.ParseBundle(b)
	if err != nil {
		return withExit(ExitInvalidInput, fmt.Errorf("%s: %w", path, err))
	}
	s, err := collateral.Summarize(c)
	if err != nil {
		return withExit(ExitInvalidInput, fmt.Errorf("%s: %w", path, err))
	}
	if format == outputJSON {
		return writeJSON(w, s)
	}
	ts := func(t time.Time) string {
		if t.IsZero() {
			return "-"
		}
		return t.UTC().Format(time.RFC3339)
	}
	id := func(s string) string {
		if s == "" {
			return "(none)"
		}
		return s
	}
	ca := s.PCKCA
	if ca == "" {
		ca = "unknown"
	}
	rows := [][2]string{
		{"tee", s.TEE},
		{"fmspc", s.FMSPC},
		{"pck ca", ca + " (" + s.PCKCRLIssuer + ")"},
		{"tcb info", fmt.Sprintf("id %s, version %d, evaluation data number %d", id(s.TCBInfoID), s.TCBInfoVersion, s.TCBEvaluationDataNumber)},
		{"tcb info window", ts(s.TCBInfo.IssueDate) + " .. " + ts(s.TCBInfo.NextUpdate)},
		{"qe identity", fmt.Sprintf("id %s, version %d", id(s.QEIdentityID), s.QEIdentityVersion)},
		{"qe identity window", ts(s.QEIdentity.IssueDate) + " .. " + ts(s.QEIdentity.NextUpdate)},
		{"pck crl window", ts(s.PCKCRL.IssueDate) + " .. " + ts(s.PCKCRL.NextUpdate)},
		{"root ca crl window", ts(s.RootCACRL.IssueDate) + " .. " + ts(s.RootCACRL.NextUpdate)},
		{"valid until", ts(s.NextUpdate)},
	}
	if len(c.PCKCertificateChain) > 0 {
		rows = append(rows, [2]string{"pck chain", "included"})
	}
	for _, r := range rows {
		if _, err := fmt.Fprintf(w, "%-19s %s\n", r[0]+":", r[1]); err != nil {
			return withExit(ExitInternal, err)
		}
	}
	return nil
}
