#!/bin/bash
# npm run test:package: the Debian package's whole life on Debian 12, in the bookworm chroot
# (lib.sh), with Debian's own nodejs 18.20 and QEMU 7.2, then on Debian 13, in the trixie chroot
# (test/debian13/trixie.sh), with nodejs 20.19 and QEMU 10.0; as root. The package is built from
# this checkout (npm run package) as it is, and as a newer version of the same tree. In each
# chroot, step by step, with files, diversion, hook links and leftovers checked at each:
#   install          nothing on the node changes until enable; the code caches are made for Node 18
#   enable           hooks linked, /usr/bin/kvm diverted by the package to the launcher; a probe
#                    through it reaches QEMU
#   upgrade          to the newer build while enabled: still enabled, caches made again
#   remove           disabled: no diversion, no hook link, /usr/bin/kvm QEMU again; the config kept
#   purge            the config, the cache and the log gone; nothing of the package left
# The build must be reproducible: the same commit gives the same bytes, twice.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../debian12/lib.sh"
bookworm_chroot

cd "$SRC"
V=$(node -p 'require("./package.json").version')
NEXT="$V+upgrade1"
DEB="dist/ganeti-qemu-blockdev_${V}_all.deb"
npm run -s build >/dev/null
node scripts/package.mjs >/dev/null
first=$(sha256sum <"$DEB")
node scripts/package.mjs >/dev/null
[ "$(sha256sum <"$DEB")" = "$first" ] || { say "FAIL: two builds of the same commit differ"; exit 1; }
say "reproducible: $(echo "$first" | cut -c1-16)… twice"
# lintian: no error and no warning. What it says at the pedantic and experimental levels is kept
# and explained in docs/packaging.md.
command -v lintian >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -q lintian >/dev/null
tags=$(lintian "$DEB" 2>&1 | grep -v "running with root privileges" || true)
[ -z "$tags" ] || { say "FAIL: lintian: $tags"; exit 1; }
say "lintian: no error, no warning"
PACKAGE_VERSION=$NEXT node scripts/package.mjs >/dev/null
rm -rf "${ROOT:?}/tmp/gqb-package"
mkdir -p "$ROOT/tmp/gqb-package"
cp "$DEB" "dist/ganeti-qemu-blockdev_${NEXT}_all.deb" "$ROOT/tmp/gqb-package/"
cp "$HERE/package-steps.sh" "$ROOT/tmp/gqb-package/"
# How many hook links enable makes: one per hook directory a program is linked in (its bill of materials).
LINKS=$(node -p "require('./dist/programs.json').PROGRAMS.flatMap((p) => (p.link ? [p.link].flat() : [])).length")
# Whatever a failed step left goes, so that the next run starts clean: the package (even one whose
# removal script fails), a diversion of /usr/bin/kvm, our hook links; never anything else.
CLEANUP='
  P=ganeti-qemu-blockdev
  if ! dpkg --purge $P >/dev/null 2>&1; then
    printf "#!/bin/sh\nexit 0\n" >/var/lib/dpkg/info/$P.prerm
    dpkg --purge $P >/dev/null 2>&1 || true
  fi
  if dpkg-divert --list /usr/bin/kvm | grep -q distrib; then
    rm -f /usr/bin/kvm
    dpkg-divert --rename --remove /usr/bin/kvm >/dev/null 2>&1 || dpkg-divert --package $P --rename --remove /usr/bin/kvm
  fi
  find /etc/ganeti/hooks -lname "/usr/lib/$P/*" -delete 2>/dev/null || true
  rm -rf /tmp/gqb-package /etc/$P /var/cache/$P'
TRIXIE=$HERE/../debian13/trixie.sh
trixie_root=${GQB_TRIXIE_ROOT:-/srv/gqb-trixie}
cleanup() {
  inside sh -c "$CLEANUP"
  if [ -n "${trixie_up:-}" ]; then
    bash "$TRIXIE" x sh -c "$CLEANUP" || true
    bash "$TRIXIE" down >/dev/null 2>&1 || true
  fi
}
trap cleanup EXIT
inside bash /tmp/gqb-package/package-steps.sh "$V" "$NEXT" "$LINKS"
say "Debian 12: installed, enabled, upgraded, removed and purged with $(inside node --version)"

bash "$TRIXIE" up >/dev/null
trixie_up=1
rm -rf "${trixie_root:?}/tmp/gqb-package"
cp -r "$ROOT/tmp/gqb-package" "$trixie_root/tmp/gqb-package"
bash "$TRIXIE" x bash /tmp/gqb-package/package-steps.sh "$V" "$NEXT" "$LINKS"
say "Debian 13: installed, enabled, upgraded, removed and purged with $(bash "$TRIXIE" x node --version)"
