# Shared by cluster.sh (one node) and two-nodes.sh (two nodes in namespaces): what both need to
# bring a loopback-only Ganeti 3.0.2 test cluster up. Sourced, not run.
# shellcheck shell=bash
LIB_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=node-common.sh
. "$LIB_HERE/node-common.sh"
CLUSTER=gnt-cluster.ganeti.test CLUSTER_IP=127.0.10.100
# shellcheck disable=SC2034 # for the scripts that source this
DU=/usr/lib/ganeti/daemon-util
# Ganeti looks for OS definitions in /srv/ganeti/os (among others), not in a directory of ours.
OS_DIR=/srv/ganeti/os/gqbnoop
# Small test instances: 1 CPU, 32 MiB, disks from 1 MiB.
IPOLICY_BOUNDS=min:cpu-count=1,disk-count=0,disk-size=1,memory-size=32,nic-count=0,spindle-use=0/max:cpu-count=8,disk-count=16,disk-size=1048576,memory-size=32768,nic-count=8,spindle-use=12
IPOLICY_STD=cpu-count=1,disk-count=1,disk-size=128,memory-size=128,nic-count=0,spindle-use=1

say() { echo "$(basename "$0"): $*" >&2; }

install_packages() {
  command -v gnt-cluster >/dev/null && command -v socat >/dev/null && command -v sshd >/dev/null && return 0
  apt-get -o DPkg::Lock::Timeout=900 update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=900 install -y -q --no-install-recommends \
    ganeti socat qemu-system-x86 qemu-utils openssh-server >/dev/null
}

# init_cluster [RUN...] -- GNT-CLUSTER-INIT-OPTIONS...: `gnt-cluster init` on loopback
# addresses (test/ganeti/init-loopback.py lets Ganeti accept them), then the small ipolicy.
init_cluster() {
  local run=()
  while [ "$1" != -- ]; do run+=("$1"); shift; done
  shift
  "${run[@]}" /usr/bin/python3 "$LIB_HERE/init-loopback.py" "$CLUSTER_IP" init --no-etc-hosts --no-ssh-init \
    --master-netdev=lo --enabled-hypervisors=kvm -N link=lo \
    -H kvm:kvm_flag=disabled,kernel_path=,initrd_path=,vnc_bind_address=,serial_console=false \
    "$@" "$CLUSTER"
  wait_master "${run[@]}"
  "${run[@]}" gnt-cluster modify --ipolicy-bounds-specs "$IPOLICY_BOUNDS" --ipolicy-std-specs "$IPOLICY_STD"
}

# An OS definition (API 20) that does nothing, so that instances need no image.
noop_os() {
  mkdir -p "$OS_DIR"
  echo 20 >"$OS_DIR/ganeti_api_version"
  : >"$OS_DIR/parameters.list"
  echo default >"$OS_DIR/variants.list"
  for s in create import export rename verify; do
    printf '#!/bin/sh\nexit 0\n' >"$OS_DIR/$s"
    chmod 755 "$OS_DIR/$s"
  done
}
