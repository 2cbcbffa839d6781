#!/bin/bash
# Debian 12's own Node (nodejs 18.20) runs what the plugin installs. The development toolchain needs
# Node 20; the hooks, the launcher and the commands must not. As root:
#
#   node18.sh   make (once) a bookworm chroot with Debian's nodejs and QEMU 7.2, copy this checkout
#               into it, and there, with Node 18: build it (bundles, executables, V8 code caches;
#               the last runs every hook, the launcher's rewrite and each command once), then run
#               the demo (instance-start, a real QEMU started with its output, a disk hot-added and
#               hot-removed through the hooks).
#
# Every command inside runs in a PID and mount namespace of its own: whatever it leaves running
# (a QEMU, if a step fails) ends with it, and its mounts (/proc, /dev, /sys) go with it too.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
SRC=$(cd "$HERE/../.." && pwd)
ROOT=${GQB_BOOKWORM_ROOT:-/srv/gqb-bookworm}
DEST=/opt/gqb
PACKAGES="nodejs qemu-system-x86 qemu-utils xz-utils ca-certificates"
CPATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
say() { echo "node18.sh: $*" >&2; }

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

mirror() {
  apt-get indextargets --format '$(REPO_URI) $(RELEASE)' 2>/dev/null |
    awk '$2 !~ /-/ {sub("/$", "", $1); print $1; exit}'
}

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
say "Node $(inside node --version), $(inside qemu-system-x86_64 --version | head -1)"

# The checkout without its build; built here with Node 18 as `npm run build` does (bundles,
# executables, V8 code caches: the last runs every hook, the launcher's rewrite and each command).
[ -d "$SRC/node_modules/esbuild" ] || { say "no node_modules (npm ci)"; exit 1; }
rm -rf "${ROOT:?}$DEST"
mkdir -p "$ROOT$DEST/node_modules"
tar -C "$SRC" --exclude=./.git --exclude=./.tap --exclude=./coverage --exclude=./.cache --exclude=./node_modules \
  --exclude=./dist -cf - . | tar -C "$ROOT$DEST" -xf -
inside sh -c "cd $DEST && node scripts/bundle.mjs && node scripts/gen-hooks.mjs && node scripts/code-cache.mjs"
head -1 "$ROOT$DEST/hooks/instance-start" | grep -qx '#!/usr/bin/node' || { say "the hooks do not name Debian's /usr/bin/node"; exit 1; }
inside sh -c "cd $DEST && node dist/demo.cjs"
inside sh -c "cd $DEST && GQB_CODE_CACHE=report hooks/disk-add --help 2>&1 >/dev/null | grep 'code cache env accepted'"
say "Node 18: the demo ran, and V8 took the code cache made with it"
