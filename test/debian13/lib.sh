# Shared by trixie.sh (the chroot, its one-node cluster) and two-nodes.sh (a two-node cluster in
# it): where the chroot is, entering it, and what any Ganeti 3.1 test cluster in it needs. Sourced.
# shellcheck shell=bash
LIB_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../ganeti/node-common.sh
. "$LIB_HERE/../ganeti/node-common.sh"
# GQB_TRIXIE_QEMU=backports: a chroot of its own, the same but for QEMU from trixie-backports (11.1).
QEMU_FROM=${GQB_TRIXIE_QEMU:-trixie}
case $QEMU_FROM in
trixie) SUFFIX= ;;
backports) SUFFIX=-bpo ;;
*) echo "GQB_TRIXIE_QEMU=$QEMU_FROM: trixie or backports" >&2; exit 2 ;;
esac
ROOT=${GQB_TRIXIE_ROOT:-/srv/gqb-trixie$SUFFIX}
STATE=${GQB_TRIXIE_STATE:-/run/gqb-trixie$SUFFIX}
# shellcheck disable=SC2034 # for the scripts that source this
NET=127.0.20
CPATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
# Small test instances: 1 CPU, 32 MiB, disks from 1 MiB.
IPOLICY_BOUNDS=min:cpu-count=1,disk-count=0,disk-size=1,memory-size=32,nic-count=0,spindle-use=0/max:cpu-count=8,disk-count=16,disk-size=1048576,memory-size=32768,nic-count=8,spindle-use=12
IPOLICY_STD=cpu-count=1,disk-count=1,disk-size=128,memory-size=128,nic-count=0,spindle-use=1
say() { echo "$(basename "$0"): $*" >&2; }

# The holder's pid, if it still is our holder (a process whose root is the chroot).
holder() {
  local p
  p=$(cat "$STATE/holder.pid" 2>/dev/null) || return 1
  [ -n "$p" ] && [ "$(readlink "/proc/$p/root" 2>/dev/null)" = "$ROOT" ] && echo "$p"
}

x() {
  local p
  p=$(holder) || { say "not up (trixie.sh up)"; return 1; }
  nsenter -t "$p" -m -u -- chroot "$ROOT" env -i PATH=$CPATH HOME=/root LANG=C.UTF-8 "$@"
}

# What every test cluster in the chroot uses: an OS definition (API 20) that does nothing, so that
# instances need no image, and `gnt-cluster init` on loopback addresses (init-loopback.py).
cluster_files() {
  local os=$ROOT/srv/ganeti/os/gqbnoop s
  mkdir -p "$os"
  echo 20 >"$os/ganeti_api_version"; : >"$os/parameters.list"; echo default >"$os/variants.list"
  for s in create import export rename verify; do printf '#!/bin/sh\nexit 0\n' >"$os/$s"; chmod 755 "$os/$s"; done
  install -m 755 "$LIB_HERE/../ganeti/init-loopback.py" "$ROOT/usr/local/sbin/gqb-init-loopback"
}

# init_cluster RUN... -- CLUSTER_IP NAME GNT-CLUSTER-INIT-OPTIONS...: the cluster initialised by RUN
# (a node's entry), its master waited for, then the small ipolicy.
init_cluster() {
  local run=() ip name
  while [ "$1" != -- ]; do run+=("$1"); shift; done
  shift
  ip=$1 name=$2
  shift 2
  "${run[@]}" /usr/lib/ganeti/ensure-dirs
  "${run[@]}" /usr/bin/python3 /usr/local/sbin/gqb-init-loopback "$ip" init --no-etc-hosts --no-ssh-init \
    --master-netdev=lo --enabled-hypervisors=kvm -N link=lo \
    -H kvm:kvm_flag=disabled,kernel_path=,initrd_path=,vnc_bind_address=,serial_console=false "$@" "$name"
  wait_master "${run[@]}"
}

# set_ipolicy RUN... -- TEMPLATES: the small test ipolicy.
set_ipolicy() {
  local run=()
  while [ "$1" != -- ]; do run+=("$1"); shift; done
  "${run[@]}" gnt-cluster modify --ipolicy-disk-templates "$2" \
    --ipolicy-bounds-specs "$IPOLICY_BOUNDS" --ipolicy-std-specs "$IPOLICY_STD"
}
