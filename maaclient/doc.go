// Package maaclient is a relying-party client for Microsoft Azure Attestation
// (MAA) compatible services, attestd in particular: it submits SGX quotes (or
// Open Enclave reports), TDX quotes and SEV-SNP reports, and verifies the
// returned tokens the way a careful relying party does.
//
// Every token (Verify for SGX and Open Enclave, VerifyCVM for TdxVm and
// SevSnpVm) gets the same first checks: the issuer is pinned (iss must equal
// the configured base URL exactly) and so is the key URL (jku must equal
// issuer + "/certs"); the key is taken from /certs by kid (never from the
// token); RS256 only; exp, nbf and iat with a small clock skew. Then the
// token must be for the expected TEE (x-ms-attestation-type), and its TEE
// claims are checked: debug enclaves, debug TDs and guests whose policy
// allows debugging, and simulated evidence are rejected unless allowed; the
// runtime-data binding (report_data[0:32] == SHA-256(runtime data)) is
// checked; the expected measurements (MRENCLAVE / MRSIGNER, MRTD, SEV-SNP
// MEASUREMENT) or sgxops release are required, and for confidential VMs the
// optional pins (RTMRs, MRCONFIGID, MROWNER, HOST_DATA). The zero value of
// Expectations and CVMExpectations rejects every token. TCB status and
// advisories are reported, not re-checked (the service's rules decide
// them). The package never logs.
package maaclient
