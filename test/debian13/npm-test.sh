#!/bin/bash
# npm test on Debian 13 (QEMU 10.0, Node 20.19): this checkout copied into the trixie chroot of
# trixie.sh, built there with Debian 13's Node, and its whole suite run there. As root. Everything
# started inside is stopped afterwards, also when the suite fails. With GQB_TRIXIE_QEMU=backports
# (npm run test:debian13-backports), the same in a chroot whose QEMU is trixie-backports' (11.1).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
node "$HERE/../../scripts/build-guest.mjs" >/dev/null   # the test guest, copied in with the project
trap 'bash "$HERE/trixie.sh" down' EXIT
bash "$HERE/trixie.sh" up
bash "$HERE/trixie.sh" project
bash "$HERE/trixie.sh" x bash -c 'cd /opt/gqb && bash scripts/tap-summary.sh'
