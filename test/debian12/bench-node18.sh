#!/bin/bash
# npm run bench:node18: the bench's figures on Debian 12's own Node (nodejs 18.20) and QEMU 7.2, in
# the bookworm chroot (lib.sh), with the plugin built there by that Node. Every figure but 11 (a
# real two-node Ganeti); figure 4 boots the test guest, built on this machine and copied in. The
# table goes to bench/results/node18.md, beside the development Node's bench/results/latest.md.
# As root.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"
bookworm_chroot
build_inside
node "$SRC/scripts/build-guest.mjs" >/dev/null
mkdir -p "$ROOT$DEST/.cache"
cp -a "$SRC/.cache/guest" "$ROOT$DEST/.cache/"
status=0
inside sh -c "cd $DEST && BENCH_WITHOUT=ganeti BENCH_RESULTS=node18 node dist/bench.cjs" || status=$?
mkdir -p "$SRC/bench/results"
cp "$ROOT$DEST/bench/results/node18.md" "$ROOT$DEST/bench/results/node18.json" "$SRC/bench/results/"
exit "$status"
