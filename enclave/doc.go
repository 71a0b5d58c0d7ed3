// Package enclave measures SGX enclaves offline, without SGX hardware: it
// finds the SIGSTRUCT of a signed enclave and reports MRENCLAVE, MRSIGNER,
// ISVPRODID, ISVSVN, attributes and whether the signer permits a debug
// launch, and it recomputes MRENCLAVE from a Fortanix .sgxs measurement
// stream.
//
// Recognised inputs (detected from the content, not the file name):
//   - a raw 1808-byte SIGSTRUCT (Gramine .sig, SGX SDK css file, enarx .ss);
//   - an SGX SDK signed enclave ELF (the SIGSTRUCT is the enclave_css field of
//     the metadata in the "sgx_metadata" note);
//   - an Open Enclave signed enclave ELF (the sigstruct field of
//     oe_sgx_enclave_properties_t in the .oeinfo section);
//   - a Fortanix SGXS stream (MRENCLAVE is SHA-256 of the whole stream); a
//     sibling FILE.sig is compared with the recomputed value.
//
// The package verifies the SIGSTRUCT's own RSA signature but trusts nothing:
// whether MRSIGNER or MRENCLAVE is acceptable is policy, decided elsewhere.
// It never logs.
package enclave
