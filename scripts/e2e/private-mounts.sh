#!/usr/bin/env bash
# private-mounts.sh TMPDIR BINDIR [--] CMD [ARG...]
# Run inside a NEW mount namespace (e.g. `ip netns exec HOSTNS unshare -m --propagation slave private-mounts.sh …`):
# makes the machine's CNI and cnictl state private to it, then execs CMD. Nothing outside the namespace changes:
#   /etc /opt /var/lib /run   copy-on-write overlays whose upper layers live on a tmpfs mounted on TMPDIR
#   /etc/cni/net.d /var/lib/cni /run/cnictl /etc/cnictl /var/lib/cnictl   empty
#   /run/netns                an empty tmpfs (so `ip netns add` mounts land here only and die with the namespace)
#   /opt/cni/bin              BINDIR, read-only (e.g. dist/bin)
# TMPDIR must be an existing empty directory (the caller removes it afterwards).
set -euo pipefail
T=$1 BIN=$2
shift 2
[[ ${1:-} == -- ]] && shift
mount -t tmpfs -o mode=0755 tmpfs "$T"
for d in /etc /opt /var/lib /run; do
  o=$T/${d//\//_}
  mkdir -p "$o/up" "$o/work"
  mount -t overlay overlay -o "lowerdir=$d,upperdir=$o/up,workdir=$o/work" "$d"
done
rm -rf /etc/cni /etc/cnictl /opt/cni /var/lib/cni /var/lib/cnictl /run/cnictl
mkdir -p /etc/cni/net.d /opt/cni/bin /var/lib/cni /run/netns
mount -t tmpfs -o mode=0755 tmpfs /run/netns
mount --bind -o ro "$BIN" /opt/cni/bin
exec "$@"
