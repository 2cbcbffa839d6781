#!/bin/bash -p
# hooks/qemu-launcher: Ganeti's kvm_path, or the QEMU path Ganeti calls once diverted. Written by
# scripts/gen-hooks.mjs from src/launcher/qemu-launcher.sh (@NODE@ is the Node that built the plugin).
#
# bash, not sh: QEMU must get the argv[0] stock Ganeti would have given it (`exec -a`, which dash
# lacks), since QEMU picks KVM or TCG by that name (src/launcher/qemu-name.ts). -p: no BASH_ENV.
#
# Ganeti runs kvm_path for its probes (--help, -machine ?, -device ?, --version) and for every
# instance start. Probes go straight to the real QEMU, byte for byte, without starting Node, once
# src/launcher/pass-through.ts has recorded which QEMU that is, under which name, for the path this
# script was called by and the config file as it is now (the record holds the config's text: any
# edit sends the next call through Node, which checks it). Instance starts (-name in the argv) go
# through Node, which prints the exec arguments (name, real QEMU, rewritten argv) as shell words;
# this script then execs them, so QEMU has this process's pid.
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
  if [ -r "$record" ] && { IFS= read -r called && IFS= read -r name && IFS= read -r qemu &&
    IFS= read -r state && slurp; } <"$record" && [ "$called" = "$0" ] && [ -x "$qemu" ]; then
    if [ "$state" = "absent $config" ]; then
      [ -e "$config" ] || exec -a "$name" "$qemu" "$@"
    elif [ "$state" = "present $config" ] && [ -r "$config" ]; then
      recorded=$text
      slurp <"$config"
      [ "$text" = "$recorded" ] && exec -a "$name" "$qemu" "$@"
    fi
  fi
  ;;
esac
self=$(readlink -f -- "$0") || exit 1
words=$(GQB_LAUNCHER_SELF="$self" GQB_LAUNCHER_CALLED_AS="$0" "@NODE@" "${self%/*}/qemu-launcher-node.cjs" "$@") || exit
eval "exec $words"
