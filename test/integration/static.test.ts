/**
 * static IPAM through the process boundary: differential against the Go static 1.1.1 over a matrix of configs, CNI_ARGS
 * and spec versions (same exit status, same result), DEL that always succeeds, CHECK, and static run in-process by an
 * interface plugin when CNI_PATH's static is this executable.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { GO_PLUGINS, bin, goBin, haveGoPlugins, isRoot, shOk, type PluginRun, type TestNet } from '../helpers/harness.js';
import { testNets } from '../helpers/nets.js';

const newNet = testNets();

const VERSIONS = ['0.1.0', '0.2.0', '0.3.0', '0.3.1', '0.4.0', '1.0.0'];

const ipam = (extra: Record<string, unknown> = {}) => ({
  type: 'static',
  addresses: [{ address: '10.10.0.5/24', gateway: '10.10.0.1' }, { address: '3ffe:ffff:0:01ff::1/64', gateway: '3ffe:ffff:0::1' }],
  routes: [{ dst: '0.0.0.0/0' }, { dst: '192.168.0.0/16', gw: '10.10.5.1' }, { dst: '3ffe:ffff:0:01ff::1/64' }],
  dns: { nameservers: ['8.8.8.8'], domain: 'example.com', search: ['example.com'], options: ['ndots:2'] },
  ...extra,
});

interface Case {
  name: string;
  conf: Record<string, unknown>;
  args?: string;
}

const CASES: Case[] = [
  { name: 'dual-stack addresses, routes, dns', conf: { ipam: ipam() } },
  { name: 'one address, no gateway', conf: { ipam: { type: 'static', addresses: [{ address: '10.10.0.5/24' }] } } },
  { name: 'two IPv4 addresses', conf: { ipam: { type: 'static', addresses: [{ address: '10.10.0.5/24' }, { address: '10.10.1.5/24' }] } } },
  { name: 'no addresses', conf: { ipam: { type: 'static', routes: [{ dst: '0.0.0.0/0', gw: '10.10.0.1' }] } } },
  { name: 'CNI_ARGS IP and GATEWAY', conf: { ipam: { type: 'static' } }, args: 'IP=10.10.0.7/24,fd00::7/64;GATEWAY=10.10.0.1,fd00::1' },
  { name: 'CNI_ARGS IP appended to the config', conf: { ipam: { type: 'static', addresses: [{ address: '10.20.0.5/16' }] } }, args: 'IgnoreUnknown=1;K8S_POD_NAME=p;IP=fd00::7/64' },
  { name: 'args.cni.ips replaces', conf: { ipam: ipam(), args: { cni: { ips: ['10.30.0.5/24'] } } }, args: 'IP=10.10.9.9/24' },
  { name: 'runtimeConfig.ips replaces', conf: { ipam: ipam(), args: { cni: { ips: ['10.30.0.5/24'] } }, runtimeConfig: { ips: ['10.40.0.5/24', 'fd40::5/64'] } } },
  { name: 'address spelled oddly', conf: { ipam: { type: 'static', addresses: [{ address: 'FD00:0000::0005/64', gateway: 'FD00::1' }] } } },
];

const BAD: Case[] = [
  { name: 'no ipam', conf: {} },
  { name: 'address not CIDR', conf: { ipam: { type: 'static', addresses: [{ address: '10.10.0.5' }] } } },
  { name: 'bad gateway', conf: { ipam: { type: 'static', addresses: [{ address: '10.10.0.5/24', gateway: 'x' }] } } },
  { name: 'CNI_ARGS IP not CIDR', conf: { ipam: { type: 'static' } }, args: 'IP=10.10.0.5' },
  { name: 'CNI_ARGS unknown key', conf: { ipam: { type: 'static' } }, args: 'FOO=1' },
];

function run(net: TestNet, plugin: string, command: string, conf: unknown, args?: string, env?: Record<string, string>): PluginRun {
  return net.run({ plugin, command, conf, containerId: 'st1', netns: '/run/netns/none', ifname: 'eth0', args, path: plugin.startsWith(GO_PLUGINS) ? GO_PLUGINS : undefined, env });
}

/** `"dns": {}` ≡ absent (the 1.x results of Go 1.1.1 always carry it). */
const norm = (j: any): any => {
  const o = JSON.parse(JSON.stringify(j ?? null));
  if (o && o.dns && Object.keys(o.dns).length === 0 && !String(o.cniVersion).startsWith('0.')) delete o.dns;
  return o;
};

describe.skipIf(!isRoot)('static IPAM', () => {
  it.skipIf(!haveGoPlugins)('same exit status and result as the Go static for every case at every version', () => {
    const net = newNet('st');
    let compared = 0;
    for (const c of CASES) {
      for (const v of VERSIONS) {
        const conf = { cniVersion: v, name: 'stnet', type: 'static', ...c.conf };
        const ours = run(net, bin('static'), 'ADD', conf, c.args);
        const go = run(net, goBin('static'), 'ADD', conf, c.args);
        const label = `${c.name} @ ${v}: ours ${ours.stdout} go ${go.stdout}`;
        expect(ours.status, label).toBe(go.status);
        if (go.status === 0) expect(norm(ours.json), label).toEqual(norm(go.json));
        else expect(ours.json.msg, label).toBe(go.json.msg); // both refuse (0.2.0 with two IPv4 / no address)
        compared++;
      }
    }
    expect(compared).toBe(CASES.length * VERSIONS.length);
    for (const c of BAD) {
      const conf = { cniVersion: '1.0.0', name: 'stnet', type: 'static', ...c.conf };
      const ours = run(net, bin('static'), 'ADD', conf, c.args);
      const go = run(net, goBin('static'), 'ADD', conf, c.args);
      expect([ours.status, go.status], c.name).toEqual([1, 1]);
      expect([4, 7], `${c.name}: ${ours.stdout}`).toContain(ours.json.code); // the reference says 999
    }
  });

  it('results: 0.2.0 one address per family, 0.4.0 with versions; errors name the key (code 7) or the CNI_ARGS (code 4)', () => {
    const net = newNet('st2');
    const ok = (r: PluginRun) => {
      expect(r.status, r.stdout).toBe(0);
      return r.json;
    };
    expect(ok(run(net, bin('static'), 'ADD', { cniVersion: '0.2.0', name: 'n', ipam: ipam() }))).toEqual({
      cniVersion: '0.2.0',
      ip4: { ip: '10.10.0.5/24', gateway: '10.10.0.1', routes: [{ dst: '0.0.0.0/0' }, { dst: '192.168.0.0/16', gw: '10.10.5.1' }] },
      ip6: { ip: '3ffe:ffff:0:1ff::1/64', gateway: '3ffe:ffff::1', routes: [{ dst: '3ffe:ffff:0:1ff::1/64' }] },
      dns: { nameservers: ['8.8.8.8'], domain: 'example.com', search: ['example.com'], options: ['ndots:2'] },
    });
    expect(ok(run(net, bin('static'), 'ADD', { cniVersion: '0.4.0', name: 'n', ipam: { type: 'static', addresses: [{ address: '10.10.0.5/24' }] } }))).toEqual({
      cniVersion: '0.4.0',
      ips: [{ version: '4', address: '10.10.0.5/24' }],
      dns: {},
    });
    const two = run(net, bin('static'), 'ADD', { cniVersion: '0.2.0', name: 'n', ipam: { type: 'static', addresses: [{ address: '10.10.0.5/24' }, { address: '10.10.1.5/24' }] } });
    expect(two.json).toMatchObject({ code: 7, msg: 'CNI version 0.2.0 does not support more than 1 address per family' });
    expect(run(net, bin('static'), 'ADD', { cniVersion: '1.0.0', name: 'n' }).json).toMatchObject({ code: 7, msg: "IPAM config missing 'ipam' key" });
    expect(run(net, bin('static'), 'ADD', { cniVersion: '1.0.0', name: 'n', ipam: { type: 'static' } }, 'IP=nope').json).toMatchObject({ code: 4, msg: 'CNI_ARGS: IP "nope" is not an address in CIDR notation (such as "10.1.0.5/24")' });
  });

  it('DEL always succeeds (no state: even with a broken config); CHECK compares the configured addresses with prevResult', () => {
    const net = newNet('st3');
    for (const conf of [{ cniVersion: '1.0.0', name: 'n' }, { cniVersion: '1.0.0', name: 'n', ipam: { type: 'static', addresses: 'garbage' } }]) {
      expect(run(net, bin('static'), 'DEL', conf).status).toBe(0);
      expect(run(net, bin('static'), 'DEL', conf, undefined, { CNI_NETNS: '' }).status).toBe(0);
    }
    const c = { cniVersion: '1.0.0', name: 'n', ipam: { type: 'static', addresses: [{ address: '10.10.0.5/24', gateway: '10.10.0.1' }] } };
    const prev = run(net, bin('static'), 'ADD', c).json;
    for (const plugin of [bin('static'), ...(haveGoPlugins ? [goBin('static')] : [])]) {
      expect(run(net, plugin, 'CHECK', { ...c, prevResult: prev }).status, plugin).toBe(0);
      expect(run(net, plugin, 'CHECK', c).json.msg, plugin).toBe('Required prevResult missing');
      const otherGw = { ...prev, ips: [{ address: '10.10.0.5/24', gateway: '10.10.0.9' }] };
      expect(run(net, plugin, 'CHECK', { ...c, prevResult: otherGw }).json.msg, plugin).toBe('static: Failed to match addr 10.10.0.5 on interface eth0');
    }
    // a configured address missing from prevResult (the reference lets that pass)
    const missing = run(net, bin('static'), 'CHECK', { ...c, prevResult: { cniVersion: '1.0.0', ips: [{ address: '10.10.0.6/24' }] } });
    expect(missing.json.msg).toBe('static: Failed to find addr 10.10.0.5/24 in prevResult (interface eth0)');
  });

  it("runs in-process when CNI_PATH's static is this executable (host-device + static: no second process)", () => {
    const net = newNet('st4');
    shOk('ip', ['-n', net.host, 'link', 'add', 'hd0', 'type', 'veth', 'peer', 'name', 'hd0p']);
    const ctr = net.addContainer('c');
    const trace = join(net.tempDir(), 'trace');
    const conf = { cniVersion: '1.0.0', name: 'n', type: 'host-device', device: 'hd0', ipam: { type: 'static', addresses: [{ address: '10.10.0.5/24' }] } };
    for (const command of ['ADD', 'DEL']) {
      const r = net.run({ plugin: bin('host-device'), command, conf, containerId: 'c1', netns: ctr.path, ifname: 'eth0', env: { CNI_TS_TRACE: trace } });
      expect(r.status, r.stdout).toBe(0);
    }
    const events = readFileSync(trace, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(events.filter((e) => e.what.startsWith('in-process')).map((e) => e.what)).toEqual(['in-process static ADD', 'in-process static DEL']);
    expect(new Set(events.map((e) => e.pid)).size).toBe(2); // one process per invocation
  });
});
