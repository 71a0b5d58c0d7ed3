// Package dcap verifies Intel SGX and TDX DCAP quotes (v3, v4, v5) against
// Intel collateral in pure Go: the PCK certificate chain to the Intel SGX Root
// CA, the Root CA and PCK CRLs, the QE report and quote signatures, the QE
// Identity and the TCB Info, following the steps of Intel's Quote Verification
// Library. It reports the converged TCB status, advisory IDs and the
// enclave/TD identity in a Verdict; deciding whether that is acceptable is the
// job of package policy.
//
// Typical use:
//
//	q, err := sgx.ParseQuote(raw)
//	...
//	v := dcap.NewVerifier(dcap.Options{}) // embedded Intel root, time.Now
//	verdict, err := v.Verify(q, coll)
//	if err != nil { ... }                 // errors.Is(err, dcap.ErrSignatureInvalid) ...
//
// A Verifier caches verified PCK chains and collateral, so verifying many quotes
// costs little more than their two ECDSA signatures. Verify is the one-shot form.
package dcap
