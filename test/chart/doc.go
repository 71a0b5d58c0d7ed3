// Package chart holds the CI checks of the Helm chart deploy/helm/sgxops:
// the chart's CRDs and operator RBAC match the generated files, helm lint,
// helm template with the default and the simulation values, the values
// schema refusing bad values, and a server-side dry-run apply of the
// rendered manifests against a real API server (envtest, CRDs installed).
//
// helm comes from scripts/install-tools.sh (HELM overrides the path). Without
// it the helm tests skip with one line, or fail when SGXOPS_REQUIRE_K8S=1.
package chart
