#!/usr/bin/env bash
# Installs the Debian packages the real-cluster E2E needs (root): containerd, runc, CNI plugins, iptables.
# Idempotent: does nothing when they are all there.
set -euo pipefail
need=()
command -v containerd >/dev/null || need+=(containerd)
command -v runc >/dev/null || need+=(runc)
[ -x /usr/lib/cni/bridge ] || need+=(containernetworking-plugins)
command -v iptables >/dev/null || need+=(iptables)
command -v openssl >/dev/null || need+=(openssl)
[ ${#need[@]} -eq 0 ] && exit 0
[ "$(id -u)" = 0 ] || { echo "install-host-packages: need root to install ${need[*]}" >&2; exit 1; }
echo "install-host-packages: apt-get install ${need[*]}" >&2
apt-get update -qq >&2
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >&2
