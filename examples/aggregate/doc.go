// Package aggregate is the sgxops sample confidential service: a client
// provisions secret numbers over an attested channel (package ra) and the
// enclave returns their count, sum, mean, minimum and maximum, encrypted. The
// host that runs the service sees only ciphertext; only code whose
// measurement the client's verifier accepts can decrypt.
//
// The service runs in simulation by default (ra.SimulatedProvider) and, for
// SGX hardware, under Gramine with ra.GramineProvider (see the manifest
// template in the gramine directory).
//
// Release identity. On hardware, MRENCLAVE comes from the real build
// (gramine-sgx-sign, then sgxops measure). In simulation there is no enclave
// build, so Image generates a small, canonical SGXS measurement stream for a
// given version — a stand-in build artifact — and Measure measures it with
// package enclave, exactly as a real .sgxs would be measured. Different
// versions give different streams and so different MRENCLAVEs; nothing is
// typed in by hand. The simulated MRSIGNER is a fixed value
// (SimulatedMRSigner) because a simulated build has no SIGSTRUCT.
package aggregate
