/**
 * host-device, for real: a veth end in the throwaway host netns (`hd0`, its peer `hd0p` staying in the host) is the
 * "host device" moved into a container. Differential against the Go host-device 1.1.1 and swap tests both ways.
 */
import { mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { GO_PLUGINS, bin, goBin, haveGoPlugins, isRoot, ping, shOk, type PluginRun, type TestNet } from '../helpers/harness.js';
import { testNets } from '../helpers/nets.js';

const newNet = testNets();
const NET = 'hdnet';

interface Env {
  net: TestNet;
  ctr: { name: string; path: string };
  dataDir: string;
}

/** A host netns with the device `dev` (a veth end, up, with a fixed MAC) whose peer `<dev>p` has 10.70.0.1/24. */
function setup(label = 'hd', dev = 'hd0', mac = '02:de:00:00:00:01'): Env {
  const net = newNet(label);
  addDevice(net, dev, mac);
  return { net, ctr: net.addContainer('c'), dataDir: net.tempDir() };
}

function addDevice(net: TestNet, dev: string, mac: string, peerAddr = '10.70.0.1/24'): void {
  shOk('ip', ['-n', net.host, 'link', 'add', dev, 'address', mac, 'type', 'veth', 'peer', 'name', `${dev}p`]);
  shOk('ip', ['-n', net.host, 'link', 'set', dev, 'up']);
  shOk('ip', ['-n', net.host, 'link', 'set', `${dev}p`, 'up']);
  shOk('ip', ['-n', net.host, 'addr', 'add', peerAddr, 'dev', `${dev}p`]);
}

const staticIpam = { type: 'static', addresses: [{ address: '10.70.0.2/24', gateway: '10.70.0.1' }, { address: 'fd70::2/64' }], routes: [{ dst: '0.0.0.0/0' }, { dst: '10.71.0.0/16', gw: '10.70.0.254' }], dns: { nameservers: ['10.70.0.53'] } };
const hostLocal = (dataDir: string) => ({ type: 'host-local', dataDir, ranges: [[{ subnet: '10.70.0.0/24', rangeStart: '10.70.0.10' }]] });

const conf = (extra: Record<string, unknown> = {}): Record<string, any> => ({ cniVersion: '1.0.0', name: NET, type: 'host-device', device: 'hd0', ...extra });

/** Both ways ours can work: `ip` command lines run in-process over rtnetlink (the executable's FFI), and `ip` execs. */
const MODES: Array<[string, Record<string, string>]> = [
  ['in-process rtnetlink', {}],
  ['ip execs (CNI_TS_NO_FFI=1)', { CNI_TS_NO_FFI: '1' }],
];
let modeEnv: Record<string, string> = {};

function run(e: Env, command: string, c: unknown, o: { plugin?: string; netns?: string; ifname?: string; path?: string; env?: Record<string, string>; id?: string } = {}): PluginRun {
  const go = o.plugin?.startsWith(GO_PLUGINS);
  return e.net.run({ plugin: o.plugin ?? bin('host-device'), command, conf: c, containerId: o.id ?? 'hd1', netns: o.netns ?? e.ctr.path, ifname: o.ifname ?? 'eth0', path: o.path ?? (go ? GO_PLUGINS : undefined), env: go ? o.env : { ...modeEnv, ...o.env } });
}

function ok(r: PluginRun): any {
  expect(r.status, r.stdout + r.stderr).toBe(0);
  return r.json;
}

const links = (e: Env, ns: string): string[] => e.net.ipJson(ns, ['link', 'show']).map((l: any) => l.ifname).sort();
const link = (e: Env, ns: string, ifname: string): any => e.net.ipJson(ns, ['-d', 'link', 'show']).find((l: any) => l.ifname === ifname);
const globalAddrs = (e: Env, ns: string, ifname: string): string[] =>
  (e.net.ipJson(ns, ['addr', 'show', 'dev', ifname])[0]?.addr_info ?? []).filter((a: any) => a.scope === 'global').map((a: any) => `${a.local}/${a.prefixlen}`);
const leases = (dataDir: string): string[] => {
  try {
    return readdirSync(join(dataDir, NET)).filter((f) => f !== 'lock' && !f.startsWith('last_reserved_ip'));
  } catch {
    return [];
  }
};

/** hd0 is back in the host netns under its name, as it was (down after DEL, as the reference leaves it). */
function expectBack(e: Env, dev = 'hd0', mac = '02:de:00:00:00:01'): any {
  const l = link(e, e.net.host, dev);
  expect(l, `${dev} not back in the host netns`).toBeDefined();
  expect(l.address).toBe(mac);
  expect(links(e, e.ctr.name)).toEqual(['lo']);
  return l;
}

describe.skipIf(!isRoot).each(MODES)('host-device, %s', (_mode, env) => {
  beforeEach(() => {
    modeEnv = env;
  });

  it('ADD moves the device in as eth0 (host name in the alias), static addresses, routes, DNS; traffic; CHECK; DEL gives it back by name; DEL twice', () => {
    const e = setup();
    const c = conf({ dns: { nameservers: ['10.70.0.53'] }, ipam: staticIpam });
    const res = ok(run(e, 'ADD', c));
    expect(res).toEqual({
      cniVersion: '1.0.0',
      interfaces: [{ name: 'eth0', mac: '02:de:00:00:00:01', sandbox: e.ctr.path }],
      ips: [{ interface: 0, address: '10.70.0.2/24', gateway: '10.70.0.1' }, { interface: 0, address: 'fd70::2/64' }],
      routes: [{ dst: '0.0.0.0/0' }, { dst: '10.71.0.0/16', gw: '10.70.0.254' }],
      dns: { nameservers: ['10.70.0.53'] },
    });
    const l = link(e, e.ctr.name, 'eth0');
    expect([l.ifalias, l.address, l.flags.includes('UP'), l.linkinfo.info_kind]).toEqual(['hd0', '02:de:00:00:00:01', true, 'veth']);
    expect(link(e, e.net.host, 'hd0')).toBeUndefined();
    expect(globalAddrs(e, e.ctr.name, 'eth0')).toEqual(['10.70.0.2/24', 'fd70::2/64']);
    const routes = e.net.ipJson(e.ctr.name, ['route', 'show']).map((r: any) => `${r.dst}${r.gateway ? ` via ${r.gateway}` : ''}`);
    expect(routes).toEqual(['default via 10.70.0.1', '10.70.0.0/24', '10.71.0.0/16 via 10.70.0.254']);
    expect(ping(e.ctr.name, '10.70.0.1')).toBe(true);
    ok(run(e, 'CHECK', { ...c, prevResult: res }));
    ok(run(e, 'DEL', { ...c, prevResult: res }));
    const back = expectBack(e);
    expect(back.ifalias).toBeUndefined(); // as it was before ADD (the reference leaves "hd0" there)
    expect(back.addr_info ?? []).toEqual([]);
    ok(run(e, 'DEL', { ...c, prevResult: res }));
    expectBack(e);
    // and it can go in again
    ok(run(e, 'ADD', c));
    expect(link(e, e.ctr.name, 'eth0')?.ifalias).toBe('hd0');
  });

  it('selects the device by hwaddr (any case), kernelpath, pciBusID and runtimeConfig.deviceID; a DPDK-bound PCI device only gets IPAM', () => {
    const e = setup();
    const bus = e.net.tempDir();
    const pci = (addr: string, netName: string | undefined, driver: string) => {
      mkdirSync(join(bus, addr, 'net', ...(netName ? [netName] : [])), { recursive: true });
      mkdirSync(join(bus, 'drivers', driver), { recursive: true });
      symlinkSync(join(bus, 'drivers', driver), join(bus, addr, 'driver'));
    };
    pci('0000:00:19.0', 'hd0', 'e1000e');
    pci('0000:00:1a.0', 'hd0', 'e1000e');
    pci('0000:af:00.1', undefined, 'vfio-pci');
    const env = { CNI_TS_SYS_BUS_PCI: bus };
    const cases: Array<[string, Record<string, unknown>]> = [
      ['hwaddr', { device: undefined, hwaddr: '02:DE:00:00:00:01' }],
      ['kernelpath', { device: undefined, kernelpath: '/sys/devices/virtual' }], // its net/ lists hd0 first in this netns's sysfs
      ['pciBusID', { device: undefined, pciBusID: '0000:00:19.0' }],
      ['runtimeConfig.deviceID', { device: undefined, pciBusID: '0000:af:00.1', runtimeConfig: { deviceID: '0000:00:1a.0' } }],
    ];
    for (const [label, extra] of cases) {
      const c = conf(extra);
      const res = ok(run(e, 'ADD', c, { env }));
      expect(res.interfaces, label).toEqual([{ name: 'eth0', mac: '02:de:00:00:00:01', sandbox: e.ctr.path }]);
      expect(link(e, e.ctr.name, 'eth0')?.ifalias, label).toBe('hd0');
      ok(run(e, 'DEL', c, { env }));
      expectBack(e);
    }
    const dpdk = conf({ device: undefined, pciBusID: '0000:af:00.1', ipam: { type: 'static', addresses: [{ address: '10.70.0.9/24' }] } });
    expect(ok(run(e, 'ADD', dpdk, { env }))).toEqual({ cniVersion: '1.0.0', ips: [{ address: '10.70.0.9/24' }] });
    expect(links(e, e.ctr.name)).toEqual(['lo']);
    ok(run(e, 'CHECK', { ...dpdk, prevResult: { cniVersion: '1.0.0', ips: [{ address: '10.70.0.9/24' }] } }, { env }));
    ok(run(e, 'DEL', dpdk, { env }));
    expect(link(e, e.net.host, 'hd0')).toBeDefined();
  });

  it('without ipam: the interface only, up; 0.1.0/0.2.0 cannot print that, refused before the device moves', () => {
    const e = setup();
    const res = ok(run(e, 'ADD', conf({ cniVersion: '0.4.0' })));
    expect(res).toEqual({ cniVersion: '0.4.0', interfaces: [{ name: 'eth0', mac: '02:de:00:00:00:01', sandbox: e.ctr.path }], dns: {} });
    expect(link(e, e.ctr.name, 'eth0').flags).toContain('UP');
    ok(run(e, 'DEL', conf({ cniVersion: '0.4.0' })));
    for (const v of ['0.1.0', '0.2.0']) {
      const r = run(e, 'ADD', conf({ cniVersion: v }));
      expect(r.status).toBe(1);
      expect(r.json).toMatchObject({ code: 1, msg: 'cannot convert: no valid IP addresses' });
      expectBack(e);
    }
    // with an IPAM 0.2.0 works: one address per family
    const res2 = ok(run(e, 'ADD', conf({ cniVersion: '0.2.0', ipam: staticIpam })));
    expect(res2).toEqual({ cniVersion: '0.2.0', ip4: { ip: '10.70.0.2/24', gateway: '10.70.0.1', routes: [{ dst: '0.0.0.0/0' }, { dst: '10.71.0.0/16', gw: '10.70.0.254' }] }, ip6: { ip: 'fd70::2/64' }, dns: {} });
  });

  it('a failed ADD gives the device back with its name, alias and up state: ifname taken, IPAM failing, a route that cannot be added', () => {
    const e = setup();
    shOk('ip', ['-n', e.net.host, 'link', 'set', 'hd0', 'alias', 'uplink-a']);
    // CNI_IFNAME taken in the container
    shOk('ip', ['-n', e.ctr.name, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'other']);
    const taken = run(e, 'ADD', conf({ ipam: hostLocal(e.dataDir) }));
    expect(taken.status).toBe(1);
    expect(taken.json.msg).toMatch(/failed to move link: failed to rename device "hd0" to "eth0": file exists/);
    let back = link(e, e.net.host, 'hd0');
    expect([back?.ifalias, back?.flags.includes('UP')]).toEqual(['uplink-a', true]);
    expect(leases(e.dataDir)).toEqual([]);
    shOk('ip', ['-n', e.ctr.name, 'link', 'del', 'eth0']);
    // IPAM fails (pool exhausted): the device never moves
    const tiny = { type: 'host-local', dataDir: e.dataDir, ranges: [[{ subnet: '10.70.0.0/30' }]] };
    addDevice(e.net, 'hd1', '02:de:00:00:00:02', '10.70.1.1/24');
    const ctr2 = e.net.addContainer('c2');
    ok(run(e, 'ADD', conf({ device: 'hd1', ipam: tiny }), { netns: ctr2.path, id: 'fill' }));
    const full = run(e, 'ADD', conf({ ipam: tiny }));
    expect(full.status).toBe(1);
    expect(full.json.msg).toMatch(/no IP addresses available/);
    back = link(e, e.net.host, 'hd0');
    expect([back?.ifalias, back?.flags.includes('UP')]).toEqual(['uplink-a', true]);
    // a route via an unreachable gateway fails after the move: back, lease released
    const bad = conf({ ipam: { ...hostLocal(e.dataDir), routes: [{ dst: '10.99.0.0/16', gw: '10.250.0.1' }] } });
    const r = run(e, 'ADD', bad);
    expect(r.status).toBe(1);
    expect(r.json.details).toMatch(/route add 10.99.0.0\/16 via 10.250.0.1 dev eth0/);
    back = link(e, e.net.host, 'hd0');
    expect([back?.ifalias, back?.flags.includes('UP'), back?.addr_info ?? []]).toEqual(['uplink-a', true, []]);
    expect(links(e, e.ctr.name)).toEqual(['lo']);
    expect(leases(e.dataDir)).toEqual(['10.70.0.2']); // hd1's, in the other container
    // no such device, bad config: errors, nothing moved
    expect(run(e, 'ADD', conf({ device: 'nosuch0' })).json).toMatchObject({ code: 999, msg: 'failed to find host device: Link not found' });
    expect(run(e, 'ADD', conf({ device: undefined, hwaddr: '02:00:00:00:00:99' })).json.msg).toMatch(/failed to find host device: no link with hwaddr 02:00:00:00:00:99/);
    expect(run(e, 'ADD', conf({ device: undefined })).json).toMatchObject({ code: 7, msg: 'specify either "device", "hwaddr", "kernelpath" or "pciBusID"' });
    expect(run(e, 'ADD', conf({ ipam: { type: 'static', addresses: [{ address: 'bogus' }] } })).json.code).toBe(7);
    expect(run(e, 'ADD', conf(), { netns: '/run/netns/cnits-nonexistent' }).json.msg).toMatch(/failed to open netns/);
    expect(link(e, e.net.host, 'hd0')).toBeDefined();
  });

  it('DEL with CNI_NETNS="" and after the netns is gone succeeds and releases the lease (twice)', () => {
    const e = setup();
    const c = conf({ ipam: hostLocal(e.dataDir) });
    ok(run(e, 'ADD', c));
    expect(leases(e.dataDir)).toEqual(['10.70.0.10']);
    ok(run(e, 'DEL', c, { netns: '' }));
    expect(leases(e.dataDir)).toEqual([]);
    expect(link(e, e.ctr.name, 'eth0')).toBeDefined(); // nothing known about the netns: left to the runtime
    ok(run(e, 'DEL', c)); // a runtime's retry with the netns: the device goes back
    expectBack(e);
    ok(run(e, 'ADD', c, { id: 'hd2', ifname: 'eth1' }));
    expect(leases(e.dataDir)).toHaveLength(1);
    e.net.removeNetns(e.ctr.name); // the veth device goes with it (a physical one would come back to the root netns)
    for (let i = 0; i < 2; i++) ok(run(e, 'DEL', c, { id: 'hd2', ifname: 'eth1' }));
    expect(leases(e.dataDir)).toEqual([]);
  });

  it('DEL after the netns is gone renames a device that came back under its container name (as a physical NIC does)', () => {
    const e = setup();
    // what the kernel does with a physical device when its netns dies: back in the root netns, named as in the container
    shOk('ip', ['-n', e.net.host, 'link', 'set', 'hd0', 'down']);
    shOk('ip', ['-n', e.net.host, 'link', 'set', 'hd0', 'name', 'eth0']);
    shOk('ip', ['-n', e.net.host, 'link', 'set', 'eth0', 'alias', 'hd0']);
    e.net.removeNetns(e.ctr.name);
    ok(run(e, 'DEL', conf()));
    const l = link(e, e.net.host, 'hd0');
    expect(l?.ifalias).toBeUndefined();
    expect(link(e, e.net.host, 'eth0')).toBeUndefined();
  });

  it('programs run: with the FFI none (the `ip` lines and sysctls in-process); without, ADD three, DEL two', () => {
    const e = setup();
    const trace = join(e.net.tempDir(), 'trace');
    const c = conf({ ipam: staticIpam });
    for (const command of ['ADD', 'DEL']) {
      ok(run(e, command, c, { env: { CNI_TS_TRACE: trace } }));
      const execs = readFileSync(trace, 'utf8').trim().split('\n').map((l) => JSON.parse(l).what as string).filter((w) => w.startsWith('exec '));
      rmSync(trace);
      // without the FFI: the move (or the read before giving it back) is an `ip` exec of its own, and ADD's IPv6
      // sysctls a `sysctl` one
      expect(execs, command).toHaveLength(env.CNI_TS_NO_FFI ? (command === 'ADD' ? 3 : 2) : 0);
    }
    expectBack(e);
  });

  it('CHECK: needs prevResult; reports a changed MAC, a missing address, the device gone', () => {
    const e = setup();
    const c = conf({ ipam: staticIpam });
    const res = ok(run(e, 'ADD', c));
    expect(run(e, 'CHECK', c).json.msg).toBe('Required prevResult missing');
    const otherMac = { ...res, interfaces: [{ ...res.interfaces[0], mac: '02:00:00:00:00:99' }] };
    expect(run(e, 'CHECK', { ...c, prevResult: otherMac }).json.msg).toMatch(/^Interface eth0 Mac 02:00:00:00:00:99 doesn't match container Mac: 02:de:00:00:00:01/);
    shOk('ip', ['-n', e.ctr.name, 'addr', 'del', '10.70.0.2/24', 'dev', 'eth0']);
    expect(run(e, 'CHECK', { ...c, prevResult: res }).json.msg).toBe('Failed to match addr 10.70.0.2/24 on interface eth0');
    ok(run(e, 'DEL', c));
    expect(run(e, 'CHECK', { ...c, prevResult: res }).json.msg).toBe('Container Interface name in prevResult: eth0 not found');
  });

  it.skipIf(!haveGoPlugins)('same results as the Go host-device at every version, same state in the container', () => {
    const e = setup();
    addDevice(e.net, 'hdg', '02:de:00:00:00:01', '10.70.9.1/24'); // same MAC: the results compare byte for byte
    const g = e.net.addContainer('g');
    for (const v of ['0.1.0', '0.2.0', '0.3.0', '0.3.1', '0.4.0', '1.0.0']) {
      for (const ipam of [staticIpam, undefined]) {
        if (!ipam && v < '0.3.0') continue;
        const ours = run(e, 'ADD', conf({ cniVersion: v, ...(ipam ? { ipam } : {}) }));
        const go = run(e, 'ADD', conf({ cniVersion: v, device: 'hdg', ...(ipam ? { ipam } : {}) }), { plugin: goBin('host-device'), netns: g.path });
        expect(ours.status, ours.stdout).toBe(0);
        expect(go.status, go.stdout).toBe(0);
        const norm = (j: any) => ({ ...j, dns: j.dns && Object.keys(j.dns).length ? j.dns : undefined, interfaces: j.interfaces?.map((i: any) => ({ ...i, sandbox: 'S' })) });
        expect(norm(ours.json), `${v} ${ipam ? 'static' : 'no ipam'}`).toEqual(norm(go.json));
        const state = (ns: string) => {
          const l = link(e, ns, 'eth0');
          return { up: l.flags.includes('UP'), mac: l.address, addrs: globalAddrs(e, ns, 'eth0'), routes: e.net.ipJson(ns, ['route', 'show']) };
        };
        expect(state(e.ctr.name)).toEqual(state(g.name));
        expect(link(e, e.ctr.name, 'eth0').ifalias).toBe('hd0');
        expect(link(e, g.name, 'eth0').ifalias).toBe('hdg');
        ok(run(e, 'DEL', conf({ cniVersion: v })));
        ok(run(e, 'DEL', conf({ cniVersion: v, device: 'hdg' }), { plugin: goBin('host-device'), netns: g.path }));
      }
    }
  });

  it.skipIf(!haveGoPlugins)('swap with the Go host-device: ADD with one, CHECK and DEL with the other gives the device back', () => {
    const e = setup();
    const c = conf({ ipam: staticIpam, cniVersion: '0.4.0' });
    for (const [adder, other] of [[bin('host-device'), goBin('host-device')], [goBin('host-device'), bin('host-device')]]) {
      const res = ok(run(e, 'ADD', c, { plugin: adder }));
      ok(run(e, 'CHECK', { ...c, prevResult: res }, { plugin: other }));
      ok(run(e, 'DEL', { ...c, prevResult: res }, { plugin: other }));
      const back = expectBack(e);
      // the Go DEL leaves the host name in the alias, ours clears it
      expect(back.ifalias).toBe(other.startsWith(GO_PLUGINS) ? 'hd0' : undefined);
      shOk('ip', ['-n', e.net.host, 'link', 'set', 'hd0', 'alias', '']);
    }
  });
});
