package dcap

import "github.com/sgxops/sgxops/sgx"

// CheckPCKChain verifies the PCK certificate chain a quote carries
// (certification data type 5) up to the verifier's trust anchors, without
// collateral and independent of the time; Verify repeats nothing of it (the
// verified chain is cached). Callers run it before fetching collateral, so
// that a quote whose chain is not trusted cannot make them fetch collateral
// for the FMSPC it claims. Quotes with other certification data types (the
// chain comes with the collateral) pass unchecked. Errors are *Error with
// ReasonChainInvalid.
func (v *Verifier) CheckPCKChain(q *sgx.Quote) error {
	if q == nil {
		return errf(ReasonMalformed, "quote is nil")
	}
	if q.Signature.CertData.Type != sgx.CertPCKChain {
		return nil
	}
	_, err := v.pckChain(q.Signature.CertData.Data)
	return err
}
