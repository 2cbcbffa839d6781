#!/bin/sh
# hooks/qemu-launcher: Ganeti's kvm_path, or the QEMU path Ganeti calls once diverted. Written by
# scripts/gen-hooks.mjs from src/launcher/qemu-launcher.sh (@NODE@ is the Node that built the plugin;
# the config and cache paths, their variables and the record's name: src/host/plugin-files.ts).
#
# Ganeti runs kvm_path for its probes (--help, -machine ?, -device ?, --version) and for every
# instance start. Probes go straight to the real QEMU, byte for byte, without starting Node, once
# src/launcher/pass-through.ts has recorded which QEMU that is, for the path this script was called
# by and the config file as it is now (the record holds the config's text: any edit sends the next
# call through Node, which checks it). The path recorded has the file name of the QEMU stock
# Ganeti would have run (src/launcher/qemu-name.ts): QEMU picks KVM or TCG by that name.
# Everything else goes through Node, which prints the exec arguments as shell words for this
# script to exec (so QEMU has this process's pid): through Perl, which sets QEMU's argv[0] to the
# stock name (`exec -a` is not POSIX).
# shellcheck disable=SC2124 # the at-signed words are names scripts/gen-hooks.mjs writes in
config=${@CONFIG_PATH_VARIABLE@:-@DEFAULT_CONFIG_PATH@}
# shellcheck disable=SC2124
record=${@CACHE_DIR_VARIABLE@:-@DEFAULT_CACHE_DIR@}/@PASS_THROUGH_FILE@
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
  # Only a record of our own user's ([ -O ]; written 0600): one planted by another user is ignored.
  if [ -r "$record" ] && [ -O "$record" ] && { IFS= read -r called && IFS= read -r qemu && IFS= read -r state && slurp; } <"$record" &&
    [ "$called" = "$0" ] && [ -x "$qemu" ]; then
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
words=$(GQB_LAUNCHER_SELF="$self" GQB_LAUNCHER_CALLED_AS="$0" "@NODE@" "${self%/*}/qemu-launcher-node.cjs" "$@") || exit
# No words: the Node part ran QEMU itself (to set I/O limits before the guest runs), and it worked.
[ -n "$words" ] || exit 0
eval "exec $words"
