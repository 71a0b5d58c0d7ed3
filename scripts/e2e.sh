#!/usr/bin/env bash
# The real-cluster end-to-end test (make e2e): a single-node Kubernetes cluster on this machine (root), the
# sgxops images and Helm chart, the operator rolling the sample service out blue/green. See test/e2e.
#
# Without root it skips, loudly; with SGXOPS_REQUIRE_E2E=1 (CI) a missing prerequisite fails instead.
# Installs what it needs, cached and idempotent: Debian packages (containerd, runc, CNI plugins, iptables),
# Kubernetes binaries (scripts/k8s/install-control-plane.sh --node), helm and CoreDNS
# (scripts/install-tools.sh), the images (make images; cmd/sgxops-images --system).
# The cluster is always stopped at the end (also after a failure or an interrupt).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" != 0 ]; then
  msg="E2E SKIPPED: the real-cluster test needs root (kubelet, containerd, iptables); run 'sudo make e2e'"
  if [ "${SGXOPS_REQUIRE_E2E:-0}" = 1 ]; then echo "FATAL (SGXOPS_REQUIRE_E2E=1): $msg" >&2; exit 1; fi
  printf '\n********************************************************************************\n*** %s\n********************************************************************************\n\n' "$msg" >&2
  exit 0
fi
T=scripts/timed.sh
$T "e2e: host packages" scripts/k8s/install-host-packages.sh
K8S_BIN=$($T "e2e: kubernetes binaries" scripts/k8s/install-control-plane.sh --node)
TOOLS=$($T "e2e: helm, coredns" scripts/install-tools.sh helm coredns)
$T "e2e: images" go run ./cmd/sgxops-images --out bin/images --version "${VERSION:-0.1.0}"
$T "e2e: system images" go run ./cmd/sgxops-images --system --coredns "$TOOLS/coredns" --out bin/images/system
export K8S_BIN HELM="$TOOLS/helm" SYSTEM_IMAGES="$PWD/bin/images/system" SGXOPS_E2E=1
trap 'scripts/timed.sh "e2e: cluster teardown" scripts/k8s/cluster.sh stop || true' EXIT
$T "e2e: test" go test -count=1 -v -timeout 30m -run 'TestE2E' ./test/e2e
