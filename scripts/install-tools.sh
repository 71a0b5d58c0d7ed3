#!/usr/bin/env bash
# Builds the developer tools the project pins (controller-gen, helm) from the Go module proxy into a cache,
# idempotently: when a tool is there at its pinned version, nothing is built.
#
#   scripts/install-tools.sh [TOOL...]     TOOL: controller-gen, helm, coredns (default: controller-gen, helm)
#   (coredns is the cluster DNS of the real-cluster E2E, packed as an image by cmd/sgxops-images --system)
#
# Stdout: the directory holding the tools (one line). Progress goes to stderr.
# Cache: $SGXOPS_TOOLS_CACHE or ~/.cache/sgxops-tools/bin. Cost on 2 cores, cold: controller-gen ~1 min,
# helm ~6 min, coredns ~1.5 min; 0.01 s when present.
set -euo pipefail

declare -A PKG=(
  [controller-gen]="sigs.k8s.io/controller-tools/cmd/controller-gen@v0.23.0"
  [helm]="helm.sh/helm/v4/cmd/helm@v4.3.1"
  [coredns]="github.com/coredns/coredns@v1.15.0"
)
tools=("$@"); [ ${#tools[@]} -gt 0 ] || tools=(controller-gen helm)
BIN="${SGXOPS_TOOLS_CACHE:-$HOME/.cache/sgxops-tools/bin}"
mkdir -p "$BIN"
for t in "${tools[@]}"; do
  pkg="${PKG[$t]:-}"
  [ -n "$pkg" ] || { echo "install-tools: unknown tool $t (known: ${!PKG[*]})" >&2; exit 2; }
  stamp="$BIN/.$t.version"
  if [ -x "$BIN/$t" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$pkg" ]; then continue; fi
  exec 9>"$BIN/.lock"; flock 9
  if [ -x "$BIN/$t" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$pkg" ]; then continue; fi
  echo "install-tools: building $pkg (once; cached in $BIN)" >&2
  start=$(date +%s)
  tmp=$(mktemp -d "$BIN/.build.XXXXXX")
  GOWORK=off GOFLAGS=-modcacherw CGO_ENABLED=0 GOBIN="$tmp" go install -trimpath -ldflags "-s -w" "$pkg" >&2
  mv -f "$tmp/$t" "$BIN/$t"; rm -rf "$tmp"
  echo "$pkg" > "$stamp"
  echo "install-tools: $t built in $(( $(date +%s) - start ))s" >&2
done
echo "$BIN"
