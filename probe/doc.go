// Package probe is a rollout's test of one release: it opens an attested
// channel (package ra) to a service, has the service's quote verified by an
// MAA-compatible attestation service (attestd) that is asked for that
// release by name, and checks the verified token names that release in an
// accepted state. While the release is a candidate it also checks the other
// half of the rule: a request that does not name the candidate is refused.
//
// The token checks (RS256 signature with a key from the issuer's /certs,
// pinned issuer and key URL, expiry, report-data binding to the channel) are
// maaclient's and ra's; this package adds the release checks and one place
// that both the sgxops CLI ("sgxops probe") and the demo call.
//
// The package never logs and reads no flags or environment.
package probe
