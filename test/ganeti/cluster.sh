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
# shellcheck source=lib.sh
. "$HERE/lib.sh"
NODE=gnt-node1.ganeti.test NODE_IP=127.0.10.1
STATE=${GQB_GANETI_STATE:-/tmp/gqb-ganeti}
TAG="# gqb-ganeti-test"
STORAGE=/srv/gqb-ganeti

names() {
  # Ganeti's daemons take the node's name from gethostname(); both names must resolve to 127.x.
  mkdir -p "$STATE"
  [ -f "$STATE/hostname.orig" ] || hostname >"$STATE/hostname.orig"
  if ! grep -q "$TAG\$" /etc/hosts; then
    printf '%s %s gnt-node1 %s\n%s %s gnt-cluster %s\n' "$NODE_IP" "$NODE" "$TAG" "$CLUSTER_IP" "$CLUSTER" "$TAG" >>/etc/hosts
  fi
  hostname "$NODE"
}

up() {
  install_packages
  names
  if [ -f /var/lib/ganeti/config.data ] && [ ! -f "$STATE/ours" ]; then
    say "this machine has a Ganeti cluster of its own (/var/lib/ganeti/config.data): not touching it"
    return 1
  fi
  mkdir -p "$STORAGE/file-storage" "$OS_DIR"
  touch "$STATE/ours"
  grep -qx "$STORAGE/file-storage" /etc/ganeti/file-storage-paths 2>/dev/null || echo "$STORAGE/file-storage" >>/etc/ganeti/file-storage-paths
  if [ ! -f /var/lib/ganeti/config.data ]; then
    init_cluster -- --enabled-disk-templates=file,diskless --file-storage-dir="$STORAGE/file-storage"
  else
    "$DU" start-all
    wait_master
  fi
  noop_os
}

stop_daemons() {
  "$DU" stop-all >/dev/null 2>&1 || true
  kill_pidfiles /var/run/ganeti/*.pid # whatever did not stop
}

down() {
  if [ -f "$STATE/ours" ] && gnt-cluster getmaster >/dev/null 2>&1; then
    for i in $(gnt-instance list --no-headers -o name 2>/dev/null); do
      gnt-instance remove --force --shutdown-timeout=0 "$i" >/dev/null 2>&1 || true
      rm -f "/var/run/ganeti/instance-disks/$i:"* # Ganeti leaves the links of removed disks
    done
    gnt-cluster destroy --yes-do-it >/dev/null 2>&1 || true
  fi
  # QEMUs that a failed step left: by the pid files Ganeti keeps for them.
  kill_pidfiles /var/run/ganeti/kvm-hypervisor/pid/*
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
