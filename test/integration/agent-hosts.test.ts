/**
 * cni-ts-agent on hosts that look like real ones (issue 16), on the multi-node namespace cluster with a real etcd:
 * FORWARD policy DROP (iptables-nft like Docker, iptables-legacy with a final REJECT, an nft base chain we cannot
 * open, the opt-out), a node rejoining after --cleanup with a new subnet (the bridge re-addressed), the subnet and the
 * node's address and MTU changing while it runs, an IPv6 underlay over many resyncs under a continuous ping, a reboot
 * (state in /var/lib, the conflist gated until the subnet is confirmed), two machines with one node name, liveness vs
 * readiness with bad host-gw peers, a failing nft (no conflist), the lease TTL etcd grants, and a watch that dies
 * silently. Every node is a namespace; every file lives in the cluster's temp dirs.
 */
import { spawn } from 'node:child_process';
import { existsSync, lstatSync, readFileSync, readlinkSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Cluster, ETCD_URL, UNDERLAY_GW, haveEtcd, waitFor, type Agent, type Node } from '../helpers/cluster.js';
import { DIST, ROOT, isRoot, ping, pluginEnv, sh, shOk } from '../helpers/harness.js';

let cluster: Cluster | undefined;
const procs: Array<{ kill: (s?: NodeJS.Signals) => boolean }> = [];
afterEach(async () => {
  for (const p of procs.splice(0)) p.kill('SIGKILL');
  await cluster?.cleanup();
  cluster = undefined;
});

const CIDR = '10.244.0.0/22';

async function bed(n: number, o: { etcd?: string[]; underlay6?: boolean } = {}): Promise<Cluster> {
  const c = new Cluster('agh');
  cluster = c;
  for (let i = 0; i < n; i++) c.addNode({ underlay6: o.underlay6 });
  await c.startEtcd(o.etcd && { extraArgs: o.etcd });
  for (const node of c.nodes) {
    const r = await c.runAgent(node, ['--install-cni', DIST, '--cni-bin-dir', node.binDir]);
    expect(r.status, r.log).toBe(0);
  }
  return c;
}

const args = (c: Cluster, node: Node, backend: string, extra: string[] = []): string[] => c.agentArgs(node, ['--cluster-cidr', CIDR, '--backend', backend, '--lease-ttl', '6', '--resync-interval', '2', ...extra]);
const start = (c: Cluster, node: Node, backend: string, extra: string[] = [], env: Record<string, string> = {}): Agent => c.startAgent(node, args(c, node, backend, extra), env);
const ready = (a: Agent): Promise<RegExpMatchArray> => a.waitLog(/wrote .*10-cni-ts\.conflist/);
const gw = (subnet: string): string => `${subnet.split('/')[0]!.replace(/\.0$/, '.1')}/${subnet.split('/')[1]}`;

/** The first ping to a pod just created: a few tries (a loaded machine), then it must answer. */
const firstPing = (from: string, ip: string): Promise<boolean> => waitFor(`${from} to reach ${ip}`, () => ping(from, ip), 15_000, 200);

/** Run a command in a node's namespace (iptables-legacy's lock in the cluster's temp dir). */
const inNode = (c: Cluster, node: Node, cmd: string[], input?: string) => sh('ip', ['netns', 'exec', node.netns, 'env', `XTABLES_LOCKFILE=${c.xtablesLock}`, ...cmd], input);

describe.skipIf(!isRoot || !haveEtcd)('cni-ts-agent on real-looking hosts', () => {
  it('FORWARD policy DROP: accept rules for the cluster CIDR in the backend the host uses (nft, legacy); an nft drop chain is reported; opt-out; --cleanup removes only ours', async () => {
    const c = await bed(3);
    const [n1, n2, n3] = c.nodes as [Node, Node, Node];
    // node-1: Docker's iptables (nf_tables backend): FORWARD policy DROP, DOCKER-USER first.
    expect(inNode(c, n1, ['iptables-nft-restore', '--noflush'], '*filter\n:FORWARD DROP [0:0]\n:DOCKER-USER - [0:0]\n-A FORWARD -j DOCKER-USER\n-A DOCKER-USER -j RETURN\nCOMMIT\n').status).toBe(0);
    // node-2: an older host on iptables-legacy: policy DROP and a final REJECT.
    expect(inNode(c, n2, ['iptables-legacy-restore', '-w', '--noflush'], '*filter\n:FORWARD DROP [0:0]\n-A FORWARD -j REJECT --reject-with icmp-host-prohibited\nCOMMIT\n').status).toBe(0);
    // node-3: policy DROP, and the agent told to leave FORWARD alone.
    expect(inNode(c, n3, ['iptables-nft', '-P', 'FORWARD', 'DROP']).status).toBe(0);
    const [a1, a2, a3] = [start(c, n1, 'vxlan'), start(c, n2, 'vxlan'), start(c, n3, 'vxlan', ['--iptables-forward-rules=false'])];
    await Promise.all([a1, a2, a3].map(ready));
    for (const n of c.nodes) await waitFor(`${n.name} to route to both peers`, () => c.agentRoutes(n.netns).length === 2);
    const [p1, p2, p3] = [c.addPod(n1, 'p1'), c.addPod(n2, 'p2'), c.addPod(n3, 'p3')];
    await firstPing(p1.netns, p2.ip);
    expect(ping(p2.netns, p1.ip)).toBe(true);
    // Opted out on a DROP host: pods of node-3 cannot reach other nodes (what every node was like before).
    expect(ping(p3.netns, p1.ip)).toBe(false);
    expect(a3.log).toMatch(/warning: no FORWARD rules of ours \(--iptables-forward-rules=false\)/);

    const nft1 = c.iptablesSave(n1);
    expect(nft1).toContain(':FORWARD DROP');
    expect(nft1).toContain('-A CNI-TS-FWD -s 10.244.0.0/22 -m comment --comment "cni-ts-agent forward" -j ACCEPT');
    expect(nft1).toContain('-A CNI-TS-FWD -d 10.244.0.0/22 -m comment --comment "cni-ts-agent forward" -j ACCEPT');
    const fwd1 = nft1.split('\n').filter((l) => l.startsWith('-A FORWARD'));
    expect(fwd1).toEqual(['-A FORWARD -m comment --comment "cni-ts-agent forward" -j CNI-TS-FWD', '-A FORWARD -j DOCKER-USER']);
    expect(a1.log).toMatch(/forwarding: accept forwarded traffic to and from 10\.244\.0\.0\/22 \(iptables-nft IPv4 chain CNI-TS-FWD; FORWARD policy DROP\)/);
    // node-2: the legacy tables are where the drop lives, so our rules are there (and in nft, the default backend).
    const legacy2 = inNode(c, n2, ['iptables-legacy-save']).stdout;
    expect(legacy2).toMatch(/-A FORWARD -m comment --comment "cni-ts-agent forward" -j CNI-TS-FWD\n-A FORWARD -j REJECT/);
    expect(a2.log).toMatch(/\(iptables-legacy IPv4 chain CNI-TS-FWD; FORWARD policy DROP\)/);
    expect(c.probe(n1, '/readyz').code).toBe(200);
    // Resyncs (every 2 s) find the rules in place and change nothing: added once per backend and family.
    await new Promise((r) => setTimeout(r, 4500));
    expect(a1.log.match(/forwarding: accept forwarded traffic/g), a1.log).toHaveLength(1);
    expect(a2.log.match(/forwarding: accept forwarded traffic/g), a2.log).toHaveLength(2); // nft (the default) and legacy

    // A drop we cannot open: an nft base chain of another program with policy drop. Reported (log, readiness).
    expect(inNode(c, n1, ['nft', '-f', '-'], 'table inet hostfw {\n chain hostforward {\n  type filter hook forward priority 10; policy drop;\n }\n}\n').status).toBe(0);
    await a1.waitLog(/not ready: forwarding blocked: nft chain inet hostfw hostforward \(hook forward\) has policy drop: .*nft insert rule inet hostfw hostforward ip saddr 10\.244\.0\.0\/22 accept/);
    const r = c.probe(n1, '/readyz');
    expect(r.code).toBe(503);
    expect(r.body.notReady.join()).toMatch(/forwarding blocked: nft chain inet hostfw hostforward/);
    expect(c.probe(n1, '/healthz').code).toBe(200);
    expect(ping(p2.netns, p1.ip)).toBe(false); // the report is true: that chain drops it
    expect(inNode(c, n1, ['nft', 'delete', 'table', 'inet', 'hostfw']).status).toBe(0);
    await waitFor('node-1 ready again', () => c.probe(n1, '/readyz').code === 200, 20_000, 300);
    expect(ping(p2.netns, p1.ip)).toBe(true);

    // --cleanup: our chain and jump go; the policy and the host's own rules stay as they were.
    for (const [a, n] of [[a1, n1], [a2, n2]] as const) {
      expect(await a.stop()).toBe(0);
      const cl = await c.runAgent(n, [...args(c, n, 'vxlan'), '--cleanup']);
      expect(cl.status, cl.log).toBe(0);
      expect(cl.log).toMatch(/removed chain CNI-TS-FWD and its jump from FORWARD \(iptables-nft IPv4; policy DROP left as it was\)|removed chain CNI-TS-FWD and its jump from FORWARD \(iptables-nft IPv4; policy ACCEPT left as it was\)/);
    }
    const after1 = c.iptablesSave(n1);
    expect(after1).not.toContain('CNI-TS-FWD');
    expect(after1).toContain(':FORWARD DROP');
    expect(after1).toContain('-A FORWARD -j DOCKER-USER');
    const after2 = inNode(c, n2, ['iptables-legacy-save']).stdout;
    expect(after2).not.toContain('CNI-TS-FWD');
    expect(after2).toMatch(/:FORWARD DROP/);
    expect(after2).toContain('-A FORWARD -j REJECT --reject-with icmp-host-prohibited');
  });

  it('rejoin after --cleanup with a new subnet: the bridge is re-addressed (old gateway kept for the pods left), and removed by --cleanup once empty', async () => {
    const c = await bed(2);
    const [n1, n2] = c.nodes as [Node, Node];
    const [a1, a2] = [start(c, n1, 'vxlan'), start(c, n2, 'vxlan')];
    await Promise.all([a1, a2].map(ready));
    const s1 = c.subnetsOf(n1)[0]!;
    const old = c.addPod(n1, 'old');
    const p2 = c.addPod(n2, 'p2');
    await firstPing(old.netns, p2.ip);

    // Node 1 removed while a pod is still attached: --cleanup says it leaves the bridge, and why.
    expect(await a1.stop()).toBe(0);
    const cl = await c.runAgent(n1, [...args(c, n1, 'vxlan'), '--cleanup']);
    expect(cl.status, cl.log).toBe(0);
    expect(cl.log).toMatch(new RegExp(`bridge cni-ts0 left in place with ${gw(s1).replace(/\./g, '\\.')}: 1 pod interface is still attached`));
    // Its old subnet is someone else's now: the node rejoins with a new one.
    c.putRecord(s1, { node: 'other', publicIPs: ['192.168.77.99'] });
    const b1 = start(c, n1, 'vxlan');
    await ready(b1);
    const s1b = c.subnetsOf(n1)[0]!;
    expect(s1b).not.toBe(s1);
    await b1.waitLog(new RegExp(`bridge: add gateway ${gw(s1b).replace(/\./g, '\\.')} to cni-ts0`));
    // A new pod: before, the bridge plugin failed with "already has an IP address different from …".
    const fresh = c.addPod(n1, 'fresh');
    expect(fresh.ip.startsWith(s1b.split('.').slice(0, 3).join('.'))).toBe(true);
    await waitFor('node-2 to route to node-1\'s new subnet', () => c.agentRoutes(n2.netns).some((r) => r.dst === s1b));
    await firstPing(fresh.netns, p2.ip);
    expect(ping(fresh.netns, old.ip)).toBe(true); // both gateways on the bridge meanwhile
    expect(c.bridgeAddrs(n1)).toEqual([gw(s1), gw(s1b)].sort());
    await b1.waitLog(/warning: bridge cni-ts0 keeps the old gateway .*1 pod of/);
    // The old pod goes: its gateway goes at the next resync.
    c.delPod(old);
    await waitFor('the old gateway to leave the bridge', () => c.bridgeAddrs(n1).join() === gw(s1b), 20_000, 300);
    await b1.waitLog(new RegExp(`remove the old gateway ${gw(s1).replace(/\./g, '\\.')} from cni-ts0 \\(no pod of ${s1.replace(/\./g, '\\.')} left\\)`));
    // No pod attached: --cleanup removes the bridge.
    c.delPod(fresh);
    expect(await b1.stop()).toBe(0);
    const cl2 = await c.runAgent(n1, [...args(c, n1, 'vxlan'), '--cleanup']);
    expect(cl2.log).toMatch(/removed bridge cni-ts0 \(no pod attached\)/);
    expect(c.ipJson(n1.netns, ['link', 'show']).map((l) => l.ifname)).toEqual(['lo', 'eth0']);
  });

  it('while running: a new subnet (conflist first, bridge re-addressed), a new node address and MTU (published, peers follow)', async () => {
    const c = await bed(2);
    const [n1, n2] = c.nodes as [Node, Node];
    const [a1, a2] = [start(c, n1, 'vxlan'), start(c, n2, 'vxlan')];
    await Promise.all([a1, a2].map(ready));
    const s1 = c.subnetsOf(n1)[0]!;
    const old = c.addPod(n1, 'old');
    const p2 = c.addPod(n2, 'p2');
    await firstPing(old.netns, p2.ip);
    // Node-1's subnet is given to another node (its key overwritten): node-1 must lease a new one.
    c.putRecord(s1, { node: 'intruder', publicIPs: ['192.168.77.99'] });
    await a1.waitLog(new RegExp(`this node's subnet ${s1.replace(/\./g, '\\.')} is now held by node intruder in etcd; leasing again`));
    const m = await a1.waitLog(/this node's subnets are now (\S+)/);
    const s1b = m[1]!;
    expect(s1b).not.toBe(s1);
    await waitFor('the conflist to name the new subnet', () => c.subnetsOf(n1)[0] === s1b);
    await a1.waitLog(new RegExp(`bridge: add gateway ${gw(s1b).replace(/\./g, '\\.')} to cni-ts0`));
    const wrote = a1.log.indexOf(`wrote ${c.conflistPath(n1)}`, a1.log.indexOf("this node's subnets are now"));
    expect(wrote, a1.log).toBeGreaterThan(0);
    expect(wrote, a1.log).toBeLessThan(a1.log.indexOf(`add gateway ${gw(s1b)} to cni-ts0`));
    const fresh = c.addPod(n1, 'fresh');
    await waitFor('node-2 to route to the new subnet', () => c.agentRoutes(n2.netns).some((r) => r.dst === s1b));
    await firstPing(fresh.netns, p2.ip);
    expect(ping(p2.netns, fresh.ip)).toBe(true);
    expect(ping(old.netns, fresh.ip)).toBe(true);
    c.delPod(old);
    await waitFor('the old gateway to leave the bridge', () => c.bridgeAddrs(n1).join() === gw(s1b), 20_000, 300);

    // The node's address and MTU change (DHCP, a new uplink MTU): picked up at the next resync, published, followed.
    shOk('ip', ['-n', n1.netns, '-batch', '-'], 'addr del 192.168.77.11/24 dev eth0\naddr add 192.168.77.21/24 dev eth0\nroute replace default via 192.168.77.1\nlink set eth0 mtu 1400\n');
    await a1.waitLog(/the underlay changed: address 192\.168\.77\.11 → 192\.168\.77\.21, MTU 1500 → 1400/);
    await waitFor('etcd to hold node-1\'s new address', () => JSON.parse(c.etcdList('/cni-ts/network/subnets/')[`/cni-ts/network/subnets/${s1b.replace('/', '-')}`] ?? '{}').publicIPs?.[0] === '192.168.77.21');
    await waitFor('node-2\'s FDB to point at the new address', () => c.fdb(n2.netns).some((f) => f.dst === '192.168.77.21') && !c.fdb(n2.netns).some((f) => f.dst === '192.168.77.11'));
    await waitFor('the conflist and the device to carry the new MTU', () => (c.conflist(n1) as any).plugins[0].mtu === 1350 && c.ipJson(n1.netns, ['link', 'show', 'dev', 'cni-ts.1'])[0].mtu === 1350);
    const dev = c.ipJson(n1.netns, ['-d', 'link', 'show', 'dev', 'cni-ts.1'])[0];
    expect(dev.linkinfo.info_data.local).toBe('192.168.77.21');
    await waitFor('pods to talk again over the new address', () => ping(fresh.netns, p2.ip) && ping(p2.netns, fresh.ip), 20_000, 300);
    expect([a1.exitCode, a2.exitCode]).toEqual([undefined, undefined]);
  });

  it('IPv6 underlay: the VXLAN device over IPv6 is not re-created across many resyncs; a continuous ping loses nothing', async () => {
    const c = await bed(2, { underlay6: true });
    const [n1, n2] = c.nodes as [Node, Node];
    const v6 = (n: Node): string[] => ['--public-ip', n.ip6!, '--resync-interval', '1'];
    const [a1, a2] = [start(c, n1, 'vxlan', v6(n1)), start(c, n2, 'vxlan', v6(n2))];
    await Promise.all([a1, a2].map(ready));
    const dev = c.ipJson(n1.netns, ['-d', 'link', 'show', 'dev', 'cni-ts.1'])[0];
    expect(dev.linkinfo.info_data.local6).toBe(n1.ip6);
    expect(dev.mtu).toBe(1430);
    await waitFor('node-1\'s FDB to point at node-2 over IPv6', () => c.fdb(n1.netns).some((f) => f.dst === n2.ip6));
    const [p1, p2] = [c.addPod(n1, 'p1'), c.addPod(n2, 'p2')];
    await firstPing(p1.netns, p2.ip);
    // 40 pings 0.2 s apart (8 s) while resyncs run every second; count the resyncs from /status (status.json is
    // rewritten when more than the time of the last reconcile changed, at the latest once a minute).
    const pinger = spawn('ip', ['netns', 'exec', p1.netns, 'ping', '-n', '-i', '0.2', '-c', '40', '-W', '1', p2.ip], { stdio: ['ignore', 'pipe', 'pipe'], env: pluginEnv({}) });
    procs.push(pinger);
    let out = '';
    pinger.stdout!.on('data', (d) => (out += d));
    const done = new Promise<number>((r) => pinger.on('close', (code) => r(code ?? 1)));
    const seen = new Set<string>();
    while (pinger.exitCode === null) {
      const last = c.probe(n1, '/status').body?.lastReconcile;
      if (last) seen.add(last);
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(await done, out).toBe(0);
    expect(out).toMatch(/40 packets transmitted, 40 received, 0% packet loss/);
    expect(seen.size, `resyncs seen: ${[...seen].join(', ')}`).toBeGreaterThanOrEqual(3);
    expect(c.ipJson(n1.netns, ['link', 'show', 'dev', 'cni-ts.1'])[0].ifindex).toBe(dev.ifindex);
    expect(a1.log).not.toMatch(/re-create VXLAN device/);
    expect(a2.log).not.toMatch(/re-create VXLAN device/);
  });

  it('reboot: the subnet is kept in the state dir; the conflist link dangles (no pod can be created) until the agent has confirmed the subnet', async () => {
    const c = await bed(2);
    const [n1, n2] = c.nodes as [Node, Node];
    const [a1, a2] = [start(c, n1, 'vxlan', ['--lease-ttl', '30']), start(c, n2, 'vxlan')];
    await Promise.all([a1, a2].map(ready));
    const s1 = c.subnetsOf(n1)[0]!;
    expect(lstatSync(c.conflistPath(n1)).isSymbolicLink()).toBe(true);
    expect(readlinkSync(c.conflistPath(n1))).toBe(join(n1.runDir, '10-cni-ts.conflist'));
    expect(JSON.parse(readFileSync(join(n1.stateDir, 'subnet.json'), 'utf8'))).toEqual({ node: 'node-1', subnets: [s1] });
    const p1 = c.addPod(n1, 'p1');
    const p2 = c.addPod(n2, 'p2');
    // "Reboot" node-1: the agent dies, /run is empty, links, routes, nft and iptables are gone; /etc and /var/lib stay.
    await a1.stop('SIGKILL');
    c.net.removeNetns(p1.netns);
    rmSync(n1.runDir, { recursive: true, force: true });
    shOk('ip', ['-n', n1.netns, '-batch', '-'], 'link del cni-ts.1\nlink del cni-ts0\n');
    inNode(c, n1, ['nft', 'flush', 'ruleset']);
    // The runtime finds no usable network config: pods are not created with a subnet nobody confirmed.
    expect(existsSync(c.conflistPath(n1))).toBe(false);
    expect(lstatSync(c.conflistPath(n1)).isSymbolicLink()).toBe(true);
    expect(() => c.addPod(n1, 'early')).toThrow(/no conflist/);
    // etcd is away when the node comes back: still gated.
    await c.stopEtcd();
    const b1 = start(c, n1, 'vxlan', ['--lease-ttl', '30']);
    await b1.waitLog(/unreachable or failing/);
    expect(existsSync(c.conflistPath(n1))).toBe(false);
    expect(c.probe(n1, '/readyz').code).toBe(503);
    expect(c.probe(n1, '/healthz').code).toBe(200);
    await c.startEtcd();
    await ready(b1);
    expect(b1.log).toContain(`leased ${s1} in etcd`);
    expect(c.subnetsOf(n1)).toEqual([s1]);
    const q1 = c.addPod(n1, 'q1');
    await waitFor('pods to talk across nodes after the reboot', () => ping(q1.netns, p2.ip), 20_000, 300);
  });

  it('two machines with one node name: the second is refused naming both addresses; the first keeps its subnet', async () => {
    const c = await bed(2);
    const [n1, n2] = c.nodes as [Node, Node];
    // (Their underlays chosen as flannel's flags do: by a reachable address, and by a pattern on the addresses.)
    const a1 = start(c, n1, 'vxlan', ['--node-name', 'twin', '--lease-ttl', '30', '--iface-can-reach', UNDERLAY_GW]);
    await ready(a1);
    expect(a1.log).toContain('underlay eth0 192.168.77.11 (MTU 1500)');
    const s = c.subnetsOf(n1)[0]!;
    const r = await c.runAgent(n2, args(c, n2, 'vxlan', ['--node-name', 'twin', '--lease-ttl', '30', '--iface-regex', '^192\\.168\\.77\\.']));
    expect(r.log).toContain('underlay eth0 192.168.77.12 (MTU 1500)');
    expect(r.status, r.log).toBe(1);
    expect(r.log).toMatch(new RegExp(`fatal: node name twin is in use by another machine: ${s.replace(/\./g, '\\.')} is held by 192\\.168\\.77\\.11 .* and this machine is 192\\.168\\.77\\.12; two machines must not share one node name`));
    expect(r.log.split('\n').filter((l) => l.includes('192.168.77.11') && l.includes('192.168.77.12'))).toHaveLength(1);
    expect(existsSync(c.conflistPath(n2))).toBe(false);
    expect(c.ipJson(n2.netns, ['link', 'show']).map((l) => l.ifname)).toEqual(['lo', 'eth0']);
    const rec = JSON.parse(c.etcdList('/cni-ts/network/subnets/')[`/cni-ts/network/subnets/${s.replace('/', '-')}`]!);
    expect(rec).toMatchObject({ node: 'twin', publicIPs: ['192.168.77.11'] });
    expect(a1.exitCode).toBeUndefined();
  });

  it('health vs readiness: a host-gw peer off the L2 segment is skipped, a peer with a bad address fails alone; alive and ready; not ready (still alive) without etcd', async () => {
    const c = await bed(2);
    const [n1, n2] = c.nodes as [Node, Node];
    const [a1, a2] = [start(c, n1, 'host-gw'), start(c, n2, 'host-gw')];
    await Promise.all([a1, a2].map(ready));
    const s2 = c.subnetsOf(n2)[0]!;
    const [freeA, freeB] = ['10.244.0.0/24', '10.244.1.0/24', '10.244.2.0/24', '10.244.3.0/24'].filter((s) => s !== s2 && s !== c.subnetsOf(n1)[0]);
    c.putRecord(freeA!, { node: 'far', publicIPs: ['10.50.0.7'], backend: 'host-gw' });
    c.putRecord(freeB!, { node: 'bad', publicIPs: ['192.168.77.255'], backend: 'host-gw' }); // the segment's broadcast address
    await a1.waitLog(/warning: peers skipped: far: 10\.50\.0\.7 is not on the local L2 segment of eth0 \(192\.168\.77\.0\/24\); host-gw needs all nodes on one L2 network/);
    await a1.waitLog(/data path: peer bad: error: .*Nexthop has invalid gateway/);
    expect(c.agentRoutes(n1.netns).map((r) => r.dst)).toEqual([s2]);
    const h = c.probe(n1, '/healthz');
    expect(h.code).toBe(200);
    expect(h.body.live).toBe(true);
    await waitFor('node-1 to report ready with the bad peers', () => c.probe(n1, '/readyz').code === 200, 10_000, 300);
    const st = c.probe(n1, '/status').body;
    expect(st.peers.find((p: any) => p.node === 'far').skipped).toMatch(/not on the local L2 segment/);
    expect(st.peers.find((p: any) => p.node === 'bad').error).toMatch(/Nexthop has invalid gateway/);
    expect(st.peers.find((p: any) => p.node === 'node-2').error).toBeUndefined();
    expect(st.lastError).toBeUndefined();
    // /metrics says the same: ready, alive, one peer with an error, one skipped.
    const m = c.probeText(n1, '/metrics');
    expect(m).toContain('cni_ts_agent_ready 1\n');
    expect(m).toContain('cni_ts_agent_live 1\n');
    expect(m).toContain('cni_ts_agent_peer_errors 1\n');
    expect(m).toContain('cni_ts_agent_peers_skipped 1\n');
    const [p1, p2] = [c.addPod(n1, 'p1'), c.addPod(n2, 'p2')];
    await firstPing(p1.netns, p2.ip);
    // Without etcd: not ready (the watch is not fresh), but alive (no restart would help) and pods keep talking.
    await c.stopEtcd();
    await waitFor('node-1 not ready without etcd', () => c.probe(n1, '/readyz').code === 503, 20_000, 300);
    expect(c.probe(n1, '/readyz').body.notReady.join()).toMatch(/store: /);
    expect(c.probe(n1, '/healthz').code).toBe(200);
    expect(c.probeText(n1, '/metrics')).toMatch(/cni_ts_agent_store_connected 0\n[^]*cni_ts_agent_ready 0\n/);
    expect(ping(p1.netns, p2.ip)).toBe(true);
    await c.startEtcd();
    await waitFor('node-1 ready again with etcd back', () => c.probe(n1, '/readyz').code === 200, 30_000, 300);
    expect([a1.exitCode, a2.exitCode]).toEqual([undefined, undefined]);
  });

  it('a failing nft: the agent exits without writing the conflist, and removes one left from before', async () => {
    const c = await bed(1);
    const n1 = c.nodes[0]!;
    const fake = join(c.net.tempDir(), 'bin');
    mkdirSync(fake);
    writeFileSync(join(fake, 'nft'), '#!/bin/sh\necho "nft: Error: Could not process rule: Operation not supported (simulated)" >&2\nexit 1\n', { mode: 0o755 });
    // the exec path (CNI_TS_NO_FFI=1), so that the failing `nft` above is what runs: in-process, libnftables would
    const env = { PATH: `${fake}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`, CNI_TS_NO_FFI: '1' };
    const r = await c.runAgent(n1, args(c, n1, 'vxlan'), env);
    expect(r.status, r.log).toBe(1);
    expect(r.log).toMatch(/fatal: nft: installing table inet cni_ts_agent failed: .*simulated/);
    expect(existsSync(c.conflistPath(n1))).toBe(false);
    expect(existsSync(join(n1.confDir))).toBe(false);
    // A node that had a conflist (a good run before), now with a broken nft: the conflist goes with the agent.
    const ok = start(c, n1, 'vxlan');
    await ready(ok);
    expect(await ok.stop()).toBe(0);
    expect(existsSync(c.conflistPath(n1))).toBe(true); // SIGTERM keeps it
    const r2 = await c.runAgent(n1, args(c, n1, 'vxlan'), env);
    expect(r2.status).toBe(1);
    expect(r2.log).toMatch(/fatal error: removed .*10-cni-ts\.conflist/);
    expect(existsSync(c.conflistPath(n1))).toBe(false);
    expect(existsSync(join(n1.runDir, '10-cni-ts.conflist'))).toBe(false);
  });

  it('the lease TTL is the one etcd grants: 24 h by default, raised by etcd when asked for less than its minimum', async () => {
    // etcd's minimum TTL is 1.5 election timeouts: 7.5 s → 8 s with a 5 s election timeout.
    const c = await bed(2, { etcd: ['--heartbeat-interval', '500', '--election-timeout', '5000'] });
    const [n1, n2] = c.nodes as [Node, Node];
    const a1 = c.startAgent(n1, c.agentArgs(n1, ['--cluster-cidr', CIDR]));
    const a2 = c.startAgent(n2, c.agentArgs(n2, ['--cluster-cidr', CIDR, '--lease-ttl', '3']));
    await Promise.all([a1, a2].map(ready));
    expect(a1.log).toMatch(/lease [0-9a-f]+, TTL 86400s as granted by etcd, renewed every 60s\)/);
    expect(a2.log).toMatch(/TTL 8s as granted by etcd \(asked for 3s\), renewed every 2\.7s\)/);
    const leaseOf = (n: Node): string => {
      const b = Buffer.from(`/cni-ts/network/subnets/${c.subnetsOf(n)[0]!.replace('/', '-')}`).toString('base64');
      return c.etcdCall('kv/range', { key: b }).kvs[0].lease;
    };
    const t1 = c.etcdCall('lease/timetolive', { ID: leaseOf(n1) });
    expect(Number(t1.grantedTTL)).toBe(86400);
    expect(Number(t1.TTL)).toBeGreaterThan(86400 - 120);
    // Kept alive on the granted TTL: after twice that, node-2's key is still there.
    await new Promise((r) => setTimeout(r, 16_000));
    const t2 = c.etcdCall('lease/timetolive', { ID: leaseOf(n2) });
    expect(Number(t2.grantedTTL)).toBe(8);
    expect(Number(t2.TTL)).toBeGreaterThan(0);
    expect(a2.exitCode).toBeUndefined();
  });

  it('a watch that dies silently (no FIN, no error) is noticed by its missing progress notifications and listed again', async () => {
    const c = await bed(3, { etcd: ['--experimental-watch-progress-notify-interval', '1s'] });
    const [n1, n2, n3] = c.nodes as [Node, Node, Node];
    // node-1 talks to etcd through a proxy that can make its open connections silent.
    const proxy = spawn('ip', ['netns', 'exec', c.underlay, process.execPath, join(ROOT, 'test/helpers/tcp-proxy.mjs'), '--listen', `${UNDERLAY_GW}:2479`, '--to', `${UNDERLAY_GW}:2379`], { stdio: ['pipe', 'pipe', 'pipe'], env: pluginEnv({}) });
    procs.push(proxy);
    let pout = '';
    proxy.stdout!.on('data', (d) => (pout += d));
    await waitFor('the proxy to listen', () => pout.includes('"listening"'));
    const viaProxy = c.agentArgs(n1, ['--cluster-cidr', CIDR, '--resync-interval', '2', '--watch-idle-timeout', '4']).map((a) => (a === ETCD_URL ? `http://${UNDERLAY_GW}:2479` : a));
    const a1 = c.startAgent(n1, viaProxy);
    const a2 = start(c, n2, 'vxlan');
    await Promise.all([a1, a2].map(ready));
    await waitFor('node-1 to route to node-2', () => c.agentRoutes(n1.netns).length === 1);
    await new Promise((r) => setTimeout(r, 6000)); // longer than the idle timeout: progress notifications keep it alive
    expect(a1.log).not.toMatch(/taken for dead/);
    proxy.stdin!.write('freeze\n');
    await waitFor('the proxy to freeze', () => /"frozen":[1-9]/.test(pout));
    // node-3 joins while node-1's watch is silent.
    const a3 = start(c, n3, 'vxlan');
    await ready(a3);
    const s3 = c.subnetsOf(n3)[0]!;
    await a1.waitLog(/no event or progress notification from etcd http:\/\/192\.168\.77\.1:2479 for \d+s: the watch is taken for dead; listing again/, 30_000);
    await waitFor('node-1 to learn node-3 after listing again', () => c.agentRoutes(n1.netns).some((r) => r.dst === s3), 30_000);
    const [p1, p3] = [c.addPod(n1, 'p1'), c.addPod(n3, 'p3')];
    await firstPing(p1.netns, p3.ip);
  });
});
