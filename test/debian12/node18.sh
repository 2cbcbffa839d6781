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
. "$HERE/lib.sh"
bookworm_chroot
build_inside
inside sh -c "cd $DEST && node dist/demo.cjs"
inside sh -c "cd $DEST && GQB_CODE_CACHE=report hooks/disk-add --help 2>&1 >/dev/null | grep 'code cache env accepted'"
say "Node 18: the demo ran, and V8 took the code cache made with it"
