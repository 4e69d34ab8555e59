#!/usr/bin/env bash
# Optional end-to-end test under podman 4 (Debian's 4.3.1, CNI network backend) with conf/87-podman-bridge.conflist —
# bridge + host-local + portmap + firewall + tuning, cniVersion 0.4.0, exactly what podman's CNI backend ships and
# writes — run by OUR plugins (dist/bin) only. As root. Installs podman, runc, conmon and busybox-static if missing
# (note: Debian's podman package drops /etc/cni/net.d/87-podman-bridge.conflist on the machine when installed).
# Isolated from the machine as scripts/e2e/containerd.sh is:
#   - a throwaway "host" netns cnits-pod-<rand> in which podman (and so every plugin) runs;
#   - a private mount namespace with overlays on /etc, /opt, /var/lib and /run (podman's netns files, libcni's
#     cache, host-local leases stay private), /usr/lib/cni hidden, podman's storage (--root/--runroot, vfs) and
#     containers.conf under /tmp/cnits-pod-*; containers use --rootfs of a busybox-static tree (no image, no registry).
# Scenario: a container on network "podman" gets 10.88.x.y from our host-local, routes via 10.88.0.1 and pings it;
# `podman run -d -p 8080:80` serves busybox httpd through our portmap (host address and 127.0.0.1); our firewall's
# CNI-FORWARD rules exist for it; `--ip` is honoured; after `podman rm -f` no veth, lease or rule is left and the root
# namespace is unchanged. Prints PASS/FAIL lines and `N passed, N failed`; exits 1 on any failure.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BIN=${CNITS_E2E_BIN:-$ROOT/dist/bin}
if [[ "${1:-}" == --inner ]]; then INNER=1 T=$2; else INNER=0; fi
GW=10.88.0.1 HOSTPORT=8080 STATIC=10.88.0.77

# shellcheck source=lib.sh
source "$ROOT/scripts/e2e/lib.sh" # pass/fail/die/check, private_mounts, finish

# ====================================================================================================================
# inner part: inside the host netns (ip netns exec) and a private mount namespace (unshare -m)
# ====================================================================================================================
if ((INNER)); then
  unset NODE_EXTRA_CA_CERTS NODE_OPTIONS # podman passes its environment on to the plugins
  export CONTAINERS_CONF=$T/containers.conf
  pod() { podman --root "$T/root" --runroot "$T/runroot" --storage-driver vfs "$@"; }
  inner_cleanup() {
    pod rm -f -a -t 0 >/dev/null 2>&1
    echo "$passed $failed" >"$T/inner.result"
  }
  trap inner_cleanup EXIT
  trap 'exit 130' INT TERM HUP

  private_mounts "$T" # cgroups again, overlays on /etc /opt /var/lib /run (lib.sh)
  if [[ -d /usr/lib/cni ]]; then mount -t tmpfs -o ro tmpfs /usr/lib/cni || die "hide /usr/lib/cni"; fi
  pass "private mounts: overlays on /etc /opt /var/lib /run, /usr/lib/cni hidden, plugins only from $BIN"

  leases() { find /var/lib/cni/networks/podman -maxdepth 1 -type f ! -name lock ! -name 'last_reserved_ip*' -printf '%f\n' 2>/dev/null; }
  rules() { nft list ruleset 2>/dev/null; iptables-save 2>/dev/null; ip6tables-save 2>/dev/null; }

  # --- one-shot container: address, route, gateway ---
  out=$(pod run --rm --network podman --rootfs "$T/rootfs" /bin/sh -c \
    'ip -4 -o addr show dev eth0; ip -4 route show default; ping -c1 -W2 '"$GW"' >/dev/null && echo PING-OK' 2>&1)
  echo "$out" | sed 's/^/# /'
  check "podman run --network podman: eth0 has an address in 10.88.0.0/16 from our host-local" sh -c "echo '$out' | grep -qE 'inet 10\.88\.[0-9]+\.[0-9]+/16'"
  check "podman run: default route via $GW" sh -c "echo '$out' | grep -q 'default via $GW dev eth0'"
  check "podman run: the container pings the bridge gateway $GW" sh -c "echo '$out' | grep -q PING-OK"
  check "the --rm container's DEL ran: no lease left" test -z "$(leases)"

  # --- a published port, served by busybox httpd ---
  check "podman run -d -p $HOSTPORT:80 web (busybox httpd)" pod run -d --name web -p "$HOSTPORT:80" --network podman --rootfs "$T/rootfs" /bin/httpd -f -p 80 -h /www
  WEBIP=$(pod inspect -f '{{.NetworkSettings.Networks.podman.IPAddress}}' web 2>/dev/null)
  echo "# web: $WEBIP"
  http_ok() { for _ in 1 2 3 4 5; do curl -sS -m 3 "$1" 2>/dev/null | grep -q 'hello from the busybox image' && return 0; sleep 0.2; done; return 1; }
  check "mapped port: http://$GW:$HOSTPORT/ answers from web" http_ok "http://$GW:$HOSTPORT/"
  check "mapped port: http://127.0.0.1:$HOSTPORT/ answers from web" http_ok "http://127.0.0.1:$HOSTPORT/"
  rules >"$T/rules.during"
  check "our portmap's DNAT to $WEBIP:80 (nft comment \"cni-ts portmap\")" sh -c "grep -q 'comment \"cni-ts portmap\"' '$T/rules.during' && grep -qE ': ${WEBIP//./\\.} \. 80([^0-9]|$)|dnat (ip )?to $WEBIP:80' '$T/rules.during'"
  check "our firewall's CNI-FORWARD rules for $WEBIP" grep -q -- "-A CNI-FORWARD -s $WEBIP/32 -j ACCEPT" "$T/rules.during"
  check "podman run --ip $STATIC: the address podman asked for (CNI_ARGS IP=)" sh -c \
    "podman --root '$T/root' --runroot '$T/runroot' --storage-driver vfs run --rm --network podman --ip $STATIC --rootfs '$T/rootfs' /bin/ip -4 -o addr show dev eth0 | grep -q 'inet $STATIC/16'"

  check "podman rm -f web" pod rm -f -t 0 web
  links=$(ip -o link show 2>/dev/null | awk -F': ' '{sub(/@.*/, "", $2); print $2}' | sort | tr '\n' ' ')
  check "DEL ran: no veth left (links: $links)" test "$links" = "cni-podman0 lo "
  check "DEL ran: no lease left (left: $(leases | tr '\n' ' '))" test -z "$(leases)"
  rules >"$T/rules.after"
  check "DEL ran: no rule mentions $WEBIP or $STATIC" sh -c "! grep -qE '(${WEBIP//./\\.}|${STATIC//./\\.})([^0-9]|$)' '$T/rules.after'"
  check "DEL ran: no DNAT rule or map element left (but portmap's shared dispatch rules on empty maps)" \
    sh -c "! grep -iE 'dnat (ip6? )?to|DNAT --to' '$T/rules.after' | grep -qv 'comment \"cni-ts portmap\"' && ! grep -q ' : [0-9a-f.:]* \. [0-9]' '$T/rules.after'"
  exit 0
fi

# ====================================================================================================================
# outer part: root mount and network namespace
# ====================================================================================================================
[[ $(id -u) == 0 ]] || { echo "must run as root" >&2; exit 1; }
unset NODE_EXTRA_CA_CERTS NODE_OPTIONS
START=$(date +%s%N)
need=()
for c in podman runc conmon curl nsenter; do command -v $c >/dev/null || need+=("$c"); done
dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q 'ok installed' || need+=(busybox-static)
if ((${#need[@]})); then
  need=("${need[@]/nsenter/util-linux}")
  echo "# installing ${need[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${need[@]}" >/dev/null || { echo "FAIL apt-get install ${need[*]}"; echo "0 passed, 1 failed"; exit 1; }
fi
for p in bridge host-local portmap firewall tuning; do
  [[ -x $ROOT/dist/bin/$p ]] || { (cd "$ROOT" && npm run build --silent) || { echo "FAIL npm run build"; echo "0 passed, 1 failed"; exit 1; }; break; }
done

snapshot() {
  ip -o link show
  echo "--- nft"; nft list ruleset 2>&1
  for s in iptables-save ip6tables-save; do echo "--- $s"; $s 2>/dev/null | grep -v '^#' | sed -E 's/ \[[0-9]+:[0-9]+\]$//'; done
  echo "--- sysctl"; sysctl -n net.ipv4.ip_forward net.ipv4.conf.all.forwarding net.ipv6.conf.all.forwarding
  echo "--- dirs"; ls -d /etc/cni/net.d/* /opt/cni /var/lib/cni /var/lib/containers /run/containers /run/libpod /run/netns/netns-* 2>&1
}

RAND=$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')
HOSTNS=cnits-pod-$RAND
T=$(mktemp -d "/tmp/cnits-pod-$RAND.XXXX")
chmod 755 "$T"
snapshot >"$T/root.before"
SUMMARY=0
outer_cleanup() {
  local pids
  if ((!SUMMARY)); then fail "interrupted (cleaning up)"; echo "$passed passed, $failed failed"; fi
  if ip netns list | grep -qw "$HOSTNS"; then
    pids=$(ip netns pids "$HOSTNS" 2>/dev/null)
    [[ -n $pids ]] && kill -9 $pids 2>/dev/null && sleep 0.3
    ip netns del "$HOSTNS"
  fi
  for d in /sys/fs/cgroup/libpod_parent /sys/fs/cgroup/*/libpod_parent; do [[ -d $d ]] && find "$d" -depth -type d -exec rmdir {} + 2>/dev/null; done
  rm -rf "$T"
}
trap outer_cleanup EXIT
trap 'exit 130' INT TERM HUP

# --- rootfs, podman config, the conflist ---
mkdir -p "$T"/{root,runroot,tmp,net.d} "$T/rootfs"/{bin,etc,proc,sys,dev,tmp,www,root,run}
cp /bin/busybox "$T/rootfs/bin/busybox"
for a in $(/bin/busybox --list); do [[ $a == busybox ]] || ln -s busybox "$T/rootfs/bin/$a"; done
echo 'root:x:0:0:root:/root:/bin/sh' >"$T/rootfs/etc/passwd"; echo 'root:x:0:' >"$T/rootfs/etc/group"
echo 'hello from the busybox image' >"$T/rootfs/www/index.html"
cp "$ROOT/conf/87-podman-bridge.conflist" "$T/net.d/"
cat >"$T/containers.conf" <<C
[network]
network_backend = "cni"
cni_plugin_dirs = ["$BIN"]
network_config_dir = "$T/net.d"
default_network = "podman"

[containers]
# root here lacks CAP_SYS_RESOURCE: podman's default ulimits would make the OCI runtime fail
default_ulimits = ["nofile=20000:20000", "nproc=4096:4096"]

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$T/events.log"
tmp_dir = "$T/tmp"
C
findmnt -rn -R -o TARGET,FSTYPE,OPTIONS /sys/fs/cgroup >"$T/cgroup-mounts"

ip netns add "$HOSTNS" && ip -n "$HOSTNS" link set lo up
check "throwaway host netns $HOSTNS created" ip netns pids "$HOSTNS"
timeout -k 20 120 ip netns exec "$HOSTNS" unshare -m --propagation private bash "$ROOT/scripts/e2e/podman.sh" --inner "$T"
if [[ -f $T/inner.result ]]; then
  read -r in_passed in_failed <"$T/inner.result"; passed=$((passed + in_passed)) failed=$((failed + in_failed))
else
  fail "inner scenario did not finish"
fi
check "no process left in $HOSTNS" test -z "$(ip netns pids "$HOSTNS" 2>/dev/null)"
ip netns del "$HOSTNS" 2>/dev/null
finish "ip link, nft, iptables, forwarding sysctls, CNI/podman dirs"
