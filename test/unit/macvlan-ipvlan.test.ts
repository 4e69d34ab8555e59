import { describe, expect, it } from 'vitest';
import { parseNetConf } from '../../lib/cni/config.js';
import { buildResult, createFailure, createLinkArgs, defaultRouteDev, finishCommands, subLinkSysctls, tempLinkName, type SubLinkSpec } from '../../lib/parentlink.js';
import { parseMacvlanConf } from '../../plugins/macvlan/config.js';
import { addSpec, ipSourceKind, parseIpvlanConf } from '../../plugins/ipvlan/config.js';

const netconf = (o: Record<string, unknown>) => parseNetConf({ cniVersion: '1.0.0', name: 'n', ...o });
const errorOf = (f: () => unknown): { code: number; msg: string } => {
  try {
    f();
  } catch (e) {
    return e as { code: number; msg: string };
  }
  throw new Error('did not throw');
};

describe('macvlan config', () => {
  it('defaults: bridge mode, kernel MTU, master from the default route', () => {
    expect(parseMacvlanConf(netconf({ type: 'macvlan' }), undefined)).toEqual({ kind: 'macvlan', mode: 'bridge', mtu: 0, linkInContainer: false });
  });
  it('reads every key; a runtime-requested MAC wins over the config mac', () => {
    const c = netconf({ type: 'macvlan', master: 'eth1', mode: 'passthru', mtu: 1400, mac: '02:AA:00:00:00:01', linkInContainer: true, bcqueuelen: 50 });
    expect(parseMacvlanConf(c, undefined)).toEqual({
      kind: 'macvlan', master: 'eth1', mode: 'passthru', mtu: 1400, mac: '02:aa:00:00:00:01', linkInContainer: true, typeOptions: ['bcqueuelen', '50'],
    });
    expect(parseMacvlanConf(c, '02:bb:00:00:00:02').mac).toBe('02:bb:00:00:00:02');
  });
  it('accepts every kernel mode and rejects others with code 7', () => {
    for (const mode of ['bridge', 'private', 'vepa', 'passthru', 'source']) expect(parseMacvlanConf(netconf({ mode }), undefined).mode).toBe(mode);
    expect(errorOf(() => parseMacvlanConf(netconf({ mode: 'l2' }), undefined))).toMatchObject({ code: 7, msg: 'unknown macvlan mode: "l2"' });
  });
  it('rejects bad types and values naming the key', () => {
    expect(errorOf(() => parseMacvlanConf(netconf({ mtu: '1500' }), undefined)).msg).toBe('macvlan config: "mtu" must be an integer, got "1500"');
    expect(errorOf(() => parseMacvlanConf(netconf({ mtu: -5 }), undefined)).msg).toBe('macvlan config: "mtu" is -5, below the minimum 0');
    expect(errorOf(() => parseMacvlanConf(netconf({ master: 3 }), undefined)).msg).toBe('macvlan config: "master" must be a string, got 3');
    expect(errorOf(() => parseMacvlanConf(netconf({ linkInContainer: 'yes' }), undefined)).code).toBe(7);
    expect(errorOf(() => parseMacvlanConf(netconf({ mac: '02:00' }), undefined)).msg).toMatch(/"mac" is not a MAC address/);
  });
});

describe('ipvlan config', () => {
  const prev = (o: Record<string, unknown>) => ({ cniVersion: '1.0.0', ...o });
  it('defaults to l2; rejects unknown modes', () => {
    expect(parseIpvlanConf(netconf({}))).toEqual({ kind: 'ipvlan', mode: 'l2', mtu: 0, linkInContainer: false });
    for (const mode of ['l2', 'l3', 'l3s']) expect(parseIpvlanConf(netconf({ mode })).mode).toBe(mode);
    expect(errorOf(() => parseIpvlanConf(netconf({ mode: 'bridge' })))).toMatchObject({ code: 7, msg: 'unknown ipvlan mode: "bridge"' });
  });
  it('chained: master is the single prevResult interface; anything else is the reference error', () => {
    expect(addSpec(netconf({ prevResult: prev({ interfaces: [{ name: 'dm0' }], ips: [{ address: '10.0.0.2/24' }] }) })).master).toBe('dm0');
    expect(addSpec(netconf({ master: 'eth9', prevResult: prev({ interfaces: [{ name: 'a' }, { name: 'b' }] }) })).master).toBe('eth9');
    expect(addSpec(netconf({})).master).toBeUndefined();
    for (const interfaces of [[], [{ name: 'a' }, { name: 'b' }]]) {
      expect(errorOf(() => addSpec(netconf({ prevResult: prev({ interfaces, ips: [{ address: '10.0.0.2/24' }] }) })))).toMatchObject({
        code: 7,
        msg: 'chained master failure. PrevResult lacks a single named interface',
      });
    }
  });
  it('IPs come from IPAM when configured, else from prevResult, else a clear error', () => {
    const withIps = netconf({ prevResult: prev({ interfaces: [{ name: 'dm0' }], ips: [{ address: '10.0.0.2/24' }] }) });
    expect(ipSourceKind(withIps, 'host-local')).toBe('ipam');
    expect(ipSourceKind(withIps, undefined)).toBe('prevResult');
    expect(errorOf(() => ipSourceKind(netconf({}), undefined))).toMatchObject({ code: 7 });
    expect(errorOf(() => ipSourceKind(netconf({ prevResult: prev({ interfaces: [{ name: 'dm0' }] }) }), undefined)).msg).toMatch(/no prevResult IPs/);
  });
});

describe('parent link commands', () => {
  const spec: SubLinkSpec = { kind: 'macvlan', mode: 'bridge', mtu: 0, linkInContainer: false };
  it('creates directly into the target netns, options before the type', () => {
    expect(createLinkArgs(spec, 'eth1', 'cnitmp01', '/run/netns/x')).toEqual(['link', 'add', 'cnitmp01', 'link', 'eth1', 'netns', '/run/netns/x', 'type', 'macvlan', 'mode', 'bridge']);
    expect(createLinkArgs({ ...spec, mtu: 1400, mac: '02:00:00:00:00:01', typeOptions: ['bcqueuelen', '9'] }, 'm', 't', undefined)).toEqual([
      'link', 'add', 't', 'link', 'm', 'mtu', '1400', 'address', '02:00:00:00:00:01', 'type', 'macvlan', 'mode', 'bridge', 'bcqueuelen', '9',
    ]);
    expect(createLinkArgs({ kind: 'ipvlan', mode: 'l3s', mtu: 0, linkInContainer: true }, 'm', 't', undefined)).toEqual(['link', 'add', 't', 'link', 'm', 'type', 'ipvlan', 'mode', 'l3s']);
  });
  it('temporary names are valid, unique interface names', () => {
    const a = tempLinkName();
    expect(a).toMatch(/^cnitmp[0-9a-f]{8}$/);
    expect(a.length).toBeLessThanOrEqual(15);
    expect(tempLinkName()).not.toBe(a);
  });
  it('one batch renames, configures and reads the link back; sysctls use the temporary name', () => {
    expect(finishCommands('t1', 'eth0', [{ address: '10.0.0.2/24', gateway: '10.0.0.1' }], [{ dst: '0.0.0.0/0' }])).toEqual([
      'link set dev t1 name eth0',
      'addr add 10.0.0.2/24 brd + dev eth0',
      'link set eth0 up',
      'route add 0.0.0.0/0 via 10.0.0.1 dev eth0',
      'link show dev eth0',
    ]);
    expect(finishCommands('t1', 'eth0', [], [])).toEqual(['link set dev t1 name eth0', 'link set eth0 up', 'link show dev eth0']);
    expect(subLinkSysctls('t1', [{ address: '10.0.0.2/24' }])).toEqual({ 'net/ipv4/conf/t1/arp_notify': '1', 'net/ipv6/conf/t1/ndisc_notify': '1' });
    expect(Object.keys(subLinkSysctls('t1', [{ address: 'fd00::2/64' }]))).toContain('net/ipv6/conf/t1/disable_ipv6');
  });
  it('default route device: first route with a dev, or a multipath nexthop', () => {
    expect(defaultRouteDev([])).toBeUndefined();
    expect(defaultRouteDev([{ dst: 'default', gateway: '10.0.0.1', dev: 'eth1' }])).toBe('eth1');
    expect(defaultRouteDev([{ dst: 'default', nexthops: [{ dev: 'eth2' }, { dev: 'eth3' }] } as any])).toBe('eth2');
  });
  it('names the missing master or kernel support in create failures', () => {
    expect(createFailure(spec, 'm9', 'host netns', 'Cannot find device "m9"\n').msg).toBe('failed to lookup master "m9" in host netns: Link not found');
    const ipv = createFailure({ ...spec, kind: 'ipvlan', mode: 'l2' }, 'm0', 'host netns', 'Error: Unknown device type.\n');
    expect(ipv.msg).toBe('failed to create ipvlan: the kernel has no ipvlan support (CONFIG_IPVLAN / the ipvlan module is missing)');
    expect(createFailure({ ...spec, mode: 'passthru' }, 'm0', 'h', 'RTNETLINK answers: Invalid argument').msg).toMatch(/passthru needs it alone/);
  });
  it('result: one interface, all IPs on it, config DNS (never the IPAM one)', () => {
    const r = buildResult('1.0.0', { name: 'eth0', mac: 'aa', sandbox: '/n' }, { ips: [{ address: '10.0.0.2/24', interface: 3 }], routes: [{ dst: '0.0.0.0/0' }] }, { nameservers: ['1.1.1.1'] });
    expect(r).toEqual({
      cniVersion: '1.0.0',
      interfaces: [{ name: 'eth0', mac: 'aa', sandbox: '/n' }],
      ips: [{ address: '10.0.0.2/24', interface: 0 }],
      routes: [{ dst: '0.0.0.0/0' }],
      dns: { nameservers: ['1.1.1.1'] },
    });
    expect(buildResult('1.0.0', { name: 'eth0' }, undefined, {})).toEqual({ cniVersion: '1.0.0', interfaces: [{ name: 'eth0' }] });
  });
});
