// Package attestd is the sgxops attestation service: a self-hosted,
// Microsoft Azure Attestation (MAA) compatible REST API that verifies SGX
// quotes with DCAP collateral, appraises them against an MAA policy and the
// sgxops reference values (releases with a lifecycle), and issues RS256 tokens
// that unmodified MAA clients accept.
//
// The trust flow of one attestation is
//
//	request (lenient MAA JSON) → sgx.ParseQuote → runtime-data binding
//	→ Verifier (dcap with a collateral.Source) → MAA policy (policy.Parse/Evaluate)
//	→ reference values (policy.Appraise over the registry's trust set)
//	→ token (MAA claims + x-sgxops-* claims) signed by the service key.
//
// The package also serves /certs, the OpenID metadata, policy get/set/reset
// (per attestation type, with MAA's isolated mode: policies signed by a
// configured policy-signing certificate), an authenticated admin API for the
// release lifecycle and the audit log, Prometheus metrics and health probes.
// The package's API is the server (Start, or New with Options) and what
// clients need: error codes and request and response types. Its
// configuration (attestd/config) flows defaults → file → flags → Validate
// into one config.Config; cmd/attestd wires flags, logging and signals.
//
// One attestd keeps its trust set in bbolt and its signing keys in files of
// its data directory. With the Kubernetes store (config.StoreKubernetes) any
// number of replicas share the trust set (store/kube), the signing keys (one
// Secret, written with resourceVersion preconditions and followed by a watch;
// see keyset.go and keysecret.go) and the admin credential (a mounted file).
//
// Wire details follow the public MAA REST API
// (https://learn.microsoft.com/rest/api/attestation/); the deviations are
// listed in docs/operations.md and docs/limitations.md. Everything that comes
// from the simulated platform is marked simulated in tokens
// (x-sgxops-simulated) and in every log line.
package attestd
