/**
 * sbr, for real: chained after our bridge (a real pod), or after a veth made by the test (addresses and routes as an
 * interface plugin leaves them). Rules and tables are read back from the container; differential against the Go sbr
 * 1.1.1 (same rules, tables and routes) and swap tests both ways.
 */
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { GO_PLUGINS, bin, goBin, haveGoPlugins, isRoot, shOk, type PluginRun, type TestNet } from '../helpers/harness.js';
import { Chain } from '../helpers/chain.js';
import { testNets } from '../helpers/nets.js';

const newNet = testNets();

/** A veth `ifname` in `ctr` (peer in the host netns) with addresses and routes as an interface plugin leaves them. */
function veth(net: TestNet, ctr: string, ifname: string, hostIf: string, v4: string, v6?: string, routes: string[] = []): void {
  net.addVeth(ctr, hostIf, ifname);
  shOk('ip', ['-n', ctr, 'addr', 'add', v4, 'dev', ifname]);
  if (v6) shOk('ip', ['-n', ctr, 'addr', 'add', v6, 'dev', ifname, 'nodad']);
  for (const r of routes) shOk('ip', ['-n', ctr, 'route', 'add', ...r.split(' '), 'dev', ifname]);
}

const prevFor = (ctrPath: string, ifname: string, ips: Array<{ address: string; gateway?: string }>, version = '1.0.0'): Record<string, unknown> =>
  version < '0.3.0' ? prev020(ips, version) : prev03x(ctrPath, ifname, ips, version);
/** 0.1.0/0.2.0: one address per family, no interfaces. */
const prev020 = (ips: Array<{ address: string; gateway?: string }>, version: string) => ({
  cniVersion: version,
  ...Object.fromEntries(ips.map((ip) => [ip.address.includes(':') ? 'ip6' : 'ip4', { ip: ip.address, ...(ip.gateway ? { gateway: ip.gateway } : {}) }])),
});
const prev03x = (ctrPath: string, ifname: string, ips: Array<{ address: string; gateway?: string }>, version: string) => ({
  cniVersion: version,
  interfaces: [{ name: 'hostside' }, { name: ifname, sandbox: ctrPath }],
  ips: ips.map((ip) => ({ ...(version.startsWith('0.') ? { version: ip.address.includes(':') ? '6' : '4' } : {}), interface: 1, ...ip })),
});

const sbrConf = (prev: unknown, extra: Record<string, unknown> = {}) => ({ cniVersion: '1.0.0', name: 'sbrnet', type: 'sbr', prevResult: prev, ...extra });

function run(net: TestNet, command: string, conf: unknown, o: { plugin?: string; netns: string; ifname?: string; env?: Record<string, string> }): PluginRun {
  const go = o.plugin?.startsWith(GO_PLUGINS);
  return net.run({ plugin: o.plugin ?? bin('sbr'), command, conf, containerId: 'sbr1', netns: o.netns, ifname: o.ifname ?? 'eth0', path: go ? GO_PLUGINS : undefined, env: go ? undefined : o.env });
}

/** Both ways ours can work: `ip` command lines run in-process over rtnetlink (the executable's FFI), and `ip` execs. */
const MODES: Array<[string, Record<string, string>]> = [
  ['in-process rtnetlink', {}],
  ['ip execs (CNI_TS_NO_FFI=1)', { CNI_TS_NO_FFI: '1' }],
];

function ok(r: PluginRun): any {
  expect(r.status, r.stdout + r.stderr).toBe(0);
  return r.json;
}

/** Rules and routes (every table but local) of both families, as `ip` prints them. */
function state(ns: string): string[] {
  return ['-4', '-6'].flatMap((f) => [
    ...shOk('ip', ['-n', ns, f, 'rule', 'show']).trim().split('\n'),
    ...shOk('ip', ['-n', ns, f, 'route', 'show', 'table', 'all']).trim().split('\n').filter((l) => l && !l.includes('table local') && !l.startsWith('local ') && !l.startsWith('multicast ')),
  ]);
}

const rulesOf = (ns: string): string[] => state(ns).filter((l) => /^\d+:/.test(l) && !/from all lookup/.test(l));
const routeGet = (ns: string, args: string[]): any => JSON.parse(shOk('ip', ['-n', ns, '-j', 'route', 'get', ...args]))[0];

const v4ips = [{ address: '10.85.0.2/24', gateway: '10.85.0.1' }];
const dualIps = [...v4ips, { address: 'fd85::2/64', gateway: 'fd85::1' }];
const dualRoutes = ['default via 10.85.0.1', '10.86.0.0/16 via 10.85.0.254'];

function dualCtr(net: TestNet, suffix = 'c'): { name: string; path: string } {
  const c = net.addContainer(suffix);
  veth(net, c.name, 'eth0', `vh${suffix}`, '10.85.0.2/24', 'fd85::2/64', dualRoutes);
  shOk('ip', ['-n', c.name, '-6', 'route', 'add', 'default', 'via', 'fd85::1', 'dev', 'eth0']);
  return c;
}

describe.skipIf(!isRoot)('sbr', () => {
  it('after a real bridge pod: a table per address with the rule, default route and the interface routes; the main table emptied; traffic from the pod; CHECK; DEL (twice)', () => {
    const net = newNet('sbr');
    const list = {
      cniVersion: '1.0.0',
      name: 'sbrnet',
      plugins: [
        { type: 'bridge', bridge: 'sbrbr0', isGateway: true, ipam: { type: 'host-local', dataDir: net.tempDir(), ranges: [[{ subnet: '10.84.0.0/24' }]], routes: [{ dst: '0.0.0.0/0' }] } },
        { type: 'sbr' },
      ],
    };
    const chain = new Chain(list, { hostNetns: net.host, path: `${bin('')}:${GO_PLUGINS}` });
    const c = net.addContainer('c');
    const a = { containerId: 'pod1', netns: c.path };
    const res = chain.add(a);
    expect(res.ips).toEqual([{ interface: 2, address: '10.84.0.2/24', gateway: '10.84.0.1' }]);
    expect(rulesOf(c.name)).toEqual(['32765:\tfrom 10.84.0.2 lookup 100']);
    expect(shOk('ip', ['-n', c.name, 'route', 'show', 'table', '100']).trim().split('\n').map((l) => l.trim())).toEqual(['default via 10.84.0.1 dev eth0', '10.84.0.0/24 dev eth0 proto kernel scope link src 10.84.0.2']);
    expect(shOk('ip', ['-n', c.name, '-4', 'route', 'show', 'table', 'main']).trim()).toBe('');
    expect(routeGet(c.name, ['10.99.0.9', 'from', '10.84.0.2'])).toMatchObject({ gateway: '10.84.0.1', dev: 'eth0' });
    expect(net.exec(c.name, 'ping', ['-c', '1', '-W', '2', '-I', '10.84.0.2', '10.84.0.1']).status).toBe(0);
    chain.check(a);
    chain.del(a);
    expect(rulesOf(c.name)).toEqual([]);
    ok(run(net, 'DEL', sbrConf(res), { netns: c.path }));
  });

  it('two interfaces in one pod: each address routes by its source (tables 100 and 101)', () => {
    const net = newNet('sbr2');
    const c = net.addContainer('c');
    veth(net, c.name, 'eth0', 've0', '10.85.0.2/24', undefined, ['default via 10.85.0.1']);
    veth(net, c.name, 'net1', 'vn1', '10.87.0.2/24', undefined, ['default via 10.87.0.1 metric 100']);
    ok(run(net, 'ADD', sbrConf(prevFor(c.path, 'eth0', v4ips)), { netns: c.path }));
    ok(run(net, 'ADD', sbrConf(prevFor(c.path, 'net1', [{ address: '10.87.0.2/24', gateway: '10.87.0.1' }])), { netns: c.path, ifname: 'net1' }));
    expect(rulesOf(c.name)).toEqual(['32764:\tfrom 10.87.0.2 lookup 101', '32765:\tfrom 10.85.0.2 lookup 100']);
    expect(routeGet(c.name, ['192.0.2.9', 'from', '10.87.0.2'])).toMatchObject({ gateway: '10.87.0.1', dev: 'net1' });
    expect(routeGet(c.name, ['192.0.2.9', 'from', '10.85.0.2'])).toMatchObject({ gateway: '10.85.0.1', dev: 'eth0' });
    ok(run(net, 'DEL', sbrConf(undefined), { netns: c.path, ifname: 'net1' }));
    expect(rulesOf(c.name)).toEqual(['32765:\tfrom 10.85.0.2 lookup 100']);
  });

  it.skipIf(!haveGoPlugins).each(MODES)('%s: same rules, tables and routes as the Go sbr (dual-stack, a foreign rule on table 100), at 0.2.0/0.3.1/0.4.0/1.0.0', (_mode, env) => {
    const net = newNet('sbrd');
    for (const v of ['0.2.0', '0.3.1', '0.4.0', '1.0.0']) {
      const [o, g] = [dualCtr(net, `o${v.replace(/\./g, '')}`), dualCtr(net, `g${v.replace(/\./g, '')}`)];
      for (const c of [o, g]) shOk('ip', ['-n', c.name, 'rule', 'add', 'from', '10.1.1.1', 'table', '100']);
      // a multipath route and a blackhole on the interface: copied as they are
      for (const c of [o, g]) {
        shOk('ip', ['-n', c.name, 'route', 'add', '10.88.0.0/16', 'nexthop', 'via', '10.85.0.7', 'dev', 'eth0', 'weight', '1', 'nexthop', 'via', '10.85.0.8', 'dev', 'eth0', 'weight', '3']);
        shOk('ip', ['-n', c.name, 'route', 'add', '10.89.0.0/16', 'dev', 'eth0', 'proto', 'static', 'scope', 'link', 'metric', '7']);
      }
      const ours = ok(run(net, 'ADD', sbrConf(prevFor(o.path, 'eth0', dualIps, v), { cniVersion: v }), { netns: o.path, env }));
      const go = ok(run(net, 'ADD', sbrConf(prevFor(g.path, 'eth0', dualIps, v), { cniVersion: v }), { netns: g.path, plugin: goBin('sbr') }));
      const norm = (j: any) => ({ ...j, dns: j.dns && Object.keys(j.dns).length ? j.dns : undefined, interfaces: j.interfaces?.map((i: any) => ({ ...i, sandbox: 'S' })) });
      expect(norm(ours)).toEqual(norm(go));
      expect(state(o.name)).toEqual(state(g.name));
      expect(rulesOf(o.name)).toContain('32764:\tfrom 10.85.0.2 lookup 101');
      ok(run(net, 'DEL', sbrConf(undefined, { cniVersion: v }), { netns: o.path, env }));
      ok(run(net, 'DEL', sbrConf(undefined, { cniVersion: v }), { netns: g.path, plugin: goBin('sbr') }));
      expect(state(o.name)).toEqual(state(g.name));
      expect(rulesOf(o.name)).toEqual(['32765:\tfrom 10.1.1.1 lookup 100']);
    }
  });

  it.skipIf(!haveGoPlugins)('swap with the Go sbr: ADD with one, DEL with the other leaves no rule', () => {
    const net = newNet('sbrs');
    for (const [adder, deleter] of [[bin('sbr'), goBin('sbr')], [goBin('sbr'), bin('sbr')]]) {
      const c = dualCtr(net, adder.startsWith(GO_PLUGINS) ? 'g' : 'o');
      const prev = prevFor(c.path, 'eth0', dualIps);
      ok(run(net, 'ADD', sbrConf(prev), { netns: c.path, plugin: adder }));
      expect(rulesOf(c.name)).toHaveLength(2);
      ok(run(net, 'CHECK', sbrConf(prev), { netns: c.path, plugin: deleter }));
      ok(run(net, 'DEL', sbrConf(prev), { netns: c.path, plugin: deleter }));
      expect(rulesOf(c.name)).toEqual([]);
    }
  });

  it.each(MODES)('%s: DEL with CNI_NETNS="", netns gone (no file made at its path), interface gone (rules by prevResult; the Go sbr fails)', (_mode, env) => {
    const net = newNet('sbrx');
    const c = dualCtr(net);
    const prev = prevFor(c.path, 'eth0', dualIps);
    ok(run(net, 'ADD', sbrConf(prev), { netns: c.path, env }));
    ok(run(net, 'DEL', sbrConf(prev), { netns: '', env }));
    expect(rulesOf(c.name)).toHaveLength(2);
    shOk('ip', ['-n', c.name, 'link', 'del', 'eth0']);
    if (haveGoPlugins) {
      const go = run(net, 'DEL', sbrConf(prev), { netns: c.path, plugin: goBin('sbr') });
      expect(go.json?.msg).toBe('Failed to get link eth0: Link not found');
    }
    for (let i = 0; i < 2; i++) ok(run(net, 'DEL', sbrConf(prev), { netns: c.path, env }));
    expect(rulesOf(c.name)).toEqual([]);
    net.removeNetns(c.name);
    ok(run(net, 'DEL', sbrConf(prev), { netns: c.path, env }));
    expect(existsSync(c.path)).toBe(false);
    const add = run(net, 'ADD', sbrConf(prev), { netns: c.path, env });
    expect(add.json?.msg).toMatch(/failed to open netns/);
    expect(existsSync(c.path)).toBe(false);
  });

  it('with the FFI: ADD and DEL run no program (their `ip` reads and batches run in-process over rtnetlink)', () => {
    const net = newNet('sbrt');
    const c = dualCtr(net);
    const trace = join(net.tempDir(), 'trace');
    const conf = sbrConf(prevFor(c.path, 'eth0', dualIps));
    for (const command of ['ADD', 'DEL']) {
      ok(run(net, command, conf, { netns: c.path, env: { CNI_TS_TRACE: trace } }));
      const what = readFileSync(trace, 'utf8').trim().split('\n').map((l) => JSON.parse(l).what as string);
      rmSync(trace);
      expect(what.filter((w) => w.startsWith('exec ')), command).toEqual([]);
      // ADD: the two reads (-4, -6), the IPv6 rule batch, the IPv4 rules and routes batch; DEL: two reads, two rule batches
      expect(what.filter((w) => w.startsWith('netlink ip ')), command).toHaveLength(4);
    }
    expect(rulesOf(c.name)).toEqual([]);
  });

  it("the current reference's keys: table (rules only), gateways (static gateway per family), addSourceHints", () => {
    const net = newNet('sbrk');
    const t = dualCtr(net, 't');
    ok(run(net, 'ADD', sbrConf(prevFor(t.path, 'eth0', dualIps), { table: 500 }), { netns: t.path }));
    expect(rulesOf(t.name)).toEqual(['32765:\tfrom 10.85.0.2 lookup 500', '32765:\tfrom fd85::2 lookup 500']);
    expect(shOk('ip', ['-n', t.name, 'route', 'show', 'table', 'main']).trim()).toContain('default via 10.85.0.1');
    ok(run(net, 'DEL', sbrConf(undefined, { table: 500 }), { netns: t.path }));
    expect(rulesOf(t.name)).toEqual([]);

    // (a default route already in the main table is copied over it, as upstream does: here there is none)
    const g = net.addContainer('g');
    veth(net, g.name, 'eth0', 'vhg', '10.85.0.2/24', 'fd85::2/64');
    ok(run(net, 'ADD', sbrConf(prevFor(g.path, 'eth0', dualIps), { gateways: ['10.85.0.9', 'fd85::9'] }), { netns: g.path }));
    expect(routeGet(g.name, ['192.0.2.1', 'from', '10.85.0.2'])).toMatchObject({ gateway: '10.85.0.9' });
    expect(routeGet(g.name, ['2001:db8::1', 'from', 'fd85::2'])).toMatchObject({ gateway: 'fd85::9' });

    const h = dualCtr(net, 'hi');
    ok(run(net, 'ADD', sbrConf(prevFor(h.path, 'eth0', v4ips), { addSourceHints: true }), { netns: h.path }));
    expect(shOk('ip', ['-n', h.name, '-4', 'route', 'show', 'table', 'main']).trim()).toBe('10.85.0.0/24 dev eth0 scope link src 10.85.0.2');
  });

  it('CHECK (the reference checks nothing): a rule removed or a table without its default route is reported', () => {
    const net = newNet('sbrc');
    const c = dualCtr(net);
    const conf = sbrConf(prevFor(c.path, 'eth0', dualIps));
    ok(run(net, 'ADD', conf, { netns: c.path }));
    ok(run(net, 'CHECK', conf, { netns: c.path }));
    shOk('ip', ['-n', c.name, 'route', 'del', 'default', 'table', '100']);
    expect(run(net, 'CHECK', conf, { netns: c.path }).json.msg).toBe('sbr: table 100 of 10.85.0.2 has no default route via 10.85.0.1');
    shOk('ip', ['-n', c.name, '-6', 'rule', 'del', 'from', 'fd85::2']);
    expect(run(net, 'CHECK', { ...conf, prevResult: prevFor(c.path, 'eth0', [dualIps[1]!]) }, { netns: c.path }).json.msg).toBe(`sbr: no rule "from fd85::2" in ${c.path}`);
  });

  it('bad input and a failed ADD leave the container as it was', () => {
    const net = newNet('sbrb');
    const c = dualCtr(net);
    const before = state(c.name);
    const cases: Array<[unknown, RegExp, number, string?]> = [
      [sbrConf(undefined), /^This plugin must be called as chained plugin$/, 999],
      [sbrConf({ cniVersion: '1.0.0', interfaces: [{ name: 'eth0' }] }), /^No IP addresses supplied on interface: eth0$/, 999],
      [sbrConf(prevFor(c.path, 'eth9', v4ips)), /^Cannot find network interface eth9: Link not found$/, 999, 'eth9'],
      [sbrConf(prevFor(c.path, 'eth0', v4ips), { table: 'x' }), /"table" must be an integer/, 7],
      [sbrConf(prevFor(c.path, 'eth0', v4ips), { gateways: ['nope'] }), /invalid static gateway IP address "nope"/, 7],
      // a static gateway outside the interface's subnets: the default route cannot be added, everything is undone
      [sbrConf(prevFor(c.path, 'eth0', dualIps), { gateways: ['10.99.0.1'] }), /^Failed to add default route/, 999],
    ];
    for (const [conf, msg, code, ifname] of cases) {
      const r = run(net, 'ADD', conf, { netns: c.path, ifname });
      expect(r.status, r.stdout).toBe(1);
      expect(r.json.code).toBe(code);
      expect(r.json.msg).toMatch(msg);
      expect(state(c.name)).toEqual(before);
    }
  });
});
