package cli

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/sgxops/sgxops/enclave"
	"github.com/sgxops/sgxops/sgx"
)

type measureOptions struct {
	output         string
	terminationLog string
}

func newMeasureCmd() *cobra.Command {
	o := &measureOptions{}
	cmd := &cobra.Command{
		Use:   "measure FILE...",
		Short: "Print MRENCLAVE, MRSIGNER, ISVPRODID, ISVSVN and attributes of enclaves, without SGX",
		Long: `Measure enclave files offline. Each FILE may be a raw SIGSTRUCT (Gramine .sig,
SGX SDK css file), an SGX SDK signed enclave (.signed.so), an Open Enclave
signed enclave, or a Fortanix .sgxs stream (MRENCLAVE recomputed; a sibling
FILE.sig is compared with it). The SIGSTRUCT's RSA-3072 signature is checked.

An enclave whose signer allows a DEBUG launch is flagged: its memory is
readable by the host.

Exit codes: 0 all files measured and signatures valid; 1 a file is malformed
(takes precedence); 3 a signature is invalid or an .sgxs stream does not match
its .sig; 2 usage error.

--termination-log PATH also writes the JSON, compact, to PATH (for a
Kubernetes container's terminationMessagePath): one FILE only, and at most
4096 bytes, Kubernetes' limit; long paths and messages in it are shortened to
fit, the hashes never are.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			format, err := parseOutput(o.output)
			if err != nil {
				return err
			}
			if o.terminationLog != "" && len(args) != 1 {
				return withExit(ExitUsage, errors.New("--termination-log takes one FILE (Kubernetes keeps 4096 bytes)"))
			}
			return runMeasure(cmd.OutOrStdout(), args, format, o.terminationLog)
		},
	}
	cmd.Flags().StringVarP(&o.output, "output", "o", "text", "output format: text or json")
	cmd.Flags().StringVar(&o.terminationLog, "termination-log", "", "also write the JSON to this file (at most 4096 bytes), e.g. /dev/termination-log")
	return cmd
}

// measureInfo is the JSON form of one measured file. Hex is lowercase;
// attributes are the 16 stored bytes (flags then XFRM, little-endian).
type measureInfo struct {
	File            string   `json:"file"`
	Error           string   `json:"error,omitempty"`
	Format          string   `json:"format,omitempty"`
	ArtifactSHA256  string   `json:"artifact_sha256,omitempty"`
	MREnclave       string   `json:"mrenclave,omitempty"`
	MRSigner        string   `json:"mrsigner,omitempty"`
	ISVProdID       *uint16  `json:"isv_prod_id,omitempty"`
	ISVSVN          *uint16  `json:"isv_svn,omitempty"`
	Debug           *bool    `json:"debug,omitempty"`
	DebugPolicy     string   `json:"debug_policy,omitempty"`
	Signed          *bool    `json:"signed,omitempty"`
	SignatureValid  *bool    `json:"signature_valid,omitempty"`
	SignatureError  string   `json:"signature_error,omitempty"`
	Attributes      string   `json:"attributes,omitempty"`
	AttributeFlags  []string `json:"attribute_flags,omitempty"`
	AttributesMask  string   `json:"attributes_mask,omitempty"`
	MiscSelect      string   `json:"miscselect,omitempty"`
	MiscSelectMask  string   `json:"miscselect_mask,omitempty"`
	Date            string   `json:"date,omitempty"`
	Vendor          string   `json:"vendor,omitempty"`
	SigstructOffset *int64   `json:"sigstruct_offset,omitempty"`
	SigstructFile   string   `json:"sigstruct_file,omitempty"`
	SGXSMREnclave   string   `json:"sgxs_mrenclave,omitempty"`
	MREnclaveMatch  *bool    `json:"mrenclave_match,omitempty"`

	code int // exit code this file contributes
}

func runMeasure(w io.Writer, paths []string, format outputFormat, terminationLog string) error {
	infos := make([]measureInfo, 0, len(paths))
	invalid, failed := 0, 0
	for _, p := range paths {
		info := measureFile(p)
		switch info.code {
		case ExitInvalidInput:
			invalid++
		case ExitVerifyFailed:
			failed++
		}
		infos = append(infos, info)
	}
	var werr error
	if format == outputJSON {
		werr = writeJSON(w, infos)
	} else {
		for i := range infos {
			werr = errors.Join(werr, printMeasureText(w, &infos[i]))
		}
	}
	if terminationLog != "" {
		werr = errors.Join(werr, writeTerminationLog(terminationLog, infos))
	}
	if werr != nil {
		return withExit(ExitInternal, werr)
	}
	switch {
	case invalid > 0:
		return withExit(ExitInvalidInput, fmt.Errorf("measure: %d of %d files could not be measured", invalid, len(paths)))
	case failed > 0:
		return withExit(ExitVerifyFailed, fmt.Errorf("measure: %d of %d files failed verification (invalid signature or MRENCLAVE mismatch)", failed, len(paths)))
	}
	return nil
}

func measureFile(path string) measureInfo {
	info := measureInfo{File: path}
	m, err := enclave.Measure(path)
	if err != nil {
		info.Error, info.code = err.Error(), ExitInvalidInput
		return info
	}
	info.Format = string(m.Format)
	if info.ArtifactSHA256, err = fileSHA256(path); err != nil {
		info.Error, info.code = err.Error(), ExitInvalidInput
		return info
	}
	info.MREnclave = hex.EncodeToString(m.MREnclave[:])
	signed := m.Sigstruct != nil
	info.Signed = &signed
	valid := m.SignatureValid
	info.SignatureValid = &valid
	if m.SignatureErr != nil {
		info.SignatureError = m.SignatureErr.Error()
	}
	if m.SGXS != nil {
		info.SGXSMREnclave = hex.EncodeToString(m.SGXS.MREnclave[:])
	}
	if !signed {
		return info // a bare SGXS stream: nothing more is known
	}
	if !valid {
		info.code = ExitVerifyFailed
	}
	info.MRSigner = hex.EncodeToString(m.MRSigner[:])
	info.ISVProdID, info.ISVSVN = &m.ISVProdID, &m.ISVSVN
	debug := m.DebugAllowed()
	info.Debug, info.DebugPolicy = &debug, m.Debug.String()
	a, am := m.Attributes.Marshal(), m.AttributeMask.Marshal()
	info.Attributes, info.AttributesMask = hex.EncodeToString(a[:]), hex.EncodeToString(am[:])
	info.AttributeFlags = m.Attributes.FlagNames()
	info.MiscSelect, info.MiscSelectMask = fmt.Sprintf("%08x", uint32(m.MiscSelect)), fmt.Sprintf("%08x", uint32(m.MiscMask))
	info.Date, info.Vendor = fmt.Sprintf("%08x", m.Date), fmt.Sprintf("%04x", m.Vendor)
	if m.Format != enclave.FormatSGXS {
		info.SigstructOffset = &m.SigstructOffset
	}
	info.SigstructFile = m.SigstructPath
	if m.Match != enclave.MatchNotApplicable {
		match := m.Match == enclave.MatchOK
		info.MREnclaveMatch = &match
		if !match {
			info.code = ExitVerifyFailed
		}
	}
	return info
}

func printMeasureText(w io.Writer, i *measureInfo) error {
	var b strings.Builder
	p := func(k, v string) { fmt.Fprintf(&b, "  %-16s %s\n", k+":", v) }
	fmt.Fprintf(&b, "%s\n", i.File)
	if i.Error != "" {
		p("ERROR", i.Error)
		_, err := io.WriteString(w, b.String())
		return err
	}
	p("format", i.Format)
	if i.SigstructOffset != nil && *i.SigstructOffset != 0 {
		p("sigstruct at", fmt.Sprintf("file offset 0x%x", *i.SigstructOffset))
	}
	p("MRENCLAVE", i.MREnclave)
	if i.SGXSMREnclave != "" && i.MREnclaveMatch != nil {
		if *i.MREnclaveMatch {
			p("sgxs vs .sig", "match ("+i.SigstructFile+")")
		} else {
			p("sgxs vs .sig", "MISMATCH: the stream measures "+i.SGXSMREnclave+" but "+i.SigstructFile+" signs a different MRENCLAVE")
		}
	}
	if i.Signed != nil && !*i.Signed {
		p("signature", "none (SGXS stream without a sibling .sig)")
		_, err := io.WriteString(w, b.String())
		return err
	}
	p("MRSIGNER", i.MRSigner)
	p("ISVPRODID", fmt.Sprint(*i.ISVProdID))
	p("ISVSVN", fmt.Sprint(*i.ISVSVN))
	p("attributes", i.Attributes+" ["+strings.Join(i.AttributeFlags, "|")+"]")
	p("attribute mask", i.AttributesMask)
	p("miscselect", i.MiscSelect+" mask "+i.MiscSelectMask)
	vendor := "ISV"
	if i.Vendor == fmt.Sprintf("%04x", sgx.SigstructVendorIntel) {
		vendor = "Intel"
	}
	p("vendor", i.Vendor+" ("+vendor+")")
	p("date", i.Date)
	if *i.SignatureValid {
		p("signature", "valid (RSA-3072, e=3, Q1/Q2 checked)")
	} else {
		p("signature", "INVALID: "+i.SignatureError)
	}
	p("debug", i.DebugPolicy+" by the signer")
	if *i.Debug {
		fmt.Fprintf(&b, "  !!! WARNING: DEBUG enclave — memory readable by the host !!!\n")
		fmt.Fprintf(&b, "  !!! The SIGSTRUCT does not force DEBUG=0 (debug %s): this enclave can be launched with\n", i.DebugPolicy)
		fmt.Fprintf(&b, "  !!! DEBUG=1. Never provision secrets to it without checking the DEBUG bit of its quote.\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}
