// Package collateral holds Intel DCAP collateral — TCB Info, QE Identity, CRLs and
// their issuer chains — and gets it: from offline bundles (the dcap-qvl
// QuoteCollateralV3 JSON layout), from Intel PCS v4, a PCCS or Azure THIM, through
// a cache that honours nextUpdate. It parses and fetches; it does not verify
// signatures (package dcap does).
package collateral
