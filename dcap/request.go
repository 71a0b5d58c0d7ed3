package dcap

import (
	"encoding/hex"

	"github.com/sgxops/sgxops/collateral"
	"github.com/sgxops/sgxops/sgx"
)

// CollateralRequestFor derives the collateral request for q: its TEE, and the
// FMSPC and PCK CA (processor or platform) of the PCK certificate in its
// certification data. Nothing is verified here; Verify checks the chain. Quotes
// without a PCK chain (certification data types 1–4) give an error of reason
// ReasonCollateralUnavailable, since their FMSPC is only in the PCK
// certificate that must be obtained separately.
func CollateralRequestFor(q *sgx.Quote) (collateral.Request, error) {
	if q == nil {
		return collateral.Request{}, errf(ReasonMalformed, "quote is nil")
	}
	cd := q.Signature.CertData
	if cd.Type != sgx.CertPCKChain {
		return collateral.Request{}, errf(ReasonCollateralUnavailable,
			"quote carries certification data type %d (%v), not a PCK chain: its FMSPC cannot be read from the quote", cd.Type, cd.Type)
	}
	certs, err := parsePEMChain("PCK certificate chain", cd.Data)
	if err != nil {
		return collateral.Request{}, err
	}
	leaf := certs[0]
	ca := pckCAName(leaf.Issuer.CommonName)
	if ca == "" {
		return collateral.Request{}, errf(ReasonChainInvalid, "PCK certificate issuer %q is neither %q nor %q", leaf.Issuer.CommonName, intelNamePrefix+rolePlatformCA, intelNamePrefix+roleProcessorCA)
	}
	ext, err := PCKCertificateExtensions(leaf)
	if err != nil {
		return collateral.Request{}, err
	}
	tee := collateral.TEESGX
	if q.IsTDX() {
		tee = collateral.TEETDX
	}
	return collateral.Request{TEE: tee, FMSPC: hex.EncodeToString(ext.FMSPC[:]), PCKCA: ca}, nil
}
