package dcap

import (
	"fmt"

	"github.com/sgxops/sgxops/collateral"
)

// Status is the TCB status of a verified quote, after the platform, QE and TDX
// module statuses have been converged as Intel's QVL does. The zero value is
// StatusUnknown, which Verify never returns in a Verdict.
type Status int

// The statuses. Only UpToDate means "nothing to do"; whether the others are
// acceptable is a policy decision (package policy), never made here.
const (
	StatusUnknown Status = iota
	StatusUpToDate
	StatusSWHardeningNeeded
	StatusConfigurationNeeded
	StatusConfigurationAndSWHardeningNeeded
	StatusOutOfDate
	StatusOutOfDateConfigurationNeeded
	StatusRevoked
	StatusTDRelaunchAdvised
	StatusTDRelaunchAdvisedConfigurationNeeded
)

var statusNames = [...]string{
	StatusUnknown:                              "Unknown",
	StatusUpToDate:                             "UpToDate",
	StatusSWHardeningNeeded:                    "SWHardeningNeeded",
	StatusConfigurationNeeded:                  "ConfigurationNeeded",
	StatusConfigurationAndSWHardeningNeeded:    "ConfigurationAndSWHardeningNeeded",
	StatusOutOfDate:                            "OutOfDate",
	StatusOutOfDateConfigurationNeeded:         "OutOfDateConfigurationNeeded",
	StatusRevoked:                              "Revoked",
	StatusTDRelaunchAdvised:                    "TDRelaunchAdvised",
	StatusTDRelaunchAdvisedConfigurationNeeded: "TDRelaunchAdvisedConfigurationNeeded",
}

// Statuses lists the nine statuses Verify can report, best first.
func Statuses() []Status {
	return []Status{StatusUpToDate, StatusSWHardeningNeeded, StatusConfigurationNeeded,
		StatusConfigurationAndSWHardeningNeeded, StatusTDRelaunchAdvised, StatusTDRelaunchAdvisedConfigurationNeeded,
		StatusOutOfDate, StatusOutOfDateConfigurationNeeded, StatusRevoked}
}

// String returns Intel's spelling, e.g. "ConfigurationAndSWHardeningNeeded".
func (s Status) String() string {
	if s >= 0 && int(s) < len(statusNames) {
		return statusNames[s]
	}
	return fmt.Sprintf("Status(%d)", int(s))
}

// ParseStatus returns the Status spelled s (Intel's spelling, case-sensitive).
// "Unknown" is not accepted.
func ParseStatus(s string) (Status, error) {
	for i, n := range statusNames {
		if i != int(StatusUnknown) && n == s {
			return Status(i), nil
		}
	}
	return StatusUnknown, fmt.Errorf("dcap: unknown TCB status %q", s)
}

// MarshalText encodes s in Intel's spelling.
func (s Status) MarshalText() ([]byte, error) {
	if s <= StatusUnknown || int(s) >= len(statusNames) {
		return nil, fmt.Errorf("dcap: cannot marshal %v", s)
	}
	return []byte(s.String()), nil
}

// UnmarshalText decodes Intel's spelling.
func (s *Status) UnmarshalText(b []byte) error {
	v, err := ParseStatus(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// ConfigurationNeeded reports whether s asks for a platform configuration change.
func (s Status) ConfigurationNeeded() bool {
	switch s {
	case StatusConfigurationNeeded, StatusConfigurationAndSWHardeningNeeded,
		StatusOutOfDateConfigurationNeeded, StatusTDRelaunchAdvisedConfigurationNeeded:
		return true
	}
	return false
}

// statusOf maps a collateral TCB level status onto Status.
func statusOf(s collateral.TCBStatus) (Status, error) {
	switch s {
	case collateral.TCBUpToDate:
		return StatusUpToDate, nil
	case collateral.TCBSWHardeningNeeded:
		return StatusSWHardeningNeeded, nil
	case collateral.TCBConfigurationNeeded:
		return StatusConfigurationNeeded, nil
	case collateral.TCBConfigurationAndSWHardeningNeeded:
		return StatusConfigurationAndSWHardeningNeeded, nil
	case collateral.TCBOutOfDate:
		return StatusOutOfDate, nil
	case collateral.TCBOutOfDateConfigurationNeeded:
		return StatusOutOfDateConfigurationNeeded, nil
	case collateral.TCBRevoked:
		return StatusRevoked, nil
	}
	return StatusUnknown, errf(ReasonCollateralInvalid, "unknown TCB status %q", s)
}

// enclaveStatusOf maps the status of a QE Identity or TDX module identity level.
// Intel defines only UpToDate, OutOfDate and Revoked there; any other status is
// refused as invalid collateral (as Intel's QVL parser refuses it).
func enclaveStatusOf(s collateral.TCBStatus, what string) (Status, error) {
	switch s {
	case collateral.TCBUpToDate:
		return StatusUpToDate, nil
	case collateral.TCBOutOfDate:
		return StatusOutOfDate, nil
	case collateral.TCBRevoked:
		return StatusRevoked, nil
	}
	return StatusUnknown, errf(ReasonCollateralInvalid, "%s level has status %q; only UpToDate, OutOfDate and Revoked are defined there", what, s)
}

// convergeOutOfDate applies an OutOfDate or Revoked component status (QE or TDX
// module) to the platform status, following Intel QVL's convergence rules:
// OutOfDate turns UpToDate/SWHardeningNeeded into OutOfDate and the two
// ConfigurationNeeded statuses into OutOfDateConfigurationNeeded; Revoked wins.
func convergeOutOfDate(platform, component Status) Status {
	switch component {
	case StatusRevoked:
		return StatusRevoked
	case StatusOutOfDate:
		switch platform {
		case StatusUpToDate, StatusSWHardeningNeeded:
			return StatusOutOfDate
		case StatusConfigurationNeeded, StatusConfigurationAndSWHardeningNeeded:
			return StatusOutOfDateConfigurationNeeded
		}
	}
	return platform
}
