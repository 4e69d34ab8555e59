#!/usr/bin/env bash
# End-to-end test under a real runtime: containerd 1.6's `ctr run --cni` with a conflist of OUR bridge + host-local +
# portmap (dist/bin). As root. Installs containerd, runc and busybox-static if missing, builds a busybox image with no
# registry, and then, isolated from the machine's own network:
#   - a throwaway "host" netns cnits-e2e-<rand> in which a private containerd (root, state, sockets, config under
#     /tmp/cnits-e2e-*) AND ctr run, so every bridge, sysctl and nft/iptables rule the plugins make lives there;
#   - a private mount namespace in which /etc/cni/net.d, /opt/cni/bin, /var/lib/cni (ctr's result cache) and
#     /run/containerd are our temp dirs (overlays, so not even a mount point is created on the host) and
#     /usr/lib/cni (Debian's Go plugins, ctr's fallback CNI_PATH) is hidden: only our plugins can run.
# Two containers (`ctr run --cni`, not detached: ctr 1.6 never runs DEL for a detached container) get addresses from
# our host-local, ping the gateway and each other; a mapped port answers; after `ctr task kill/delete` and
# `ctr container rm` no veth, lease, result cache or masquerade/portmap rule is left, and the root namespace's links,
# nft ruleset and iptables are unchanged. Then a third container runs on kind's default network, the conflist kindnetd
# writes (conf/kind-ptp-portmap.conflist: ptp + host-local with dataDir /run/cni-ipam-state + portmap), with the same
# checks for a routed veth. Last, a pod on the LAN: conf/macvlan-dhcp.conflist (macvlan + dhcp) with the master a veth
# to a LAN netns running dnsmasq, and the dhcp daemon (`dhcp daemon`, on its default socket /run/cni/dhcp.sock: a
# private overlay here) giving the pod its address; the lease is checked on dnsmasq's side: acquired, renewed past T1,
# released when ctr deletes the container (ctr's DEL passes no netns). Prints PASS/FAIL lines and
# `N passed, N failed`; exits 1 on any failure.
#
# ctr has no port-mapping flag (`ctr run --help`: no -p/--publish), so go-cni never sends runtimeConfig.portMappings.
# The first container's conflist therefore carries a static `runtimeConfig.portMappings` on portmap, which libcni
# passes through unchanged (it only injects runtimeConfig for capabilities it has arguments for); the second
# container's conflist (same network) has none.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# CNITS_E2E_BIN: the plugin dir to test (default: our dist/bin). CNITS_E2E_BIN=/usr/lib/cni runs the same scenario
# on Debian's Go plugins 1.1.1, whose bridge DEL (ctr passes no netns) leaks the masquerade rules: those checks FAIL.
BIN=${CNITS_E2E_BIN:-$ROOT/dist/bin}
if [[ "${1:-}" == --inner ]]; then INNER=1 T=$2 RAND=$3; else INNER=0 RAND=$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n'); fi
NET=cnits-e2e            # CNI network name (lease dir, rule comments)
LANNS=cnits-e2e-$RAND-lan # the dhcp pod's LAN (dnsmasq), made inside the inner part's mount namespace
CTRNS=cnitse2e$RAND      # containerd namespace (also the cgroup parent); CNI container ids are "$CTRNS-<name>"
IMAGE=docker.io/library/cnits-e2e-busybox:latest
SUBNET=10.231.7.0/24 GW=10.231.7.1 HOSTPORT=8080 KINDPORT=8081

# shellcheck source=lib.sh
source "$ROOT/scripts/e2e/lib.sh" # pass/fail/die/check, private_mounts, finish

# ====================================================================================================================
# inner part: runs inside the host netns (ip netns exec) and a private mount namespace (unshare -m)
# ====================================================================================================================
if ((INNER)); then
  unset NODE_EXTRA_CA_CERTS NODE_OPTIONS # ctr passes its environment on to the plugins
  export CONTAINERD_ADDRESS=$T/containerd/containerd.sock CONTAINERD_NAMESPACE=$CTRNS
  CD=$T/containerd
  declare -A RUNPID=() # container -> pid of its (backgrounded, not detached) `ctr run`
  # ctr retries a dead socket for long: bound every connection attempt, and skip ctr once our containerd is gone
  ctr() { command ctr --connect-timeout 3s "$@"; }
  alive() { [[ -f $CD/containerd.pid ]] && kill -0 "$(cat "$CD/containerd.pid")" 2>/dev/null; }

  inner_cleanup() {
    local c p
    for c in "${!RUNPID[@]}"; do
      alive && ctr task kill -s KILL "$c" >/dev/null 2>&1
      p=${RUNPID[$c]}
      for _ in $(seq 50); do kill -0 "$p" 2>/dev/null && alive || break; sleep 0.1; done
      kill "$p" 2>/dev/null
      alive && ctr task delete -f "$c" >/dev/null 2>&1
      alive && ctr container rm "$c" >/dev/null 2>&1
    done
    alive && ctr image rm "$IMAGE" >/dev/null 2>&1
    # the dhcp pod's LAN: the daemon, dnsmasq, the LAN netns (mounted in this private mount namespace only)
    for f in /run/cni/dhcp.pid "$T/dnsmasq.pid"; do [[ -f $f ]] && kill "$(cat "$f")" 2>/dev/null; done
    ip netns del "$LANNS" 2>/dev/null
    # shims are daemons (setsid): stop them by their pid files
    for f in "$CD"/state/io.containerd.runtime.v2.task/*/*/shim.pid; do
      [[ -f $f ]] && kill -9 "$(cat "$f")" 2>/dev/null
    done
    if [[ -f $CD/containerd.pid ]]; then
      p=$(cat "$CD/containerd.pid")
      kill "$p" 2>/dev/null
      for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
      kill -9 "$p" 2>/dev/null
      wait "$p" 2>/dev/null
    fi
    echo "$passed $failed" >"$T/inner.result"
  }
  trap inner_cleanup EXIT
  trap 'exit 130' INT TERM HUP

  # --- private mounts: cgroups again, overlays on /etc /opt /var/lib /run (lib.sh) ---
  private_mounts "$T"
  mkdir -p /etc/cni/net.d /opt/cni/bin /var/lib/cni /run/containerd
  mount --bind "$T/net.d" /etc/cni/net.d &&
    mount --bind -o ro "$BIN" /opt/cni/bin &&
    mount --bind "$T/cni-cache" /var/lib/cni || die "bind mounts on /etc/cni/net.d /opt/cni/bin /var/lib/cni"
  if [[ -d /usr/lib/cni ]]; then mount -t tmpfs -o ro tmpfs /usr/lib/cni || die "hide /usr/lib/cni"; fi
  pass "private mounts: /etc/cni/net.d /opt/cni/bin=$BIN /var/lib/cni /run/containerd ours, /usr/lib/cni hidden"

  # --- private containerd ---
  containerd --config "$CD/config.toml" >"$CD/containerd.log" 2>&1 &
  echo $! >"$CD/containerd.pid"
  for _ in $(seq 100); do alive && ctr version >/dev/null 2>&1 && break; sleep 0.1; done
  check "private containerd answers on $CD/containerd.sock" ctr version
  check "image imported" ctr image import "$T/image.tar"

  # ctr_run NAME CONFDIR CMD... : `ctr run --cni` (not detached, so ctr runs DEL when the task exits), in the
  # background, with CONFDIR as /etc/cni/net.d; waits until the task is RUNNING (ADD happens before the start)
  ctr_run() {
    local name=$1 conf=$2; shift 2
    unshare -m --propagation private /bin/sh -c 'mount --bind "$0" /etc/cni/net.d && exec "$@"' "$conf" \
      ctr run --cni "$IMAGE" "$name" "$@" </dev/null >"$T/ctr-$name.log" 2>&1 &
    RUNPID[$name]=$!
    for _ in $(seq 100); do
      ctr task ls 2>/dev/null | awk -v n="$name" '$1 == n && $3 == "RUNNING" {f = 1} END {exit !f}' && return 0
      kill -0 "${RUNPID[$name]}" 2>/dev/null && alive || break
      sleep 0.1
    done
    cat "$T/ctr-$name.log" >&2
    return 1
  }
  task_pid() { ctr task ls 2>/dev/null | awk -v n="$1" '$1 == n {print $2}'; }
  cip() { nsenter -t "$1" -n ip -4 -o addr show dev eth0 2>/dev/null | awk '{split($4, a, "/"); print a[1]; exit}'; }
  in_ctr() { # NAME CMD... : run a command inside the container (ctr task exec)
    local name=$1; shift
    ctr task exec --exec-id "e$RANDOM$RANDOM" "$name" "$@"
  }
  leases() { find "$T/ipam/$NET" -maxdepth 1 -type f ! -name lock ! -name 'last_reserved_ip*' -printf '%f\n' 2>/dev/null; }
  rules() { nft list ruleset 2>/dev/null; for s in iptables-save ip6tables-save iptables-legacy-save ip6tables-legacy-save; do command -v $s >/dev/null && $s 2>/dev/null; done; }

  t0=$(date +%s%N)
  check "ctr run --cni ca (our bridge+host-local+portmap, static port mapping $HOSTPORT->80)" \
    ctr_run ca "$T/net.d-ports" /bin/httpd -f -p 80 -h /www
  check "ctr run --cni cb (same network, no port mapping)" ctr_run cb "$T/net.d" /bin/httpd -f -p 80 -h /www
  echo "# two containers up in $((($(date +%s%N) - t0) / 1000000)) ms"
  PA=$(task_pid ca) PB=$(task_pid cb)
  echo "$PA $PB" >"$T/task.pids"
  for p in $PA $PB; do readlink "/proc/$p/ns/net"; done >"$T/container.netns"
  IPA=$(cip "$PA") IPB=$(cip "$PB")
  echo "# ca: pid $PA eth0 $IPA   cb: pid $PB eth0 $IPB"

  # --- addresses, routes, leases: from our host-local, through our bridge ---
  inrange() { [[ -n $1 && $1 == "${SUBNET%.*}."* && $1 != "$GW" ]]; }
  check "ca has an address in $SUBNET on eth0 ($IPA)" inrange "$IPA"
  check "cb has an address in $SUBNET on eth0 ($IPB)" inrange "$IPB"
  check "the two addresses differ" test "$IPA" != "$IPB"
  lease_is_in() { [[ -f $1/$2 ]] && [[ $(head -n1 "$1/$2" | tr -d '\r') == "$3" ]]; } # DIR IP CONTAINERID
  lease_is() { lease_is_in "$T/ipam/$NET" "$@"; }
  check "host-local lease $T/ipam/$NET/$IPA names container $CTRNS-ca" lease_is "$IPA" "$CTRNS-ca"
  check "host-local lease $T/ipam/$NET/$IPB names container $CTRNS-cb" lease_is "$IPB" "$CTRNS-cb"
  defroute() { [[ $(nsenter -t "$1" -n ip -4 route show default) == "default via $GW dev eth0"* ]]; }
  check "ca: default route via the bridge gateway $GW on eth0" defroute "$PA"
  check "cb: default route via the bridge gateway $GW on eth0" defroute "$PB"
  check "bridge cnie2e0 holds the gateway $GW/24 in the host netns" sh -c "ip -4 -o addr show dev cnie2e0 | grep -q ' $GW/24 '"
  check "two veths on bridge cnie2e0 in the host netns" test "$(ip -o link show master cnie2e0 type veth 2>/dev/null | wc -l)" = 2
  check "ctr's libcni result cache (private /var/lib/cni) holds both ADD results" \
    test -f "$T/cni-cache/results/$NET-$CTRNS-ca-eth0" -a -f "$T/cni-cache/results/$NET-$CTRNS-cb-eth0"

  # --- traffic ---
  check "ca pings the gateway $GW (ctr task exec)" in_ctr ca ping -c1 -W2 "$GW"
  check "cb pings the gateway $GW (ctr task exec)" in_ctr cb ping -c1 -W2 "$GW"
  check "ca pings cb ($IPB)" in_ctr ca ping -c1 -W2 "$IPB"
  check "cb pings ca ($IPA)" in_ctr cb ping -c1 -W2 "$IPA"
  http_ok() { curl -sS -m 3 "$1" | grep -q 'hello from the busybox image'; }
  check "host netns -> ca's httpd directly (http://$IPA/)" http_ok "http://$IPA/"
  check "mapped port: host netns -> http://$GW:$HOSTPORT/ answers from ca" http_ok "http://$GW:$HOSTPORT/"
  check "mapped port: host netns -> http://127.0.0.1:$HOSTPORT/ answers from ca" http_ok "http://127.0.0.1:$HOSTPORT/"
  check "mapped port: cb -> $GW:$HOSTPORT answers from ca" \
    sh -c "ctr task exec --exec-id nc$RANDOM cb sh -c 'printf \"GET / HTTP/1.0\r\n\r\n\" | nc -w 3 $GW $HOSTPORT' | grep -q 'hello from the busybox image'"
  rules >"$T/rules.during"
  check "bridge ipMasq: masquerade rules of ca and cb present while they run" \
    sh -c "grep -q '$CTRNS-ca' '$T/rules.during' && grep -q '$CTRNS-cb' '$T/rules.during' && grep -qi masquerade '$T/rules.during'"
  check "the portmap rules are cni-ts's (nft comment \"cni-ts portmap\")" grep -q 'comment "cni-ts portmap"' "$T/rules.during"
  check "portmap: DNAT $HOSTPORT -> $IPA:80 present while ca runs" grep -qE "tcp \. $HOSTPORT comment \"[^\"]*\" : ${IPA//./\\.} \. 80([^0-9]|$)|dnat (ip )?to $IPA:80|DNAT --to-destination $IPA:80" "$T/rules.during"

  # --- teardown the way a user does it: ctr task kill / delete, ctr container rm ---
  t0=$(date +%s%N)
  ctr_rm() { # NAME : ctr task kill / delete, ctr container rm (ctr's DEL runs as its `ctr run` exits)
    local c=$1 p=${RUNPID[$1]}
    ctr task kill -s KILL "$c" >/dev/null 2>&1
    for _ in $(seq 100); do kill -0 "$p" 2>/dev/null && alive || break; sleep 0.1; done
    wait "$p" 2>/dev/null
    ctr task delete "$c" >/dev/null 2>&1 # usually already deleted by the exiting `ctr run`
    check "ctr container rm $c" ctr container rm "$c"
    unset "RUNPID[$c]"
    if grep -qi 'error' "$T/ctr-$c.log"; then fail "ctr run $c logged no error (DEL ok): $(tr '\n' ' ' <"$T/ctr-$c.log")"; else pass "ctr run $c logged no error (DEL ok)"; fi
  }
  for c in ca cb; do ctr_rm "$c"; done
  echo "# both containers removed in $((($(date +%s%N) - t0) / 1000000)) ms"
  check "no task or container left in containerd" sh -c "! ctr task ls -q | grep -q . && ! ctr container ls -q | grep -q ."
  links=$(ip -o link show 2>/dev/null | awk -F': ' '{sub(/@.*/, "", $2); print $2}' | sort | tr '\n' ' ')
  check "DEL ran: no veth left in the host netns (links: $links)" test "$links" = "cnie2e0 lo "
  check "DEL ran: no lease left in $T/ipam/$NET (left: $(leases | tr '\n' ' '))" test -z "$(leases)"
  check "DEL ran: libcni result cache entries removed" \
    test ! -e "$T/cni-cache/results/$NET-$CTRNS-ca-eth0" -a ! -e "$T/cni-cache/results/$NET-$CTRNS-cb-eth0"
  rules >"$T/rules.after"
  check "DEL ran: no rule, chain or comment of either container left (nft + iptables, v4 + v6, nft + legacy)" \
    sh -c "! grep -qE '$CTRNS-c[ab]|CNI-[0-9a-f]{24}|cnits_dn_' '$T/rules.after'"
  check "DEL ran: no rule mentions $IPA or $IPB" \
    sh -c "! grep -qE '(^|[^0-9])(${IPA//./\\.}|${IPB//./\\.})([^0-9]|$)' '$T/rules.after'"
  check "DEL ran: no DNAT rule or map element left (but portmap's shared dispatch rules on empty maps)" \
    sh -c "! grep -iE 'dnat (ip6? )?to|DNAT --to' '$T/rules.after' | grep -qv 'comment \"cni-ts portmap\"' && ! grep -q ' : [0-9a-f.:]* \. [0-9]' '$T/rules.after'"
  check "DEL ran: no masquerade rule left (but portmap's shared hairpin rules on empty sets)" \
    sh -c "! grep -i masquerade '$T/rules.after' | grep -qv 'comment \"cni-ts portmap\"'"

  # --- kind's default network: ptp + host-local + portmap, exactly as kindnetd writes it (leases in /run/cni-ipam-state,
  # a private overlay here) ---
  KGW=10.244.0.1 KPORT=$KINDPORT KSTATE=/run/cni-ipam-state/kindnet
  check "ctr run --cni ck (kind's conflist: our ptp+host-local+portmap, static port mapping $KPORT->80)" \
    ctr_run ck "$T/net.d-kind" /bin/httpd -f -p 80 -h /www
  PK=$(task_pid ck)
  echo "$PK" >>"$T/task.pids"
  readlink "/proc/$PK/ns/net" >>"$T/container.netns"
  IPK=$(cip "$PK")
  KVETH=$(ip -4 -o route show "$IPK/32" 2>/dev/null | awk '{print $3}')
  echo "# ck: pid $PK eth0 $IPK, host end $KVETH"
  check "ck has an address in 10.244.0.0/24 ($IPK)" sh -c "case '$IPK' in 10.244.0.1|'') exit 1;; 10.244.0.*) exit 0;; *) exit 1;; esac"
  check "host-local lease $KSTATE/$IPK names container $CTRNS-ck" lease_is_in "$KSTATE" "$IPK" "$CTRNS-ck"
  check "ck: default route via $KGW on eth0" sh -c "nsenter -t $PK -n ip -4 route show default | grep -q '^default via $KGW dev eth0'"
  check "ck: no connected route, the subnet via $KGW (ptp)" sh -c "nsenter -t $PK -n ip -4 route show 10.244.0.0/24 | grep -q '^10.244.0.0/24 via $KGW dev eth0 src $IPK'"
  check "host netns: a route to $IPK over veth $KVETH, which holds $KGW/32" sh -c "[ -n '$KVETH' ] && ip -4 -o addr show dev '$KVETH' | grep -q ' $KGW/32 '"
  check "ck pings its gateway $KGW (ctr task exec)" in_ctr ck ping -c1 -W2 "$KGW"
  check "host netns -> ck's httpd directly (http://$IPK/)" http_ok "http://$IPK/"
  check "mapped port: host netns -> http://127.0.0.1:$KPORT/ answers from ck" http_ok "http://127.0.0.1:$KPORT/"
  check "mapped port: host netns -> http://$KGW:$KPORT/ answers from ck" http_ok "http://$KGW:$KPORT/"
  check "mapped port: ck -> its own published port ($KGW:$KPORT, hairpin)" \
    sh -c "ctr task exec --exec-id nc$RANDOM ck sh -c 'printf \"GET / HTTP/1.0\r\n\r\n\" | nc -w 3 $KGW $KPORT' | grep -q 'hello from the busybox image'"
  ctr_rm ck
  links=$(ip -o link show 2>/dev/null | awk -F': ' '{sub(/@.*/, "", $2); print $2}' | sort | tr '\n' ' ')
  check "DEL ran: no veth left in the host netns (links: $links)" test "$links" = "cnie2e0 lo "
  check "DEL ran: no route to $IPK left in the host netns" test -z "$(ip -4 route show "$IPK/32" 2>/dev/null)"
  check "DEL ran: no lease left in $KSTATE" test -z "$(find "$KSTATE" -maxdepth 1 -type f ! -name lock ! -name 'last_reserved_ip*' 2>/dev/null)"
  check "DEL ran: libcni result cache entry removed" test ! -e "$T/cni-cache/results/kindnet-$CTRNS-ck-eth0"
  rules >"$T/rules.kind"
  check "DEL ran: no rule mentions $IPK, no DNAT rule left" sh -c "! grep -qE '${IPK//./\\.}([^0-9]|$)|dnat (ip6? )?to [0-9[]|: [0-9a-f.:]+ \. [0-9]|DNAT --to' '$T/rules.kind'"

  # --- a pod on the LAN: macvlan + dhcp (conf/macvlan-dhcp.conflist), its address from dnsmasq via the dhcp daemon ---
  LANGW=10.231.9.1
  ip netns add "$LANNS" && ip -n "$LANNS" link set lo up &&
    ip link add lan0 type veth peer name lan0p netns "$LANNS" && ip link set lan0 up &&
    ip -n "$LANNS" addr add "$LANGW/24" dev lan0p && ip -n "$LANNS" link set lan0p up || die "the LAN netns $LANNS and its veth"
  ip netns exec "$LANNS" dnsmasq --port=0 --interface=lan0p --bind-interfaces --no-ping --conf-file=/dev/null --user=root --group=root \
    --dhcp-range=10.231.9.50,10.231.9.150,255.255.255.0,2m --dhcp-option=option:T1,2 --dhcp-option=option:T2,4 \
    --dhcp-leasefile="$T/dnsmasq.leases" --log-dhcp --log-facility="$T/dnsmasq.log" --pid-file="$T/dnsmasq.pid" ||
    die "dnsmasq in $LANNS"
  /opt/cni/bin/dhcp daemon -pidfile /run/cni/dhcp.pid >"$T/dhcp-daemon.log" 2>&1 &
  for _ in $(seq 100); do [[ -S /run/cni/dhcp.sock ]] && break; sleep 0.1; done
  check "dhcp daemon ($BIN/dhcp daemon, default flags) serves /run/cni/dhcp.sock" test -S /run/cni/dhcp.sock
  [[ -S /run/cni/dhcp.sock ]] || sed 's/^/# dhcp daemon: /' "$T/dhcp-daemon.log"
  node -e 'const l = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")); l.plugins[0].master = "lan0";
    process.stdout.write(JSON.stringify(l, null, 2));' "$ROOT/conf/macvlan-dhcp.conflist" >"$T/net.d-dhcp/10-lan.conflist"
  check "ctr run --cni cd (conf/macvlan-dhcp.conflist: our macvlan + dhcp, master lan0)" ctr_run cd "$T/net.d-dhcp" /bin/httpd -f -p 80 -h /www
  PD=$(task_pid cd)
  echo "$PD" >>"$T/task.pids"
  readlink "/proc/$PD/ns/net" >>"$T/container.netns"
  IPD=$(cip "$PD")
  CLIENTID=$(printf '\0%s' "$CTRNS-cd/cni-ts-lan/eth0" | od -An -tx1 -v | tr -s ' \n' ':' | sed 's/^://; s/:$//')
  echo "# cd: pid $PD eth0 $IPD, client id $CLIENTID"
  check "cd has an address from dnsmasq's pool ($IPD)" sh -c "case '$IPD' in 10.231.9.5[0-9]|10.231.9.[6-9][0-9]|10.231.9.1[0-4][0-9]|10.231.9.150) exit 0;; *) exit 1;; esac"
  check "dnsmasq's lease file: $IPD for client id 0x00+'$CTRNS-cd/cni-ts-lan/eth0'" grep -q " $IPD .* $CLIENTID\$" "$T/dnsmasq.leases"
  check "cd: default route via the DHCP router $LANGW on eth0" sh -c "nsenter -t $PD -n ip -4 route show default | grep -q '^default via $LANGW dev eth0'"
  check "cd pings the DHCP server $LANGW (ctr task exec)" in_ctr cd ping -c1 -W2 "$LANGW"
  acks() { grep -c "DHCPACK(lan0p) $IPD " "$T/dnsmasq.log"; }
  renewed() { for _ in $(seq 100); do [[ $(acks) -ge 2 ]] && return 0; sleep 0.2; done; return 1; }
  check "the lease is renewed past T1 (2 s): a second DHCPACK for $IPD" renewed
  ctr_rm cd
  released() { for _ in $(seq 50); do grep -q "DHCPRELEASE(lan0p) $IPD " "$T/dnsmasq.log" && return 0; sleep 0.1; done; return 1; }
  check "DEL released the lease (DHCPRELEASE for $IPD in dnsmasq's log)" released
  check "DEL: dnsmasq has no lease left" test -z "$(cat "$T/dnsmasq.leases")"
  check "DEL: the daemon keeps no lease (/run/cni/dhcp-leases empty)" sh -c "! ls -A /run/cni/dhcp-leases 2>/dev/null | grep -q ."
  links=$(ip -o link show 2>/dev/null | awk -F': ' '{sub(/@.*/, "", $2); print $2}' | sort | tr '\n' ' ')
  check "DEL ran: only the bridge, the LAN veth and lo in the host netns (links: $links)" test "$links" = "cnie2e0 lan0 lo "
  exit 0 # inner_cleanup records the counts
fi

# ====================================================================================================================
# outer part: root mount and network namespace
# ====================================================================================================================
[[ $(id -u) == 0 ]] || { echo "must run as root" >&2; exit 1; }
unset NODE_EXTRA_CA_CERTS NODE_OPTIONS
START=$(date +%s%N)

# --- dependencies and build ---
need=()
command -v containerd >/dev/null || need+=(containerd)
command -v runc >/dev/null || need+=(runc)
command -v ctr >/dev/null || need+=(containerd)
dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q 'ok installed' || need+=(busybox-static)
command -v curl >/dev/null || need+=(curl)
command -v dnsmasq >/dev/null || need+=(dnsmasq-base)
command -v nsenter >/dev/null || need+=(util-linux)
if ((${#need[@]})); then
  echo "# installing ${need[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${need[@]}" >/dev/null || { echo "FAIL apt-get install ${need[*]}"; echo "0 passed, 1 failed"; exit 1; }
fi
[[ -x $ROOT/dist/bin/bridge && -x $ROOT/dist/bin/ptp && -x $ROOT/dist/bin/host-local && -x $ROOT/dist/bin/portmap && -x $ROOT/dist/bin/dhcp ]] ||
  (cd "$ROOT" && npm run build --silent) || { echo "FAIL npm run build"; echo "0 passed, 1 failed"; exit 1; }

# --- snapshot of the root namespace (must be unchanged at the end) ---
snapshot() {
  ip -o link show
  echo "--- nft"; nft list ruleset 2>&1
  for s in iptables-save ip6tables-save iptables-legacy-save ip6tables-legacy-save; do
    command -v $s >/dev/null || continue
    echo "--- $s"; $s 2>/dev/null | grep -v '^#' | sed -E 's/ \[[0-9]+:[0-9]+\]$//'
  done
  echo "--- sysctl"; sysctl -n net.ipv4.ip_forward net.ipv4.conf.all.forwarding net.ipv6.conf.all.forwarding
  echo "--- cni dirs"; ls -d /etc/cni /opt/cni /var/lib/cni /run/containerd 2>&1
}

HOSTNS=cnits-e2e-$RAND
T=$(mktemp -d "/tmp/cnits-e2e-$RAND.XXXX")
chmod 755 "$T"
snapshot >"$T/root.before"

SUMMARY=0
outer_cleanup() {
  local p pids
  if ((!SUMMARY)); then fail "interrupted (cleaning up)"; echo "$passed passed, $failed failed"; fi
  # processes the inner part may have left (it kills its own; this is the safety net): container tasks, then anything
  # still in the host netns (containerd, shims, ctr)
  if [[ -f $T/task.pids ]]; then for p in $(cat "$T/task.pids"); do kill -9 "$p" 2>/dev/null; done; fi
  [[ -f $T/dnsmasq.pid ]] && kill -9 "$(cat "$T/dnsmasq.pid")" 2>/dev/null # in the LAN netns, not the host's
  for f in /sys/fs/cgroup/*/"$CTRNS"/*/cgroup.procs /sys/fs/cgroup/"$CTRNS"/*/cgroup.procs; do
    [[ -f $f ]] && for p in $(cat "$f"); do kill -9 "$p" 2>/dev/null; done
  done
  if ip netns list | grep -qw "$HOSTNS"; then
    pids=$(ip netns pids "$HOSTNS" 2>/dev/null)
    [[ -n $pids ]] && kill -9 $pids 2>/dev/null && sleep 0.3
    ip netns del "$HOSTNS"
  fi
  sleep 0.2
  for d in /sys/fs/cgroup/*/"$CTRNS"/* /sys/fs/cgroup/"$CTRNS"/*; do [[ -d $d ]] && rmdir "$d" 2>/dev/null; done
  for d in /sys/fs/cgroup/*/"$CTRNS" /sys/fs/cgroup/"$CTRNS"; do [[ -d $d ]] && rmdir "$d" 2>/dev/null; done
  rm -rf "$T"
}
trap outer_cleanup EXIT
trap 'exit 130' INT TERM HUP

# --- temp dirs, configs, image ---
mkdir -p "$T"/{net.d,net.d-ports,net.d-kind,net.d-dhcp,cni-cache,ipam,containerd,image}
findmnt -rn -R -o TARGET,FSTYPE,OPTIONS /sys/fs/cgroup >"$T/cgroup-mounts"
conflist() { # static runtimeConfig JSON for portmap, or empty
  local rc=''
  [[ -n ${1:-} ]] && rc=", \"runtimeConfig\": $1"
  cat <<J
{
  "cniVersion": "1.0.0",
  "name": "$NET",
  "plugins": [
    { "type": "bridge", "bridge": "cnie2e0", "isGateway": true, "isDefaultGateway": true, "ipMasq": true,
      "hairpinMode": true,
      "ipam": { "type": "host-local", "dataDir": "$T/ipam", "ranges": [[{ "subnet": "$SUBNET", "gateway": "$GW" }]] } },
    { "type": "portmap", "capabilities": { "portMappings": true }$rc }
  ]
}
J
}
conflist >"$T/net.d/10-cnits-e2e.conflist"
conflist "{ \"portMappings\": [{ \"hostPort\": $HOSTPORT, \"containerPort\": 80, \"protocol\": \"tcp\" }] }" \
  >"$T/net.d-ports/10-cnits-e2e.conflist"
# kind's network: conf/kind-ptp-portmap.conflist as it is, plus a static port mapping (ctr cannot pass one)
node -e 'const [f, port] = process.argv.slice(1); const l = JSON.parse(require("fs").readFileSync(f, "utf8"));
  l.plugins[1].runtimeConfig = { portMappings: [{ hostPort: Number(port), containerPort: 80, protocol: "tcp" }] };
  process.stdout.write(JSON.stringify(l, null, 2));' "$ROOT/conf/kind-ptp-portmap.conflist" "$KINDPORT" >"$T/net.d-kind/10-kindnet.conflist"
cat >"$T/containerd/config.toml" <<C
version = 2
root = "$T/containerd/root"
state = "$T/containerd/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$T/containerd/containerd.sock"
[ttrpc]
  address = "$T/containerd/containerd.sock.ttrpc"
[debug]
  address = "$T/containerd/debug.sock"
C

build_image() { # OCI image layout tar with a static busybox rootfs, no registry
  local O=$T/image R=$T/image/rootfs d ld ls cd cs md ms
  mkdir -p "$O/blobs/sha256" "$R"/{bin,etc,proc,sys,dev,tmp,www,root}
  cp /bin/busybox "$R/bin/busybox"
  for a in $(/bin/busybox --list); do [[ $a == busybox ]] || ln -s busybox "$R/bin/$a"; done
  echo 'root:x:0:0:root:/root:/bin/sh' >"$R/etc/passwd"; echo 'root:x:0:' >"$R/etc/group"
  echo 'hello from the busybox image' >"$R/www/index.html"
  tar --numeric-owner --owner=0 --group=0 --sort=name --mtime=@0 -C "$R" -cf "$O/layer.tar" . || return 1
  put() { d=$(sha256sum "$1" | cut -d' ' -f1); mv "$1" "$O/blobs/sha256/$d"; echo "$d"; }
  ld=$(put "$O/layer.tar"); ls=$(stat -c %s "$O/blobs/sha256/$ld")
  printf '%s' "{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{\"Env\":[\"PATH=/bin\"],\"Cmd\":[\"/bin/sh\"],\"WorkingDir\":\"/\"},\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"sha256:$ld\"]}}" >"$O/config.json"
  cd=$(put "$O/config.json"); cs=$(stat -c %s "$O/blobs/sha256/$cd")
  printf '%s' "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":\"sha256:$cd\",\"size\":$cs},\"layers\":[{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar\",\"digest\":\"sha256:$ld\",\"size\":$ls}]}" >"$O/manifest.json"
  md=$(put "$O/manifest.json"); ms=$(stat -c %s "$O/blobs/sha256/$md")
  echo '{"imageLayoutVersion":"1.0.0"}' >"$O/oci-layout"
  printf '%s' "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"sha256:$md\",\"size\":$ms,\"annotations\":{\"io.containerd.image.name\":\"$IMAGE\",\"org.opencontainers.image.ref.name\":\"latest\"}}]}" >"$O/index.json"
  tar -C "$O" -cf "$T/image.tar" oci-layout index.json blobs
}
check "busybox image built (OCI layout, no registry)" build_image
[[ $(uname -m) == x86_64 ]] || echo "# note: image config says amd64; this machine is $(uname -m)"

# --- the scenario, inside the host netns and a private mount namespace ---
ip netns add "$HOSTNS" && ip -n "$HOSTNS" link set lo up
check "throwaway host netns $HOSTNS created" ip netns pids "$HOSTNS"
# (watchdog: the inner part normally takes a few seconds; on timeout it gets TERM and cleans up, then KILL)
timeout -k 20 120 ip netns exec "$HOSTNS" unshare -m --propagation private \
  bash "$ROOT/scripts/e2e/containerd.sh" --inner "$T" "$RAND"
if [[ -f $T/inner.result ]]; then
  read -r in_passed in_failed <"$T/inner.result"; passed=$((passed + in_passed)) failed=$((failed + in_failed))
else
  fail "inner scenario did not finish"
fi

# --- nothing left, root namespace unchanged ---
check "no process left in $HOSTNS" test -z "$(ip netns pids "$HOSTNS" 2>/dev/null)"
gone_netns() { # the containers' network namespaces (by inode) are held by no process
  local ino p
  [[ -s $T/container.netns ]] || return 1
  for ino in $(cat "$T/container.netns"); do
    for p in /proc/[0-9]*/ns/net; do [[ $(readlink "$p" 2>/dev/null) == "$ino" ]] && return 1; done
  done
  return 0
}
check "the containers' network namespaces are gone" gone_netns
check "no cgroup of containerd namespace $CTRNS left below the root cgroups" \
  sh -c "! ls -d /sys/fs/cgroup/*/$CTRNS/*/ /sys/fs/cgroup/$CTRNS/*/ 2>/dev/null | grep -q ."
ip netns del "$HOSTNS" 2>/dev/null
for d in /sys/fs/cgroup/*/"$CTRNS" /sys/fs/cgroup/"$CTRNS"; do [[ -d $d ]] && rmdir "$d" 2>/dev/null; done
finish "ip link, nft ruleset, iptables-save, forwarding sysctls, /etc/cni /opt/cni /var/lib/cni /run/containerd"
