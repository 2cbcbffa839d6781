#!/usr/bin/env bash
# The accelerator of a test run is the suite's choice, never the host's accident. Some hosts have no
# /dev/kvm; some have one that opens but whose guests die ("KVM internal error ... emulation
# failure"), and QEMU run as `kvm` picks it by its name whatever Ganeti's kvm_flag says. So:
#
#   test/accel.sh CMD [ARG...]
#
# chooses once, prints the choice as "# accelerator: ..." and runs CMD with GQB_ACCEL set to it:
# - tcg, the default: CMD runs in a mount namespace of its own whose /dev has no kvm, so every QEMU
#   it starts (named kvm or not, on this host or in a chroot that binds /dev) finds none and falls
#   back to TCG, exactly as on a host without KVM. GQB_HOST_MNT_NS names the host's mount namespace,
#   for the one test that asks QEMU about the host's /dev/kvm itself (test/accelerator.qemu.test.ts).
# - kvm (GQB_ACCEL=kvm): only where a short probe boots the test guest under KVM; CMD sees /dev/kvm.
#   Where the probe fails, the run stops here with the reason (unset GQB_ACCEL to run under TCG).
# A run inside another (GQB_ACCEL_CHOSEN set) keeps the choice already made and prints nothing.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
KVM=/dev/kvm

[ "$#" -gt 0 ] || { echo "usage: test/accel.sh CMD [ARG...]" >&2; exit 2; }
if [ -n "${GQB_ACCEL_CHOSEN:-}" ]; then exec "$@"; fi

# probe_kvm: whether KVM boots the test guest to its BOOT-OK line within the deadline; says why not.
probe_kvm() {
  local dir out
  dir=$(node "$HERE/../scripts/build-guest.mjs")
  out=$(timeout 30 qemu-system-x86_64 -accel kvm -nodefaults -display none -no-user-config -m 256 \
    -kernel "$dir/vmlinux" -initrd "$dir/initrd.gz" -append "console=ttyS0 panic=-1 quiet" \
    -serial stdio -no-reboot 2>&1 </dev/null | grep -a -m1 -E "GUEST: BOOT-OK|KVM internal error|Could not access KVM|failed to initialize kvm" || true)
  case "$out" in
    *BOOT-OK*) return 0 ;;
    "") echo "no BOOT-OK from the test guest within 30 s" ;;
    *) echo "$out" | tr -d '\r' ;;
  esac
  return 1
}

# hidden_kvm CMD...: CMD with a /dev rebuilt without kvm (every other entry bound from the real one),
# in a private mount namespace: nothing of it is seen outside, and it ends with CMD.
hidden_kvm() {
  local host_ns=/proc/$$/ns/mnt
  GQB_HOST_MNT_NS=$host_ns unshare --mount --propagation private -- bash -c '
    set -e
    old=$(mktemp -d /tmp/gqb-dev.XXXXXX)
    mount --rbind /dev "$old"
    mount -t tmpfs -o mode=755,size=1m gqb-dev /dev
    for e in "$old"/* "$old"/.[!.]*; do
      [ -e "$e" ] || [ -L "$e" ] || continue
      n=${e##*/}
      [ "$n" = kvm ] && continue
      if [ -L "$e" ]; then cp -P "$e" "/dev/$n"
      elif [ -d "$e" ]; then mkdir "/dev/$n"; mount --rbind "$e" "/dev/$n"
      else : >"/dev/$n"; mount --bind "$e" "/dev/$n"
      fi
    done
    umount -l "$old"; rmdir "$old"
    exec "$@"' _ "$@"
}

want=${GQB_ACCEL:-tcg}
export GQB_ACCEL_CHOSEN=1
case "$want" in
  tcg)
    export GQB_ACCEL=tcg
    if [ -e "$KVM" ]; then
      export GQB_ACCEL_WHY="$KVM present, hidden from the suite: its QEMUs fall back to TCG; GQB_ACCEL=kvm to use it"
      echo "# accelerator: tcg ($GQB_ACCEL_WHY)"
      hidden_kvm "$@"
    else
      export GQB_ACCEL_WHY="no $KVM on this host"
      echo "# accelerator: tcg ($GQB_ACCEL_WHY)"
      exec "$@"
    fi
    ;;
  kvm)
    [ -e "$KVM" ] || { echo "# accelerator: GQB_ACCEL=kvm, but this host has no $KVM" >&2; exit 2; }
    start=$(date +%s%N)
    if why=$(probe_kvm); then
      export GQB_ACCEL=kvm GQB_ACCEL_WHY="GQB_ACCEL=kvm; KVM booted the test guest in $(( ($(date +%s%N) - start) / 1000000 )) ms"
      echo "# accelerator: kvm ($GQB_ACCEL_WHY)"
      exec "$@"
    fi
    echo "# accelerator: GQB_ACCEL=kvm, but $KVM cannot run the test guest: $why (unset GQB_ACCEL to run under TCG)" >&2
    exit 2
    ;;
  *) echo "# accelerator: GQB_ACCEL=$want: not tcg or kvm" >&2; exit 2 ;;
esac
