# What the Debian 12 scripts share: the checkout (SRC), the bookworm chroot (made once, with
# Debian's nodejs and QEMU 7.2), and `inside`, which runs a command in it in PID and mount
# namespaces of its own. Sourced.
# shellcheck shell=bash
LIB_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRC=$(cd "$LIB_HERE/../.." && pwd)
# shellcheck source=../ganeti/node-common.sh
. "$LIB_HERE/../ganeti/node-common.sh"
say() { echo "$(basename "$0"): $*" >&2; }
ROOT=${GQB_BOOKWORM_ROOT:-/srv/gqb-bookworm}
DEST=${DEST:-/opt/gqb}
PACKAGES="nodejs qemu-system-x86 qemu-utils xz-utils ca-certificates time"
CPATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

# inside CMD...: CMD in the chroot, in fresh PID and mount namespaces; the checkout's
# node_modules appears read-only at $DEST/node_modules (the npm dependencies, not copied).
inside() {
  unshare --pid --fork --mount --propagation private -- bash -c '
    set -e; R=$1; M=$2; shift 2
    mount -t proc proc "$R/proc"; mount --rbind /dev "$R/dev"; mount -t sysfs sys "$R/sys"
    if [ -d "$R'"$DEST"'/node_modules" ]; then
      mount --bind "$M" "$R'"$DEST"'/node_modules"; mount -o remount,bind,ro "$R'"$DEST"'/node_modules"
    fi
    exec chroot "$R" env -i PATH='"$CPATH"' HOME=/root LANG=C.UTF-8 "$@"' _ "$ROOT" "$SRC/node_modules" "$@"
}

# Makes the chroot, once, and installs what is missing in it.
bookworm_chroot() {
  if [ ! -x "$ROOT/usr/bin/apt-get" ]; then
    command -v debootstrap >/dev/null || { apt-get update -q && apt-get install -y -q debootstrap; }
    m=$(mirror)
    [ -n "$m" ] || { say "no Debian archive in this machine's apt sources"; exit 1; }
    log=$(mktemp)
    debootstrap --variant=minbase bookworm "$ROOT" "$m" >"$log" 2>&1 || { tail -20 "$log" >&2; exit 1; }
    rm -f "$log"
  fi
  missing=()
  for p in $PACKAGES; do
    chroot "$ROOT" dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    printf '#!/bin/sh\nexit 101\n' >"$ROOT/usr/sbin/policy-rc.d"
    chmod 755 "$ROOT/usr/sbin/policy-rc.d"
    cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
    inside sh -c "DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null &&
      DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends ${missing[*]} >/dev/null"
  fi
}

# Says which Node and QEMU the chroot has; then copies the checkout without its build to $DEST in
# the chroot and builds it there with that Node, as `npm run build` does (bundles, executables, V8
# code caches: the last runs every hook, the launcher's rewrite and each command).
build_inside() {
  say "Node $(inside node --version), $(inside qemu-system-x86_64 --version | head -1)"
  [ -d "$SRC/node_modules/esbuild" ] || { say "no node_modules (npm ci)"; exit 1; }
  rm -rf "${ROOT:?}$DEST"
  mkdir -p "$ROOT$DEST/node_modules"
  tar -C "$SRC" --exclude=./.git --exclude=./.tap --exclude=./coverage --exclude=./.cache --exclude=./node_modules \
    --exclude=./dist -cf - . | tar -C "$ROOT$DEST" -xf -
  inside sh -c "cd $DEST && node scripts/bundle.mjs && node scripts/gen-hooks.mjs && node scripts/code-cache.mjs"
  head -1 "$ROOT$DEST/hooks/instance-start" | grep -qx '#!/usr/bin/node' || { say "the hooks do not name Debian's /usr/bin/node"; exit 1; }
}
