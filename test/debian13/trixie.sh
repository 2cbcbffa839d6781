#!/bin/bash
# Debian 13 for the tests, on a Debian 12 machine: a trixie chroot (QEMU 10.0, Ganeti 3.1, Node
# 20.19 from Debian's own archive), run in a mount and UTS namespace of its own so that nothing it
# mounts, and no name it sets, reaches the host. As root:
#
#   trixie.sh up         make the chroot (first time: debootstrap + apt, a few minutes), start its
#                        namespace
#   trixie.sh project    copy this checkout to /opt/gqb inside, npm ci + build with trixie's Node
#   trixie.sh x CMD...   run CMD inside (a clean environment)
#   trixie.sh cluster    a one-node Ganeti 3.1 cluster inside, its daemons on 127.0.20.1
#   trixie.sh down       stop everything that runs inside (by pid), end the namespace; the chroot
#                        stays for the next run
#
# Why a holder: the namespace must outlive each `x`. A `sleep infinity` chrooted inside it keeps it;
# every later command joins it with nsenter. The network is the host's: each Ganeti daemon binds to
# the node's own address, so that the Debian 12 suites' cluster (127.0.10.x) can run beside it.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
SRC=$(cd "$HERE/../.." && pwd)
# shellcheck source=lib.sh
. "$HERE/lib.sh"
DEST=/opt/gqb
NODE=gqb13-node1.ganeti.test NODE_IP=$NET.1
CLUSTER=gqb13-cluster.ganeti.test CLUSTER_IP=$NET.100
PACKAGES="ganeti qemu-system-x86 qemu-block-extra qemu-utils nodejs npm xz-utils e2fsprogs ca-certificates
  python3 procps iproute2 socat util-linux mount openssh-server"

bootstrap() {
  # The backports chroot starts as a copy of the plain one where that exists (no second debootstrap).
  local plain=/srv/gqb-trixie
  if [ "$QEMU_FROM" = backports ] && [ ! -x "$ROOT/usr/bin/apt-get" ] && [ -x "$plain/usr/bin/apt-get" ]; then
    rm -rf "$ROOT.partial" && cp -a "$plain" "$ROOT.partial" && mv "$ROOT.partial" "$ROOT"
  fi
  if [ ! -x "$ROOT/usr/bin/apt-get" ]; then
    command -v debootstrap >/dev/null || { apt-get update -q && apt-get install -y -q debootstrap; }
    local m; m=$(mirror)
    [ -n "$m" ] || { say "no Debian archive in this machine's apt sources"; return 1; }
    debootstrap --variant=minbase trixie "$ROOT" "$m" >"$STATE/debootstrap.log" 2>&1 ||
      { tail -20 "$STATE/debootstrap.log" >&2; return 1; }
  fi
  local missing=() p
  for p in $PACKAGES; do
    chroot "$ROOT" dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ "${#missing[@]}" -eq 0 ] || install_packages "${missing[@]}"
  [ "$QEMU_FROM" = backports ] || return 0
  # QEMU, its block modules and tools from trixie-backports, the rest from trixie.
  local m; m=$(mirror)
  echo "deb $m trixie-backports main" >"$ROOT/etc/apt/sources.list.d/trixie-backports.list"
  chroot "$ROOT" dpkg-query -W -f='${Version}' qemu-system-x86 | grep -q '~bpo' ||
    install_packages -t trixie-backports qemu-system-x86 qemu-block-extra qemu-utils
}

# install_packages [APT-OPTIONS] PACKAGE...: apt-get install in the chroot, no service started.
install_packages() {
  # Package scripts start no service in the chroot: the tests start Ganeti's daemons themselves.
  printf '#!/bin/sh\nexit 101\n' >"$ROOT/usr/sbin/policy-rc.d"
  chmod 755 "$ROOT/usr/sbin/policy-rc.d"
  cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
  unshare --mount --propagation private -- bash -c '
    set -e; R=$1; shift
    mount -t proc proc "$R/proc"; mount --rbind /dev "$R/dev"; mount -t sysfs sys "$R/sys"
    chroot "$R" env -i PATH='"$CPATH"' DEBIAN_FRONTEND=noninteractive apt-get update -q
    chroot "$R" env -i PATH='"$CPATH"' DEBIAN_FRONTEND=noninteractive \
      apt-get install -y -q --no-install-recommends "$@"' _ "$ROOT" "$@" >"$STATE/apt.log" 2>&1 ||
    { tail -20 "$STATE/apt.log" >&2; return 1; }
}

start_holder() {
  holder >/dev/null && return 0
  rm -f "$STATE/holder.pid"
  # Inside: mounts private to the namespace; /dev a small tmpfs with the nodes QEMU and the tests
  # need (the host's /dev would share its devtmpfs); /run a tmpfs of its own.
  cat >"$STATE/holder.sh" <<EOF
set -e
mount --make-rprivate /
mount -t proc proc $ROOT/proc
mount -t sysfs sys $ROOT/sys
mount -t tmpfs -o mode=755,size=4m gqbdev $ROOT/dev
kvm=$([ "${GQB_ACCEL:-tcg}" = kvm ] && echo kvm || true) # /dev/kvm only where the suite chose KVM (test/accel.sh)
for n in null zero full random urandom tty loop-control \$kvm; do
  [ -e /dev/\$n ] && { touch $ROOT/dev/\$n; mount --bind /dev/\$n $ROOT/dev/\$n; }
done
for i in \$(seq 0 63); do mknod -m 660 $ROOT/dev/loop\$i b 7 \$i; done
mkdir -p $ROOT/dev/pts $ROOT/dev/shm
mount -t devpts -o newinstance,ptmxmode=0666,mode=620 devpts $ROOT/dev/pts
ln -s pts/ptmx $ROOT/dev/ptmx
mount -t tmpfs -o mode=1777 shm $ROOT/dev/shm
ln -s /proc/self/fd $ROOT/dev/fd
ln -s /proc/self/fd/0 $ROOT/dev/stdin; ln -s /proc/self/fd/1 $ROOT/dev/stdout; ln -s /proc/self/fd/2 $ROOT/dev/stderr
mount -t tmpfs -o mode=755 run $ROOT/run
mkdir -p $ROOT/run/lock && chmod 1777 $ROOT/run/lock
mkdir -p $ROOT/tmp && chmod 1777 $ROOT/tmp
hostname $NODE
echo \$\$ >$STATE/holder.pid
exec chroot $ROOT /bin/sleep infinity
EOF
  unshare --mount --uts --fork -- bash "$STATE/holder.sh" </dev/null >"$STATE/holder.log" 2>&1 &
  for _ in $(seq 1 50); do holder >/dev/null && return 0; sleep 0.1; done
  say "the namespace did not start: $(cat "$STATE/holder.log")"
  return 1
}

up() {
  mkdir -p "$STATE"
  bootstrap
  start_holder
  say "up: $(x sh -c 'echo QEMU $(qemu-system-x86_64 --version | head -1 | cut -d" " -f4), Node $(node --version), Ganeti $(dpkg-query -W -f="\${Version}" ganeti)')"
}

project() {
  rm -rf "${ROOT:?}$DEST"
  mkdir -p "$ROOT$DEST"
  tar -C "$SRC" --exclude=./node_modules --exclude=./dist --exclude=./.tap --exclude=./coverage --exclude=./.git -cf - . |
    tar -C "$ROOT$DEST" -xf -
  # A registry reached through a TLS proxy needs the host's CA bundle (NODE_EXTRA_CA_CERTS).
  local ca=${NODE_EXTRA_CA_CERTS:-/etc/ssl/certs/ca-certificates.crt}
  cp "$ca" "$ROOT/usr/local/share/gqb-host-ca.crt"
  x bash -c "cd $DEST && NODE_EXTRA_CA_CERTS=/usr/local/share/gqb-host-ca.crt npm ci --no-audit --no-fund >/dev/null && npm run build >/dev/null"
}

cluster() {
  grep -q "$NODE" "$ROOT/etc/hosts" 2>/dev/null ||
    printf '%s %s\n%s %s\n' "$NODE_IP" "$NODE" "$CLUSTER_IP" "$CLUSTER" >>"$ROOT/etc/hosts"
  echo "$NODE" >"$ROOT/etc/hostname"
  cat >"$ROOT/etc/default/ganeti" <<EOF
NODED_ARGS="-b $NODE_IP"
RAPI_ARGS="-b $NODE_IP --require-authentication"
CONFD_ARGS="-b $NODE_IP"
MOND_ARGS="-b $NODE_IP"
METAD_ARGS="-b $NODE_IP"
EOF
  mkdir -p "$ROOT/srv/ganeti/file-storage"
  grep -qx /srv/ganeti/file-storage "$ROOT/etc/ganeti/file-storage-paths" 2>/dev/null ||
    echo /srv/ganeti/file-storage >>"$ROOT/etc/ganeti/file-storage-paths"
  cluster_files
  if [ ! -f "$ROOT/var/lib/ganeti/config.data" ]; then
    init_cluster x -- "$CLUSTER_IP" "$CLUSTER" --enabled-disk-templates=file,diskless \
      --file-storage-dir=/srv/ganeti/file-storage
  else
    # A new namespace has an empty /run: Ganeti's directories first, then its daemons (those that
    # run already stay; start-all then says so and fails, which is fine here).
    x /usr/lib/ganeti/ensure-dirs
    x /usr/lib/ganeti/daemon-util start-all >/dev/null 2>&1 || true
    wait_master x
  fi
  set_ipolicy x -- file,diskless
  say "cluster: $(x gnt-cluster getmaster) ($NODE_IP)"
}

down() {
  local p pid d
  if p=$(holder); then
    x /usr/lib/ganeti/daemon-util stop-all >/dev/null 2>&1 || true
    # Everything else whose root is the chroot (QEMUs, a test run), by pid; then the holder, which
    # takes the namespace and its mounts with it.
    for d in /proc/[0-9]*; do
      pid=${d#/proc/}
      [ "$pid" = "$p" ] && continue
      [ "$(readlink "/proc/$pid/root" 2>/dev/null)" = "$ROOT" ] && kill -9 "$pid" 2>/dev/null || true
    done
    kill "$p" 2>/dev/null || true
  fi
  # Loop devices are global: detach those backed by files of the chroot.
  losetup -l -n -O NAME,BACK-FILE 2>/dev/null | awk -v r="$ROOT/" 'index($2, r) == 1 {print $1}' |
    while read -r f; do losetup -d "$f" || true; done
  rm -f "$STATE/holder.pid"
  say "down"
}

cmd=${1:-}
shift || true
case "$cmd" in
up | project | cluster | down) "$cmd" ;;
x) x "$@" ;;
*)
  echo "usage: $0 up|project|x CMD...|cluster|down" >&2
  exit 2
  ;;
esac
