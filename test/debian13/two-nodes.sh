#!/bin/bash
# A two-node Ganeti 3.1 test cluster in the trixie chroot (trixie.sh), for live migration under
# Debian 13. As root, with the chroot up (trixie.sh up):
#
#   two-nodes.sh up          each node in a mount + UTS namespace of its own inside the chroot's, an
#                            sshd per node, the cluster initialised on node 1, node 2 added;
#                            sharedfile storage both see
#   two-nodes.sh down        QEMUs, daemons, sshd's and namespaces stopped by their pid files; the
#                            cluster address and every file of `up` removed. Safe to run again.
#   two-nodes.sh x N CMD...  CMD inside node N
#
# A node is a namespace holder (`sleep infinity`, chrooted) whose mount namespace gives it private
# /var/lib/ganeti, /run/ganeti, /var/log/ganeti, /etc/ganeti, /etc/default/ganeti, /etc/hosts,
# /run/lock, /root/.ssh and /usr/local/lib/gqb-node (directories under $PAIR/nN), and whose UTS
# namespace gives it its hostname. Both share the chroot's /usr, /srv and dpkg database, and the
# host's network: daemons bind to 127.0.20.11 and .12, the cluster address is 127.0.20.110 on lo.
# What differs between the nodes' QEMUs is /usr/local/lib/gqb-node/kvm, the clusters' kvm_path: a
# link to /usr/bin/kvm (stock) or to the launcher (the plugin installed), made by the suite.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
. "$HERE/lib.sh"
INSIDE=/srv/gqb13-pair # the pair's files, as the chroot sees them
PAIR=$ROOT$INSIDE
CLUSTER=gqb13-pair.ganeti.test CLUSTER_IP=$NET.110

node_name() { echo "gqb13-pair$1.ganeti.test"; }
node_ip() { echo "$NET.1$1"; }
node_holder() {
  local p
  p=$(cat "$PAIR/n$1.pid" 2>/dev/null) || return 1
  [ -n "$p" ] && [ -e "/proc/$p" ] && echo "$p"
}
xn() {
  local n=$1 p
  shift
  p=$(node_holder "$n") || { say "node $n is not up"; return 1; }
  nsenter -t "$p" -m -u -r -w -- env -i PATH=$CPATH HOME=/root LANG=C.UTF-8 "$@"
}

namespace() {
  local n=$1 d=$PAIR/n$1 in=$INSIDE/n$1 ip
  ip=$(node_ip "$n")
  mkdir -p "$d"/{lib,run,log,etc,lock,bin}
  # The package's /etc/ganeti (version links share/ and lib/); no hooks; the pair's storage.
  cp -a "$ROOT/etc/ganeti/." "$d/etc/"
  find "$d/etc/hooks" -mindepth 2 -delete
  echo "$INSIDE/shared" >"$d/etc/file-storage-paths"
  for sub in lib run log; do
    chown --reference="$ROOT/var/$sub/ganeti" "$d/$sub" 2>/dev/null || true
    chmod --reference="$ROOT/var/$sub/ganeti" "$d/$sub" 2>/dev/null || true
  done
  chmod 1777 "$d/lock"
  cat >"$d/default-ganeti" <<EOF2
NODED_ARGS="-b $ip"
RAPI_ARGS="-b $ip --require-authentication"
CONFD_ARGS="-b $ip"
MOND_ARGS="-b $ip"
METAD_ARGS="-b $ip"
EOF2
  mkdir -p "$ROOT/usr/local/lib/gqb-node"
  cat >"$d/init.sh" <<EOF2
set -e
# (the chroot's namespace made every mount private: these stay in this one)
mount --bind $in/lib /var/lib/ganeti
mkdir -p /run/ganeti
mount --bind $in/run /run/ganeti
mount --bind $in/log /var/log/ganeti
mount --bind $in/etc /etc/ganeti
mount --bind $in/lock /run/lock
mount --bind $in/default-ganeti /etc/default/ganeti
mount --bind $INSIDE/hosts /etc/hosts
mkdir -p /root/.ssh
mount --bind $INSIDE/ssh /root/.ssh
mount --bind $in/bin /usr/local/lib/gqb-node
hostname $(node_name "$n")
echo \$\$ >$in.pid
exec sleep infinity
EOF2
  x unshare --mount --uts --propagation unchanged -- bash "$in/init.sh" </dev/null >"$d/holder.log" 2>&1 &
  for _ in $(seq 1 50); do node_holder "$n" >/dev/null && break; sleep 0.1; done
  node_holder "$n" >/dev/null || { say "node $n: the namespace holder did not start ($(cat "$d/holder.log"))"; return 1; }
  xn "$n" /usr/lib/ganeti/ensure-dirs
}

sshd_up() {
  local n=$1
  sshd_config "$(node_ip "$n")" "$INSIDE" "$n" >"$PAIR/sshd$n.conf"
  xn "$n" mkdir -p /run/sshd
  xn "$n" /usr/sbin/sshd -f "$INSIDE/sshd$n.conf" -E "$INSIDE/sshd$n.log"
}

up() {
  holder >/dev/null || { say "the chroot is not up (trixie.sh up)"; return 1; }
  if [ -e "$PAIR" ]; then
    say "$PAIR exists: the pair is up, or a run was killed (two-nodes.sh down cleans up)"
    return 1
  fi
  mkdir -p "$PAIR/ssh" "$PAIR/shared"
  chmod 700 "$PAIR/ssh"
  { grep -v 'gqb13-pair' "$ROOT/etc/hosts"
    for n in 1 2; do echo "$(node_ip $n) $(node_name $n)"; done
    echo "$CLUSTER_IP $CLUSTER"; } >"$PAIR/hosts"
  ssh-keygen -q -t rsa -b 2048 -N '' -f "$PAIR/ssh/id_rsa"
  cp "$PAIR/ssh/id_rsa.pub" "$PAIR/ssh/authorized_keys"
  cluster_files
  namespace 1
  namespace 2
  sshd_up 1
  sshd_up 2
  init_cluster xn 1 -- "$CLUSTER_IP" "$CLUSTER" --enabled-disk-templates=sharedfile,diskless \
    --shared-file-storage-dir="$INSIDE/shared" --file-storage-dir="$INSIDE/shared"
  set_ipolicy xn 1 -- sharedfile,diskless
  xn 1 gnt-node add --master-capable=no "$(node_name 2)"
  say "up: $(xn 1 gnt-node list --no-headers -o name | tr '\n' ' ')"
}

down() {
  [ -d "$PAIR" ] || return 0
  local n
  for n in 1 2; do
    node_holder "$n" >/dev/null || continue
    # QEMUs first (Ganeti's pid files), then the daemons (their own pid files, after stop-all).
    kill_pidfiles "$PAIR/n$n/run/kvm-hypervisor/pid/"*
    timeout 60 xn "$n" /usr/lib/ganeti/daemon-util stop-all >/dev/null 2>&1 || true
    kill_pidfiles "$PAIR/n$n/run/"*.pid "$PAIR/sshd$n.pid"
  done
  for n in 1 2; do kill_pidfiles "$PAIR/n$n.pid"; done
  ip addr del "$CLUSTER_IP/32" dev lo 2>/dev/null || true
  rm -rf "$PAIR"
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case "$cmd" in
up | down) "$cmd" ;;
x) xn "$@" ;;
*)
  echo "usage: $0 up|down|x N CMD..." >&2
  exit 2
  ;;
esac
