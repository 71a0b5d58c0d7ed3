// Package sim is a SIMULATED Intel SGX/TDX platform: a certificate hierarchy
// shaped like Intel's (root CA → PCK Processor/Platform CA → PCK certificate with
// the real SGX extensions, plus a TCB Signing certificate), a quoting enclave that
// produces DCAP v3 SGX quotes and v4 TDX quotes, TCB Info / QE Identity JSON and
// CRLs in Intel's format, and an HTTP handler serving them on the Intel PCS v4
// paths.
//
// Nothing here is secure hardware. Every certificate name and advisory ID says
// SIMULATED, and a verifier accepts these quotes only when it is explicitly given
// the simulation root (dcap's insecure simulation option); Intel's root never
// chains to it. The point is that a simulated quote goes through exactly the same
// verification code as a real one.
//
// A platform is made from a seed (deterministic: the same seed gives the same
// keys, certificates and, at the same clock, byte-identical collateral and
// quotes) or fresh, can be put at any TCB level so that verification yields each
// TCB status, can have its PCK certificate revoked, and is persisted to a
// directory with Save and Load.
package sim
