#!/bin/sh
# hooks/qemu-launcher: Ganeti's kvm_path. Written by scripts/gen-hooks.mjs from
# src/launcher/qemu-launcher.sh (@NODE@ is the Node that built the plugin).
#
# Ganeti runs kvm_path for its probes (--help, -machine ?, -device ?, --version) and for every
# instance start. Probes go straight to the real QEMU, byte for byte, without starting Node, once
# src/launcher/pass-through.ts has recorded which QEMU that is for the config file as it is now
# (the record holds the config's text: any edit sends the next call through Node, which checks it).
# Instance starts (-name in the argv) go through Node, which prints the real QEMU and its
# rewritten argv as shell words; this script then execs it, so QEMU has this process's pid.
config=${GANETI_QEMU_BLOCKDEV_CONFIG:-/etc/ganeti-qemu-blockdev/config.json}
record=${GANETI_QEMU_BLOCKDEV_CACHE_DIR:-/var/cache/ganeti-qemu-blockdev}/launcher-qemu
# Reads the rest of stdin into $text, a newline after every line (builtins only: no fork).
slurp() {
  text=
  while IFS= read -r line || [ -n "$line" ]; do
    text="$text$line
"
  done
}
case " $* " in
*" -name "*) ;;
*)
  if [ -r "$record" ] && { IFS= read -r qemu && IFS= read -r state && slurp; } <"$record"; then
    if [ "$state" = "absent $config" ]; then
      [ -e "$config" ] || exec "$qemu" "$@"
    elif [ "$state" = "present $config" ] && [ -r "$config" ]; then
      recorded=$text
      slurp <"$config"
      [ "$text" = "$recorded" ] && exec "$qemu" "$@"
    fi
  fi
  ;;
esac
self=$(readlink -f -- "$0") || exit 1
words=$(GQB_LAUNCHER_SELF="$self" "@NODE@" "${self%/*}/qemu-launcher-node.cjs" "$@") || exit
eval "exec $words"
