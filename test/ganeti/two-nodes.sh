#!/usr/bin/env bash
# A two-node Ganeti 3.0.2 test cluster (Debian's package) on this one machine, for live migration
# (`npm run test:ganeti`, bench figure 11). As root; no systemd and no /dev/kvm needed.
#
#   two-nodes.sh up         each node in a mount + UTS namespace of its own, the cluster initialised
#                           in node 1, an sshd per node, node 2 added; sharedfile storage both see
#   two-nodes.sh down       QEMUs, daemons, sshd's and namespaces stopped by their pid files; the
#                           cluster address and every file of `up` removed. Safe to run again.
#   two-nodes.sh x N CMD... CMD inside node N (e.g. `x 1 gnt-instance list`)
#
# A node is a namespace holder process (`sleep infinity`) whose mount namespace gives it private
# /var/lib/ganeti, /run/ganeti, /var/log/ganeti, /etc/ganeti, /etc/default/ganeti, /etc/hosts,
# /run/lock and /root/.ssh (directories under $STATE/nN), and whose UTS namespace gives it its
# hostname. Both share the host's network (daemons bound to 127.0.10.1 and .2, the cluster address
# 127.0.10.100 on lo), /usr, /srv, /dev and the rest of /etc. The host's own hostname, /etc/hosts
# and Ganeti directories are never written. Node N's /run/ganeti is $STATE/nN/run on the host.
# With GQB_NODE2_QEMU=backports, node 2's namespace also binds QEMU 10.0 from bookworm-backports
# over this machine's QEMU paths (test/debian12/qemu-backports.sh).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
. "$HERE/lib.sh"
STATE=${GQB_TWO_NODES_STATE:-/tmp/gqb-two-nodes}
SHARED=/srv/gqb-two-nodes # the sharedfile template's directory, seen by both nodes
export PATH=/usr/sbin:/usr/bin:/sbin:/bin

node_name() { echo "gnt-node$1.ganeti.test"; }
node_ip() { echo "127.0.10.$1"; }
holder() { cat "$STATE/n$1.pid"; }
x() {
  local n=$1
  shift
  nsenter -t "$(holder "$n")" -m -u -- env -i PATH="$PATH" HOME=/root LANG=C.UTF-8 "$@"
}

namespace() {
  local n=$1 d=$STATE/n$1 ip
  ip=$(node_ip "$n")
  mkdir -p "$d"/{lib,run,log,etc,lock}
  # The package's /etc/ganeti (version links share/ and lib/, ifup scripts); no hooks, our storage.
  cp -a /etc/ganeti/. "$d/etc/"
  # Debian's ganeti makes no hooks directory: a fresh machine has none until the plugin links one.
  mkdir -p "$d/etc/hooks"
  find "$d/etc/hooks" -mindepth 2 -delete
  echo "$SHARED" >"$d/etc/file-storage-paths"
  for sub in lib run log; do
    chown --reference="/var/$sub/ganeti" "$d/$sub" 2>/dev/null || true
    chmod --reference="/var/$sub/ganeti" "$d/$sub" 2>/dev/null || true
  done
  chmod 1777 "$d/lock"
  cat >"$d/default-ganeti" <<EOF
NODED_ARGS="-b $ip"
RAPI_ARGS="-b $ip --require-authentication"
CONFD_ARGS="-b $ip"
MOND_ARGS="-b $ip"
WCONFD_ARGS=""
LUXID_ARGS=""
KVMD_ARGS=""
EOF
  # GQB_NODE2_QEMU=backports: node 2 runs QEMU from bookworm-backports (10.0), node 1 this
  # machine's (7.2): a cluster halfway through a rolling upgrade of QEMU.
  local qemu_binds=""
  if [ "$n" = 2 ] && [ "${GQB_NODE2_QEMU:-}" = backports ]; then
    bash "$HERE/../debian12/qemu-backports.sh" fetch
    qemu_binds=$(bash "$HERE/../debian12/qemu-backports.sh" binds | sed 's/^/mount --bind /')
  fi
  cat >"$d/init.sh" <<EOF
set -e
mount --make-rprivate /
$qemu_binds
mount --bind $d/lib /var/lib/ganeti
mount --bind $d/run /run/ganeti
mount --bind $d/log /var/log/ganeti
mount --bind $d/etc /etc/ganeti
mount --bind $d/lock /run/lock
mount --bind $d/default-ganeti /etc/default/ganeti
mount --bind $STATE/hosts /etc/hosts
mount --bind $STATE/ssh /root/.ssh
hostname $(node_name "$n")
echo \$\$ >$STATE/n$n.pid
exec sleep infinity
EOF
  unshare --mount --uts -- bash "$d/init.sh" </dev/null >"$d/holder.log" 2>&1 &
  for _ in $(seq 1 50); do [ -s "$STATE/n$n.pid" ] && break; sleep 0.1; done
  [ -s "$STATE/n$n.pid" ] || { say "node $n: the namespace holder did not start ($(cat "$d/holder.log"))"; return 1; }
  x "$n" /usr/lib/ganeti/ensure-dirs
}

sshd_up() {
  local n=$1
  sshd_config "$(node_ip "$n")" "$STATE" "$n" >"$STATE/sshd$n.conf"
  x "$n" /usr/sbin/sshd -f "$STATE/sshd$n.conf" -E "$STATE/sshd$n.log"
}

up() {
  install_packages
  if [ -e "$STATE" ]; then
    say "$STATE exists: a cluster is up, or a run was killed (two-nodes.sh down cleans up)"
    return 1
  fi
  mkdir -p "$STATE/ssh" "$SHARED"
  chmod 700 "$STATE/ssh"
  # Mount points and sshd's privilege-separation directory, if this machine has none (undone by down).
  [ -d /root/.ssh ] || { mkdir -m 700 /root/.ssh && touch "$STATE/created-root-ssh"; }
  [ -d /run/sshd ] || { mkdir -m 755 /run/sshd && touch "$STATE/created-run-sshd"; }
  { grep -v 'ganeti\.test' /etc/hosts
    for n in 1 2; do echo "$(node_ip $n) $(node_name $n) gnt-node$n"; done
    echo "$CLUSTER_IP $CLUSTER gnt-cluster"; } >"$STATE/hosts"
  ssh-keygen -q -t rsa -b 2048 -N '' -f "$STATE/ssh/id_rsa"
  cp "$STATE/ssh/id_rsa.pub" "$STATE/ssh/authorized_keys"
  noop_os
  namespace 1
  namespace 2
  sshd_up 1
  sshd_up 2
  init_cluster x 1 -- --enabled-disk-templates=sharedfile,diskless --shared-file-storage-dir="$SHARED" \
    --file-storage-dir="$SHARED"
  x 1 gnt-node add --master-capable=no "$(node_name 2)"
}

down() {
  [ -d "$STATE" ] || return 0
  local n
  for n in 1 2; do
    [ -s "$STATE/n$n.pid" ] || continue
    # QEMUs first (Ganeti's pid files), then the daemons (their own pid files, after stop-all).
    kill_pidfiles "$STATE/n$n/run/kvm-hypervisor/pid/"*
    timeout 60 nsenter -t "$(holder "$n")" -m -u -- env -i PATH="$PATH" "$DU" stop-all >/dev/null 2>&1 || true
    kill_pidfiles "$STATE/n$n/run/"*.pid "$STATE/sshd$n.pid"
  done
  for n in 1 2; do kill_pidfiles "$STATE/n$n.pid"; done
  ip addr del "$CLUSTER_IP/32" dev lo 2>/dev/null || true
  [ -f "$STATE/created-run-sshd" ] && rmdir /run/sshd 2>/dev/null
  [ -f "$STATE/created-root-ssh" ] && rmdir /root/.ssh 2>/dev/null
  rm -rf "$SHARED" "$OS_DIR" "$STATE"
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case "$cmd" in
up | down) "$cmd" ;;
x) x "$@" ;;
*)
  echo "usage: $0 up|down|x N CMD..." >&2
  exit 2
  ;;
esac
