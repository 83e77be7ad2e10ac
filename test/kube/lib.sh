# Shared settings for test/kube/{build,up,down,inventory}. Sourced, not run.
# shellcheck shell=bash

K8S_VERSION=${K8S_VERSION:-v1.37.2}
K8S_STAGING=${K8S_STAGING:-v0.37.2}
# Built binaries outlive a cluster: the second `up` starts in seconds.
CACHE=${DRAIN_KUBE_CACHE:-/var/cache/drain-kube}
BIN=$CACHE/$K8S_VERSION/bin
# Everything one cluster creates on disk (configs, PIDs, logs, etcd, containerd root).
STATE=${DRAIN_KUBE_STATE:-/var/lib/drain-kube}
SOCK=/run/drain-kube-containerd/containerd.sock
POD_CIDR=10.244.0.0/24
POD_GW=10.244.0.1
SVC_CIDR=10.96.0.0/16
BRIDGE=cni0
GUARD=drainkubeguard
# Host-local IPAM keeps its leases under /var/lib/cni/networks/<network name>.
CNI_NET=drain-kube
NODE=$(hostname)
UPLINK=${DRAIN_KUBE_UPLINK:-$(ip -4 route show default | awk '{for (i = 1; i < NF; i++) if ($i == "dev") {print $(i + 1); exit}}')}
UPLINK=${UPLINK:-eth0}
# Prepended: the harness's kubectl (the cluster's version) wins over one
# installed elsewhere (say /usr/bin/kubectl v1.32, which warns of version skew).
export PATH=$BIN:/usr/local/go/bin:$PATH

# Held by every measurement run, as by other people's benchmarks on this machine.
LOAD_LOCK=${DRAIN_LOAD_LOCK:-/tmp/drain-load.lock}

log() { echo "[$(date +%T)] $*" >&2; }
