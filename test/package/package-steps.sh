#!/bin/bash
# The package's life, run inside the bookworm chroot by package.sh: $1 the version, $2 the newer one,
# $3 how many hook links enable makes.
set -euo pipefail
P=ganeti-qemu-blockdev
LINKS=$3
LIB=/usr/lib/$P
DIR=/tmp/gqb-package
export DEBIAN_FRONTEND=noninteractive
fail() {
  echo "package.sh: FAIL: $*" >&2
  exit 1
}
ok() { echo "package.sh: ok: $*" >&2; }
# Outputs are read whole before grep -q looks at them: under pipefail, a writer that grep -q left
# early would fail the pipeline (SIGPIPE).
has() { grep -q "$1" <<<"$2"; }
diverted() { grep -qx "diversion of /usr/bin/kvm to /usr/bin/kvm.distrib by $P" <<<"$(dpkg-divert --list /usr/bin/kvm)"; }
cache_taken() { has "code cache env accepted" "$(GQB_CODE_CACHE=report $LIB/hooks/disk-add --help 2>&1 >/dev/null)"; }
probe() { has "QEMU emulator version" "$(/usr/bin/kvm --version)"; }
links() { find /etc/ganeti/hooks -lname "$LIB/*" 2>/dev/null | sort; }
ours() { dpkg-query -W -f='${Status} ${Version}' $P 2>/dev/null || true; }
stock=$(readlink /usr/bin/kvm)
# A config written before the package (by a from-source install, or the Ganeti 3.1 suites in the
# trixie chroot) would make dpkg ask about the conffile: it is put aside, and back at the end.
if [ -e /etc/$P/config.json ]; then
  mv /etc/$P/config.json $DIR/config.json.before
  trap 'mkdir -p /etc/$P && mv $DIR/config.json.before /etc/$P/config.json' EXIT
fi
# A node's Ganeti has its hooks directory and log directory; the package does not create them.
mkdir -p /etc/ganeti/hooks /var/log/ganeti

# A node's /tmp may be noexec: the install's code-cache run must not need to run anything there.
# The log may hold lines of earlier runs in this chroot (the Node 18 demo): only new ones count.
LOG=/var/log/ganeti/qemu-blockdev.log
logged=$(wc -l <"$LOG" 2>/dev/null || echo 0)
mkdir -p /tmp/gqb-noexec
mount -t tmpfs -o noexec,size=16m gqb-noexec /tmp/gqb-noexec
TMPDIR=/tmp/gqb-noexec apt-get install -y -q --no-install-recommends "$DIR/${P}_$1_all.deb" >/dev/null
umount /tmp/gqb-noexec
[ "$(ours)" = "install ok installed $1" ] || fail "not installed: $(ours)"
[ "$(wc -l <"$LOG" 2>/dev/null || echo 0)" = "$logged" ] || fail "the install wrote the plugin's log: $(tail -n +"$((logged + 1))" "$LOG")"
[ -x /usr/sbin/$P ] || fail "no /usr/sbin/$P"
head -1 $LIB/hooks/disk-add | grep -qx '#!/usr/bin/node' || fail "the hooks do not name Debian's /usr/bin/node"
cache_taken || fail "no code cache made at install for $(node --version)"
# Only the runs against a paused QEMU write disk-add's cache for Ganeti 3.1's JSON input.
ls $LIB/dist/disk-add.*.json.cache >/dev/null 2>&1 || fail "postinst made no code cache from a run against QEMU"
has "reconcile INSTANCE" "$(/usr/sbin/$P --help)" || fail "--help lists no reconcile"
! diverted || fail "a diversion right after install"
[ -z "$(links)" ] || fail "hook links right after install: $(links)"
[ "$(readlink /usr/bin/kvm)" = "$stock" ] || fail "/usr/bin/kvm changed at install"
[ "$(cat /etc/$P/config.json)" = "{}" ] || fail "the config is not the default"
ok "installed with $(node --version): nothing on the node changed"

# An enable killed between two steps (after the diversion, before the config and the link): QEMU
# still answers at /usr/bin/kvm, status names the half state, and enable run again finishes it.
rc=0
GANETI_QEMU_BLOCKDEV_SETUP_FAULT=kill:divert /usr/sbin/$P enable >/dev/null 2>&1 || rc=$?
[ "$rc" = 137 ] || fail "the interrupted enable exited $rc, not by SIGKILL"
diverted || fail "the interrupted enable: no diversion yet"
probe || fail "the interrupted enable: /usr/bin/kvm does not run QEMU"
has "half enabled" "$(/usr/sbin/$P status)" || fail "status does not name the half state: $(/usr/sbin/$P status)"
ok "enable killed after the diversion: QEMU still at /usr/bin/kvm, status names the half state"

/usr/sbin/$P enable >/dev/null
diverted || fail "enable: no diversion owned by the package"
[ "$(links | wc -l)" = "$LINKS" ] || fail "enable: $(links | wc -l) hook links"
[ "$(readlink /usr/bin/kvm)" = "$LIB/hooks/qemu-launcher" ] || fail "enable: /usr/bin/kvm is not the launcher"
probe || fail "a probe through the launcher"
grep -q '"qemu": "/usr/bin/kvm.distrib"' /etc/$P/config.json || fail "the config does not name the real QEMU"
grep -q "$P\[[0-9]*\]: enable: diverted /usr/bin/kvm" /var/log/ganeti/qemu-blockdev.log || fail "enable not logged"
has "version " "$(/usr/sbin/$P status)" || fail "status"
ok "enabled: hooks linked, /usr/bin/kvm diverted by the package, a probe reaches QEMU"

apt-get install -y -q --no-install-recommends "$DIR/${P}_$2_all.deb" >/dev/null
[ "$(ours)" = "install ok installed $2" ] || fail "not upgraded: $(ours)"
diverted && [ "$(links | wc -l)" = "$LINKS" ] && [ "$(readlink /usr/bin/kvm)" = "$LIB/hooks/qemu-launcher" ] ||
  fail "the upgrade disabled the plugin"
grep -q '"qemu": "/usr/bin/kvm.distrib"' /etc/$P/config.json || fail "the upgrade lost the config"
probe || fail "a probe after the upgrade"
cache_taken || fail "no code cache after the upgrade"
ok "upgraded to $2 while enabled: still enabled, caches made again"

# apt passes LANG and LANGUAGE to the maintainer scripts: the removal's disable --all must not
# depend on what language dpkg-divert speaks.
# A German locale of its own (Debian 13's glibc ignores LANGUAGE under C.UTF-8).
if ! locale -a 2>/dev/null | grep -qx de_DE.utf8; then
  apt-get install -y -q --no-install-recommends locales >/dev/null
  localedef -i de_DE -c -f UTF-8 de_DE.UTF-8
fi
DE=(LANG=de_DE.UTF-8 LANGUAGE=de)
has "Umleitung" "$(env "${DE[@]}" dpkg-divert --list /usr/bin/kvm)" || fail "dpkg-divert does not speak German here: the test proves nothing"
env "${DE[@]}" apt-get remove -y -q $P >/dev/null
[ "$(ours)" = "deinstall ok config-files $2" ] || fail "not removed: $(ours)"
! diverted || fail "remove: the diversion is left"
[ -z "$(links)" ] || fail "remove: hook links left: $(links)"
[ "$(readlink /usr/bin/kvm)" = "$stock" ] && [ ! -e /usr/bin/kvm.distrib ] || fail "remove: /usr/bin/kvm is not QEMU again"
probe || fail "remove: QEMU does not run"
[ ! -e $LIB ] && [ ! -e /usr/sbin/$P ] || fail "remove: files left in $LIB"
[ -f /etc/$P/config.json ] || fail "remove: the config is gone (only purge removes it)"
ok "removed under LANGUAGE=de: disabled, /usr/bin/kvm is QEMU again, the config kept"

env "${DE[@]}" apt-get purge -y -q $P >/dev/null
[ -z "$(ours)" ] || [ "$(ours)" = "unknown ok not-installed " ] || fail "not purged: $(ours)"
[ ! -e /etc/$P ] && [ ! -e /var/cache/$P ] || fail "purge: config or cache left"
[ ! -e /var/log/ganeti/qemu-blockdev.log ] || fail "purge: the log is left"
ok "purged under LANGUAGE=de: nothing of the package left"
