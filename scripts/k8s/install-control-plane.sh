#!/usr/bin/env bash
# Builds the Kubernetes binaries the tests need from the Go module proxy (no release downloads, no Docker),
# idempotently and cached, and prints the directory that holds them (export it as KUBEBUILDER_ASSETS).
#
#   scripts/k8s/install-control-plane.sh            etcd, kube-apiserver, kubectl (envtest)
#   scripts/k8s/install-control-plane.sh --node     also kube-controller-manager, kube-scheduler, kubelet,
#                                                    kube-proxy (a real single-node cluster, see scripts/k8s/cluster.sh)
#
# Cache: $K8S_CP_CACHE or ~/.cache/k8s-control-plane, laid out as k8s/<version>-<os>-<arch>/ (the layout
# setup-envtest uses). A file counts as present when it is executable and VERSIONS records its version.
# Cold cost on 2 cores: 9-20 min (kube-apiserver dominates), +1.5-2.5 min for --node; warm: 0.01 s.
# Kubernetes' own module cannot be built with `go install pkg@version` (it has replace directives), so a
# scratch module requires k8s.io/kubernetes and pins each staging module it requires at v0.0.0 to the
# published v0.<minor>.<patch>.
set -euo pipefail
K8S_VERSION="${K8S_VERSION:-1.37.2}"
CACHE="${K8S_CP_CACHE:-$HOME/.cache/k8s-control-plane}"
files=(etcd kube-apiserver kubectl)
[ "${1:-}" = --node ] && files+=(kube-controller-manager kube-scheduler kubelet kube-proxy)
mkdir -p "$CACHE"; CACHE="$(cd "$CACHE" && pwd)"
OUT="$CACHE/k8s/${K8S_VERSION}-$(go env GOHOSTOS)-$(go env GOHOSTARCH)"
want() { [ "$1" = etcd ] && echo "etcd=pinned" || echo "$1=v$K8S_VERSION"; }
todo() { for f in "${files[@]}"; do
  { [ -x "$OUT/$f" ] && grep -qxF "$(want "$f")" "$OUT/VERSIONS" 2>/dev/null; } || echo "$f"; done; }
[ -z "$(todo)" ] && { echo "$OUT"; exit 0; }

exec 9>"$CACHE/.lock"; flock 9          # one builder at a time; others wait, then find the files
missing=$(todo | xargs); [ -z "$missing" ] && { echo "$OUT"; exit 0; }
say() { echo "[install-control-plane $(date +%T)] $*" >&2; }
say "building $missing for Kubernetes v$K8S_VERSION into $OUT (once)"
export GOWORK=off GOFLAGS="-modcacherw -buildvcs=false" CGO_ENABLED=0
src="$CACHE/src/k8s-v$K8S_VERSION"; mkdir -p "$src" "$OUT"
gomod=$(cd "$src" && go mod download -json "k8s.io/kubernetes@v$K8S_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
[ -s "$gomod" ] || { say "cannot download k8s.io/kubernetes@v$K8S_VERSION from the module proxy"; exit 1; }
etcd_ver=$(awk '$1=="go.etcd.io/etcd/server/v3"{print $2; exit}' "$gomod")
if ! grep -q "k8s.io/kubernetes v$K8S_VERSION" "$src/go.mod" 2>/dev/null; then
  {
    echo "module local/k8s-control-plane-build"
    awk '$1=="go"{print; exit}' "$gomod"
    awk '/^godebug \(/{b=1} b{print; if ($0 ~ /^\)/) b=0; next} /^godebug /{print}' "$gomod"
    echo "require k8s.io/kubernetes v$K8S_VERSION"
    echo "replace ("
    awk -v v="v0.${K8S_VERSION#1.}" '/^require \(/{r=1;next} r&&/^\)/{r=0} r&&$1~/^k8s\.io\//&&$2=="v0.0.0"{print "\t" $1 " => " $1 " " v}' "$gomod"
    echo ")"
  } > "$src/go.mod"
  rm -f "$src/go.sum"
fi
pkgs=()
for f in $missing; do
  case $f in etcd) pkgs+=("go.etcd.io/etcd/server/v3@$etcd_ver") ;; *) pkgs+=("k8s.io/kubernetes/cmd/$f@v$K8S_VERSION") ;; esac
done
(cd "$src" && go get -tool "${pkgs[@]}" 2>&1 | grep -v '^go: \(downloading\|added\|upgraded\|finding\)' >&2 || true)
ld="-s -w"; minor="${K8S_VERSION#*.}"; minor="${minor%%.*}"
for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ld+=" -X $p.gitVersion=v$K8S_VERSION -X $p.gitMajor=${K8S_VERSION%%.*} -X $p.gitMinor=$minor -X $p.gitTreeState=clean"
done
tmp=$(mktemp -d "$OUT/.build.XXXXXX"); trap 'rm -rf "$tmp"' EXIT
for f in $missing; do
  t0=$(date +%s)
  if [ "$f" = etcd ]; then (cd "$src" && go build -trimpath -ldflags "-s -w" -o "$tmp/etcd" go.etcd.io/etcd/server/v3)
  else (cd "$src" && go build -trimpath -ldflags "$ld" -o "$tmp/$f" "k8s.io/kubernetes/cmd/$f"); fi
  mv -f "$tmp/$f" "$OUT/$f"
  { grep -v "^$f=" "$OUT/VERSIONS" 2>/dev/null || true; want "$f"; } > "$OUT/VERSIONS.tmp" && mv -f "$OUT/VERSIONS.tmp" "$OUT/VERSIONS"
  say "$f built in $(( $(date +%s) - t0 ))s"
done
echo "$OUT"
