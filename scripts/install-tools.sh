#!/usr/bin/env bash
# Builds the developer tools the project pins (controller-gen, helm) from the Go module proxy into a cache,
# idempotently: when a tool is there at its pinned version, nothing is built.
#
#   scripts/install-tools.sh [TOOL...]     TOOL: controller-gen, helm, coredns, tofu, goimports (default: controller-gen, helm)
#   (coredns is the cluster DNS of the real-cluster E2E, packed as an image by cmd/sgxops-images --system;
#   tofu is OpenTofu, for `tofu fmt -check` of deploy/terraform in test/terraform)
#
# Stdout: the directory holding the tools (one line). Progress goes to stderr.
# (goimports is the import-grouping check of `make lint`, at the x/tools version go.mod already requires.)
# Cache: $SGXOPS_TOOLS_CACHE or ~/.cache/sgxops-tools/bin. Cost on 2 cores, cold: controller-gen ~1 min,
# helm ~6 min, coredns ~1.5 min, tofu ~7 min; 0.01 s when present.
# OpenTofu's go.mod has replace directives, so `go install tofu@version` refuses it: the module is downloaded
# from the module proxy and built as the main module (its replacements then apply).
set -euo pipefail

declare -A PKG=(
  [controller-gen]="sigs.k8s.io/controller-tools/cmd/controller-gen@v0.23.0"
  [helm]="helm.sh/helm/v4/cmd/helm@v4.3.1"
  [coredns]="github.com/coredns/coredns@v1.15.0"
  [tofu]="github.com/opentofu/opentofu/cmd/tofu@v1.10.10"
  [goimports]="golang.org/x/tools/cmd/goimports@v0.49.0"
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
  if [ "$t" = tofu ]; then
    mod="${pkg%%/cmd/tofu@*}@${pkg##*@}"
    dir=$(GOWORK=off GOFLAGS=-modcacherw go mod download -json "$mod" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
    [ -n "$dir" ] || { echo "install-tools: cannot download $mod" >&2; exit 1; }
    cp -r "$dir" "$tmp/src"; chmod -R u+w "$tmp/src"
    (cd "$tmp/src" && GOWORK=off GOFLAGS=-modcacherw CGO_ENABLED=0 go build -trimpath \
      -ldflags "-s -w -X github.com/opentofu/opentofu/version.dev=no" -o "$tmp/tofu" ./cmd/tofu) >&2
    rm -rf "$tmp/src"
  else
    GOWORK=off GOFLAGS=-modcacherw CGO_ENABLED=0 GOBIN="$tmp" go install -trimpath -ldflags "-s -w" "$pkg" >&2
  fi
  mv -f "$tmp/$t" "$BIN/$t"; rm -rf "$tmp"
  echo "$pkg" > "$stamp"
  echo "install-tools: $t built in $(( $(date +%s) - start ))s" >&2
done
echo "$BIN"
