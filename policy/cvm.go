package policy

import (
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/sgxops/sgxops/release"
)

// checkCVMEvidence lowercases and checks the TDX or SEV-SNP identity of ev.
func checkCVMEvidence(ev *Evidence) error {
	fields := []struct {
		name string
		v    *string
		n    int
	}{{"MRTD", &ev.MRTD, 48}, {"MRSEAM", &ev.MRSEAM, 48}}
	for i := range ev.RTMRs {
		fields = append(fields, struct {
			name string
			v    *string
			n    int
		}{fmt.Sprintf("RTMR%d", i), &ev.RTMRs[i], 48})
	}
	if ev.TEE == TEESEVSNP {
		fields = []struct {
			name string
			v    *string
			n    int
		}{{"MEASUREMENT", &ev.Measurement, 48}, {"HOST_DATA", &ev.HostData, 32}, {"FAMILY_ID", &ev.FamilyID, 16}, {"IMAGE_ID", &ev.ImageID, 16}}
	}
	for _, f := range fields {
		*f.v = strings.ToLower(*f.v)
		if b, err := hex.DecodeString(*f.v); err != nil || len(b) != f.n {
			return fmt.Errorf("%s: want %d bytes of hex", f.name, f.n)
		}
	}
	return nil
}

// matchCVM returns how release r matches TDX or SEV-SNP evidence, or "".
// Optional reference values (RTMRs, MRSEAM; HOST_DATA, FAMILY_ID, IMAGE_ID)
// must match when the release names them.
func matchCVM(r *release.Release, ev *Evidence) string {
	opt := func(want, got string) bool { return want == "" || strings.EqualFold(want, got) }
	switch {
	case ev.TEE == TEETDX && r.TEE() == release.TEETDX:
		if !strings.EqualFold(r.MRTD, ev.MRTD) || !opt(r.MRSEAM, ev.MRSEAM) {
			return ""
		}
		for i := range r.RTMRs {
			if !opt(r.RTMRs[i], ev.RTMRs[i]) {
				return ""
			}
		}
		return MatchMRTD
	case ev.TEE == TEESEVSNP && r.TEE() == release.TEESEVSNP:
		if strings.EqualFold(r.Measurement, ev.Measurement) && opt(r.HostData, ev.HostData) &&
			opt(r.FamilyID, ev.FamilyID) && opt(r.ImageID, ev.ImageID) {
			return MatchMeasurement
		}
	}
	return ""
}

// noMatchText explains a failed match in the identity terms of ev's TEE.
func noMatchText(ev Evidence, mre, mrs string) string {
	switch ev.TEE {
	case TEETDX:
		return fmt.Sprintf("no TDX release matches MRTD %s (RTMRs %s, MRSEAM %s)", ev.MRTD, strings.Join(ev.RTMRs[:], ","), ev.MRSEAM)
	case TEESEVSNP:
		return fmt.Sprintf("no SEV-SNP release matches MEASUREMENT %s (HOST_DATA %s, FAMILY_ID %s, IMAGE_ID %s)", ev.Measurement, ev.HostData, ev.FamilyID, ev.ImageID)
	}
	return fmt.Sprintf("no release matches MREnclave %s / MRSigner %s, ISVProdID %d, ISVSVN %d", mre, mrs, ev.ISVProdID, ev.ISVSVN)
}
