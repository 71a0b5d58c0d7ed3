// Package maaclient is a relying-party client for Microsoft Azure Attestation
// (MAA) compatible services, attestd in particular: it submits SGX quotes (or
// Open Enclave reports) and verifies the returned tokens the way a careful
// relying party does.
//
// Verification pins the issuer (iss must equal the configured base URL
// exactly) and the key URL (jku must equal issuer + "/certs"), takes the key
// from /certs by kid (never from the token), accepts RS256 only, checks exp,
// nbf and iat with a small clock skew, rejects debug enclaves and simulated
// evidence unless allowed, checks the runtime-data binding
// (report_data[0:32] == SHA-256(runtime data)), and requires the expected
// measurements or sgxops release. It never logs.
package maaclient
