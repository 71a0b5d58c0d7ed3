// Package snp verifies AMD SEV-SNP attestation reports: it parses the
// evidence (a raw ATTESTATION_REPORT, an Azure confidential-VM HCL report
// that wraps one, or MAA's /attest/SevSnpVm envelope), checks the VCEK or
// VLEK certificate against AMD's ARK/ASK/ASVK roots embedded in
// github.com/google/go-sev-guest (never fetching certificates), the report
// signature, the TCB (the report's REPORTED_TCB equals the certificate's, the
// certificate's is not above CURRENT_TCB, committed equals current), CHIP_ID
// against the VCEK, and the HCL runtime-claims binding.
//
// Verify answers "is this report genuine"; whether its measurement, policy
// (debug, migration agent) and report data are acceptable is for package
// policy and the caller. Errors are *Error with a stable Reason.
package snp
