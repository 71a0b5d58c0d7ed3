#!/usr/bin/env bash
# A real single-node Kubernetes cluster for the end-to-end test, as plain background processes (root only):
# etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubelet, kube-proxy (iptables mode), Debian's
# containerd + runc + bridge CNI, and CoreDNS. No registry: images are OCI tarballs imported into containerd.
#
#   scripts/k8s/cluster.sh start      fresh cluster; waits for node Ready and DNS; prints the admin kubeconfig
#   scripts/k8s/cluster.sh import T.tar...
#   scripts/k8s/cluster.sh stop       kills what start started and removes containers, pod netns, the bridge,
#                                     KUBE-*/CNI-* iptables chains, mounts, pod cgroups; safe to run twice, and
#                                     after a killed run
#   scripts/k8s/cluster.sh status
#   scripts/k8s/cluster.sh restart-kubelet   (fault injection: running pods must survive it)
#   scripts/k8s/cluster.sh check-clean       exits 1 naming anything a stopped cluster left behind
#
# Env: K8S_BIN (binaries: scripts/k8s/install-control-plane.sh --node), SYSTEM_IMAGES (dir holding pause.tar
# and coredns.tar: made by `go run ./cmd/sgxops-images --system`), SGXOPS_CLUSTER_DIR (state, default
# /tmp/sgxops-cluster, wiped by start), START_TIMEOUT (seconds per wait, default 120).
# Pitfalls handled (learned on these machines): cgroup v1 needs failCgroupV1=false and the cgroupfs driver
# (containerd 1.6 lacks the CRI RuntimeConfig call); without CAP_SYS_RESOURCE runc cannot lower
# oom_score_adj, so containerd must clamp it (restrict_oom_score_adj); bare image names mean docker.io, so
# every image has a registry part; a new ClusterIP needs 1-3 s after its endpoints are ready.
set -euo pipefail
S="${SGXOPS_CLUSTER_DIR:-/tmp/sgxops-cluster}"
POD_CIDR=10.244.0.0/24 SVC_CIDR=10.96.0.0/16 DNS_IP=10.96.0.10 API_IP=10.96.0.1 BRIDGE=cni0
T="${START_TIMEOUT:-120}"
SOCK="$S/containerd/containerd.sock"
ORDER=(etcd kube-apiserver kube-controller-manager kube-scheduler containerd kubelet kube-proxy)
say() { echo "[cluster $(date +%T)] $*" >&2; }
die() { say "ERROR: $*"; exit 1; }
upto() { local what="$1" end=$(( $(date +%s) + T )); shift
  until "$@" >/dev/null 2>&1; do [ "$(date +%s)" -lt "$end" ] || die "timed out after ${T}s: $what (logs: $S/logs)"; sleep 0.5; done; }
alive() { local p; p=$(cat "$S/pids/$1" 2>/dev/null) && [ -d "/proc/$p" ] && grep -q -- "$1" "/proc/$p/cmdline" 2>/dev/null && echo "$p"; }
run() { local n="$1"; shift; setsid "$@" </dev/null >"$S/logs/$n.log" 2>&1 & echo $! > "$S/pids/$n"
  sleep 0.2; alive "$n" >/dev/null || { tail -5 "$S/logs/$n.log" >&2; die "$n exited at once"; }; }

cert() { # cert NAME CN ORG EKU [SAN]
  local d="$S/pki" subj="/CN=$2"; [ -n "$3" ] && subj="/O=$3/CN=$2"
  printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=%s\n%s' \
    "$4" "${5:+subjectAltName=$5}" > "$d/$1.ext"
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$d/$1.key" -subj "$subj" -out "$d/$1.csr" 2>/dev/null
  openssl x509 -req -in "$d/$1.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -CAcreateserial -days 30 -extfile "$d/$1.ext" -out "$d/$1.crt" 2>/dev/null
}
kubeconfig() { cat > "$S/$1.kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters: [{name: e2e, cluster: {certificate-authority: $S/pki/ca.crt, server: "https://127.0.0.1:6443"}}]
users: [{name: $1, user: {client-certificate: $S/pki/$1.crt, client-key: $S/pki/$1.key}}]
contexts: [{name: e2e, context: {cluster: e2e, user: $1}}]
current-context: e2e
EOF
}

cleanup() {
  if [ -S "$SOCK" ] && alive containerd >/dev/null; then
    local c=(ctr --address "$SOCK" -n k8s.io) id
    for id in $("${c[@]}" tasks ls -q 2>/dev/null); do "${c[@]}" tasks kill -a -s SIGKILL "$id" >/dev/null 2>&1 || true; done
    sleep 1
    for id in $("${c[@]}" tasks ls -q 2>/dev/null); do "${c[@]}" tasks delete -f "$id" >/dev/null 2>&1 || true; done
    for id in $("${c[@]}" containers ls -q 2>/dev/null); do "${c[@]}" containers delete "$id" >/dev/null 2>&1 || true; done
  fi
  local i p
  for i in $(seq $((${#ORDER[@]} - 1)) -1 0); do p=$(alive "${ORDER[$i]}") && kill -TERM "$p" 2>/dev/null || true; done
  for _ in $(seq 50); do local any=0; for n in "${ORDER[@]}"; do alive "$n" >/dev/null && any=1; done; [ $any = 0 ] && break; sleep 0.2; done
  for n in "${ORDER[@]}"; do p=$(alive "$n") && kill -KILL "$p" 2>/dev/null || true; rm -f "$S/pids/$n"; done
  # containerd-shim processes of this state dir outlive containerd when it is killed
  pkill -KILL -f "containerd-shim.*-address $SOCK" 2>/dev/null || true
  for ns in $(ip netns list 2>/dev/null | awk '/^cni-/{print $1}'); do ip netns delete "$ns" 2>/dev/null || true; done
  ip link delete "$BRIDGE" 2>/dev/null || true
  local ipt t ch
  for ipt in iptables ip6tables; do command -v $ipt >/dev/null || continue
    for t in nat filter mangle; do
      $ipt -t $t -S 2>/dev/null | awk '/^-A [A-Z]+ .*-j (KUBE|CNI)-/{sub(/^-A/,"-D"); print}' | while read -r r; do eval "$ipt -t $t $r" 2>/dev/null || true; done
      for ch in $($ipt -t $t -S 2>/dev/null | awk '/^-N (KUBE|CNI)-/{print $2}'); do $ipt -t $t -F "$ch" 2>/dev/null || true; done
      for ch in $($ipt -t $t -S 2>/dev/null | awk '/^-N (KUBE|CNI)-/{print $2}'); do $ipt -t $t -X "$ch" 2>/dev/null || true; done
    done
  done
  for m in $(awk -v s="$S/" 'index($2, s) == 1 {print $2}' /proc/mounts | sort -r); do umount -l "$m" 2>/dev/null || true; done
  for c in /sys/fs/cgroup/*/kubepods /sys/fs/cgroup/kubepods; do [ -d "$c" ] && find "$c" -depth -type d -exec rmdir {} \; 2>/dev/null || true; done
  if [ -s "$S/sysctl.orig" ]; then while read -r k v; do echo "$v" > "/proc/sys/$k" 2>/dev/null || true; done < "$S/sysctl.orig"; rm -f "$S/sysctl.orig"; fi
}

start() {
  [ "$(id -u)" = 0 ] || die "the cluster needs root"
  B="${K8S_BIN:?set K8S_BIN to the output of scripts/k8s/install-control-plane.sh --node}"
  IMG="${SYSTEM_IMAGES:?set SYSTEM_IMAGES to the dir with pause.tar and coredns.tar}"
  for f in etcd kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl; do [ -x "$B/$f" ] || die "missing $B/$f"; done
  for f in pause.tar coredns.tar; do [ -s "$IMG/$f" ] || die "missing $IMG/$f"; done
  for f in containerd runc ctr iptables openssl /usr/lib/cni/bridge; do command -v "$f" >/dev/null || die "missing $f (scripts/k8s/install-host-packages.sh)"; done
  if [ -d "$S" ]; then [ -f "$S/.sgxops-cluster" ] || [ -z "$(ls -A "$S")" ] || die "$S was not made by this script; not wiping it"; cleanup; rm -rf "$S"; fi
  mkdir -p "$S"/{logs,pids,pki,etcd,kubelet,cni/net.d,cni/ipam,containerd}; touch "$S/.sgxops-cluster"
  trap 'rc=$?; [ $rc = 0 ] || { say "start failed; cleaning up (logs kept in $S/logs)"; cleanup; }' EXIT
  local t0 node ip; t0=$(date +%s); node=$(hostname -s | tr '[:upper:]' '[:lower:]')
  ip=$(ip -4 route get 1.1.1.1 2>/dev/null | awk '{for(i=1;i<=NF;i++) if($i=="src") print $(i+1)}' | head -1)
  [ -n "$ip" ] || ip=$(hostname -I | awk '{print $1}')
  echo "$node" > "$S/node-name"
  : > "$S/sysctl.orig"
  modprobe br_netfilter 2>/dev/null || true
  for k in net/ipv4/ip_forward net/bridge/bridge-nf-call-iptables; do
    [ -w "/proc/sys/$k" ] && { echo "$k $(cat /proc/sys/$k)" >> "$S/sysctl.orig"; echo 1 > "/proc/sys/$k"; }
  done
  openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$S/pki/ca.key" -subj /CN=sgxops-e2e-ca -days 30 -out "$S/pki/ca.crt" 2>/dev/null
  openssl genrsa -out "$S/pki/sa.key" 2048 2>/dev/null; openssl rsa -in "$S/pki/sa.key" -pubout -out "$S/pki/sa.pub" 2>/dev/null
  cert apiserver kube-apiserver "" serverAuth "IP:127.0.0.1,IP:$ip,IP:$API_IP,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
  cert kubelet-serving "system:node:$node" system:nodes serverAuth "IP:127.0.0.1,IP:$ip,DNS:$node"
  cert admin kubernetes-admin system:masters clientAuth
  cert apiserver-kubelet kube-apiserver-kubelet-client system:masters clientAuth
  cert kubelet "system:node:$node" system:nodes clientAuth
  cert kube-proxy system:kube-proxy "" clientAuth
  cert kube-controller-manager system:kube-controller-manager "" clientAuth
  cert kube-scheduler system:kube-scheduler "" clientAuth
  for c in admin kubelet kube-proxy kube-controller-manager kube-scheduler; do kubeconfig $c; done

  run etcd "$B/etcd" --name "$node" --data-dir "$S/etcd" --listen-client-urls http://127.0.0.1:2379 \
    --advertise-client-urls http://127.0.0.1:2379 --listen-peer-urls http://127.0.0.1:2380 \
    --initial-advertise-peer-urls http://127.0.0.1:2380 --initial-cluster "$node=http://127.0.0.1:2380" --unsafe-no-fsync --log-level warn
  upto "etcd" curl -sf http://127.0.0.1:2379/health
  run kube-apiserver "$B/kube-apiserver" --etcd-servers http://127.0.0.1:2379 --bind-address 0.0.0.0 --secure-port 6443 \
    --advertise-address "$ip" --service-cluster-ip-range "$SVC_CIDR" --allow-privileged=true \
    --client-ca-file "$S/pki/ca.crt" --tls-cert-file "$S/pki/apiserver.crt" --tls-private-key-file "$S/pki/apiserver.key" \
    --kubelet-client-certificate "$S/pki/apiserver-kubelet.crt" --kubelet-client-key "$S/pki/apiserver-kubelet.key" \
    --service-account-issuer https://kubernetes.default.svc.cluster.local --service-account-key-file "$S/pki/sa.pub" \
    --service-account-signing-key-file "$S/pki/sa.key" --authorization-mode Node,RBAC --enable-admission-plugins NodeRestriction
  upto "kube-apiserver" curl -sf --cacert "$S/pki/ca.crt" --cert "$S/pki/admin.crt" --key "$S/pki/admin.key" https://127.0.0.1:6443/readyz
  run kube-controller-manager "$B/kube-controller-manager" --kubeconfig "$S/kube-controller-manager.kubeconfig" \
    --leader-elect=false --secure-port=0 --use-service-account-credentials=true --service-account-private-key-file "$S/pki/sa.key" \
    --root-ca-file "$S/pki/ca.crt" --cluster-signing-cert-file "$S/pki/ca.crt" --cluster-signing-key-file "$S/pki/ca.key" --controllers '*'
  run kube-scheduler "$B/kube-scheduler" --kubeconfig "$S/kube-scheduler.kubeconfig" --leader-elect=false --secure-port=0

  local oom=false cap; cap=$(awk '/^CapEff:/{print $2}' /proc/self/status)
  (( (16#$cap >> 24 & 1) == 0 )) && oom=true   # no CAP_SYS_RESOURCE
  cat > "$S/containerd/config.toml" <<EOF
version = 2
root = "$S/containerd/root"
state = "$S/containerd/state"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]
[grpc]
  address = "$SOCK"
[plugins."io.containerd.internal.v1.opt"]
  path = "$S/containerd/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "sgxops.local/pause:e2e"
  restrict_oom_score_adj = $oom
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$S/cni/net.d"
EOF
  cat > "$S/cni/net.d/10-bridge.conflist" <<EOF
{"cniVersion": "0.4.0", "name": "sgxops-e2e", "plugins": [{"type": "bridge", "bridge": "$BRIDGE", "isGateway": true,
 "ipMasq": true, "hairpinMode": true, "ipam": {"type": "host-local", "ranges": [[{"subnet": "$POD_CIDR"}]],
 "routes": [{"dst": "0.0.0.0/0"}], "dataDir": "$S/cni/ipam"}}]}
EOF
  run containerd containerd --config "$S/containerd/config.toml"
  upto "containerd" ctr --address "$SOCK" version
  import "$IMG/pause.tar" "$IMG/coredns.tar"

  cat > "$S/kubelet/config.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
containerRuntimeEndpoint: unix://$SOCK
imageServiceEndpoint: unix://$SOCK
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
readOnlyPort: 0
healthzPort: 0
tlsCertFile: $S/pki/kubelet-serving.crt
tlsPrivateKeyFile: $S/pki/kubelet-serving.key
authentication: {anonymous: {enabled: false}, webhook: {enabled: true}, x509: {clientCAFile: $S/pki/ca.crt}}
authorization: {mode: Webhook}
clusterDomain: cluster.local
clusterDNS: [$DNS_IP]
resolvConf: /etc/resolv.conf
evictionHard: {memory.available: 50Mi, nodefs.available: 1%, imagefs.available: 1%, nodefs.inodesFree: 1%}
imageGCHighThresholdPercent: 100
syncFrequency: 10s
EOF
  run kubelet "$B/kubelet" --config "$S/kubelet/config.yaml" --kubeconfig "$S/kubelet.kubeconfig" --root-dir "$S/kubelet" \
    --cert-dir "$S/kubelet/pki" --hostname-override "$node" --node-ip "$ip"
  cat > "$S/kube-proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {kubeconfig: $S/kube-proxy.kubeconfig}
mode: iptables
hostnameOverride: $node
clusterCIDR: $POD_CIDR
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
conntrack: {maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
iptables: {minSyncPeriod: 0s, syncPeriod: 30s}
EOF
  run kube-proxy "$B/kube-proxy" --config "$S/kube-proxy.yaml"
  local K=("$B/kubectl" --kubeconfig "$S/admin.kubeconfig")
  upto "node registration" "${K[@]}" get node "$node"
  "${K[@]}" wait --for=condition=Ready "node/$node" --timeout="${T}s" >/dev/null || die "node not Ready (logs: $S/logs/kubelet.log)"
  upto "default service account" "${K[@]}" -n default get serviceaccount default
  sed "s|@DNS_IP@|$DNS_IP|" "$(dirname "$0")/coredns.yaml" | "${K[@]}" apply -f - >/dev/null
  "${K[@]}" -n kube-system rollout status deploy/coredns --timeout="${T}s" >/dev/null || die "CoreDNS not ready"
  say "cluster up in $(( $(date +%s) - t0 ))s (node $node, $ip)"
  trap - EXIT
  echo "$S/admin.kubeconfig"
}

# restart_kubelet kills the kubelet and starts it again with the same command line (a node agent restart:
# running pods must survive it).
restart_kubelet() {
  local p; p=$(alive kubelet) || die "kubelet is not running"
  local -a cmd; mapfile -d '' cmd < "/proc/$p/cmdline"
  kill -TERM "$p"; for _ in $(seq 50); do [ -d "/proc/$p" ] || break; sleep 0.2; done
  [ -d "/proc/$p" ] && kill -KILL "$p"
  run kubelet "${cmd[@]}"
  say "kubelet restarted"
}

# check_clean exits 1 naming what a stopped cluster left behind (processes, mounts, bridge, netns, chains).
check_clean() {
  local left=()
  local p; p=$(pgrep -f -- "$S/" | tr '\n' ' ' || true)
  [ -n "$p" ] && left+=("processes of $S: $p")
  awk -v s="$S/" 'index($2, s) == 1 {f=1} END {exit !f}' /proc/mounts && left+=("mounts under $S")
  ip link show "$BRIDGE" >/dev/null 2>&1 && left+=("bridge $BRIDGE")
  ip netns list 2>/dev/null | grep -q '^cni-' && left+=("cni-* network namespaces")
  for t in nat filter mangle; do iptables -t $t -S 2>/dev/null | grep -qE '^-N (KUBE|CNI)-' && left+=("iptables $t KUBE-/CNI- chains"); done
  if [ ${#left[@]} -gt 0 ]; then say "left behind: ${left[*]}"; exit 1; fi
  say "clean: no process, mount, bridge, netns or iptables chain left"
}

import() { for f in "$@"; do [ -s "$f" ] || die "no such image tarball: $f"; ctr --address "$SOCK" -n k8s.io images import "$f" >/dev/null || die "import $f failed"; done; }

case "${1:-}" in
  start) start ;;
  stop) [ -d "$S" ] || exit 0; [ "$(id -u)" = 0 ] || die "needs root"; cleanup; say "stopped" ;;
  import) shift; import "$@" ;;
  restart-kubelet) restart_kubelet ;;
  check-clean) check_clean ;;
  status) for n in "${ORDER[@]}"; do printf '%-24s %s\n' "$n" "$(alive "$n" || echo -)"; done ;;
  *) sed -n '2,21p' "$0"; exit 2 ;;
esac
