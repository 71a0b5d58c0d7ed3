package ra

import (
	"errors"
	"fmt"

	"github.com/google/go-configfs-tsm/configfs/configfsi"
	"github.com/google/go-configfs-tsm/configfs/linuxtsm"
	"github.com/google/go-configfs-tsm/report"
)

// TSMProvider gets evidence from the Linux configfs-tsm report interface
// (/sys/kernel/config/tsm/report) in a confidential VM: a TDX quote in a TDX
// guest, an SEV-SNP attestation report in an SNP guest. The 64-byte report
// data is the request's inblob.
//
// attestd verifies both: a TDX quote at /attest/TdxVm (package dcap), an
// SNP report at /attest/SevSnpVm (package snp; the VCEK/VLEK must be sent
// with it, e.g. from the auxblob or the host's certificate cache).
type TSMProvider struct {
	// Client is the configfs client. Nil means the kernel's configfs
	// (linuxtsm.MakeClient). Tests pass go-configfs-tsm's faketsm client.
	Client configfsi.Client
	// Privilege is the privilege level to request (SEV-SNP VMPL). Nil means
	// the kernel default.
	Privilege *uint
}

// Name describes the provider.
func (t *TSMProvider) Name() string { return "configfs-tsm" }

// Quote requests a report whose inblob is reportData and returns the outblob.
func (t *TSMProvider) Quote(reportData [64]byte) ([]byte, error) {
	c := t.Client
	if c == nil {
		var err error
		if c, err = linuxtsm.MakeClient(); err != nil {
			return nil, fmt.Errorf("ra: configfs-tsm unavailable (not a TDX/SNP guest, or configfs not mounted): %w", err)
		}
	}
	req := &report.Request{InBlob: reportData[:]}
	if t.Privilege != nil {
		req.Privilege = &report.Privilege{Level: *t.Privilege}
	}
	resp, err := report.Get(c, req)
	if err != nil {
		return nil, fmt.Errorf("ra: configfs-tsm report: %w", err)
	}
	if len(resp.OutBlob) == 0 {
		return nil, errors.New("ra: configfs-tsm: empty outblob")
	}
	return resp.OutBlob, nil
}
