#!/usr/bin/env bash
# A one-node Ganeti 3.0.2 test cluster (Debian's package) on loopback addresses, for
# `npm run test:ganeti`. As root; no systemd and no /dev/kvm needed.
#
#   cluster.sh up     install Ganeti if missing, name the node, init the cluster, start its daemons
#   cluster.sh down   remove test instances, stop the daemons (by their pid files), destroy the
#                     cluster, restore the hostname and /etc/hosts
#
# Every address is in 127.0.0.0/8. What `up` changes on the machine is saved in $STATE and put back
# by `down`, which is safe to run again, and after a failed `up`.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
NODE=gnt-node1.ganeti.test NODE_IP=127.0.10.1
CLUSTER=gnt-cluster.ganeti.test CLUSTER_IP=127.0.10.100
STATE=${GQB_GANETI_STATE:-/tmp/gqb-ganeti}
TAG="# gqb-ganeti-test"
DU=/usr/lib/ganeti/daemon-util
STORAGE=/srv/gqb-ganeti
# Ganeti looks for OS definitions in /srv/ganeti/os (among others), not in a directory of ours.
OS_DIR=/srv/ganeti/os/gqbnoop

say() { echo "cluster.sh: $*" >&2; }

install() {
  command -v gnt-cluster >/dev/null && command -v socat >/dev/null && return 0
  apt-get -o DPkg::Lock::Timeout=900 update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=900 install -y -q --no-install-recommends \
    ganeti socat qemu-system-x86 qemu-utils >/dev/null
}

names() {
  # Ganeti's daemons take the node's name from gethostname(); both names must resolve to 127.x.
  mkdir -p "$STATE"
  [ -f "$STATE/hostname.orig" ] || hostname >"$STATE/hostname.orig"
  if ! grep -q "$TAG\$" /etc/hosts; then
    printf '%s %s gnt-node1 %s\n%s %s gnt-cluster %s\n' "$NODE_IP" "$NODE" "$TAG" "$CLUSTER_IP" "$CLUSTER" "$TAG" >>/etc/hosts
  fi
  hostname "$NODE"
}

wait_master() {
  for _ in $(seq 1 60); do gnt-cluster getmaster >/dev/null 2>&1 && return 0; sleep 1; done
  say "the master daemon did not answer within 60 s"
  return 1
}

up() {
  install
  names
  if [ -f /var/lib/ganeti/config.data ] && [ ! -f "$STATE/ours" ]; then
    say "this machine has a Ganeti cluster of its own (/var/lib/ganeti/config.data): not touching it"
    return 1
  fi
  mkdir -p "$STORAGE/file-storage" "$OS_DIR"
  touch "$STATE/ours"
  grep -qx "$STORAGE/file-storage" /etc/ganeti/file-storage-paths 2>/dev/null || echo "$STORAGE/file-storage" >>/etc/ganeti/file-storage-paths
  if [ ! -f /var/lib/ganeti/config.data ]; then
    /usr/bin/python3 "$HERE/init-loopback.py" "$CLUSTER_IP" init --no-etc-hosts --no-ssh-init \
      --master-netdev=lo --enabled-hypervisors=kvm --enabled-disk-templates=file,diskless \
      --file-storage-dir="$STORAGE/file-storage" -N link=lo \
      -H kvm:kvm_flag=disabled,kernel_path=,initrd_path=,vnc_bind_address=,serial_console=false \
      "$CLUSTER"
    wait_master
    gnt-cluster modify \
      --ipolicy-bounds-specs min:cpu-count=1,disk-count=0,disk-size=1,memory-size=32,nic-count=0,spindle-use=0/max:cpu-count=8,disk-count=16,disk-size=1048576,memory-size=32768,nic-count=8,spindle-use=12 \
      --ipolicy-std-specs cpu-count=1,disk-count=1,disk-size=128,memory-size=128,nic-count=0,spindle-use=1
  else
    "$DU" start-all
    wait_master
  fi
  # An OS definition (API 20) that does nothing, so that instances need no image.
  echo 20 >"$OS_DIR/ganeti_api_version"
  : >"$OS_DIR/parameters.list"
  echo default >"$OS_DIR/variants.list"
  for s in create import export rename verify; do
    printf '#!/bin/sh\nexit 0\n' >"$OS_DIR/$s"
    chmod 755 "$OS_DIR/$s"
  done
}

stop_daemons() {
  "$DU" stop-all >/dev/null 2>&1 || true
  # Whatever did not stop: killed by the pid it wrote, never by name.
  for f in /var/run/ganeti/*.pid; do
    [ -f "$f" ] || continue
    pid=$(cat "$f" 2>/dev/null || true)
    [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null || true
    rm -f "$f"
  done
}

down() {
  if [ -f "$STATE/ours" ] && gnt-cluster getmaster >/dev/null 2>&1; then
    for i in $(gnt-instance list --no-headers -o name 2>/dev/null); do
      gnt-instance remove --force --shutdown-timeout=0 "$i" >/dev/null 2>&1 || true
    done
    gnt-cluster destroy --yes-do-it >/dev/null 2>&1 || true
  fi
  # QEMUs that a failed step left: by the pid files Ganeti keeps for them.
  for f in /var/run/ganeti/kvm-hypervisor/pid/*; do
    [ -f "$f" ] || continue
    kill -9 "$(cat "$f")" 2>/dev/null || true
    rm -f "$f"
  done
  [ -f "$STATE/ours" ] && stop_daemons
  sed -i "/$TAG\$/d" /etc/hosts
  if [ -f "$STATE/hostname.orig" ]; then
    hostname "$(cat "$STATE/hostname.orig")"
    rm -f "$STATE/hostname.orig"
  fi
  if [ -f "$STATE/ours" ]; then
    sed -i "\\|^$STORAGE/file-storage\$|d" /etc/ganeti/file-storage-paths 2>/dev/null || true
    rm -rf "$STORAGE" "$OS_DIR" "$STATE"
  fi
}

cmd=${1:-}
case "$cmd" in
up | down) "$cmd" ;;
*)
  echo "usage: $0 up|down" >&2
  exit 2
  ;;
esac
