package cli

import (
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/google/go-tdx-guest/pcs"
	"github.com/spf13/cobra"

	"github.com/sgxops/sgxops/sgx"
)

type quoteInspectOptions struct {
	output string
}

func newQuoteInspectCmd() *cobra.Command {
	o := &quoteInspectOptions{}
	cmd := &cobra.Command{
		Use:   "inspect QUOTE",
		Short: "Decode a DCAP quote or SEV-SNP report (raw, hex or base64) and print its identity fields",
		Long: `Decode an SGX (v3) or TDX (v4/v5) DCAP quote, or an SEV-SNP attestation report
(raw 1184-byte report, Azure HCL report, or MAA's SevSnpVm JSON envelope), without verifying it.
The file may hold raw bytes, hex text (optionally 0x-prefixed) or base64.
Nothing printed here is trusted until "sgxops quote verify" has checked it.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			format, err := parseOutput(o.output)
			if err != nil {
				return err
			}
			return runQuoteInspect(cmd.OutOrStdout(), args[0], format)
		},
	}
	cmd.Flags().StringVarP(&o.output, "output", "o", "text", "output format: text or json")
	return cmd
}

// quoteInfo is the JSON form of "quote inspect". Hex is lowercase.
type quoteInfo struct {
	File          string   `json:"file"`
	Encoding      string   `json:"encoding"`
	Version       uint16   `json:"version"`
	TEE           string   `json:"tee"`
	BodyType      uint16   `json:"body_type"`
	QESVN         uint16   `json:"qe_svn"`
	PCESVN        uint16   `json:"pce_svn"`
	QEVendorID    string   `json:"qe_vendor_id"`
	MREnclave     string   `json:"mrenclave,omitempty"`
	MRSigner      string   `json:"mrsigner,omitempty"`
	ISVProdID     *uint16  `json:"isv_prod_id,omitempty"`
	ISVSVN        *uint16  `json:"isv_svn,omitempty"`
	Attributes    string   `json:"attributes,omitempty"`
	AttributeSet  []string `json:"attribute_flags,omitempty"`
	MiscSelect    string   `json:"miscselect,omitempty"`
	CPUSVN        string   `json:"cpu_svn,omitempty"`
	MRTD          string   `json:"mrtd,omitempty"`
	RTMRs         []string `json:"rtmrs,omitempty"`
	MRSEAM        string   `json:"mrseam,omitempty"`
	MRSignerSEAM  string   `json:"mrsigner_seam,omitempty"`
	TDAttributes  string   `json:"td_attributes,omitempty"`
	XFAM          string   `json:"xfam,omitempty"`
	TEETCBSVN     string   `json:"tee_tcb_svn,omitempty"`
	TEETCBSVN2    string   `json:"tee_tcb_svn_2,omitempty"`
	MRConfigID    string   `json:"mr_config_id,omitempty"`
	MROwner       string   `json:"mr_owner,omitempty"`
	MROwnerConfig string   `json:"mr_owner_config,omitempty"`
	MRServiceTD   string   `json:"mr_servicetd,omitempty"`
	Debug         bool     `json:"debug"`
	ReportData    string   `json:"report_data"`
	CertDataType  string   `json:"certification_data_type"`
	FMSPC         string   `json:"fmspc,omitempty"`
	PCEID         string   `json:"pce_id,omitempty"`
	PCKIssuer     string   `json:"pck_issuer,omitempty"`
	PCKNotAfter   string   `json:"pck_not_after,omitempty"`
	QEMREnclave   string   `json:"qe_mrenclave"`
	QEMRSigner    string   `json:"qe_mrsigner"`
	TrailingBytes int      `json:"trailing_bytes"`
}

func runQuoteInspect(w io.Writer, path string, format outputFormat) error {
	if ev, ok, err := snpEvidenceFile(path, ""); ok || err != nil {
		if err != nil {
			return err
		}
		if format == outputJSON {
			return writeJSON(w, describeSNP(path, ev))
		}
		printSNPText(w, describeSNP(path, ev), false)
		return nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return withExit(ExitInvalidInput, err)
	}
	raw, enc, err := sgx.DecodeBinary(data)
	if err != nil {
		return withExit(ExitInvalidInput, fmt.Errorf("%s: %w", path, err))
	}
	q, err := sgx.ParseQuote(raw)
	if err != nil {
		return withExit(ExitInvalidInput, fmt.Errorf("%s: %w", path, err))
	}
	info := describeQuote(q)
	info.File, info.Encoding = path, string(enc)
	if format == outputJSON {
		return writeJSON(w, info)
	}
	printQuoteText(w, info)
	return nil
}

func hx(b []byte) string { return hex.EncodeToString(b) }

func describeQuote(q *sgx.Quote) quoteInfo {
	h := q.Header
	info := quoteInfo{
		Version: h.Version, TEE: "sgx", BodyType: q.BodyType, QESVN: h.QESVN, PCESVN: h.PCESVN,
		QEVendorID:    hx(h.QEVendorID[:]),
		CertDataType:  q.Signature.CertData.Type.String(),
		QEMREnclave:   hx(q.Signature.QEReport.MREnclave[:]),
		QEMRSigner:    hx(q.Signature.QEReport.MRSigner[:]),
		TrailingBytes: q.Trailing,
	}
	if b := q.SGXBody; b != nil {
		a := b.Attributes.Marshal()
		info.MREnclave, info.MRSigner = hx(b.MREnclave[:]), hx(b.MRSigner[:])
		info.ISVProdID, info.ISVSVN = &b.ISVProdID, &b.ISVSVN
		info.Attributes, info.AttributeSet = hx(a[:]), b.Attributes.FlagNames()
		info.MiscSelect = fmt.Sprintf("%08x", uint32(b.MiscSelect))
		info.CPUSVN = hx(b.CPUSVN[:])
		info.Debug = b.Attributes.Debug()
		info.ReportData = hx(b.ReportData[:])
	}
	if t := q.TDBody; t != nil {
		info.TEE = "tdx"
		info.MRTD, info.MRSEAM, info.MRSignerSEAM = hx(t.MRTD[:]), hx(t.MRSEAM[:]), hx(t.MRSignerSEAM[:])
		for i := range t.RTMRs {
			info.RTMRs = append(info.RTMRs, hx(t.RTMRs[i][:]))
		}
		info.TDAttributes, info.XFAM, info.TEETCBSVN = hx(t.TDAttributes[:]), hx(t.XFAM[:]), hx(t.TEETCBSVN[:])
		info.MRConfigID, info.MROwner, info.MROwnerConfig = hx(t.MRConfigID[:]), hx(t.MROwner[:]), hx(t.MROwnerConfig[:])
		if t.Is15 {
			info.TEETCBSVN2, info.MRServiceTD = hx(t.TEETCBSVN2[:]), hx(t.MRServiceTD[:])
		}
		info.Debug = t.TDDebug()
		info.ReportData = hx(t.ReportData[:])
	}
	if chain, err := q.Signature.CertData.PCKChain(); err == nil {
		leaf := chain[0]
		info.PCKIssuer = leaf.Issuer.CommonName
		info.PCKNotAfter = leaf.NotAfter.UTC().Format("2006-01-02T15:04:05Z")
		if ext, err := pcs.PckCertificateExtensions(leaf); err == nil {
			info.FMSPC, info.PCEID = strings.ToLower(ext.FMSPC), strings.ToLower(ext.PCEID)
		}
	}
	return info
}

func printQuoteText(w io.Writer, i quoteInfo) {
	p := func(k, v string) {
		if v != "" {
			fmt.Fprintf(w, "%-16s %s\n", k+":", v)
		}
	}
	p("file", i.File+" ("+i.Encoding+")")
	p("quote", fmt.Sprintf("v%d %s (body type %d), QE SVN %d, PCE SVN %d", i.Version, strings.ToUpper(i.TEE), i.BodyType, i.QESVN, i.PCESVN))
	p("mrenclave", i.MREnclave)
	p("mrsigner", i.MRSigner)
	if i.ISVProdID != nil {
		p("isv_prod_id", fmt.Sprint(*i.ISVProdID))
		p("isv_svn", fmt.Sprint(*i.ISVSVN))
		p("attributes", i.Attributes+" ["+strings.Join(i.AttributeSet, "|")+"]")
		p("miscselect", i.MiscSelect)
		p("cpu_svn", i.CPUSVN)
	}
	p("mrtd", i.MRTD)
	for n, r := range i.RTMRs {
		p(fmt.Sprintf("rtmr%d", n), r)
	}
	p("mrseam", i.MRSEAM)
	p("td_attributes", i.TDAttributes)
	p("xfam", i.XFAM)
	p("tee_tcb_svn", i.TEETCBSVN)
	p("tee_tcb_svn_2", i.TEETCBSVN2)
	p("mr_servicetd", i.MRServiceTD)
	p("report_data", i.ReportData)
	p("fmspc", i.FMSPC)
	p("pce_id", i.PCEID)
	p("pck_issuer", i.PCKIssuer)
	p("cert_data", i.CertDataType)
	if i.Debug {
		fmt.Fprintln(w, "WARNING: DEBUG is set — the enclave/TD memory is readable by the host; never trust it with secrets.")
	}
	fmt.Fprintln(w, "note: decoded only, NOT verified (use \"sgxops quote verify\").")
}
