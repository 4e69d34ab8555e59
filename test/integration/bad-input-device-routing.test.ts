/**
 * The bad-input matrix for host-device, static, sbr and vrf: every case gets the spec's error JSON (right code, a
 * message naming the problem), and nothing changes — the host device stays in the host netns under its name, the
 * container keeps only what it had, no rule, route or VRF appears, no file is created.
 */
import { readdirSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestNet, bin, isRoot, shOk } from '../helpers/harness.js';

interface Case {
  plugin: 'host-device' | 'static' | 'sbr' | 'vrf';
  name: string;
  code: number;
  msg: RegExp;
  conf?: unknown;
  env?: Record<string, string | undefined>;
  command?: string;
}

describe.skipIf(!isRoot)('bad input: host-device, static, sbr, vrf', () => {
  let net: TestNet;
  let ctr: { name: string; path: string };
  let dir: string;
  const prev = () => ({ cniVersion: '1.0.0', interfaces: [{ name: 'eth0', sandbox: ctr.path }], ips: [{ interface: 0, address: '10.66.0.2/24', gateway: '10.66.0.1' }] });
  const good: Record<Case['plugin'], () => Record<string, unknown>> = {
    'host-device': () => ({ cniVersion: '1.0.0', name: 'bad', type: 'host-device', device: 'hd0', ipam: { type: 'static', addresses: [{ address: '10.67.0.2/24' }] } }),
    static: () => ({ cniVersion: '1.0.0', name: 'bad', type: 'static', ipam: { type: 'static', addresses: [{ address: '10.67.0.2/24' }] } }),
    sbr: () => ({ cniVersion: '1.0.0', name: 'bad', type: 'sbr', prevResult: prev() }),
    vrf: () => ({ cniVersion: '1.0.0', name: 'bad', type: 'vrf', vrfname: 'red', prevResult: prev() }),
  };
  const baseEnv = () => ({ CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'badctr', CNI_NETNS: ctr.path, CNI_IFNAME: 'eth0', CNI_PATH: bin('').replace(/\/$/, '') });
  const snapshot = () => ({
    host: shOk('ip', ['-n', net.host, '-d', 'link', 'show']).replace(/\s+/g, ' '),
    ctr: ['-4', '-6'].map((f) => shOk('ip', ['-n', ctr.name, f, 'rule']) + shOk('ip', ['-n', ctr.name, f, 'route', 'show', 'table', 'all'])).join('') + shOk('ip', ['-n', ctr.name, '-d', 'addr', 'show']),
    netns: readdirSync('/run/netns').filter((n) => n.includes(net.id)).sort(),
  });
  let before: ReturnType<typeof snapshot>;

  beforeAll(() => {
    net = new TestNet('badref');
    dir = net.tempDir();
    shOk('ip', ['-n', net.host, 'link', 'add', 'hd0', 'type', 'veth', 'peer', 'name', 'hd0p']);
    ctr = net.addContainer('c');
    net.exec(ctr.name, 'sysctl', ['-q', '-w', 'net.ipv6.conf.default.accept_dad=0']); // a snapshot that does not change by itself
    net.addVeth(ctr.name, 'vh0', 'eth0');
    shOk('ip', ['-n', ctr.name, 'addr', 'add', '10.66.0.2/24', 'dev', 'eth0']);
    shOk('ip', ['-n', ctr.name, 'route', 'add', 'default', 'via', '10.66.0.1']);
    before = snapshot();
  });
  afterAll(() => net?.cleanup());

  const each = (p: Case['plugin'], cases: Array<Omit<Case, 'plugin'>>): Case[] => cases.map((c) => ({ ...c, plugin: p }));
  const common = (p: Case['plugin']): Case[] =>
    each(p, [
      { name: 'malformed JSON', conf: '{"cniVersion": "1.0.0", "name": ', code: 6, msg: /error decoding network config/ },
      { name: 'unknown version', conf: { cniVersion: '9.9.9', name: 'bad' }, code: 1, msg: /incompatible CNI versions/ },
      { name: 'missing network name', conf: { cniVersion: '1.0.0' }, code: 7, msg: /missing network name/ },
      { name: 'missing CNI_NETNS', env: { CNI_NETNS: undefined }, code: 4, msg: /\[CNI_NETNS\] missing/ },
      { name: 'ifname too long', env: { CNI_IFNAME: 'abcdefghijklmnop' }, code: 4, msg: /interface name is too long/ },
      // (sbr and vrf read no CNI_ARGS, as the reference's)
      ...(p === 'sbr' || p === 'vrf' ? [] : [{ name: 'unknown CNI_ARGS key', env: { CNI_ARGS: 'COLOR=blue' }, code: 4, msg: /unknown args \["COLOR=blue"\]/ }]),
      { name: 'CHECK at 0.3.1', command: 'CHECK', conf: () => ({ ...good[p](), cniVersion: '0.3.1' }), code: 1, msg: /does not allow CHECK/ },
    ]);

  const cases: Case[] = [
    ...common('host-device'),
    ...each('host-device', [
      { name: 'no selector', conf: () => ({ ...good['host-device'](), device: undefined }), code: 7, msg: /specify either "device", "hwaddr", "kernelpath" or "pciBusID"/ },
      { name: 'device with a slash', conf: () => ({ ...good['host-device'](), device: '../x' }), code: 7, msg: /"device" is not an interface name/ },
      { name: 'hwaddr not a MAC', conf: () => ({ ...good['host-device'](), device: undefined, hwaddr: 'zz' }), code: 7, msg: /"hwaddr" is not a MAC address/ },
      { name: 'kernelpath outside /sys/devices', conf: () => ({ ...good['host-device'](), device: undefined, kernelpath: '/etc' }), code: 7, msg: /must be absolute and begin with \/sys\/devices\// },
      { name: 'pciBusID with path tricks', conf: () => ({ ...good['host-device'](), device: undefined, pciBusID: '../../../etc' }), code: 7, msg: /is not a PCI address/ },
      { name: 'device missing', conf: () => ({ ...good['host-device'](), device: 'nosuch0' }), code: 999, msg: /failed to find host device: Link not found/ },
      { name: 'no netns', env: { CNI_NETNS: '/run/netns/cnits-badref-gone' }, code: 999, msg: /failed to open netns/ },
      { name: 'bad static address', conf: () => ({ ...good['host-device'](), ipam: { type: 'static', addresses: [{ address: '10.67.0.2' }] } }), code: 7, msg: /is not an address in CIDR notation/ },
      { name: 'no IPAM address', conf: () => ({ ...good['host-device'](), ipam: { type: 'static' } }), code: 999, msg: /IPAM plugin returned missing IP config/ },
      { name: 'ifname taken', env: { CNI_IFNAME: 'lo' }, code: 999, msg: /failed to rename device "hd0" to "lo": file exists/ },
      { name: '0.2.0 without ipam', conf: () => ({ ...good['host-device'](), cniVersion: '0.2.0', ipam: undefined }), code: 1, msg: /cannot convert: no valid IP addresses/ },
    ]),
    ...common('static'),
    ...each('static', [
      { name: 'no ipam', conf: { cniVersion: '1.0.0', name: 'bad' }, code: 7, msg: /IPAM config missing 'ipam' key/ },
      { name: 'addresses not a list', conf: () => ({ ...good.static(), ipam: { type: 'static', addresses: {} } }), code: 7, msg: /"addresses" must be a list/ },
      { name: 'route dst not CIDR', conf: () => ({ ...good.static(), ipam: { type: 'static', routes: [{ dst: 'x' }] } }), code: 7, msg: /ipam.routes\[0\].dst must be a CIDR/ },
      { name: 'CNI_ARGS IP not CIDR', env: { CNI_ARGS: 'IP=10.0.0.1' }, code: 4, msg: /CNI_ARGS: IP "10.0.0.1" is not an address in CIDR notation/ },
      { name: 'two IPv4 at 0.2.0', conf: () => ({ ...good.static(), cniVersion: '0.2.0', ipam: { type: 'static', addresses: [{ address: '10.0.0.1/24' }, { address: '10.0.0.2/24' }] } }), code: 7, msg: /does not support more than 1 address per family/ },
    ]),
    ...common('sbr'),
    ...each('sbr', [
      { name: 'no prevResult', conf: () => ({ ...good.sbr(), prevResult: undefined }), code: 999, msg: /This plugin must be called as chained plugin/ },
      { name: 'prevResult without IPs', conf: () => ({ ...good.sbr(), prevResult: { cniVersion: '1.0.0' } }), code: 999, msg: /No IP addresses supplied on interface: eth0/ },
      { name: 'malformed prevResult', conf: () => ({ ...good.sbr(), prevResult: { cniVersion: '1.0.0', ips: [{ address: 'x' }] } }), code: 6, msg: /ips\[0\].address must be a CIDR/ },
      { name: 'interface missing', env: { CNI_IFNAME: 'eth9' }, conf: () => ({ ...good.sbr(), prevResult: { ...prev(), interfaces: [{ name: 'eth9' }] } }), code: 999, msg: /Cannot find network interface eth9/ },
      { name: 'table not a number', conf: () => ({ ...good.sbr(), table: 'main' }), code: 7, msg: /"table" must be an integer/ },
      { name: 'three gateways', conf: () => ({ ...good.sbr(), gateways: ['10.0.0.1', 'fd00::1', '10.0.0.2'] }), code: 7, msg: /more than 2 entries/ },
      { name: 'unreachable static gateway (undone)', conf: () => ({ ...good.sbr(), gateways: ['10.99.9.9'] }), code: 999, msg: /Failed to add default route/ },
      { name: 'no netns (no file made)', env: { CNI_NETNS: '/run/netns/cnits-badref-gone' }, code: 999, msg: /failed to open netns/ },
    ]),
    ...common('vrf'),
    ...each('vrf', [
      { name: 'no vrfname', conf: () => ({ ...good.vrf(), vrfname: undefined }), code: 7, msg: /configuration is expected to have a valid vrf name/ },
      { name: 'vrfname not a name', conf: () => ({ ...good.vrf(), vrfname: 'a b' }), code: 7, msg: /"vrfname" is not an interface name/ },
      { name: 'table negative', conf: () => ({ ...good.vrf(), table: -2 }), code: 7, msg: /"table" is -2, below the minimum 0/ },
      { name: 'version 0.3.0', conf: () => ({ ...good.vrf(), cniVersion: '0.3.0', prevResult: { ...prev(), cniVersion: '0.3.0' } }), code: 1, msg: /incompatible CNI versions/ },
      { name: 'no prevResult', conf: () => ({ ...good.vrf(), prevResult: undefined }), code: 999, msg: /missing prevResult from earlier plugin/ },
      { name: 'interface missing', env: { CNI_IFNAME: 'eth9' }, code: 999, msg: /could not get link by name eth9/ },
      { name: 'the name of a non-VRF link', conf: () => ({ ...good.vrf(), vrfname: 'lo' }), code: 999, msg: /Netlink lo is not a VRF/ },
      { name: 'a kernel without VRF support (this host)', code: 999, msg: /the kernel has no VRF support|already has a master/ },
    ]),
  ];

  it('has cases for every plugin', () => {
    for (const p of ['host-device', 'static', 'sbr', 'vrf']) expect(cases.filter((c) => c.plugin === p).length).toBeGreaterThanOrEqual(10);
  });

  it.each(cases)('$plugin: $name → code $code, nothing changed', (c) => {
    const conf = typeof c.conf === 'function' ? (c.conf as () => unknown)() : (c.conf ?? good[c.plugin]());
    const env: Record<string, string | undefined> = { ...baseEnv(), ...(c.command ? { CNI_COMMAND: c.command } : {}), ...c.env };
    const r = net.run({ plugin: bin(c.plugin), command: env.CNI_COMMAND!, conf, env, path: env.CNI_PATH ?? '' });
    expect(r.status, r.stdout + r.stderr).toBe(1);
    expect(r.json, r.stdout).toBeDefined();
    expect(r.json.code, r.stdout).toBe(c.code);
    expect(r.json.msg + (r.json.details ? `: ${r.json.details}` : '')).toMatch(c.msg);
    expect(snapshot()).toEqual(before);
    expect(readdirSync(dir)).toEqual([]);
  });
});
