// Package kube holds the cluster checks of `sgxops doctor --cluster`: SGX
// nodes and their EPC, the SGX device plugin and the AKS quote helper, and
// attestd's replicas (ready, serving the same signing keys). It reads the API
// through an injected client, calls attestd through an injected HTTP client,
// and never logs.
package kube
