package snp

import (
	"bytes"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"encoding/pem"
	"strings"

	"github.com/google/go-sev-guest/abi"
)

// ReportSize is the size of an SEV-SNP ATTESTATION_REPORT.
const ReportSize = abi.ReportSize

// Azure HCL report layout (the form Azure confidential VMs hand to MAA): a
// 0x20-byte header, the SNP report, then the IGVM request data whose
// variable part (the runtime claims JSON) SHA-256 binds to REPORT_DATA.
const (
	hclHeaderSize   = 0x20
	hclReportEnd    = hclHeaderSize + ReportSize // 0x4C0
	hclReqDataSize  = 20                         // data_size, version, report_type, hash_type, variable_data_size
	hclTypeSNP      = 2
	hclHashSHA256   = 1
	maxRuntimeClaim = 1 << 16
)

var hclMagic = []byte("HCLA")

// Evidence is SEV-SNP evidence as received; nothing in it is verified yet.
type Evidence struct {
	// Report is the 1184-byte ATTESTATION_REPORT.
	Report []byte
	// HCL is set when the report came wrapped in an Azure HCL report.
	HCL *HCL
	// Certs are the certificates that came with the evidence (VCEK or VLEK,
	// and possibly ASK/ASVK/ARK, which are not trusted: the roots are AMD's
	// embedded ones).
	Certs []*x509.Certificate
}

// HCL is the Azure HCL wrapper of a report.
type HCL struct {
	// RuntimeClaims is the IGVM request's variable data (a JSON document
	// with the vTPM key and VM configuration); SHA-256 of it must equal
	// REPORT_DATA[0:32].
	RuntimeClaims []byte
	// HashType is the IGVM hash type (1: SHA-256, the only one accepted).
	HashType uint32
}

// ParseEvidence accepts a raw report, an Azure HCL report, or MAA's
// /attest/SevSnpVm envelope: the JSON {"SnpReport": base64url(report or HCL
// report), "VcekCertChain": base64url(PEM chain)}. certs (PEM or DER, may be
// nil) are added to those of the envelope.
func ParseEvidence(b []byte, certs []byte) (*Evidence, error) {
	b = bytes.Clone(b)
	ev := &Evidence{}
	if t := bytes.TrimSpace(b); len(t) > 0 && t[0] == '{' {
		var env struct {
			SnpReport     string `json:"SnpReport"`
			VcekCertChain string `json:"VcekCertChain"`
		}
		if err := json.Unmarshal(t, &env); err != nil {
			return nil, errorf(ReasonMalformed, "SevSnpVm evidence is not the MAA JSON envelope: %v", err)
		}
		rep, err := decodeB64(env.SnpReport)
		if err != nil || len(rep) == 0 {
			return nil, errorf(ReasonMalformed, "SnpReport: not base64 (%v)", err)
		}
		b = rep
		if env.VcekCertChain != "" {
			chain, err := decodeB64(env.VcekCertChain)
			if err != nil {
				return nil, errorf(ReasonMalformed, "VcekCertChain: not base64 (%v)", err)
			}
			if ev.Certs, err = ParseCerts(chain); err != nil {
				return nil, err
			}
		}
	}
	if len(certs) > 0 {
		cs, err := ParseCerts(certs)
		if err != nil {
			return nil, err
		}
		ev.Certs = append(ev.Certs, cs...)
	}
	switch {
	case len(b) >= 4 && bytes.Equal(b[:4], hclMagic):
		hcl, rep, err := parseHCL(b)
		if err != nil {
			return nil, err
		}
		ev.HCL, ev.Report = hcl, rep
	case len(b) == ReportSize:
		ev.Report = b
	default:
		return nil, errorf(ReasonMalformed, "%d bytes: neither an SEV-SNP report (%d bytes) nor an HCL report", len(b), ReportSize)
	}
	if err := abi.ValidateReportFormat(ev.Report); err != nil {
		return nil, errorf(ReasonMalformed, "report: %v", err)
	}
	if _, err := abi.ReportToProto(ev.Report); err != nil {
		return nil, errorf(ReasonMalformed, "report: %v", err)
	}
	return ev, nil
}

// parseHCL splits an Azure HCL report into its SNP report and runtime claims.
func parseHCL(b []byte) (*HCL, []byte, error) {
	if len(b) < hclReportEnd+hclReqDataSize {
		return nil, nil, errorf(ReasonMalformed, "HCL report of %d bytes is too short", len(b))
	}
	le := binary.LittleEndian
	if rt := le.Uint32(b[hclReportEnd+8:]); rt != hclTypeSNP {
		return nil, nil, errorf(ReasonMalformed, "HCL report type %d is not SEV-SNP (%d)", rt, hclTypeSNP)
	}
	hash := le.Uint32(b[hclReportEnd+12:])
	n := le.Uint32(b[hclReportEnd+16:])
	start := hclReportEnd + hclReqDataSize
	if n > maxRuntimeClaim || uint64(start)+uint64(n) > uint64(len(b)) {
		return nil, nil, errorf(ReasonMalformed, "HCL runtime claims of %d bytes exceed the report", n)
	}
	return &HCL{RuntimeClaims: bytes.Clone(b[start : start+int(n)]), HashType: hash},
		bytes.Clone(b[hclHeaderSize:hclReportEnd]), nil
}

// ParseCerts reads PEM certificates, or one DER certificate.
func ParseCerts(b []byte) ([]*x509.Certificate, error) {
	if !bytes.Contains(b, []byte("-----BEGIN")) {
		c, err := x509.ParseCertificate(b)
		if err != nil {
			return nil, errorf(ReasonMalformed, "certificate: %v", err)
		}
		return []*x509.Certificate{c}, nil
	}
	var out []*x509.Certificate
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			break
		}
		if blk.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, errorf(ReasonMalformed, "certificate: %v", err)
		}
		out = append(out, c)
	}
	return out, nil
}

// decodeB64 accepts base64 in either alphabet, padded or not.
func decodeB64(s string) ([]byte, error) {
	s = strings.TrimRight(strings.TrimSpace(s), "=")
	s = strings.NewReplacer("+", "-", "/", "_").Replace(s)
	return base64.RawURLEncoding.DecodeString(s)
}
