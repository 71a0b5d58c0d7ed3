package policy

import (
	"crypto/sha256"
	"encoding/base64"
)

// DefaultSGXPolicy is the default policy MAA returns for SgxEnclave (and uses
// for OpenEnclave), byte for byte as served by the shared instance in 2021
// (MAA policy examples: https://learn.microsoft.com/azure/attestation/policy-examples).
// Its PolicyHash is DefaultSGXPolicyHash.
const DefaultSGXPolicy = `version= 1.0;authorizationrules{=> permit();};issuancerules{c:[type=="x-ms-sgx-is-debuggable"] => issue(type="is-debuggable", value=c.value);c:[type=="x-ms-sgx-mrsigner"] => issue(type="sgx-mrsigner", value=c.value);c:[type=="x-ms-sgx-mrenclave"] => issue(type="sgx-mrenclave", value=c.value);c:[type=="x-ms-sgx-product-id"] => issue(type="product-id", value=c.value);c:[type=="x-ms-sgx-svn"] => issue(type="svn", value=c.value);c:[type=="x-ms-attestation-type"] => issue(type="tee", value=c.value);};`

// DefaultSGXPolicyHash is PolicyHash(DefaultSGXPolicy), the x-ms-policy-hash
// of real MAA tokens issued under the default policy.
const DefaultSGXPolicyHash = "bROrN897ZfWmWY2V0FLUlu3uwk5xatGnKYHn3zBbSlw"

// PolicyHash returns MAA's x-ms-policy-hash of policy text:
// base64url(SHA-256(base64url(UTF-8 text))), unpadded.
func PolicyHash(text string) string {
	inner := base64.RawURLEncoding.EncodeToString([]byte(text))
	sum := sha256.Sum256([]byte(inner))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// PolicyTokenHash returns MAA's x-ms-policy-token-hash of an uploaded policy
// JWS: base64url(SHA-256(the JWS exactly as received, trailing "." included)),
// unpadded.
func PolicyTokenHash(jws string) string {
	sum := sha256.Sum256([]byte(jws))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}
