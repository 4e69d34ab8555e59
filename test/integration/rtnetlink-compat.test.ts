/**
 * The in-process rtnetlink path (lib/rtnetlink, run under Bun as the executable runs it) against iproute2 itself,
 * command by command: two identical sets of namespaces, the same command lines on both, `ip`/`bridge` on one and
 * test/helpers/rtnetlink-run.ts on the other. Every command must give the same exit status and stderr, every `-j`
 * listing the same values (ours prints a subset of the keys), and afterwards both sets of namespaces must hold the
 * same links, addresses, routes, rules, neighbours, FDB entries and VLANs.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, TestNet, isRoot, sh } from '../helpers/harness.js';
import { sleepSync } from '../../lib/exec.js';

const BUN = join(ROOT, 'node_modules', '@oven', process.arch === 'arm64' ? 'bun-linux-aarch64' : 'bun-linux-x64', 'bin', 'bun');
const haveBun = existsSync(BUN);

interface Step {
  tool?: 'ip' | 'bridge';
  /** `@C@` stands for the side's container netns path, `@H@` for its host netns path. */
  args: string[];
  input?: string;
  /** The kernel lists these in hash order, which differs between namespaces (neighbours, FDB): compare sorted. */
  unordered?: boolean;
}

interface Side {
  host: string;
  ctr: string;
}

/** Keys of `ours` all present in `theirs` with equal values (arrays: same length, element-wise). */
function subset(ours: unknown, theirs: unknown, path = '$'): string[] {
  if (Array.isArray(ours)) {
    if (!Array.isArray(theirs) || theirs.length !== ours.length) return [`${path}: ${JSON.stringify(ours)} vs ${JSON.stringify(theirs)}`];
    return ours.flatMap((x, i) => subset(x, theirs[i], `${path}[${i}]`));
  }
  if (ours && typeof ours === 'object') {
    if (!theirs || typeof theirs !== 'object') return [`${path}: not an object in ip's`];
    return Object.entries(ours).flatMap(([k, v]) => (k in (theirs as object) ? subset(v, (theirs as Record<string, unknown>)[k], `${path}.${k}`) : [`${path}.${k}: not printed by ip`]));
  }
  return ours === theirs ? [] : [`${path}: ${JSON.stringify(ours)} vs ip's ${JSON.stringify(theirs)}`];
}

/** Each line of a `-j` output parsed (a line that is not JSON, e.g. the "[" of a refused dump, kept as text). */
const jsonLines = (out: string): unknown[] =>
  out.split('\n').filter((l) => l.trim()).map((l) => {
    try {
      return JSON.parse(l);
    } catch {
      return l;
    }
  });

class Compat {
  readonly a: Side;
  readonly b: Side;

  constructor(readonly net: TestNet) {
    this.a = { host: net.addNetns('ha'), ctr: net.addNetns('ca') };
    this.b = { host: net.addNetns('hb'), ctr: net.addNetns('cb') };
    // no IPv6 link-local addresses on new links: they appear after DAD, whenever the kernel gets to it
    for (const ns of [this.a.host, this.a.ctr, this.b.host, this.b.ctr]) net.exec(ns, 'sysctl', ['-q', '-w', 'net.ipv6.conf.default.addr_gen_mode=1']);
  }

  private subst(s: string, side: Side): string {
    return s.replaceAll('@C@', `/run/netns/${side.ctr}`).replaceAll('@H@', `/run/netns/${side.host}`);
  }

  /** The b side's names written as the a side's (for comparing texts). */
  private asA(s: string): string {
    return s.replaceAll(this.b.ctr, this.a.ctr).replaceAll(this.b.host, this.a.host);
  }

  /** Run `step` both ways in the hosts (or containers with `inCtr`) and compare; returns ip's result. */
  step(step: Step, inCtr = false): { status: number; stdout: string; stderr: string } {
    const tool = step.tool ?? 'ip';
    const nsA = inCtr ? this.a.ctr : this.a.host;
    const nsB = inCtr ? this.b.ctr : this.b.host;
    const theirs = sh(tool, ['-n', nsA, ...step.args.map((x) => this.subst(x, this.a))], step.input === undefined ? '' : this.subst(step.input, this.a));
    const ran = sh(BUN, [join(ROOT, 'test/helpers/rtnetlink-run.ts'), '--netns', `/run/netns/${nsB}`, tool, ...step.args.map((x) => this.subst(x, this.b))], step.input === undefined ? '' : this.subst(step.input, this.b));
    expect(ran.status, ran.stderr).toBe(0);
    const ours = JSON.parse(ran.stdout) as { taken: boolean; status: number; stdout: string; stderr: string };
    const what = `${tool} ${step.args.join(' ')}${step.input ? ` <<< ${JSON.stringify(step.input)}` : ''}`;
    expect(ours.taken, `${what}: not taken over`).toBe(true);
    expect({ what, status: ours.status, stderr: this.asA(ours.stderr) }).toEqual({ what, status: theirs.status, stderr: theirs.stderr });
    if (step.args.includes('-j') && !step.args.includes('-batch')) {
      // the same listing as objects (Netns.list, the agent's reader): what the text says, and the same status and stderr
      const asObjects = sh(BUN, [join(ROOT, 'test/helpers/rtnetlink-run.ts'), '--netns', `/run/netns/${nsB}`, '--objects', tool, ...step.args.map((x) => this.subst(x, this.b))]);
      expect(JSON.parse(asObjects.stdout), `${what}: as objects`).toEqual(ours);
    }
    const sorted = (xs: unknown[]): unknown[] => (step.unordered ? xs.map((x) => (Array.isArray(x) ? [...x].sort((p, q) => JSON.stringify(p).localeCompare(JSON.stringify(q))) : x)) : xs);
    const [o, t] = [sorted(jsonLines(ours.stdout)), sorted(jsonLines(theirs.stdout))];
    expect(o.length, `${what}: listings`).toBe(t.length);
    o.forEach((x, i) => expect(subset(x, t[i]), `${what}: listing ${i}`).toEqual([]));
    return theirs;
  }

  steps(steps: Step[], inCtr = false): void {
    for (const s of steps) this.step(s, inCtr);
  }

  /** Everything both sides hold, dumped by iproute2 itself. */
  private state(side: Side): Record<string, unknown> {
    const dump = (tool: string, ns: string, args: string[]): unknown => {
      const r = sh(tool, ['-n', ns, '-j', ...args]);
      if (r.status !== 0 || !r.stdout.trim()) return r.stderr.trim();
      const v = JSON.parse(this.asA(r.stdout)) as unknown;
      // neighbours and FDB entries come in hash order, which differs between namespaces
      return (args[0] === 'neigh' || args[0] === 'fdb') && Array.isArray(v) ? v.map((x) => JSON.stringify(x)).sort() : v;
    };
    const out: Record<string, unknown> = {};
    for (const [label, ns] of [['host', side.host], ['ctr', side.ctr]] as const) {
      out[`${label} links`] = dump('ip', ns, ['-d', 'addr', 'show']);
      out[`${label} routes`] = dump('ip', ns, ['-d', 'route', 'show', 'table', 'all']);
      out[`${label} routes6`] = dump('ip', ns, ['-6', '-d', 'route', 'show', 'table', 'all']);
      out[`${label} rules`] = dump('ip', ns, ['rule', 'show']);
      out[`${label} rules6`] = dump('ip', ns, ['-6', 'rule', 'show']);
      out[`${label} neigh`] = dump('ip', ns, ['neigh', 'show']);
      out[`${label} fdb`] = dump('bridge', ns, ['fdb', 'show']);
      out[`${label} vlan`] = dump('bridge', ns, ['vlan', 'show']);
    }
    return out;
  }

  /** The IPv6 addresses of `ns` that are still tentative (DAD not done), as `dev address`. */
  private tentative(ns: string): string {
    const r = sh('ip', ['-n', ns, '-6', '-j', 'addr', 'show', 'tentative']);
    const links = (r.stdout.trim() ? JSON.parse(r.stdout) : []) as Array<{ ifname: string; addr_info?: Array<{ local: string }> }>;
    return links.flatMap((l) => (l.addr_info ?? []).map((a) => `${l.ifname} ${a.local}`)).sort().join();
  }

  /**
   * DAD ends whenever the kernel gets to it (the address then loses "tentative" and gets its local route), whoever
   * added the address: wait (up to 5 s) until both sides have the same tentative addresses — none, or the same ones on
   * links that are down, where DAD does not run.
   */
  private settleDad(): void {
    const deadline = Date.now() + 5000;
    const pending = (): boolean =>
      this.tentative(this.a.host) !== this.tentative(this.b.host) || this.tentative(this.a.ctr) !== this.tentative(this.b.ctr);
    while (pending() && Date.now() < deadline) sleepSync(100);
  }

  sameState(): void {
    this.settleDad();
    // lifetimes and bridge timers tick between the two dumps; carrier (operstate, NO-CARRIER, LOWER_UP, linkdown)
    // follows a link change asynchronously in the kernel (linkwatch), whoever made the change
    const CARRIER = new Set(['NO-CARRIER', 'LOWER_UP', 'linkdown']);
    const norm = (v: unknown, key = ''): unknown => {
      if (Array.isArray(v)) return key === 'flags' ? v.filter((x) => !CARRIER.has(x as string)) : v.map((x) => norm(x));
      if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, norm(x, k)]));
      if (/_timer$|_life_time$/.test(key)) return 0;
      if (key === 'operstate') return '?';
      return v;
    };
    expect(norm(this.state(this.b))).toEqual(norm(this.state(this.a)));
  }
}

describe.skipIf(!isRoot || !haveBun)('in-process ip/bridge = iproute2 (status, stderr, listings, resulting state)', () => {
  let net: TestNet | undefined;
  afterEach(() => net?.cleanup());

  it("bridge and ptp's lines: bridge, veth into the container, ports, addresses, routes", () => {
    net = new TestNet('nlc1');
    const c = new Compat(net);
    c.steps([
      { args: ['link', 'add', 'br0', 'address', '02:00:00:00:01:01', 'mtu', '1400', 'type', 'bridge'] },
      { args: ['-batch', '-'], input: 'link add v0 address 02:00:00:00:01:02 mtu 1400 type veth peer name eth0 address 02:00:00:00:01:03 mtu 1400 netns @C@\nlink set dev br0 address 02:00:00:00:01:01\nlink set dev br0 promisc on\nlink set dev br0 up\nlink set dev v0 master br0 up\nlink set dev v0 type bridge_slave hairpin on isolated on\naddr replace 10.71.0.1/24 brd + dev br0\naddr replace fd71::1/64 dev br0\n' },
      { args: ['-batch', '-'], input: 'link add v0 address 02:00:00:00:01:02 type veth peer name eth0 netns @C@\n' }, // File exists at line 1
      { args: ['-batch', '-'], input: 'link add v1 address 02:00:00:00:01:04 type veth peer name eth0 netns @C@\n' }, // eth0 taken in the container
      { args: ['-batch', '-'], input: 'link add p0 address 02:00:00:00:02:01 type veth peer name eth1 address 02:00:00:00:02:02 netns @C@\nlink set dev p0 addrgenmode none\nlink set dev p0 up\naddr add fe80::1/64 dev p0 nodad\naddr add 10.72.0.1/32 dev p0\naddr add fd72::1/128 dev p0 nodad\nroute replace 10.72.0.5/32 dev p0 scope host\nroute replace fd72::5/128 dev p0\n' },
      { args: ['-j', '-d', 'addr', 'show', 'dev', 'br0'] },
      { args: ['-j', '-d', 'link', 'show'] },
      { args: ['-j', '-4', 'route', 'show', 'table', 'all'] },
      { args: ['-j', '-6', 'route', 'show', 'dev', 'p0'] },
    ]);
    c.steps([
      { args: ['-batch', '-'], input: 'addr add 10.71.0.5/24 brd + dev eth0\nlink set eth0 up\nroute add 0.0.0.0/0 via 10.71.0.1 dev eth0\nroute add 10.99.0.0/16 via 10.71.0.1 dev eth0 metric 10 table 1000 scope 0\n' },
      { args: ['-batch', '-'], input: 'addr add 10.72.0.5/24 brd + dev eth1 noprefixroute\naddr add fd72::5/64 dev eth1 noprefixroute nodad\nlink set eth1 up\nroute add 10.72.0.1/32 dev eth1 scope link src 10.72.0.5\nroute add 10.72.0.0/24 via 10.72.0.1 dev eth1 src 10.72.0.5\nroute add fd72::1/128 dev eth1 src fd72::5\n' },
      { args: ['-j', '-d', 'addr', 'show', 'dev', 'eth0'] },
      { args: ['-j', 'link', 'show', 'dev', 'eth1'] },
      { args: ['-j', '-6', 'addr', 'show', 'dev', 'eth1'] },
      { args: ['-j', 'route', 'show', 'table', 'all'] },
      { args: ['-j', '-6', 'route', 'show', 'table', 'all'] },
      { args: ['-j', '-4', 'route', 'show', 'default'] },
      { args: ['-j', 'route', 'show', 'table', '1000'] },
      { args: ['-j', 'route', 'show', 'table', '77'] }, // strict dump: "FIB table does not exist"
      { args: ['-j', '-batch', '-'], input: 'link set lo up\naddr show dev lo\n' },
      { args: ['-j', '-batch', '-'], input: 'link show dev eth0\naddr show dev eth0\n' }, // iproute2's sticky do_link
      { args: ['link', 'set', 'lo', 'down'] },
    ], true);
    c.steps([{ args: ['link', 'del', 'v0'] }, { args: ['link', 'del', 'v0'] }, { args: ['-j', '-batch', '-'], input: 'addr show dev p0\nlink del p0\n' }]);
    c.sameState();
  });

  it('errors: missing devices and namespaces, refusals with and without the kernel\'s message, -force, runs that end early', () => {
    net = new TestNet('nlc2');
    const c = new Compat(net);
    c.steps([
      { args: ['link', 'add', 'x0', 'address', '02:00:00:00:03:01', 'type', 'veth', 'peer', 'name', 'x1', 'address', '02:00:00:00:03:02'] },
      { args: ['link', 'set', 'dev', 'nope', 'up'] },
      { args: ['link', 'set', 'dev', 'x0', 'master', 'nope'] },
      { args: ['link', 'add', 'x2', 'type', 'veth', 'peer', 'name', 'x3', 'netns', '/nonexistent'] },
      { args: ['addr', 'add', '10.73.0.1/24', 'dev', 'nope'] },
      { args: ['addr', 'add', '10.73.0.1/24', 'dev', 'x0'] },
      { args: ['addr', 'add', '10.73.0.1/24', 'dev', 'x0'] }, // "ipv4: Address already assigned"
      { args: ['route', 'add', '10.74.0.0/16', 'via', '10.75.0.1', 'dev', 'x0'] }, // "Nexthop has invalid gateway"
      { args: ['route', 'add', '10.73.9.0/24', 'dev', 'x0'] },
      { args: ['route', 'add', '10.73.9.0/24', 'dev', 'x0'] }, // RTNETLINK answers: File exists
      { args: ['route', 'del', '10.76.0.0/16'] },
      { args: ['link', 'add', 'q0', 'link', 'x0', 'type', 'macvlan', 'mode', 'passthru'] },
      { args: ['link', 'add', 'q1', 'link', 'x0', 'type', 'macvlan', 'mode', 'passthru'] },
      { args: ['link', 'del', 'nope'] },
      { args: ['neigh', 'del', '10.73.0.99', 'dev', 'x0'] },
      { args: ['-j', 'addr', 'show', 'dev', 'nope'] },
      { args: ['-batch', '-'], input: 'link set dev x0 up\nlink set dev nope up\nlink set dev x1 up\n' },
      { args: ['-force', '-batch', '-'], input: 'link set dev x0 down\nlink set dev nope up\nlink set dev x1 down\n' },
      { args: ['-force', '-batch', '-'], input: 'link set dev x0 up\nlink set dev x1 master nope\nlink set dev x1 up\n' },
      { args: ['-force', '-batch', '-'], input: 'neigh del 10.73.0.98 dev x0\nlink set dev x1 up\n' },
      { tool: 'bridge', args: ['vlan', 'add', 'dev', 'nope', 'vid', '5'] },
      { tool: 'bridge', args: ['-force', '-batch', '-'], input: 'fdb del 02:00:00:00:09:09 dev x0 self\nfdb append 02:00:00:00:09:0a dev x0 self permanent\n' },
    ]);
    c.sameState();
  });

  it("the agent's lines: VXLAN device, FDB, permanent neighbours, onlink routes with their protocol; listings filtered by protocol and device", () => {
    net = new TestNet('nlc3');
    const c = new Compat(net);
    c.steps([
      { args: ['-batch', '-'], input: 'link add u0 address 02:00:00:00:04:01 type veth peer name u1 address 02:00:00:00:04:02\nlink set u0 up\naddr add 192.0.2.1/24 dev u0\n' },
      { args: ['-batch', '-'], input: 'link add cni-ts.1 address 02:00:00:00:04:03 mtu 1450 type vxlan id 1 local 192.0.2.1 dev u0 dstport 8472 nolearning\nlink set cni-ts.1 up\n' },
      { args: ['-force', '-batch', '-'], input: 'addr replace 10.244.1.0/32 dev cni-ts.1\naddr replace fd44:1::/128 dev cni-ts.1 nodad\n' },
      { tool: 'bridge', args: ['-force', '-batch', '-'], input: 'fdb append 02:00:00:00:05:01 dev cni-ts.1 dst 192.0.2.2 self permanent\nfdb append 02:00:00:00:05:02 dev cni-ts.1 dst 192.0.2.3 self permanent\n' },
      { args: ['-force', '-batch', '-'], input: 'route replace 10.244.2.0/24 via 10.244.2.0 dev cni-ts.1 onlink proto 177\nneigh replace 10.244.2.0 lladdr 02:00:00:00:05:01 dev cni-ts.1 nud permanent\nroute replace 10.244.3.0/24 via 10.244.3.0 dev cni-ts.1 onlink proto 177\nneigh replace 10.244.3.0 lladdr 02:00:00:00:05:02 dev cni-ts.1 nud permanent\n' },
      { args: ['-j', 'route', 'show', 'proto', '177'] },
      { args: ['-j', '-6', 'route', 'show', 'proto', '177'] },
      { args: ['-j', 'neigh', 'show', 'dev', 'cni-ts.1'], unordered: true },
      { tool: 'bridge', args: ['-j', 'fdb', 'show', 'dev', 'cni-ts.1'], unordered: true },
      { args: ['-j', '-d', 'addr', 'show', 'dev', 'cni-ts.1'] },
      { args: ['-j', 'addr', 'show'] },
      { args: ['-j', 'route', 'show', 'default'] },
      { args: ['-j', '-6', 'route', 'show', 'default'] },
      // what underlay detection reads (--iface-can-reach): a route via the uplink, the node's own address, none at all
      { args: ['-batch', '-'], input: 'route add 198.51.100.0/24 via 192.0.2.254 dev u0\naddr add fd02::1/64 dev u0 nodad\nlink add cni-ts.2 address 02:00:00:00:04:04 type vxlan id 2 local fd02::1 dev u0 dstport 4789 nolearning\n' },
      { args: ['-j', 'route', 'get', '198.51.100.7'] },
      { args: ['-j', 'route', 'get', 'to', '192.0.2.1'] },
      { args: ['-j', '-d', 'route', 'get', '192.0.2.9'] },
      { args: ['-j', 'route', 'get', '203.0.113.1'] }, // RTNETLINK answers: Network is unreachable
      { args: ['-j', 'route', 'get', 'fd02::9'] },
      { args: ['-j', '-6', 'route', 'get', 'fd02::1'] },
      { args: ['-j', '-d', 'addr', 'show', 'dev', 'cni-ts.2'] },
      { args: ['-force', '-batch', '-'], input: 'route del 10.244.3.0/24 via 10.244.3.0 dev cni-ts.1 proto 177\nneigh del 10.244.3.0 dev cni-ts.1\naddr del fd44:1::/128 dev cni-ts.1\n' },
      { tool: 'bridge', args: ['-force', '-batch', '-'], input: 'fdb del 02:00:00:00:05:02 dev cni-ts.1 dst 192.0.2.3 self\n' },
    ]);
    c.sameState();
  });

  it('macvlan into the container over link-netns, rename, alias, MTU/MAC/promisc/allmulti/txqlen, netns moves, VLAN filtering, rules', () => {
    net = new TestNet('nlc4');
    const c = new Compat(net);
    c.steps([
      { args: ['-batch', '-'], input: 'link add m0 address 02:00:00:00:06:01 type veth peer name m1 address 02:00:00:00:06:02\nlink set m0 up\n' },
      { args: ['link', 'add', 'br9', 'address', '02:00:00:00:06:09', 'type', 'bridge', 'vlan_filtering', '1'] },
      { args: ['link', 'set', 'dev', 'm1', 'master', 'br9'] },
      { tool: 'bridge', args: ['-batch', '-'], input: 'vlan del dev m1 vid 1\nvlan add dev m1 vid 10 pvid untagged\nvlan add dev m1 vid 20\n' },
      { args: ['link', 'set', 'dev', 'br9', 'type', 'bridge', 'vlan_filtering', '0'] },
      { args: ['rule', 'add', 'from', '10.77.0.9/32', 'table', '100'] },
      { args: ['-6', 'rule', 'add', 'from', 'fd77::9/128', 'table', '101'] },
      { args: ['-N', '-d', '-j', 'rule', 'show'] },
      { args: ['-N', '-d', '-j', '-6', 'rule', 'show'] },
      { args: ['rule', 'del', 'pref', '32765', 'from', '10.77.0.9', 'table', '100'] },
      { args: ['rule', 'del', 'pref', '32765', 'from', '10.77.0.9', 'table', '100'] },
    ]);
    const m0 = (net.ipJson(c.a.host, ['link', 'show', 'dev', 'm0']) as Array<{ ifindex: number }>)[0]!.ifindex;
    expect((net.ipJson(c.b.host, ['link', 'show', 'dev', 'm0']) as Array<{ ifindex: number }>)[0]!.ifindex).toBe(m0);
    c.steps([
      { args: ['-j', '-batch', '-'], input: `link add link if${m0} link-netns @H@ name cnitmp1 mtu 1400 address 02:00:00:00:06:03 type macvlan mode bridge\nlink set dev cnitmp1 name net1\naddr add 10.78.0.5/24 brd + dev net1\nlink set net1 up\nlink show dev net1\n` },
      { args: ['-j', '-d', 'link', 'show', 'dev', 'net1'] },
      { args: ['-batch', '-'], input: 'link set dev net1 mtu 1300 address 02:00:00:00:06:04 promisc on allmulticast on txqueuelen 500\nlink set dev net1 alias "m0 from the host"\n' },
      { args: ['-j', 'link', 'show', 'dev', 'net1'] },
      { args: ['-batch', '-'], input: 'link set dev net1 down\nlink set dev net1 name cnitmp2\nlink set dev cnitmp2 netns @H@\n' },
    ], true);
    c.steps([{ args: ['-j', 'link', 'show', 'dev', 'cnitmp2'] }, { args: ['link', 'set', 'dev', 'cnitmp2', 'netns', '@C@'] }, { args: ['link', 'del', 'br9'] }]);
    c.sameState();
  });

  it("host-device, sbr and vrf's lines: a link moved in and back by path, numeric listings of rules, routes and scoped addresses, rule and route batches", () => {
    net = new TestNet('nlc5');
    const c = new Compat(net);
    c.steps([
      { args: ['-batch', '-'], input: 'link add hd0 address 02:00:00:00:07:01 type veth peer name hd1 address 02:00:00:00:07:02\nlink set dev hd0 alias "was here"\n' },
      // host-device's moveIn: read, then into the container by path
      { args: ['-j', '-batch', '-'], input: 'link show dev hd0\nlink set dev hd0 netns @C@\n' },
      { args: ['-j', '-batch', '-'], input: 'link show dev nope\nlink set dev nope netns @C@\n' },
    ]);
    c.steps([
      { args: ['-j', '-batch', '-'], input: 'link set dev hd0 name eth0\nlink set dev eth0 alias hd0\naddr add 10.79.0.5/24 dev eth0\naddr add fd79::5/64 dev eth0 nodad\nlink set dev eth0 up\nroute add 10.80.0.0/16 via 10.79.0.1 dev eth0\nroute add 0.0.0.0/0 via 10.79.0.1 dev eth0\nroute add ::/0 via fd79::1 dev eth0\nlink show dev eth0\n' },
      // sbr's reads
      { args: ['-N', '-d', '-j', '-4', '-batch', '-'], input: 'rule show\nroute show table main dev eth0\n' },
      { args: ['-N', '-d', '-j', '-6', '-batch', '-'], input: 'rule show\nroute show table main dev eth0\n' },
      { args: ['-N', '-d', '-j', '-4', '-batch', '-'], input: 'rule show\nroute show table main dev nope\n' },
      { args: ['-N', '-d', '-j', '-4', '-batch', '-'], input: 'rule show\naddr show dev eth0\n' },
      // sbr's changes
      { args: ['-6', '-batch', '-'], input: 'rule add from fd79::5/128 table 100\n' },
      { args: ['-batch', '-'], input: 'rule add from 10.79.0.5/32 table 100\nroute add 0.0.0.0/0 via 10.79.0.1 dev eth0 table 100\nroute add 10.80.0.0/16 via 10.79.0.1 dev eth0 proto 3 scope 0 table 100\nroute add ::/0 via fd79::1 dev eth0 proto 3 metric 1024 table 100\nroute del 10.80.0.0/16 via 10.79.0.1 dev eth0 proto 3 scope 0 table main\nroute del 0.0.0.0/0 via 10.79.0.1 dev eth0 table main\n' },
      { args: ['-batch', '-'], input: 'route replace 10.79.0.0/24 dev eth0 src 10.79.0.5 scope link table main\nroute add 10.81.0.0/16 via 10.79.0.9 dev eth0 table 100\n' },
      { args: ['-N', '-j', '-4', 'route', 'show', 'table', '100'] },
      { args: ['-N', '-j', '-6', 'route', 'show', 'table', '100'] },
      { args: ['-N', '-d', '-j', '-4', 'rule', 'show'] },
      { args: ['-6', '-force', '-batch', '-'], input: 'rule del pref 32765 from fd79::5/128 table 100\nrule del pref 32765 from fd79::5/128 table 100\n' },
      { args: ['-4', '-force', '-batch', '-'], input: 'rule del pref 32765 from 10.79.0.5/32 table 100\n' },
      // vrf's reads
      { args: ['-N', '-d', '-j', '-4', '-batch', '-'], input: 'link show\nroute show table main dev eth0\n' },
      { args: ['-N', '-d', '-j', '-6', '-batch', '-'], input: 'route show table main dev eth0\naddr show dev eth0 scope global\n' },
      { args: ['-N', '-d', '-j', '-6', '-batch', '-'], input: 'route show table main dev lo\naddr show dev lo scope global\n' },
      { args: ['-j', '-6', 'addr', 'show', 'scope', 'link'] },
      { args: ['-j', 'addr', 'show', 'dev', 'eth0', 'scope', 'all'] },
      { args: ['-d', '-j', 'link', 'show'] },
      { args: ['-batch', '-'], input: 'link set dev eth0 nomaster\nlink del nope\n' },
      // host-device's return
      { args: ['-batch', '-'], input: 'link set dev eth0 down\nlink set dev eth0 name hd0\nlink set dev hd0 alias ""\nlink set dev hd0 netns @H@\n' },
    ], true);
    c.steps([{ args: ['-j', 'link', 'show', 'dev', 'hd0'] }]);
    c.sameState();
  });

  it("tap's lines: a persistent tap (owner, group, flags) made, configured and renamed in one batch; a name taken", () => {
    net = new TestNet('nlc6');
    const c = new Compat(net);
    c.steps([
      { args: ['-j', '-batch', '-'], input: 'tuntap add mode tap name tp0 user 0 group 0 vnet_hdr\nlink set dev tp0 mtu 1400 address 02:00:00:00:08:01\nlink set dev tp0 name eth0\nlink set dev eth0 up\nlink show dev eth0\n' },
      { args: ['tuntap', 'add', 'mode', 'tap', 'name', 'tp1', 'multi_queue'] },
      { args: ['tuntap', 'add', 'mode', 'tap', 'name', 'tp1', 'multi_queue'] }, // ioctl(TUNSETIFF): Device or resource busy
      { args: ['-batch', '-'], input: 'tuntap add mode tap name lo\nlink set dev tp1 up\n' }, // a link that is not a tap: EINVAL
      { args: ['tuntap', 'add', 'mode', 'tap', 'name', 'tp2', 'pi'] },
      { args: ['-batch', '-'], input: 'link set dev tp1 address 02:00:00:00:08:02\nlink set dev tp2 address 02:00:00:00:08:03\n' }, // (taps get random MACs)
      { args: ['-d', '-j', 'link', 'show'] },
    ], true);
    c.sameState();
  });
});
