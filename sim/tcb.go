package sim

import (
	"fmt"
	"strings"

	"github.com/sgxops/sgxops/collateral"
)

// TCBStatus is a TCB level status as Intel spells it in TCB Info and QE Identity.
type TCBStatus string

// The TCB statuses of Intel's TCB Info v3; a simulated platform can be put at
// each of them.
const (
	UpToDate                          = TCBStatus(collateral.TCBUpToDate)
	SWHardeningNeeded                 = TCBStatus(collateral.TCBSWHardeningNeeded)
	ConfigurationNeeded               = TCBStatus(collateral.TCBConfigurationNeeded)
	ConfigurationAndSWHardeningNeeded = TCBStatus(collateral.TCBConfigurationAndSWHardeningNeeded)
	OutOfDate                         = TCBStatus(collateral.TCBOutOfDate)
	OutOfDateConfigurationNeeded      = TCBStatus(collateral.TCBOutOfDateConfigurationNeeded)
	Revoked                           = TCBStatus(collateral.TCBRevoked)
	// BelowAllLevels is not an Intel status: it puts the platform below every
	// level of the simulated TCB Info, so that no TCB level matches.
	BelowAllLevels TCBStatus = "BelowAllLevels"
)

// Statuses lists the Intel TCB statuses a simulated platform can produce, best first.
var Statuses = []TCBStatus{
	UpToDate, SWHardeningNeeded, ConfigurationNeeded, ConfigurationAndSWHardeningNeeded,
	OutOfDate, OutOfDateConfigurationNeeded, Revoked,
}

// ParseTCBStatus accepts a status name (case-insensitive).
func ParseTCBStatus(s string) (TCBStatus, error) {
	for _, st := range append(Statuses, BelowAllLevels) {
		if strings.EqualFold(s, string(st)) {
			return st, nil
		}
	}
	names := make([]string, 0, len(Statuses)+1)
	for _, st := range append(Statuses, BelowAllLevels) {
		names = append(names, string(st))
	}
	return "", fmt.Errorf("sim: unknown TCB status %q (want one of %s)", s, strings.Join(names, ", "))
}

// Simulated advisory IDs. They follow Intel's "INTEL-SA-nnnnn" shape but say SIM.
const (
	AdvisorySWHardening        = "SIM-SA-00001"
	AdvisoryConfiguration      = "SIM-SA-00002"
	AdvisoryOutOfDate          = "SIM-SA-00003"
	AdvisoryRevoked            = "SIM-SA-00004"
	AdvisoryQEOutOfDate        = "SIM-SA-00005"
	AdvisoryTDXModuleOutOfDate = "SIM-SA-00006"
)

// tcbLevel is one level of the simulated TCB Info. Each status has its own level
// with a distinct first SGX component SVN, descending, so that a platform whose
// CPUSVN equals a level's components matches that level and no better one.
type tcbLevel struct {
	status     TCBStatus
	sgx        [16]byte // SGX TCB component SVNs (= the platform CPUSVN)
	pcesvn     uint16
	tdx        [16]byte // TDX TCB component SVNs required by the level
	date       string
	advisories []string
}

const simPCESVN = 13

func mkLevel(status TCBStatus, top byte, date string, adv ...string) tcbLevel {
	l := tcbLevel{status: status, pcesvn: simPCESVN, date: date, advisories: adv}
	l.sgx = [16]byte{top, top, 3, 3, 1, 1, 0}
	// TDX components: byte 0 is the TDX module SVN, byte 1 its major version
	// (judged by the module identity when above 0), byte 2 the TDX microcode.
	l.tdx = [16]byte{minTDXModuleSVN, 0, 2}
	return l
}

// tcbLevels are the levels of both the SGX and the TDX TCB Info, best first.
var tcbLevels = []tcbLevel{
	mkLevel(UpToDate, 8, "2025-05-14T00:00:00Z"),
	mkLevel(SWHardeningNeeded, 7, "2025-02-12T00:00:00Z", AdvisorySWHardening),
	mkLevel(ConfigurationNeeded, 6, "2024-11-13T00:00:00Z", AdvisoryConfiguration),
	mkLevel(ConfigurationAndSWHardeningNeeded, 5, "2024-08-14T00:00:00Z", AdvisorySWHardening, AdvisoryConfiguration),
	mkLevel(OutOfDate, 4, "2024-05-15T00:00:00Z", AdvisoryOutOfDate),
	mkLevel(OutOfDateConfigurationNeeded, 3, "2024-02-14T00:00:00Z", AdvisoryOutOfDate, AdvisoryConfiguration),
	mkLevel(Revoked, 2, "2023-11-15T00:00:00Z", AdvisoryRevoked),
}

// sgxLevelFor returns the platform TCB (CPUSVN, PCESVN, TEE TCB SVN) that
// matches status. BelowAllLevels returns SVNs below every level.
func sgxLevelFor(status TCBStatus) tcbLevel {
	for _, l := range tcbLevels {
		if l.status == status {
			return l
		}
	}
	return mkLevel(BelowAllLevels, 1, "")
}

// Advisories returns the advisory IDs that the simulated TCB Info lists for
// status (nil for UpToDate and BelowAllLevels).
func Advisories(status TCBStatus) []string {
	for _, l := range tcbLevels {
		if l.status == status {
			return append([]string(nil), l.advisories...)
		}
	}
	return nil
}

// TDX module SVNs (TEE_TCB_SVN byte 0) of the simulated module identity
// TDX_01: DefaultTDXModuleSVN is UpToDate, TDXModuleOutOfDateSVN OutOfDate.
const (
	DefaultTDXModuleSVN   = 4
	TDXModuleOutOfDateSVN = 2
	minTDXModuleSVN       = TDXModuleOutOfDateSVN
)

// tdxModuleLevels are the levels of the module identity TDX_01, best first.
var tdxModuleLevels = []qeLevel{
	{DefaultTDXModuleSVN, UpToDate, "2025-05-14T00:00:00Z", nil},
	{TDXModuleOutOfDateSVN, OutOfDate, "2024-05-15T00:00:00Z", []string{AdvisoryTDXModuleOutOfDate}},
}

// teeTCBSVN is a TD's TEE_TCB_SVN on a platform at status running TDX module
// 1.x with the given SVN.
func teeTCBSVN(status TCBStatus, moduleSVN uint8) [16]byte {
	s := sgxLevelFor(status).tdx
	s[0], s[1] = moduleSVN, 1
	return s
}

// qeLevel is one level of the simulated QE Identity.
type qeLevel struct {
	isvsvn     uint16
	status     TCBStatus
	date       string
	advisories []string
}

// DefaultQESVN is the ISVSVN of the simulated quoting enclaves; the QE Identity
// rates it UpToDate. QEOutOfDateSVN is rated OutOfDate.
const (
	DefaultQESVN   = 8
	QEOutOfDateSVN = 6
)

var qeLevels = []qeLevel{
	{DefaultQESVN, UpToDate, "2025-05-14T00:00:00Z", nil},
	{QEOutOfDateSVN, OutOfDate, "2024-05-15T00:00:00Z", []string{AdvisoryQEOutOfDate}},
}

// Simulated quoting enclave identities (ISVPRODID as Intel's QE and TD QE).
const (
	qeProdID   = 1
	tdqeProdID = 2
)
