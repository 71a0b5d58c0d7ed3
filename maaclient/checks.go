package maaclient

import (
	"bytes"
	"crypto/sha256"
	"slices"
)

// sgxopsClaims are the x-sgxops-* claims attestd adds to every token; all
// are optional (tokens of other MAA services have none).
type sgxopsClaims struct {
	app, release, state, tcbStatus string
	advisoryIDs                    []string
	simulated                      bool
}

func (m claimReader) sgxops() (sgxopsClaims, error) {
	var s sgxopsClaims
	var err error
	for _, c := range []struct {
		name string
		dst  *string
	}{{"x-sgxops-app", &s.app}, {"x-sgxops-release", &s.release}, {"x-sgxops-release-state", &s.state}, {"x-sgxops-tcb-status", &s.tcbStatus}} {
		if *c.dst, err = m.str(c.name, false); err != nil {
			return s, err
		}
	}
	if s.advisoryIDs, err = m.strs("x-sgxops-advisory-ids"); err != nil {
		return s, err
	}
	s.simulated, err = m.boolean("x-sgxops-simulated", false)
	return s, err
}

// evidence is what SGX and confidential-VM tokens share for the checks
// below.
type evidence struct {
	debug     bool
	debugWhat string // what is debuggable, for the message
	simulated bool
	// reportData is the TEE's 64 bytes of report data; ehd the runtime data
	// the service echoed (claim ehdClaim), nil if absent.
	reportData []byte
	ehd        []byte
	ehdClaim   string
	app        string
	release    string
	state      string
	nonce      string
}

// common are the expectations SGX and confidential-VM tokens share.
type common struct {
	allowDebug, allowSimulated, allowCandidate bool
	runtimeData                                []byte
	app                                        string
	releases                                   []string
	nonce                                      string
}

// checkPlatform checks what the TEE says about itself: debug, simulation
// and the runtime-data binding.
func checkPlatform(ev evidence, e common) error {
	if ev.debug && !e.allowDebug {
		return rejectf(ReasonDebug, "%s (its memory is readable by the host)", ev.debugWhat)
	}
	if ev.simulated && !e.allowSimulated {
		return rejectf(ReasonSimulated, "the evidence came from the SIMULATED platform")
	}
	if e.runtimeData != nil {
		sum := sha256.Sum256(e.runtimeData)
		if !bytes.Equal(ev.reportData[:32], sum[:]) {
			return rejectf(ReasonRuntimeData, "report_data[0:32] = %x is not SHA-256(runtime data) = %x", ev.reportData[:32], sum[:])
		}
		if ev.ehd != nil && !bytes.Equal(ev.ehd, e.runtimeData) {
			return rejectf(ReasonRuntimeData, "%s differs from the runtime data", ev.ehdClaim)
		}
	}
	return nil
}

// checkRelease checks the sgxops release the service matched, and the
// nonce.
func checkRelease(ev evidence, e common) error {
	if e.app != "" && ev.app != e.app {
		return rejectf(ReasonRelease, "app %q, want %q", ev.app, e.app)
	}
	if ev.state == "candidate" && !e.allowCandidate {
		return rejectf(ReasonRelease, "release %s/%s is a candidate, accepted only for a rollout's test", ev.app, ev.release)
	}
	if len(e.releases) > 0 && !slices.Contains(e.releases, ev.release) {
		return rejectf(ReasonRelease, "release %q is not among %q", ev.release, e.releases)
	}
	if e.nonce != "" && ev.nonce != e.nonce {
		return rejectf(ReasonNonce, "nonce claim %q, want %q", ev.nonce, e.nonce)
	}
	return nil
}
