package cli

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/sgxops/sgxops/sgx"
	"github.com/sgxops/sgxops/snp"
)

// "quote inspect" and "quote verify" take SEV-SNP evidence too: a raw
// 1184-byte report (raw, hex or base64), an Azure HCL report, or MAA's
// SevSnpVm JSON envelope.

// snpEvidenceFile reads path as SEV-SNP evidence, with the certificates of
// certsPath (may be empty). ok is false when the file is not SNP evidence
// (then the caller treats it as a DCAP quote).
func snpEvidenceFile(path, certsPath string) (ev *snp.Evidence, ok bool, err error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, false, nil // the quote path reports it
	}
	raw := data
	if t := bytes.TrimSpace(data); len(t) == 0 || t[0] != '{' {
		if raw, _, err = sgx.DecodeBinary(data); err != nil {
			return nil, false, nil
		}
		if _, qerr := sgx.ParseQuote(raw); qerr == nil || !looksSNP(raw) {
			return nil, false, nil
		}
	}
	var certs []byte
	if certsPath != "" {
		if certs, err = os.ReadFile(certsPath); err != nil {
			return nil, true, withExit(ExitInvalidInput, err)
		}
	}
	ev, err = snp.ParseEvidence(raw, certs)
	if err != nil {
		return nil, true, withExit(ExitInvalidInput, fmt.Errorf("%s: %w", path, err))
	}
	return ev, true, nil
}

// looksSNP: an HCL report, or a report-sized blob with version 2..5.
func looksSNP(b []byte) bool {
	if len(b) >= 4 && string(b[:4]) == "HCLA" {
		return true
	}
	return len(b) == snp.ReportSize && binary.LittleEndian.Uint32(b) >= 2 && binary.LittleEndian.Uint32(b) <= 5
}

// snpInfo is the JSON form of an SEV-SNP report in "quote inspect" and
// "quote verify". Hex is lowercase.
type snpInfo struct {
	File           string `json:"file"`
	TEE            string `json:"tee"` // "sevsnp"
	Verified       *bool  `json:"verified,omitempty"`
	VerifiedAt     string `json:"verified_at,omitempty"`
	Error          string `json:"error,omitempty"`
	Reason         string `json:"reason,omitempty"`
	Version        uint32 `json:"version"`
	HCL            bool   `json:"azure_hcl"`
	Signer         string `json:"signer,omitempty"`
	ProductLine    string `json:"product_line,omitempty"`
	Policy         string `json:"policy"`
	Debug          bool   `json:"debug"`
	MigrationAgent bool   `json:"migration_agent"`
	VMPL           uint32 `json:"vmpl"`
	GuestSVN       uint32 `json:"guest_svn"`
	Measurement    string `json:"measurement"`
	HostData       string `json:"host_data"`
	FamilyID       string `json:"family_id"`
	ImageID        string `json:"image_id"`
	IDKeyDigest    string `json:"id_key_digest"`
	ReportData     string `json:"report_data"`
	ReportedTCB    string `json:"reported_tcb"`
	ChipID         string `json:"chip_id"`
}

func describeSNP(path string, ev *snp.Evidence) snpInfo {
	b := ev.Report
	le := binary.LittleEndian
	pol := le.Uint64(b[0x08:])
	return snpInfo{
		File: path, TEE: "sevsnp", Version: le.Uint32(b), HCL: ev.HCL != nil,
		Policy: fmt.Sprintf("0x%x", pol), Debug: pol&(1<<19) != 0, MigrationAgent: pol&(1<<18) != 0,
		VMPL: le.Uint32(b[0x30:]), GuestSVN: le.Uint32(b[0x04:]),
		Measurement: hx(b[0x90:0xC0]), HostData: hx(b[0xC0:0xE0]), FamilyID: hx(b[0x10:0x20]), ImageID: hx(b[0x20:0x30]),
		IDKeyDigest: hx(b[0xE0:0x110]), ReportData: hx(b[0x50:0x90]), ReportedTCB: fmt.Sprintf("0x%016x", le.Uint64(b[0x180:])),
		ChipID: hx(b[0x1A0:0x1E0]),
	}
}

func printSNPText(w io.Writer, i snpInfo, verified bool) {
	p := func(k, v string) { fmt.Fprintf(w, "%-16s %s\n", k+":", v) }
	p("file", i.File)
	p("report", fmt.Sprintf("SEV-SNP v%d%s", i.Version, map[bool]string{true: " (Azure HCL report)"}[i.HCL]))
	if i.Signer != "" {
		p("signer", i.Signer+" ("+i.ProductLine+")")
	}
	p("policy", fmt.Sprintf("%s (debug %v, migration agent %v)", i.Policy, i.Debug, i.MigrationAgent))
	p("measurement", i.Measurement)
	p("host_data", i.HostData)
	p("family_id", i.FamilyID)
	p("image_id", i.ImageID)
	p("report_data", i.ReportData)
	p("reported_tcb", i.ReportedTCB)
	p("vmpl", fmt.Sprint(i.VMPL))
	if i.Debug {
		fmt.Fprintln(w, "WARNING: DEBUG is set in the guest policy — the host can read the VM's memory.")
	}
	switch {
	case i.Error != "":
		fmt.Fprintf(w, "NOT VERIFIED (%s): %s\n", i.Reason, i.Error)
	case verified:
		fmt.Fprintf(w, "verified at %s: VEK chains to AMD's root, signature, TCB and HCL binding checked.\n", i.VerifiedAt)
	default:
		fmt.Fprintln(w, "note: decoded only, NOT verified (use \"sgxops quote verify --certs VEK\").")
	}
}

// runSNPVerify verifies SEV-SNP evidence at at; exit 3 when refused.
func runSNPVerify(w io.Writer, path string, ev *snp.Evidence, at time.Time, format outputFormat) error {
	info := describeSNP(path, ev)
	info.VerifiedAt = at.UTC().Format(time.RFC3339)
	v, err := snp.Verify(ev, snp.Options{Now: at})
	ok := err == nil
	info.Verified = &ok
	if err != nil {
		info.Error = err.Error()
		var se *snp.Error
		if errors.As(err, &se) {
			info.Reason = string(se.Reason)
		}
		err = withExit(ExitVerifyFailed, err)
	} else {
		info.Signer, info.ProductLine = v.Signer, v.ProductLine
	}
	if format == outputJSON {
		if werr := writeJSON(w, info); werr != nil {
			return withExit(ExitInternal, werr)
		}
		return err
	}
	printSNPText(w, info, ok)
	return err
}
