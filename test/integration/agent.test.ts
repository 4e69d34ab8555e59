/**
 * cni-ts-agent on a real multi-node network on this machine (test/helpers/cluster.ts): node namespaces on an
 * underlay bridge, a real etcd 3.4, one agent per node (the built dist/bin/cni-ts-agent), pods attached by our
 * plugins from the conflist the agent wrote. Both backends: pods on different nodes ping each other and open TCP
 * connections with their own source IP, pod → outside is masqueraded, concurrent agents lease distinct subnets, a
 * restarted agent keeps its subnet and its pods reachable, a removed node (--cleanup or lease expiry) disappears
 * from the others, and the agents recover from an etcd restart.
 */
import { existsSync, mkdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Cluster, OUTSIDE_IP, haveEtcd, sourceSeen, waitFor, type Agent, type Node } from '../helpers/cluster.js';
import { DIST, isRoot, ping, sh } from '../helpers/harness.js';

let cluster: Cluster | undefined;
afterEach(async () => {
  await cluster?.cleanup();
  cluster = undefined;
});

const CIDR = '10.244.0.0/22'; // four /24s: agents starting together must really compete for them

async function bed(n: number): Promise<Cluster> {
  const c = new Cluster('ag');
  cluster = c;
  for (let i = 0; i < n; i++) c.addNode();
  c.addOutside();
  await c.startEtcd();
  for (const node of c.nodes) {
    const r = await c.runAgent(node, ['--install-cni', DIST, '--cni-bin-dir', node.binDir]);
    expect(r.status, r.log).toBe(0);
  }
  return c;
}

function start(c: Cluster, node: Node, backend: string, extra: string[] = []): Agent {
  return c.startAgent(node, c.agentArgs(node, ['--cluster-cidr', CIDR, '--backend', backend, '--lease-ttl', '4', '--resync-interval', '3', ...extra]));
}

/** The node's routes (ours, proto 177) as "dst via gw dev". */
const routes = (c: Cluster, node: Node): string[] => c.agentRoutes(node.netns).map((r) => `${r.dst} via ${r.gateway} dev ${r.dev}`).sort();

/** What `node` has for `peer`: routes to its subnet and (vxlan) FDB entries pointing at its underlay IP. */
function knows(c: Cluster, node: Node, peer: Node, subnet: string): boolean {
  const hasRoute = c.agentRoutes(node.netns).some((r) => r.dst === subnet);
  const fdb = c.fdb(node.netns).some((f) => f.dst === peer.ip);
  return hasRoute || fdb;
}

describe.skipIf(!isRoot || !haveEtcd)('cni-ts-agent with etcd', () => {
  for (const backend of ['vxlan', 'host-gw'] as const) {
    it(`${backend}: concurrent agents lease distinct subnets; pods talk across nodes without NAT; outside is masqueraded; restart, --cleanup and lease expiry`, async () => {
      const c = await bed(3);
      const [n1, n2, n3] = c.nodes as [Node, Node, Node];
      // Three agents at once, four subnets: the etcd transaction must keep them apart.
      const agents = c.nodes.map((n) => start(c, n, backend));
      await Promise.all(agents.map((a) => a.waitLog(/wrote .*10-cni-ts\.conflist/)));
      const subnets = c.nodes.map((n) => c.subnetsOf(n));
      for (const s of subnets) expect(s).toHaveLength(1);
      expect(new Set(subnets.map((s) => s[0])).size).toBe(3);
      const keys = c.etcdList('/cni-ts/network/subnets/');
      expect(Object.keys(keys)).toHaveLength(3);
      for (const [i, n] of c.nodes.entries()) {
        expect(JSON.parse(keys[`/cni-ts/network/subnets/${subnets[i]![0]!.replace('/', '-')}`]!)).toMatchObject({ node: n.name, publicIPs: [n.ip], backend });
      }
      expect(JSON.parse(c.etcdList('/cni-ts/network/config')['/cni-ts/network/config']!)).toMatchObject({ clusterCIDRs: [CIDR], backend });
      // Every node routes to the two others.
      for (const n of c.nodes) {
        await waitFor(`${n.name} to route to both peers`, () => routes(c, n).length === 2);
      }
      if (backend === 'vxlan') {
        const r = routes(c, n1);
        expect(r).toEqual([subnets[1]![0], subnets[2]![0]].sort().map((s) => `${s} via ${s.split('/')[0]} dev cni-ts.1`));
        expect(c.fdb(n1.netns).map((f) => f.dst).sort()).toEqual([n2.ip, n3.ip]);
        const neigh = c.ipJson(n1.netns, ['neigh', 'show', 'dev', 'cni-ts.1']).filter((x) => x.state?.includes('PERMANENT'));
        expect(neigh).toHaveLength(2);
      } else {
        expect(routes(c, n1)).toEqual([`${subnets[1]![0]} via ${n2.ip} dev eth0`, `${subnets[2]![0]} via ${n3.ip} dev eth0`].sort());
      }
      expect(c.healthz(n1)).toMatchObject({ ok: true, node: n1.name, subnets: subnets[0], storeConnected: true });

      // Pods, attached by our plugins from the conflists the agents wrote.
      const p1 = c.addPod(n1, 'p1');
      const p2 = c.addPod(n2, 'p2');
      const p3 = c.addPod(n3, 'p3');
      expect(p1.ip.startsWith(subnets[0]![0]!.split('.').slice(0, 3).join('.'))).toBe(true);
      expect(ping(p1.netns, p2.ip, 2)).toBe(true);
      expect(ping(p2.netns, p3.ip)).toBe(true);
      expect(ping(p3.netns, p1.ip)).toBe(true);
      // The receiver sees the sender's pod IP: no NAT inside the cluster.
      expect(await sourceSeen(p1.netns, p2.netns, p2.ip, 8081)).toBe(p1.ip);
      expect(await sourceSeen(p3.netns, p1.netns, p1.ip, 8082)).toBe(p3.ip);
      // Pod → outside: masqueraded to the node's underlay address (the outside has no route back to pods).
      expect(ping(p2.netns, OUTSIDE_IP)).toBe(true);
      expect(await sourceSeen(p2.netns, c.outside!, OUTSIDE_IP, 8083)).toBe(n2.ip);
      const nft = sh('ip', ['netns', 'exec', n1.netns, 'nft', 'list', 'table', 'inet', 'cni_ts_agent']).stdout;
      expect(nft).toContain(`ip saddr ${CIDR} ip daddr ${CIDR} return`);
      expect(nft).toContain(`ip saddr ${CIDR} masquerade`);

      // Agent restart: SIGTERM keeps the data path (pods still reachable while it is down), same subnet after.
      expect(await agents[1]!.stop()).toBe(0);
      expect(agents[1]!.log).toMatch(/stopping: the data path, CNI config and masquerade stay in place/);
      expect(ping(p1.netns, p2.ip)).toBe(true);
      expect(routes(c, n1)).toHaveLength(2);
      const a2 = start(c, n2, backend);
      await a2.waitLog(/leased (\S+) in etcd/);
      expect(a2.log).toContain(`leased ${subnets[1]![0]} in etcd`);
      expect(c.subnetsOf(n2)).toEqual(subnets[1]);
      expect(ping(p1.netns, p2.ip)).toBe(true);
      expect(ping(p2.netns, p3.ip)).toBe(true);

      // --cleanup on node 3: everything of ours goes there, and node 3 disappears from every other node.
      expect(await agents[2]!.stop()).toBe(0);
      const cl = await c.runAgent(n3, c.agentArgs(n3, ['--cluster-cidr', CIDR, '--backend', backend, '--cleanup']));
      expect(cl.status, cl.log).toBe(0);
      expect(cl.log).toMatch(/revoked etcd lease/);
      expect(existsSync(c.conflistPath(n3))).toBe(false);
      expect(sh('ip', ['netns', 'exec', n3.netns, 'nft', 'list', 'ruleset']).stdout).not.toContain('cni_ts_agent');
      expect(c.agentRoutes(n3.netns)).toEqual([]);
      expect(c.ipJson(n3.netns, ['link', 'show']).map((l) => l.ifname)).not.toContain('cni-ts.1');
      expect(Object.keys(c.etcdList('/cni-ts/network/subnets/'))).toHaveLength(2);
      for (const n of [n1, n2]) await waitFor(`${n.name} to forget node-3`, () => !knows(c, n, n3, subnets[2]![0]!));
      expect(ping(p1.netns, p2.ip)).toBe(true);
      c.net.removeNetns(p3.netns);

      // Lease expiry: node 2's agent killed (no goodbye); once its lease expires node 1 drops it…
      await a2.stop('SIGKILL');
      await waitFor('node-1 to forget node-2 after its lease expired', () => !knows(c, n1, n2, subnets[1]![0]!), 30_000);
      expect(Object.keys(c.etcdList('/cni-ts/network/subnets/'))).toHaveLength(1);
      // …and node 2's agent, back later, takes the same subnet again (from its state file) and is routed to again.
      const a2b = start(c, n2, backend);
      await a2b.waitLog(/leased \S+ in etcd/);
      expect(a2b.log).toContain(`leased ${subnets[1]![0]} in etcd`);
      await waitFor('node-1 to route to node-2 again', () => knows(c, n1, n2, subnets[1]![0]!));
      await waitFor('pod 1 to reach pod 2 again', () => ping(p1.netns, p2.ip));

      expect(agents[0]!.exitCode, agents[0]!.log).toBeUndefined(); // node-1's agent ran through all of it
      // Nothing but ours was touched: node 1's own underlay route and address are intact.
      expect(c.ipJson(n1.netns, ['route', 'show', 'default'])[0]).toMatchObject({ gateway: '192.168.77.1', dev: 'eth0' });
    });
  }

  it('vxlan: agents recover from an etcd restart (pods keep working meanwhile; lease kept alive; new peers seen again)', async () => {
    const c = await bed(3);
    const [n1, n2, n3] = c.nodes as [Node, Node, Node];
    const [a1, a2] = [start(c, n1, 'vxlan'), start(c, n2, 'vxlan')];
    await Promise.all([a1, a2].map((a) => a.waitLog(/wrote .*conflist/)));
    const p1 = c.addPod(n1, 'p1');
    const p2 = c.addPod(n2, 'p2');
    expect(ping(p1.netns, p2.ip)).toBe(true);

    await c.stopEtcd();
    await a1.waitLog(/etcd http:\/\/192\.168\.77\.1:2379 unreachable/);
    expect(ping(p1.netns, p2.ip)).toBe(true); // the data path does not depend on etcd being up
    expect(c.healthz(n1)).toMatchObject({ storeConnected: false });
    await new Promise((r) => setTimeout(r, 2000));
    await c.startEtcd();
    await a1.waitLog(/reachable again/);
    await a2.waitLog(/reachable again/);
    await waitFor('node-1 healthz to report etcd connected', () => c.healthz(n1)?.storeConnected === true);
    // Leases kept alive across the restart: after more than a TTL both keys are still there.
    await new Promise((r) => setTimeout(r, 5000));
    expect(Object.keys(c.etcdList('/cni-ts/network/subnets/'))).toHaveLength(2);
    // The watch is back: a node joining now is routed to by the old agents.
    const a3 = start(c, n3, 'vxlan');
    await a3.waitLog(/wrote .*conflist/);
    const s3 = c.subnetsOf(n3)[0]!;
    await waitFor('node-1 to learn node-3 after the etcd restart', () => knows(c, n1, n3, s3));
    const p3 = c.addPod(n3, 'p3');
    expect(ping(p1.netns, p3.ip)).toBe(true);
    expect(ping(p3.netns, p2.ip)).toBe(true);
    expect([a1.exitCode, a2.exitCode]).toEqual([undefined, undefined]);
  });

  it('vxlan dual-stack: each node leases one IPv4 and one IPv6 subnet in one transaction; pods talk over both families', async () => {
    const c = await bed(2);
    const [n1, n2] = c.nodes as [Node, Node];
    const dual = ['--cluster-cidr', `${CIDR},fd00:10:244::/62`];
    const [a1, a2] = [start(c, n1, 'vxlan', dual), start(c, n2, 'vxlan', dual)];
    await Promise.all([a1, a2].map((a) => a.waitLog(/wrote .*conflist/)));
    const [s1, s2] = [c.subnetsOf(n1), c.subnetsOf(n2)];
    expect(s1).toHaveLength(2);
    // IPv6 forwarding came on without costing the uplink its router advertisements (accept_ra 1 → 2 first).
    expect(a1.log).toMatch(/data path: set eth0 accept_ra=2 \(keep accepting router advertisements once forwarding is on\)\n.*data path: turn IPv6 forwarding on/);
    expect(sh('ip', ['netns', 'exec', n1.netns, 'sysctl', '-n', 'net.ipv6.conf.eth0.accept_ra', 'net.ipv6.conf.all.forwarding']).stdout.split('\n').slice(0, 2)).toEqual(['2', '1']);
    expect(s1[1]).toMatch(/^fd00:10:244:(:|[1-3]::)\/64$/);
    expect(new Set([...s1, ...s2]).size).toBe(4);
    expect(Object.keys(c.etcdList('/cni-ts/network/subnets/'))).toHaveLength(4);
    await waitFor('node-1 to route to both of node-2\'s subnets', () => {
      const v4 = c.agentRoutes(n1.netns).some((r) => r.dst === s2[0]);
      const v6 = c.ipJson(n1.netns, ['-6', 'route', 'show', 'proto', '177']).some((r) => r.dst === s2[1]);
      return v4 && v6;
    });
    const p1 = c.addPod(n1, 'p1');
    const p2 = c.addPod(n2, 'p2');
    const v6 = (netns: string): string => c.ipJson(netns, ['-6', 'addr', 'show', 'dev', 'eth0', 'scope', 'global'])[0].addr_info[0].local;
    const [p1v6, p2v6] = [v6(p1.netns), v6(p2.netns)];
    expect(ping(p1.netns, p2.ip)).toBe(true);
    expect(ping(p1.netns, p2v6, 2)).toBe(true);
    expect(await sourceSeen(p2.netns, p1.netns, p1v6, 8084)).toBe(p2v6);
    const nft = sh('ip', ['netns', 'exec', n1.netns, 'nft', 'list', 'table', 'inet', 'cni_ts_agent']).stdout;
    expect(nft).toContain('ip6 saddr fd00:10:244::/62 ip6 daddr fd00:10:244::/62 return');
  });

  it('refuses bad input before changing anything: different cluster settings, exhausted subnet space, invalid CIDRs', async () => {
    const c = await bed(3);
    const [n1, n2, n3] = c.nodes as [Node, Node, Node];
    const a1 = c.startAgent(n1, c.agentArgs(n1, ['--cluster-cidr', '10.99.0.0/23', '--etcd-prefix', '/small', '--lease-ttl', '10']));
    await a1.waitLog(/wrote .*conflist/);
    // Same cluster, other backend: refused naming the difference.
    const bad = await c.runAgent(n2, c.agentArgs(n2, ['--cluster-cidr', '10.99.0.0/23', '--etcd-prefix', '/small', '--backend', 'host-gw']));
    expect(bad.status).toBe(1);
    expect(bad.log).toMatch(/settings differ from the cluster's.*--backend: the cluster has vxlan, this node host-gw/);
    const a2 = c.startAgent(n2, c.agentArgs(n2, ['--cluster-cidr', '10.99.0.0/23', '--etcd-prefix', '/small', '--lease-ttl', '10']));
    await a2.waitLog(/wrote .*conflist/);
    // Two /24s in a /23, both leased: the third node is told so.
    const full = await c.runAgent(n3, c.agentArgs(n3, ['--cluster-cidr', '10.99.0.0/23', '--etcd-prefix', '/small']));
    expect(full.status).toBe(1);
    expect(full.log).toMatch(/subnet space exhausted: all 2 \/24 subnets of 10\.99\.0\.0\/23 are leased \(by node-[12], node-[12]\)/);
    expect(existsSync(c.conflistPath(n3))).toBe(false);
    // Invalid CIDRs and overlaps: exit 2, nothing created.
    for (const [args, msg] of [
      [['--cluster-cidr', '10.99.0.1/16'], /has host bits set \(did you mean 10\.99\.0\.0\/16\?\)/],
      [['--cluster-cidr', '10.99.0.0/16,10.100.0.0/16'], /second IPv4 range/],
      [['--cluster-cidr', '192.168.0.0/16'], /lies inside the cluster CIDR 192\.168\.0\.0\/16/],
      [['--cluster-cidr', '10.99.0.0/16', '--subnet-len', '12'], /--subnet-len 12 must be longer than the prefix/],
      [['--cluster-cidr', 'nonsense'], /"nonsense" is not a CIDR/],
    ] as Array<[string[], RegExp]>) {
      const extra = args.includes('192.168.0.0/16') ? [...args, '--public-ip', n3.ip] : [...args];
      const r = await c.runAgent(n3, c.agentArgs(n3, extra));
      expect(r.status, r.log).toBe(2);
      expect(r.log).toMatch(msg);
    }
    expect(c.ipJson(n3.netns, ['link', 'show']).map((l) => l.ifname)).toEqual(['lo', 'eth0']);
    expect(sh('ip', ['netns', 'exec', n3.netns, 'nft', 'list', 'ruleset']).stdout.trim()).toBe('');
  });

  it('unreachable etcd at start: retries with a clear message, then starts once etcd is up', async () => {
    const c = new Cluster('ag');
    cluster = c;
    const n1 = c.addNode();
    const a = start(c, n1, 'vxlan');
    await a.waitLog(/etcd http:\/\/192\.168\.77\.1:2379 unreachable or failing: .*ECONNREFUSED.*retrying in/);
    expect(existsSync(c.conflistPath(n1))).toBe(false);
    await c.startEtcd();
    await a.waitLog(/wrote .*conflist/, 40_000);
    expect(await a.stop()).toBe(0);
  });

  it('--install-cni installs our executable under our own names, beside the node\'s plugins (--install-cni-replace replaces them)', async () => {
    const c = new Cluster('ag');
    cluster = c;
    const n1 = c.addNode();
    // The node's own plugins (a distribution's): bridge and loopback are there already.
    mkdirSync(n1.binDir, { recursive: true });
    writeFileSync(join(n1.binDir, 'bridge'), '#!/bin/sh\necho distro-bridge\n', { mode: 0o755 });
    writeFileSync(join(n1.binDir, 'loopback'), '#!/bin/sh\necho distro-loopback\n', { mode: 0o755 });
    const r = await c.runAgent(n1, ['--install-cni', DIST, '--cni-bin-dir', n1.binDir]);
    expect(r.status, r.log).toBe(0);
    expect(readFileSync(join(n1.binDir, 'cni-ts')).equals(readFileSync(join(DIST, 'cni-ts')))).toBe(true);
    for (const p of ['cni-ts-bridge', 'cni-ts-host-local', 'cni-ts-portmap']) expect(readlinkSync(join(n1.binDir, p))).toBe('cni-ts');
    expect(readFileSync(join(n1.binDir, 'bridge'), 'utf8')).toContain('distro-bridge');
    expect(readFileSync(join(n1.binDir, 'loopback'), 'utf8')).toContain('distro-loopback');
    expect(existsSync(join(n1.binDir, 'host-local'))).toBe(false);
    expect(r.log).toMatch(/loopback left as it is \(the node's own/);
    // The names answer as the plugins they stand for.
    const ver = sh('env', ['-i', 'CNI_COMMAND=VERSION', join(n1.binDir, 'cni-ts-bridge')], '{"cniVersion":"1.0.0"}');
    expect(JSON.parse(ver.stdout).supportedVersions).toContain('1.0.0');
    const again = await c.runAgent(n1, ['--install-cni', DIST, '--cni-bin-dir', n1.binDir]);
    expect(again.log).toMatch(/up to date/);
    // A node without loopback gets ours; --install-cni-replace points the plain names at ours too.
    rmSync(join(n1.binDir, 'loopback'));
    const lo = await c.runAgent(n1, ['--install-cni', DIST, '--cni-bin-dir', n1.binDir]);
    expect(lo.status, lo.log).toBe(0);
    expect(readlinkSync(join(n1.binDir, 'loopback'))).toBe('cni-ts');
    const rep = await c.runAgent(n1, ['--install-cni', DIST, '--cni-bin-dir', n1.binDir, '--install-cni-replace']);
    expect(rep.status, rep.log).toBe(0);
    for (const p of ['bridge', 'host-local', 'portmap', 'loopback']) expect(readlinkSync(join(n1.binDir, p))).toBe('cni-ts');
    const missing = await c.runAgent(n1, ['--install-cni', '/nonexistent', '--cni-bin-dir', n1.binDir]);
    expect(missing.status).toBe(1);
    expect(missing.log).toMatch(/\/nonexistent\/bridge does not exist/);
  });
});
