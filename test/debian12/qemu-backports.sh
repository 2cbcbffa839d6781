#!/bin/bash
# QEMU from bookworm-backports (10.0) on this Debian 12 machine, beside its own 7.2, for the suites
# that must run on the QEMU operators take from backports. As root:
#
#   qemu-backports.sh fetch        unpack the backports packages (QEMU, its data, block modules,
#                                  tools, seabios) into /srv/gqb-qemu-bpo12, once; install the
#                                  Debian 12 libraries it links against that this machine lacks
#   qemu-backports.sh run CMD...   CMD in a mount namespace of its own where QEMU's paths (the
#                                  binary /usr/bin/kvm links to, its data, modules, tools and
#                                  firmware) are those of the backports QEMU; nothing outside it
#                                  changes, and the namespace ends with CMD
#   qemu-backports.sh binds        the bind mounts `run` makes, as `SOURCE TARGET` lines (for a
#                                  two-node cluster whose second node runs it: two-nodes.sh)
#
# Debian's packages stay as they are: dpkg, the diversions and /usr are untouched outside `run`.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../ganeti/node-common.sh
. "$HERE/../ganeti/node-common.sh"
BPO=${GQB_QEMU_BPO12:-/srv/gqb-qemu-bpo12}
PACKAGES="qemu-system-x86 qemu-system-common qemu-system-data qemu-block-extra qemu-utils seabios"
# What QEMU reads at run time, as paths of the backports tree bound over this machine's.
PATHS="/usr/bin/qemu-system-x86_64 /usr/bin/qemu-img /usr/bin/qemu-io /usr/bin/qemu-nbd /usr/share/qemu
  /usr/lib/x86_64-linux-gnu/qemu /usr/share/seabios"
say() { echo "qemu-backports.sh: $*" >&2; }

fetch() {
  [ -x "$BPO/usr/bin/qemu-system-x86_64" ] && return 0
  local apt m work
  m=$(mirror)
  [ -n "$m" ] || { say "no Debian archive in this machine's apt sources"; return 1; }
  work=$(mktemp -d)
  trap 'rm -rf "$work"' RETURN
  # A private apt state: this machine's sources and lists stay as they are.
  mkdir -p "$work/lists/partial" "$work/debs"
  printf 'deb %s bookworm main\ndeb %s bookworm-backports main\n' "$m" "$m" >"$work/sources.list"
  apt=(apt-get -q -o "Dir::Etc::SourceList=$work/sources.list" -o Dir::Etc::SourceParts=/dev/null
    -o "Dir::State::Lists=$work/lists" -o "Dir::Cache::Archives=$work/debs")
  "${apt[@]}" update >"$work/apt.log" 2>&1 || { tail -5 "$work/apt.log" >&2; return 1; }
  (cd "$work/debs" && "${apt[@]}" -t bookworm-backports download $PACKAGES >>"$work/apt.log" 2>&1) ||
    { tail -5 "$work/apt.log" >&2; return 1; }
  rm -rf "$BPO.partial"
  mkdir -p "$BPO.partial"
  local deb libs
  for deb in "$work"/debs/*.deb; do dpkg-deb -x "$deb" "$BPO.partial"; done
  # The libraries QEMU links against, from Debian 12 itself (the backport is built against them).
  libs=$(dpkg-deb -f "$work"/debs/qemu-system-x86_*.deb Depends | tr ',' '\n' | sed 's/^ *//; s/ .*//' |
    grep -E '^lib' | sort -u)
  # shellcheck disable=SC2086 # one word per package
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $libs >"$work/libs.log" 2>&1 ||
    { tail -5 "$work/libs.log" >&2; return 1; }
  mv "$BPO.partial" "$BPO"
  say "fetched: $("$BPO/usr/bin/qemu-system-x86_64" --version | head -1)"
}

binds() {
  local p
  for p in $PATHS; do
    [ -e "$BPO$p" ] && [ -e "$p" ] && echo "$BPO$p $p"
  done
}

run() {
  [ -x "$BPO/usr/bin/qemu-system-x86_64" ] || { say "not fetched (qemu-backports.sh fetch)"; return 1; }
  # Private mounts: the binds end with the namespace. Data directories are bound whole, so that
  # QEMU finds only its own firmware, keymaps and modules.
  unshare --mount --propagation private -- bash -c '
    set -e
    while read -r src dst; do mount --bind "$src" "$dst"; done <<<"$1"
    shift
    exec "$@"' _ "$(binds)" "$@"
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case "$cmd" in
fetch | binds) "$cmd" ;;
run) run "$@" ;;
*)
  echo "usage: $0 fetch|binds|run CMD..." >&2
  exit 2
  ;;
esac
