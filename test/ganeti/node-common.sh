# What the test scripts share: for the clusters, Ganeti 3.0 on the host (lib.sh) and 3.1 in the trixie
# chroot (test/debian13/lib.sh): stopping what a pid file names, a node's sshd, and waiting for the
# master daemon; for the chroots (test/debian12/lib.sh too), the Debian archive. Sourced, not run;
# `say` comes from the script that sources it.
# shellcheck shell=bash

# kill_pidfiles FILE...: whatever those pid files name, killed by that pid, never by name.
kill_pidfiles() {
  local f pid
  for f in "$@"; do
    [ -f "$f" ] || continue
    pid=$(cat "$f" 2>/dev/null || true)
    [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null || true
    rm -f "$f"
  done
}

# sshd_config IP DIR N: the config of node N's sshd, listening on IP only; DIR (as the sshd sees it)
# holds the shared authorized_keys (DIR/ssh) and its pid file. Printed, for the caller to write.
sshd_config() {
  cat <<EOF2
ListenAddress $1
Port 22
HostKey /etc/ssh/ssh_host_rsa_key
HostKey /etc/ssh/ssh_host_ecdsa_key
HostKey /etc/ssh/ssh_host_ed25519_key
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
AuthorizedKeysFile $2/ssh/authorized_keys
StrictModes no
PidFile $2/sshd$3.pid
Subsystem sftp /usr/lib/openssh/sftp-server
EOF2
}

# wait_master [RUN...]: until the master daemon answers (`gnt-cluster info` asks it; getmaster
# only reads local files); RUN prefixes the command (a namespace entry), none on the host.
wait_master() {
  for _ in $(seq 1 60); do "$@" gnt-cluster info >/dev/null 2>&1 && return 0; sleep 1; done
  say "the master daemon did not answer within 60 s"
  return 1
}

# The Debian archive this machine's apt uses (its release's, not -updates or -security): where a
# debootstrap of another release finds its packages.
mirror() {
  apt-get indextargets --format '$(REPO_URI) $(RELEASE)' 2>/dev/null |
    awk '$2 !~ /-/ {sub("/$", "", $1); print $1; exit}'
}
