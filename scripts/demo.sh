#!/usr/bin/env bash
# npm start: cnictl in two minutes — a network, a web server sandbox publishing a port, a client sandbox that reaches
# it by name, the published port from the host and from "outside", a second network that cannot reach the first (and
# a sandbox on both that reaches both), the NAT and isolation rules behind it, and everything removed.
# As root. Builds first when needed. Nothing on the machine changes: it all happens inside a throwaway "host" network
# namespace (cnits-demo-*) and a private mount namespace in which /etc/cni/net.d, /opt/cni/bin (= dist/bin),
# /var/lib/cni, /run/cnictl and /run/netns are private (scripts/e2e/private-mounts.sh).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

if [[ ${1:-} == --inner ]]; then
  export PATH=$ROOT/dist/bin:$PATH
  unset NODE_EXTRA_CA_CERTS NODE_OPTIONS
  B=$'\e[1m' C=$'\e[36m' N=$'\e[0m'
  [[ -t 1 ]] || B='' C='' N=''
  say() { printf '\n%s# %s%s\n' "$B" "$*" "$N"; }
  show() { printf '%s$ %s%s\n' "$C" "$*" "$N"; }
  run() { show "$*"; local t=$(date +%s%N); "$@"; [[ -n ${DEMO_TIMING:-} ]] && echo "  ($(( ($(date +%s%N) - t) / 1000000 )) ms)"; true; }
  # as run, but shows $SHOWN instead of the expanded command (the scripts are long)
  runs() { show "$SHOWN"; "$@"; }
  SERVER="require('http').createServer((q, s) => s.end('hello from ' + require('os').hostname() + ' (' + q.socket.remoteAddress + ')\n')).listen(80, () => console.log('listening on :80'))"
  FETCH="fetch(process.argv[1], { signal: AbortSignal.timeout(3000) }).then((r) => r.text()).then((t) => process.stdout.write(t), (e) => { console.log('failed:', e.cause?.code ?? e.name); process.exit(1); })"

  # "the internet": a namespace behind this host, reachable through 192.0.2.1 -> 192.0.2.2, with no route back to
  # the sandboxes' subnets (so their traffic has to be masqueraded)
  ip netns add outside
  ip link add up0 type veth peer name o0 netns outside
  ip addr add 192.0.2.1/24 dev up0 && ip link set up0 up
  ip -n outside addr add 192.0.2.2/24 dev o0 && ip -n outside link set o0 up && ip -n outside link set lo up
  ip route add default via 192.0.2.2
  # the host's nameserver is out of reach from here: name lookups that miss /etc/hosts go to "outside", which has no
  # DNS server and says so at once (this resolv.conf is private to the demo's mount namespace)
  echo 'nameserver 192.0.2.2' >/etc/resolv.conf

  say "Create a network (a conflist in NETCONFPATH: bridge + host-local + portmap, + firewall, tuning, bandwidth; subnet chosen as Docker does)"
  run cnictl network create demo-net
  run cnictl network ls

  say "A web server sandbox: a host command in its own network, UTS and mount namespaces, port 8080 published"
  show "SERVER=\"require('http').createServer((q, s) => s.end('hello from ' + os.hostname() …)).listen(80)\""
  SHOWN='cnictl run -d --name web --network demo-net -p 8080:80 -- node -e "$SERVER"' runs cnictl run -d --name web --network demo-net -p 8080:80 -- node -e "$SERVER"
  for _ in $(seq 50); do cnictl logs web | grep -q listening && break; sleep 0.1; done
  run cnictl logs web

  say "A second sandbox, db, on the same network: it finds web by name (its /etc/hosts is kept up to date)"
  run cnictl run -d --name db --network demo-net -- sleep 600
  run cnictl exec db -- getent hosts web
  show 'FETCH="fetch(process.argv[1], { signal: AbortSignal.timeout(3000) }).then((r) => r.text()).then(…)"   # a one-line Node HTTP client'
  SHOWN='cnictl exec db -- node -e "$FETCH" http://web/' runs cnictl exec db -- node -e "$FETCH" http://web/

  say "The published port: from the host, and from outside through the host's address"
  SHOWN='node -e "$FETCH" http://127.0.0.1:8080/' runs node -e "$FETCH" http://127.0.0.1:8080/
  SHOWN='ip netns exec outside node -e "$FETCH" http://192.0.2.1:8080/' runs ip netns exec outside node -e "$FETCH" http://192.0.2.1:8080/
  run cnictl port web

  say "Sandboxes reach the outside, masqueraded behind the host's address"
  if command -v ping >/dev/null; then
    run cnictl exec db -- ping -c 1 -W 2 192.0.2.2
  else
    SHOWN='cnictl exec db -- node -e "$FETCH" http://192.0.2.2:9/   # (no ping installed: a refused connection proves the route)' runs cnictl exec db -- node -e "$FETCH" http://192.0.2.2:9/ || true
  fi

  say "Networks are isolated, as Docker's: a sandbox on another network cannot reach demo-net's sandboxes"
  run cnictl network create other-net
  SHOWN='cnictl run -d --name lonely --network other-net -- node -e "$SERVER"' runs cnictl run -d --name lonely --network other-net -- node -e "$SERVER"
  for _ in $(seq 50); do cnictl logs lonely | grep -q listening && break; sleep 0.1; done
  WEB_IP=$(cnictl exec web -- ip -4 -o addr show eth0 | awk '{ print $4 }' | cut -d/ -f1)
  SHOWN="cnictl exec lonely -- node -e \"\$FETCH\" http://$WEB_IP/   # web's address on demo-net" runs cnictl exec lonely -- node -e "$FETCH" "http://$WEB_IP/" || true
  say "A sandbox on both networks reaches both (db joins other-net as eth1; names resolve there too)"
  run cnictl network connect other-net db
  SHOWN='cnictl exec db -- node -e "$FETCH" http://lonely/' runs cnictl exec db -- node -e "$FETCH" http://lonely/
  SHOWN='cnictl exec db -- node -e "$FETCH" http://web/' runs cnictl exec db -- node -e "$FETCH" http://web/

  say "What made it work: portmap's DNAT, bridge's masquerade and the firewall's isolation, on the host side"
  show "nft list map ip cni_hostport cnits_dnat   # portmap: host port -> container address . port"
  nft list map ip cni_hostport cnits_dnat 2>/dev/null | grep -E 'type|elements' | sed 's/^[[:space:]]*/    /'
  show "nft list ruleset | grep masquerade          # bridge's ipMasq (iptables-nft) and portmap's hairpin"
  nft list ruleset 2>/dev/null | grep -E 'masquerade' | sed 's/^[[:space:]]*/    /'
  show "iptables -S CNI-ISOLATION-STAGE-2           # firewall (ingressPolicy same-bridge): into a network's bridge from another bridge: dropped"
  iptables -S CNI-ISOLATION-STAGE-2 2>/dev/null | sed 's/ -m comment --comment "[^"]*"//; s/^/    /'
  run cnictl network inspect demo-net

  say "Remove it all: sandboxes, networks and their kernel state (namespaces, veths, leases, rules) go away"
  run cnictl ps
  run cnictl rm -f web db lonely
  run cnictl network rm demo-net other-net
  run cnictl ps -a
  show "ip netns list; ls /var/lib/cni/results /var/lib/cni/networks"
  ip netns list | grep -v '^outside' || true
  ls /var/lib/cni/results /var/lib/cni/networks 2>/dev/null || true
  # a mapping left behind would be a map element (": <addr> . <port>") or a per-container rule ("dnat to <addr>:<port>")
  nft list ruleset 2>/dev/null | grep -E ': [0-9a-f.:]+ \. [0-9]+|dnat (ip6? )?to [0-9[]' && { echo "a DNAT mapping was left behind" >&2; exit 1; }
  exit 0
fi

[[ $(id -u) == 0 ]] || { echo "The demo creates network namespaces and bridges (in a throwaway namespace): run it as root, e.g. sudo npm start" >&2; exit 1; }
unset NODE_EXTRA_CA_CERTS NODE_OPTIONS
command -v nft >/dev/null && command -v ip >/dev/null && command -v unshare >/dev/null || "$ROOT/scripts/deps.sh"
# build when an executable is missing or older than a source file
if [[ ! -x $ROOT/dist/bin/cnictl || ! -e $ROOT/dist/bin/cni-ts ]] || [[ -n $(find "$ROOT/cli" "$ROOT/lib" "$ROOT/plugins" "$ROOT/ipam" -name '*.ts' -newer "$ROOT/dist/bin/cni-ts" -print -quit) ]]; then
  echo "# building (npm run build)"
  (cd "$ROOT" && npm run build --silent)
fi

RAND=$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')
HOSTNS=cnits-demo-$RAND
T=$(mktemp -d "/tmp/cnits-demo-$RAND.XXXX") # the private mounts' tmpfs goes on it
S=$(mktemp -d "/tmp/cnits-demo-$RAND-snap.XXXX") # the machine's state before and after
snapshot() { ip -o link show; nft list ruleset 2>&1; ip netns list | grep -E 'cnictl-|cnits-demo' || true; ls -d /etc/cni /var/lib/cni /run/cnictl 2>&1 || true; }
snapshot >"$S/before"
cleanup() {
  set +e
  local pids
  pids=$(ip netns pids "$HOSTNS" 2>/dev/null)
  [[ -n $pids ]] && kill -9 $pids 2>/dev/null
  ip netns del "$HOSTNS" 2>/dev/null
  rm -rf "$T"
  snapshot >"$S/after"
  local changes
  changes=$(diff "$S/before" "$S/after")
  rm -rf "$S" # before printing: a closed stdout (| head) must not leave it behind
  if [[ -z $changes ]]; then echo; echo "# The machine's own links, nft ruleset, namespaces and CNI dirs are unchanged."; else echo "$changes"; fi
}
trap cleanup EXIT
ip netns add "$HOSTNS"
ip -n "$HOSTNS" link set lo up
echo "# All of this runs in a throwaway host network namespace ($HOSTNS) with private CNI and cnictl directories."
timeout -k 10 180 ip netns exec "$HOSTNS" unshare -m --propagation slave \
  bash "$ROOT/scripts/e2e/private-mounts.sh" "$T" "$ROOT/dist/bin" -- bash "$ROOT/scripts/demo.sh" --inner
