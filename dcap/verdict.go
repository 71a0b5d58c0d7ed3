package dcap

import (
	"time"

	"github.com/sgxops/sgxops/sgx"
)

// TEE names the trusted execution environment of a quote.
type TEE string

// The TEEs.
const (
	TEESGX TEE = "sgx"
	TEETDX TEE = "tdx"
)

// Verdict is the outcome of a successful verification: the quote is authentic
// (signed by a QE whose PCK certificate chains to a trusted root and is not
// revoked, with valid collateral) and this is what Intel's collateral says about
// the platform. Whether the status, advisories, debug flag and identity are
// acceptable is for the caller's policy to decide.
type Verdict struct {
	// TEE is TEESGX or TEETDX.
	TEE TEE
	// Status is the converged TCB status (platform, QE and TDX module).
	Status Status
	// AdvisoryIDs is the sorted, de-duplicated union of the advisory IDs of every
	// matched TCB level (platform, QE, TDX module); never nil.
	AdvisoryIDs []string
	// TCBDate is the earliest tcbDate of the matched TCB levels.
	TCBDate time.Time
	// QEStatus is the QE's own status from the QE Identity: UpToDate, OutOfDate or Revoked.
	QEStatus Status
	// PlatformStatus is the status of the matched TCB Info level before convergence
	// with the QE and TDX module statuses.
	PlatformStatus Status
	// TDXModuleStatus is the status of the matched TDX module identity level for
	// TD quotes with a TDX module major version above 0; UpToDate for major
	// version 0 (no module levels apply); StatusUnknown for SGX quotes.
	TDXModuleStatus Status
	// TCBEvaluationDataNumber is the TCB Info's evaluation data number.
	TCBEvaluationDataNumber uint32
	// CollateralExpiry is the earliest of: TCB Info and QE Identity nextUpdate,
	// both CRLs' nextUpdate, and NotAfter of every certificate used.
	CollateralExpiry time.Time
	// FMSPC and PCEID are from the PCK certificate, lower-case hex.
	FMSPC string
	PCEID string
	// PCKCA is "processor" or "platform": the CA that issued the PCK certificate.
	PCKCA string
	// QESVN and PCESVN are from the quote header.
	QESVN  uint16
	PCESVN uint16
	// SGX is the enclave report body of an SGX quote (nil for TDX). Its MREnclave,
	// MRSigner, ISVProdID, ISVSVN, Attributes and MiscSelect identify the enclave.
	SGX *sgx.ReportBody
	// TD is the TD report body of a TDX quote (nil for SGX): MRTD, RTMRs, MRSEAM,
	// TDAttributes, XFAM, MRConfigID, MROwner ...
	TD *sgx.TDReportBody
	// ReportData is the 64 bytes of report data of the enclave or TD.
	ReportData [64]byte
	// Debug is true for a debug enclave (ATTRIBUTES.DEBUG) or a debug TD
	// (TDATTRIBUTES.DEBUG). Verify reports it; policy rejects it by default.
	Debug bool
	// Simulated is true when the quote or its collateral chains to one of
	// Options.InsecureSimulationRoots rather than a production root.
	Simulated bool
}
