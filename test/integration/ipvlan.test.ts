// ipvlan on THIS host: the kernel has no ipvlan, so ADD must fail with a clear error and leave nothing.
// The working paths (l2/l3/l3s, connectivity, CHECK, DEL, chained mode) are proven in the VM: test/vm/ipvlan.vm.mjs.
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DIST, GO_PLUGINS, TestNet, bin, isRoot, sh, shOk, type Invocation } from '../helpers/harness.js';

const CNI_PATH = `${DIST}:${GO_PLUGINS}`;
const NET = 'ipvnet';
const kernelHasIpvlan = (() => {
  // Probe in a throwaway netns, never in the machine's own.
  const ns = `cnits-ipvprobe-${process.pid}`;
  if (!isRoot || sh('ip', ['netns', 'add', ns]).status !== 0) return false;
  try {
    sh('ip', ['-n', ns, 'link', 'add', 'p0', 'type', 'veth', 'peer', 'name', 'p1']);
    return sh('ip', ['-n', ns, 'link', 'add', 'iv0', 'link', 'p0', 'type', 'ipvlan']).status === 0;
  } finally {
    sh('ip', ['netns', 'del', ns]);
  }
})();

function setup(): TestNet {
  const net = new TestNet('ipv');
  shOk('ip', ['-n', net.host, 'link', 'add', 'm0', 'type', 'veth', 'peer', 'name', 'm0p']);
  shOk('ip', ['-n', net.host, 'link', 'set', 'm0', 'up']);
  return net;
}

const conf = (dataDir: string, extra: Record<string, unknown> = {}): Record<string, any> => ({
  cniVersion: '1.0.0',
  name: NET,
  type: 'ipvlan',
  master: 'm0',
  ipam: { type: 'host-local', dataDir, ranges: [[{ subnet: '10.81.0.0/24' }]] },
  ...extra,
});

const leases = (dataDir: string): string[] => {
  const d = join(dataDir, NET);
  return existsSync(d) ? readdirSync(d).filter((f) => /^[0-9a-f.:]+$/.test(f)) : [];
};
const links = (net: TestNet, ns: string): string[] => net.ipJson(ns, ['link', 'show']).map((l: any) => l.ifname);

describe.skipIf(!isRoot)('ipvlan (host without ipvlan support)', () => {
  let net: TestNet;
  afterEach(() => net?.cleanup());
  const inv = (c: { path: string }, config: unknown, extra: Partial<Invocation> = {}): Omit<Invocation, 'command'> => ({
    plugin: bin('ipvlan'),
    conf: config,
    containerId: 'c1',
    netns: c.path,
    ifname: 'eth0',
    path: CNI_PATH,
    ...extra,
  });

  it.skipIf(kernelHasIpvlan)('ADD fails naming the missing kernel support; no link, no lease; DEL then succeeds', () => {
    net = setup();
    const dataDir = net.tempDir();
    const a = net.addContainer('a');
    for (const mode of ['l2', 'l3', 'l3s']) {
      const r = net.run({ ...inv(a, conf(dataDir, { mode })), command: 'ADD' });
      expect(r.status).toBe(1);
      expect(r.json.code).toBe(999);
      expect(r.json.msg).toBe('failed to create ipvlan: the kernel has no ipvlan support (CONFIG_IPVLAN / the ipvlan module is missing)');
      expect(r.json.details).toMatch(/Unknown device type/);
      expect(links(net, a.name)).toEqual(['lo']);
      expect(links(net, net.host).sort()).toEqual(['lo', 'm0', 'm0p']);
      expect(leases(dataDir)).toEqual([]);
    }
    // Chained mode fails the same way (and there is no IPAM to release).
    const prev = { cniVersion: '1.0.0', interfaces: [{ name: 'm0' }], ips: [{ address: '10.81.0.9/24', interface: 0 }] };
    const chained = net.run({ ...inv(a, { cniVersion: '1.0.0', name: NET, type: 'ipvlan', prevResult: prev }), command: 'ADD' });
    expect(chained.json.msg).toMatch(/^failed to create ipvlan: the kernel has no ipvlan support/);
    expect(links(net, a.name)).toEqual(['lo']);
    const del = net.run({ ...inv(a, conf(dataDir)), command: 'DEL' });
    expect(del.status, del.stdout).toBe(0);
  });

  it('bad inputs are reported before touching the kernel', () => {
    net = setup();
    const dataDir = net.tempDir();
    const a = net.addContainer('a');
    const run = (c: unknown) => net.run({ ...inv(a, c), command: 'ADD' });
    expect(run(conf(dataDir, { mode: 'l4' })).json).toMatchObject({ code: 7, msg: 'unknown ipvlan mode: "l4"' });
    expect(run(conf(dataDir, { mtu: 9000 })).json).toMatchObject({ code: 7, msg: 'invalid MTU 9000, must be [0, master MTU(1500)]' });
    expect(run(conf(dataDir, { master: 'nosuch0' })).json.msg).toMatch(/^failed to lookup master "nosuch0" in host netns: Link not found$|kernel has no ipvlan/);
    const noDefault = { ...conf(dataDir) };
    delete noDefault.master;
    expect(run(noDefault).json.msg).toBe('no default route interface found: set "master"');
    const twoIfs = { cniVersion: '1.0.0', interfaces: [{ name: 'a' }, { name: 'b' }], ips: [{ address: '10.81.0.9/24' }] };
    expect(run({ cniVersion: '1.0.0', name: NET, type: 'ipvlan', prevResult: twoIfs }).json).toMatchObject({
      code: 7,
      msg: 'chained master failure. PrevResult lacks a single named interface',
    });
    const noIps = { cniVersion: '1.0.0', interfaces: [{ name: 'm0' }] };
    expect(run({ cniVersion: '1.0.0', name: NET, type: 'ipvlan', prevResult: noIps }).json).toMatchObject({
      code: 7,
      msg: 'ipvlan needs addresses: no "ipam" type configured and no prevResult IPs to reuse',
    });
    expect(links(net, a.name)).toEqual(['lo']);
    expect(leases(dataDir)).toEqual([]);
  });

  it('DEL is idempotent without the netns, the master or a default route', () => {
    net = setup();
    const dataDir = net.tempDir();
    const a = net.addContainer('a');
    const noMaster = { ...conf(dataDir) };
    delete noMaster.master;
    expect(net.run({ ...inv(a, noMaster), command: 'DEL' }).status).toBe(0);
    net.removeNetns(a.name);
    expect(net.run({ ...inv(a, noMaster), command: 'DEL' }).status).toBe(0);
    expect(net.run({ ...inv(a, noMaster, { netns: '' }), command: 'DEL' }).status).toBe(0);
  });
});
