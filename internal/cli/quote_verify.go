package cli

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/sgxops/sgxops/collateral"
	"github.com/sgxops/sgxops/dcap"
	"github.com/sgxops/sgxops/sgx"
)

// quoteVerifyOptions are the flags of "quote verify".
type quoteVerifyOptions struct {
	coll   collateralFlags
	sim    simRootFlags
	at     string
	output string
	certs  string
}

func newQuoteVerifyCmd() *cobra.Command {
	o := &quoteVerifyOptions{}
	cmd := &cobra.Command{
		Use:   "verify QUOTE (--collateral BUNDLE | --pcs URL | --pccs URL | --thim URL)",
		Short: "Verify a DCAP quote against Intel collateral and report its TCB status",
		Long: `Verify an SGX (v3) or TDX (v4/v5) DCAP quote: the PCK certificate chain to the
Intel SGX Root CA, the CRLs, the QE report and quote signatures, the QE Identity and
the TCB Info. Print the TCB status, advisory IDs and the enclave/TD identity.

The status is reported, not judged: an OutOfDate platform still "verifies" here
(exit 0); deciding what is acceptable is policy's job. A Revoked TCB fails.

An SEV-SNP report (raw, Azure HCL or MAA's SevSnpVm envelope) is verified
instead with its VCEK/VLEK (--certs, or the envelope's VcekCertChain) against
AMD's roots embedded in go-sev-guest: certificate chain, report signature, TCB
against the certificate, and the HCL runtime-claims binding. No collateral
flags are needed; nothing is fetched.

Exit codes: 0 verified, 1 bad input, 2 usage, 3 verification failed,
4 collateral unavailable or expired.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			format, err := parseOutput(o.output)
			if err != nil {
				return err
			}
			at := time.Now()
			if o.at != "" {
				if at, err = time.Parse(time.RFC3339, o.at); err != nil {
					return withExit(ExitUsage, fmt.Errorf("--at %q: want an RFC 3339 time such as 2025-07-19T10:00:00Z", o.at))
				}
			}
			if ev, ok, err := snpEvidenceFile(args[0], o.certs); ok || err != nil {
				if err != nil {
					return err
				}
				return runSNPVerify(cmd.OutOrStdout(), args[0], ev, at, format)
			}
			src, err := o.coll.source()
			if err != nil {
				return err
			}
			simRoots, err := o.sim.pool(cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			opts := dcap.Options{Now: func() time.Time { return at }, InsecureSimulationRoots: simRoots}
			res, err := runQuoteVerify(cmd.Context(), args[0], src, opts)
			if werr := writeQuoteVerify(cmd.OutOrStdout(), format, res); werr != nil {
				return withExit(ExitInternal, werr)
			}
			return err
		},
	}
	o.coll.addFlags(cmd.Flags())
	o.sim.addFlags(cmd.Flags())
	cmd.Flags().StringVar(&o.certs, "certs", "", "SEV-SNP: the VCEK or VLEK certificate (PEM or DER; ASK/ARK optional, AMD's embedded roots are the trust anchors)")
	cmd.Flags().StringVar(&o.at, "at", "", "verify as of this RFC 3339 time instead of now (certificates, CRLs, TCB Info validity)")
	cmd.Flags().StringVarP(&o.output, "output", "o", "text", "output format: text or json")
	return cmd
}

// quoteVerifyResult is the JSON output of "quote verify". Hex is lower case;
// advisory_ids is never null. On failure verified is false and error is set;
// the verdict fields are present only when the quote was judged (a Revoked TCB).
type quoteVerifyResult struct {
	Verified    bool     `json:"verified"`
	File        string   `json:"file"`
	VerifiedAt  string   `json:"verified_at"`
	TEE         string   `json:"tee,omitempty"`
	Status      string   `json:"status,omitempty"`
	AdvisoryIDs []string `json:"advisory_ids"`

	TCBDate                 string `json:"tcb_date,omitempty"`
	PlatformStatus          string `json:"platform_status,omitempty"`
	QEStatus                string `json:"qe_status,omitempty"`
	TDXModuleStatus         string `json:"tdx_module_status,omitempty"`
	TCBEvaluationDataNumber uint32 `json:"tcb_evaluation_data_number,omitempty"`
	CollateralExpiry        string `json:"collateral_expiry,omitempty"`
	FMSPC                   string `json:"fmspc,omitempty"`
	PCEID                   string `json:"pce_id,omitempty"`
	PCKCA                   string `json:"pck_ca,omitempty"`

	// SGX enclave identity.
	MREnclave  string  `json:"mrenclave,omitempty"`
	MRSigner   string  `json:"mrsigner,omitempty"`
	ISVProdID  *uint16 `json:"isv_prod_id,omitempty"`
	ISVSVN     *uint16 `json:"isv_svn,omitempty"`
	Attributes string  `json:"attributes,omitempty"`
	MiscSelect string  `json:"miscselect,omitempty"`

	// TD identity.
	MRTD          string   `json:"mrtd,omitempty"`
	RTMRs         []string `json:"rtmrs,omitempty"`
	MRSEAM        string   `json:"mrseam,omitempty"`
	MRSignerSEAM  string   `json:"mrsigner_seam,omitempty"`
	TDAttributes  string   `json:"td_attributes,omitempty"`
	XFAM          string   `json:"xfam,omitempty"`
	MRConfigID    string   `json:"mr_config_id,omitempty"`
	MROwner       string   `json:"mr_owner,omitempty"`
	MROwnerConfig string   `json:"mr_owner_config,omitempty"`
	MRServiceTD   string   `json:"mr_servicetd,omitempty"`

	ReportData string `json:"report_data,omitempty"`
	Debug      bool   `json:"debug"`
	Simulated  bool   `json:"simulated"`

	Error *quoteVerifyError `json:"error,omitempty"`
}

type quoteVerifyError struct {
	Reason  string `json:"reason"`
	Message string `json:"message"`
}

// runQuoteVerify reads, parses and verifies the quote in file against
// collateral from src with opts (opts.Now must be set). It always returns a
// result to print; the error carries the exit code.
func runQuoteVerify(ctx context.Context, file string, src collateral.Source, opts dcap.Options) (*quoteVerifyResult, error) {
	res := &quoteVerifyResult{File: file, VerifiedAt: opts.Now().UTC().Format(time.RFC3339), AdvisoryIDs: []string{}}
	fail := func(code int, reason string, err error) (*quoteVerifyResult, error) {
		res.Error = &quoteVerifyError{Reason: reason, Message: err.Error()}
		return res, withExit(code, err)
	}
	raw, err := os.ReadFile(file)
	if err != nil {
		return fail(ExitInvalidInput, dcap.ReasonMalformed.String(), err)
	}
	bin, _, err := sgx.DecodeBinary(raw)
	if err != nil {
		return fail(ExitInvalidInput, dcap.ReasonMalformed.String(), fmt.Errorf("%s: %w", file, err))
	}
	q, err := sgx.ParseQuote(bin)
	if err != nil {
		return fail(ExitInvalidInput, dcap.ReasonMalformed.String(), fmt.Errorf("%s: %w", file, err))
	}

	coll, err := getCollateral(ctx, q, src)
	if err != nil {
		var de *dcap.Error
		if errors.As(err, &de) {
			return fail(verifyExitCode(de.Reason), de.Reason.String(), err)
		}
		return fail(ExitCollateral, dcap.ReasonCollateralUnavailable.String(), err)
	}

	vd, err := dcap.Verify(q, coll, opts)
	if vd != nil {
		fillVerdict(res, vd)
	}
	if err != nil {
		reason := dcap.ReasonMalformed
		var de *dcap.Error
		if errors.As(err, &de) {
			reason = de.Reason
		}
		return fail(verifyExitCode(reason), reason.String(), err)
	}
	res.Verified = true
	return res, nil
}

// getCollateral asks src for the collateral of q. Quotes without a PCK chain
// (certification data types 1-4) can only use an offline bundle that carries
// the PCK chain; the bundle is then used as is and dcap checks that it fits.
func getCollateral(ctx context.Context, q *sgx.Quote, src collateral.Source) (*collateral.Collateral, error) {
	req, err := dcap.CollateralRequestFor(q)
	if err != nil {
		if b, ok := src.(*collateral.Bundle); ok && b.Collateral != nil && errors.Is(err, dcap.ErrCollateralUnavailable) {
			return b.Collateral, nil
		}
		return nil, err
	}
	return src.Get(ctx, req)
}

// verifyExitCode maps a verification failure onto the CLI exit codes.
func verifyExitCode(r dcap.Reason) int {
	switch r {
	case dcap.ReasonMalformed:
		return ExitInvalidInput
	case dcap.ReasonCollateralUnavailable, dcap.ReasonCollateralExpired:
		return ExitCollateral
	}
	return ExitVerifyFailed
}

func fillVerdict(res *quoteVerifyResult, vd *dcap.Verdict) {
	h := hex.EncodeToString
	res.TEE = string(vd.TEE)
	res.Status = vd.Status.String()
	res.AdvisoryIDs = append([]string{}, vd.AdvisoryIDs...)
	res.TCBDate = vd.TCBDate.UTC().Format(time.RFC3339)
	res.PlatformStatus = vd.PlatformStatus.String()
	res.QEStatus = vd.QEStatus.String()
	if vd.TDXModuleStatus != dcap.StatusUnknown {
		res.TDXModuleStatus = vd.TDXModuleStatus.String()
	}
	res.TCBEvaluationDataNumber = vd.TCBEvaluationDataNumber
	res.CollateralExpiry = vd.CollateralExpiry.UTC().Format(time.RFC3339)
	res.FMSPC, res.PCEID, res.PCKCA = vd.FMSPC, vd.PCEID, vd.PCKCA
	if b := vd.SGX; b != nil {
		res.MREnclave, res.MRSigner = h(b.MREnclave[:]), h(b.MRSigner[:])
		res.ISVProdID, res.ISVSVN = &b.ISVProdID, &b.ISVSVN
		a := b.Attributes.Marshal()
		res.Attributes = h(a[:])
		res.MiscSelect = fmt.Sprintf("%08x", uint32(b.MiscSelect))
	}
	if b := vd.TD; b != nil {
		res.MRTD, res.MRSEAM, res.MRSignerSEAM = h(b.MRTD[:]), h(b.MRSEAM[:]), h(b.MRSignerSEAM[:])
		for _, r := range b.RTMRs {
			res.RTMRs = append(res.RTMRs, h(r[:]))
		}
		res.TDAttributes, res.XFAM = h(b.TDAttributes[:]), h(b.XFAM[:])
		res.MRConfigID, res.MROwner, res.MROwnerConfig = h(b.MRConfigID[:]), h(b.MROwner[:]), h(b.MROwnerConfig[:])
		if b.Is15 {
			res.MRServiceTD = h(b.MRServiceTD[:])
		}
	}
	res.ReportData = h(vd.ReportData[:])
	res.Debug, res.Simulated = vd.Debug, vd.Simulated
}

func writeQuoteVerify(w io.Writer, format outputFormat, r *quoteVerifyResult) error {
	if format == outputJSON {
		return writeJSON(w, r)
	}
	var b strings.Builder
	line := func(k, v string) {
		if v != "" {
			fmt.Fprintf(&b, "%-20s %s\n", k+":", v)
		}
	}
	verified := "no"
	if r.Verified {
		verified = "yes"
	}
	line("verified", verified)
	line("file", r.File)
	line("verified at", r.VerifiedAt)
	if r.Error != nil {
		line("error", r.Error.Reason+": "+r.Error.Message)
	}
	line("tee", r.TEE)
	line("status", r.Status)
	if r.Status != "" {
		ids := strings.Join(r.AdvisoryIDs, ", ")
		if ids == "" {
			ids = "none"
		}
		line("advisory IDs", ids)
	}
	line("platform status", r.PlatformStatus)
	line("QE status", r.QEStatus)
	line("TDX module status", r.TDXModuleStatus)
	line("TCB date", r.TCBDate)
	line("collateral expiry", r.CollateralExpiry)
	line("FMSPC", r.FMSPC)
	line("PCK CA", r.PCKCA)
	line("MRENCLAVE", r.MREnclave)
	line("MRSIGNER", r.MRSigner)
	if r.ISVProdID != nil {
		line("ISVPRODID", fmt.Sprint(*r.ISVProdID))
		line("ISVSVN", fmt.Sprint(*r.ISVSVN))
	}
	line("attributes", r.Attributes)
	line("MRTD", r.MRTD)
	for i, m := range r.RTMRs {
		line(fmt.Sprintf("RTMR%d", i), m)
	}
	line("MRSEAM", r.MRSEAM)
	line("TD attributes", r.TDAttributes)
	line("report data", r.ReportData)
	if r.Status != "" {
		line("debug", fmt.Sprint(r.Debug))
		line("simulated", fmt.Sprint(r.Simulated))
	}
	_, err := io.WriteString(w, b.String())
	return err
}
