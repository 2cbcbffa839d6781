#!/usr/bin/env bash
# Installs what the plugin's demo and tests need on Debian 12 or 13 (as root): QEMU from Debian and the
# npm dependencies. Idempotent: packages already installed are not fetched again.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive
need=()
# e2fsprogs: chattr (the tests make a runtime file unwritable); not in a minimal Debian 13.
# The shell linter: npm run lint checks every shell script with it (shellcheck).
for p in qemu-system-x86 qemu-block-extra qemu-utils xz-utils e2fsprogs shellcheck; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
done
if [ "${#need[@]}" -gt 0 ]; then
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
qemu-system-x86_64 --version | head -n 1
npm ci --no-audit --no-fund
