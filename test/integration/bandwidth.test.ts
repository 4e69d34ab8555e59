/**
 * bandwidth, for real: chained after our bridge in a throwaway host netns with an "outside" namespace behind it.
 * Qdiscs, classes and the IFB device are read back with tc/ip; the limit is measured with TCP traffic.
 */
import { describe, expect, it } from 'vitest';
import { Chain, ChainError, type ConfList } from '../helpers/chain.js';
import { DIST, GO_PLUGINS, bin, goBin, haveGoPlugins, isRoot, sh, shOk, type TestNet } from '../helpers/harness.js';
import { testNets } from '../helpers/nets.js';
import { measureThroughput } from '../helpers/traffic.js';
import { ifbDeviceName } from '../../lib/hash.js';

const OUTSIDE = '192.0.2.2';

const newNet = testNets();

interface Env {
  net: TestNet;
  list: ConfList;
  chain: Chain;
  /** The namespace behind the host (with `outside`). */
  outside?: string;
}

function setup(label: string, bandwidth: Record<string, unknown> = {}, opts: { version?: string; goBandwidth?: boolean; outside?: boolean } = {}): Env {
  const net = newNet(label);
  const outside = opts.outside ? net.addOutside(['192.0.2.1/24'], [`${OUTSIDE}/24`], 'ext0', 'ext1') : undefined;
  const list: ConfList = {
    cniVersion: opts.version ?? '1.0.0',
    name: `bw${net.id}`,
    plugins: [
      { type: 'bridge', bridge: 'cnibw0', isGateway: true, ipMasq: true, ipam: { type: 'host-local', dataDir: net.tempDir(), ranges: [[{ subnet: '10.99.0.0/24' }]], routes: [{ dst: '0.0.0.0/0' }] } },
      { type: 'bandwidth', capabilities: { bandwidth: true }, ...bandwidth },
    ],
  };
  const chain = new Chain(list, { hostNetns: net.host, path: `${DIST}:${GO_PLUGINS}`, plugins: { bandwidth: opts.goBandwidth ? goBin('bandwidth') : bin('bandwidth') } });
  return { net, list, chain, ...(outside ? { outside } : {}) };
}

const hostVeth = (res: any): string => res.interfaces.find((i: any) => i.name.startsWith('veth')).name;
const tc = (net: TestNet, args: string[]): string => net.exec(net.host, 'tc', args).stdout;
const ifbs = (net: TestNet): string[] => (net.ipJson(net.host, ['link', 'show', 'type', 'ifb']) as any[]).map((l) => l.ifname);
const qdiscKinds = (net: TestNet, dev: string): string[] => (JSON.parse(tc(net, ['-j', 'qdisc', 'show', 'dev', dev]) || '[]') as any[]).map((q) => q.kind);

function chainErr(fn: () => unknown): ChainError {
  try {
    fn();
  } catch (e) {
    if (e instanceof ChainError) return e;
    throw e;
  }
  throw new Error('expected the chain to fail');
}

describe.skipIf(!isRoot)('bandwidth plugin', () => {
  it('shapes both directions: htb on the host veth, IFB bwp<hash> with the veth redirected to it; result lists the IFB; CHECK; DEL (twice)', () => {
    const { net, chain, list } = setup('bw', { ingressRate: 8_000_000, ingressBurst: 512_000, egressRate: 16_000_000, egressBurst: 512_000 });
    const c = net.addContainer('c');
    const res = chain.add({ containerId: 'bw-a', netns: c.path });
    const veth = hostVeth(res);
    const ifb = ifbDeviceName(list.name, 'bw-a');
    expect(res.interfaces.at(-1)).toEqual({ name: ifb, mac: expect.stringMatching(/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/) });
    expect(ifbs(net)).toEqual([ifb]);
    const ifbLink = net.ipJson(net.host, ['link', 'show', 'dev', ifb])[0];
    expect(ifbLink.address).toBe(res.interfaces.at(-1).mac);
    expect(ifbLink.mtu).toBe(1500);
    expect(ifbLink.txqlen).toBe(1000);
    expect(ifbLink.flags).toContain('UP');
    expect(qdiscKinds(net, veth).sort()).toEqual(['htb', 'ingress']);
    expect(tc(net, ['class', 'show', 'dev', veth])).toMatch(/class htb 1:30 root .*rate 8Mbit ceil 16Mbit/);
    expect(tc(net, ['class', 'show', 'dev', ifb])).toMatch(/class htb 1:30 root .*rate 16Mbit ceil 32Mbit/);
    expect(tc(net, ['class', 'show', 'dev', ifb])).toMatch(/class htb 1:1 root .*rate 800Gbit/);
    expect(tc(net, ['filter', 'show', 'dev', veth, 'parent', 'ffff:'])).toContain(`mirred (Egress Redirect to device ${ifb})`);
    chain.check({ containerId: 'bw-a', netns: c.path });
    // CHECK notices a changed rate
    shOk('ip', ['netns', 'exec', net.host, 'tc', 'class', 'change', 'dev', ifb, 'parent', '1:', 'classid', '1:30', 'htb', 'rate', '1mbit']);
    expect(chainErr(() => chain.check({ containerId: 'bw-a', netns: c.path })).run.json.msg).toMatch(new RegExp(`Rate does not match for the shaped class for device ${ifb}`));
    chain.del({ containerId: 'bw-a', netns: c.path });
    expect(ifbs(net)).toEqual([]);
    chain.del({ containerId: 'bw-a', netns: c.path });
  });

  it('enforces the limit: TCP through 8 Mbit/s stays under 1.5x the limit each way, unlimited is far faster', async () => {
    const { net, chain, outside } = setup('bwt', {}, { outside: true });
    const limited = net.addContainer('lim');
    const free = net.addContainer('free');
    const limit = 8_000_000;
    chain.add({ containerId: 'bw-lim', netns: limited.path, capabilityArgs: { bandwidth: { ingressRate: limit, ingressBurst: 512_000, egressRate: limit, egressBurst: 512_000 } } });
    chain.add({ containerId: 'bw-free', netns: free.path });
    const up = await measureThroughput(outside!, OUTSIDE, limited.name, 'egress', 5001);
    const down = await measureThroughput(outside!, OUTSIDE, limited.name, 'ingress', 5002);
    const unlimited = await measureThroughput(outside!, OUTSIDE, free.name, 'egress', 5003);
    expect(up, `egress ${up}`).toBeLessThan(1.5 * limit);
    expect(up).toBeGreaterThan(0.25 * limit);
    expect(down, `ingress ${down}`).toBeLessThan(1.5 * limit);
    expect(down).toBeGreaterThan(0.25 * limit);
    expect(unlimited, `unlimited ${unlimited}`).toBeGreaterThan(10 * limit);
    chain.del({ containerId: 'bw-lim', netns: limited.path });
    chain.del({ containerId: 'bw-free', netns: free.path });
    expect(ifbs(net)).toEqual([]);
  }, 60_000);

  it('runtimeConfig.bandwidth (Go field names as go-cni sends them); unshapedSubnets become u32 filters to the unshaped class', () => {
    const { net, chain } = setup('bwr', { unshapedSubnets: ['10.0.0.0/8'] });
    const c = net.addContainer('c');
    // the config's own key (unshapedSubnets) makes the config's entry the one in force: nothing is shaped
    const none = chain.add({ containerId: 'bw-r', netns: c.path, capabilityArgs: { bandwidth: { EgressRate: 1_000_000, EgressBurst: 100_000 } } });
    expect(qdiscKinds(net, hostVeth(none))).toEqual(['noqueue']);
    expect(ifbs(net)).toEqual([]);
    chain.del({ containerId: 'bw-r', netns: c.path });
    const e = setup('bwr2');
    const c2 = e.net.addContainer('c');
    const res = e.chain.add({ containerId: 'bw-r2', netns: c2.path, capabilityArgs: { bandwidth: { EgressRate: 1_000_000, EgressBurst: 100_000 } } });
    const ifb = res.interfaces.at(-1).name;
    expect(tc(e.net, ['class', 'show', 'dev', ifb])).toMatch(/class htb 1:30 root .*rate 1Mbit/);
    expect(qdiscKinds(e.net, hostVeth(res)).sort()).toEqual(['ingress', 'noqueue']); // egress only: no htb on the veth
    e.chain.check({ containerId: 'bw-r2', netns: c2.path });
    e.chain.del({ containerId: 'bw-r2', netns: c2.path });
    const s = setup('bwr3', { ingressRate: 800_000, ingressBurst: 80_000, unshapedSubnets: ['10.0.0.0/8', 'fd00::/8'] });
    const c3 = s.net.addContainer('c');
    const r3 = s.chain.add({ containerId: 'bw-r3', netns: c3.path });
    const filters = tc(s.net, ['filter', 'show', 'dev', hostVeth(r3), 'parent', '1:']);
    expect(filters).toMatch(/protocol ip pref 16 u32 .*flowid 1:1[\s\S]*match 0a000000\/ff000000 at 16/);
    expect(filters).toMatch(/protocol ipv6 pref 15 u32 .*flowid 1:1[\s\S]*match fd000000\/ff000000 at 24/);
    s.chain.check({ containerId: 'bw-r3', netns: c3.path });
  });

  it('no bandwidth configured: the result passes through and nothing is touched', () => {
    const { net, chain, list } = setup('bwn', {}, { version: '0.4.0' });
    const c = net.addContainer('c');
    const res = chain.add({ containerId: 'bw-n', netns: c.path });
    expect(res.cniVersion).toBe('0.4.0');
    expect(res.interfaces).toHaveLength(3);
    expect(qdiscKinds(net, hostVeth(res))).toEqual(['noqueue']);
    expect(ifbs(net)).toEqual([]);
    chain.check({ containerId: 'bw-n', netns: c.path });
    chain.del({ containerId: 'bw-n', netns: c.path });
    void list;
  });

  it('DEL without netns and prevResult, and with a config edited into something invalid, still removes the IFB', () => {
    const { net, chain, list } = setup('bwd', { egressRate: 1_000_000, egressBurst: 100_000 });
    const c = net.addContainer('c');
    chain.add({ containerId: 'bw-d', netns: c.path });
    const ifb = ifbDeviceName(list.name, 'bw-d');
    expect(ifbs(net)).toEqual([ifb]);
    const bwConf = { ...chain.pluginConf(1, {}), egressBurst: 0 };
    const r = net.run({ plugin: bin('bandwidth'), command: 'DEL', conf: bwConf, containerId: 'bw-d', netns: '', ifname: 'eth0' });
    expect(r.status, r.stdout).toBe(0);
    expect(ifbs(net)).toEqual([]);
    expect(net.run({ plugin: bin('bandwidth'), command: 'DEL', conf: bwConf, containerId: 'bw-d', netns: '', ifname: 'eth0' }).status).toBe(0);
    chain.del({ containerId: 'bw-d', netns: c.path });
  });

  it('a veth that already has a root qdisc: the error names tc, the IFB is removed, the existing qdisc stays', () => {
    const { net, chain, list } = setup('bwf', { ingressRate: 1_000_000, ingressBurst: 100_000, egressRate: 1_000_000, egressBurst: 100_000 });
    const c = net.addContainer('c');
    const bridgeOnly = new Chain({ ...list, plugins: list.plugins.slice(0, 1) }, chain.opts);
    const res = bridgeOnly.add({ containerId: 'bw-f', netns: c.path });
    shOk('ip', ['netns', 'exec', net.host, 'tc', 'qdisc', 'add', 'dev', hostVeth(res), 'root', 'handle', '5:', 'pfifo']);
    const r = net.run({ plugin: bin('bandwidth'), command: 'ADD', conf: { ...chain.pluginConf(1, {}), prevResult: res }, containerId: 'bw-f', netns: c.path, ifname: 'eth0' });
    expect(r.json.code).toBe(999);
    expect(r.json.msg).toBe(`failed to set up traffic shaping on ${hostVeth(res)}`);
    expect(r.json.details).toMatch(/qdisc add dev .* root handle 1: htb/);
    expect(ifbs(net)).toEqual([]);
    expect(qdiscKinds(net, hostVeth(res))).toEqual(['pfifo']);
    bridgeOnly.del({ containerId: 'bw-f', netns: c.path });
  });

  describe('bad input: the right error, nothing created', () => {
    const cases: Array<[string, Record<string, unknown>, number, RegExp]> = [
      ['a rate without a burst', { ingressRate: 1000 }, 7, /if rate is set, burst must also be set/],
      ['a burst without a rate', { egressBurst: 1000 }, 7, /if burst is set, rate must also be set/],
      ['a burst over 4GB', { egressRate: 1000, egressBurst: 40_000_000_000 }, 7, /burst cannot be more than 4GB/],
      ['a burst the rate cannot drain', { egressRate: 800, egressBurst: 8_000_000 }, 7, /"egressBurst" 8000000 bits takes too long to send at "egressRate" 800 bit\/s/],
      ['a rate that is not a number', { ingressRate: '1mbit', ingressBurst: 1000 }, 7, /"ingressRate" must be a non-negative integer/],
      ['both subnet lists', { ingressRate: 1000, ingressBurst: 1000, unshapedSubnets: ['10.0.0.0/8'], shapedSubnets: ['10.1.0.0/16'] }, 7, /cannot be both specified/],
      ['a bad subnet', { ingressRate: 1000, ingressBurst: 1000, shapedSubnets: ['10.0.0.0/33'] }, 7, /bad subnet "10.0.0.0\/33"/],
    ];
    for (const [what, extra, code, msg] of cases) {
      it(what, () => {
        const { net, chain } = setup('bwb', extra);
        const c = net.addContainer('c');
        const e = chainErr(() => chain.add({ containerId: 'bw-b', netns: c.path }));
        expect(e.type).toBe('bandwidth');
        expect(e.run.json.code).toBe(code);
        expect(e.run.json.msg).toMatch(msg);
        expect(ifbs(net)).toEqual([]);
        const veths = (net.ipJson(net.host, ['link', 'show', 'type', 'veth']) as any[]).map((l) => l.ifname);
        for (const v of veths) expect(qdiscKinds(net, v)).toEqual(['noqueue']);
      });
    }

    it('cniVersion 0.2.0 (bandwidth starts at 0.3.0); unchained; a prevResult whose host interface is not the peer', () => {
      const { net } = setup('bwv');
      const c = net.addContainer('c');
      net.addVeth(c.name, 'vh0');
      const base = { name: 'bwv', type: 'bandwidth', egressRate: 1000, egressBurst: 1000 };
      const run = (conf: unknown) => net.run({ plugin: bin('bandwidth'), command: 'ADD', conf, containerId: 'v', netns: c.path, ifname: 'eth0' });
      expect(run({ ...base, cniVersion: '0.2.0' }).json).toMatchObject({ code: 1, msg: 'incompatible CNI versions' });
      expect(run({ ...base, cniVersion: '1.0.0' }).json.msg).toBe('must be called as chained plugin');
      const wrong = { cniVersion: '1.0.0', interfaces: [{ name: 'lo' }, { name: 'eth0', sandbox: c.path }], ips: [{ address: '10.9.0.2/24', interface: 1 }] };
      expect(run({ ...base, cniVersion: '1.0.0', prevResult: wrong }).json.msg).toBe('no veth peer of container interface found in host ns');
      expect(ifbs(net)).toEqual([]);
    });
  });
});

/** Results of two setups compared: veth names, MACs and sandboxes differ by nature; `dns: {}` ≡ absent. */
function norm(j: any): any {
  const out = JSON.parse(JSON.stringify(j));
  if (out.dns && Object.keys(out.dns).length === 0) delete out.dns;
  for (const i of out.interfaces ?? []) {
    if (/^veth[0-9a-f]{8}$/.test(i.name)) i.name = 'vethX';
    if (i.mac) i.mac = 'MAC';
    if (i.sandbox) i.sandbox = 'NS';
  }
  return out;
}

describe.skipIf(!isRoot || !haveGoPlugins)('bandwidth vs the Go reference bandwidth', () => {
  for (const version of ['0.4.0', '1.0.0']) {
    it(`same result, IFB name and MTU, same rates as /usr/lib/cni/bandwidth at ${version} (which uses tbf where the current reference uses htb)`, () => {
      const bw = { ingressRate: 8_000_000, ingressBurst: 80_000, egressRate: 4_000_000, egressBurst: 80_000 };
      const ours = setup('bwe', bw, { version });
      const go = setup('bwg', bw, { version, goBandwidth: true });
      ours.list.name = go.list.name = 'diffnet';
      const c1 = ours.net.addContainer('c');
      const c2 = go.net.addContainer('c');
      const a = ours.chain.add({ containerId: 'diff1', netns: c1.path });
      const b = go.chain.add({ containerId: 'diff1', netns: c2.path });
      expect(norm(a)).toEqual(norm(b));
      const ifb = ifbDeviceName('diffnet', 'diff1');
      expect(a.interfaces.at(-1).name).toBe(ifb);
      expect(ifbs(ours.net)).toEqual(ifbs(go.net));
      expect(ours.net.ipJson(ours.net.host, ['link', 'show', 'dev', ifb])[0].mtu).toBe(go.net.ipJson(go.net.host, ['link', 'show', 'dev', ifb])[0].mtu);
      const goTbf = (dev: string) => (JSON.parse(tc(go.net, ['-j', 'qdisc', 'show', 'dev', dev])) as any[]).find((q) => q.kind === 'tbf').options;
      expect(goTbf(hostVeth(b)).rate * 8).toBe(8_000_000);
      expect(tc(ours.net, ['class', 'show', 'dev', hostVeth(a)])).toMatch(/class htb 1:30 root .*rate 8Mbit /);
      expect(goTbf(ifb).rate * 8).toBe(4_000_000);
      expect(tc(ours.net, ['class', 'show', 'dev', ifb])).toMatch(/class htb 1:30 root .*rate 4Mbit /);
      ours.chain.check({ containerId: 'diff1', netns: c1.path });
      go.chain.check({ containerId: 'diff1', netns: c2.path });
      ours.chain.del({ containerId: 'diff1', netns: c1.path });
      go.chain.del({ containerId: 'diff1', netns: c2.path });
      expect(ifbs(ours.net)).toEqual([]);
      expect(ifbs(go.net)).toEqual([]);
    });
  }

  it('swap: ADD with Go, CHECK and DEL with ours — and ADD with ours, DEL with Go — leave no IFB', () => {
    const bw = { ingressRate: 1_000_000, ingressBurst: 100_000, egressRate: 1_000_000, egressBurst: 100_000 };
    const go = setup('bws', bw, { goBandwidth: true });
    const c = go.net.addContainer('c');
    go.chain.add({ containerId: 'sw1', netns: c.path });
    expect(ifbs(go.net)).toHaveLength(1);
    const ours = new Chain(go.list, { ...go.chain.opts, plugins: { bandwidth: bin('bandwidth') } });
    go.chain.cache.forEach((v, k) => ours.cache.set(k, v));
    ours.check({ containerId: 'sw1', netns: c.path });
    ours.del({ containerId: 'sw1', netns: c.path });
    expect(ifbs(go.net)).toEqual([]);
    const d = go.net.addContainer('d');
    ours.add({ containerId: 'sw2', netns: d.path });
    expect(ifbs(go.net)).toHaveLength(1);
    ours.cache.forEach((v, k) => go.chain.cache.set(k, v));
    go.chain.del({ containerId: 'sw2', netns: d.path });
    expect(ifbs(go.net)).toEqual([]);
    expect(sh('ip', ['-n', go.net.host, 'link', 'show', 'type', 'veth']).stdout).toBe('');
  });
});
