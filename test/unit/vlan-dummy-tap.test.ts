import { describe, expect, it } from 'vitest';
import { parseNetConf } from '../../lib/cni/config.js';
import { leftover, planLines, splitSysctls, type ContainerLinkPlan } from '../../lib/containerlink.js';
import { createFailure, createInContainerLine, createLinkArgs, subLinkSysctls, linkDefaultSysctls } from '../../lib/parentlink.js';
import { macProblem, parseTapConf, requireRepresentable, settingsLine, tuntapArgs } from '../../plugins/tap/config.js';
import { parseVlanConf, requireIpam, verifyVlanLink } from '../../plugins/vlan/config.js';

const netconf = (o: Record<string, unknown>) => parseNetConf({ cniVersion: '1.0.0', name: 'n', ...o });
const errorOf = (f: () => unknown): { code: number; msg: string; details?: string } => {
  try {
    f();
  } catch (e) {
    return e as { code: number; msg: string };
  }
  throw new Error('did not throw');
};

describe('vlan config', () => {
  it('reads master, vlanId, mtu, linkInContainer; no mode, no notify sysctls', () => {
    expect(parseVlanConf(netconf({ master: 'eth1', vlanId: 100, mtu: 1400, linkInContainer: true }))).toEqual({
      vlanId: 100,
      spec: { kind: 'vlan', master: 'eth1', mtu: 1400, linkInContainer: true, typeOptions: ['id', '100'], notify: false },
    });
    expect(parseVlanConf(netconf({ master: 'eth1' })).vlanId).toBe(0);
  });
  it('creates `type vlan id N` (no mode), in the container on the host master too', () => {
    const { spec } = parseVlanConf(netconf({ master: 'm0', vlanId: 7 }));
    expect(createLinkArgs(spec, 'm0', 'cnitmp1', '/run/netns/c')).toEqual(['link', 'add', 'cnitmp1', 'link', 'm0', 'netns', '/run/netns/c', 'type', 'vlan', 'id', '7']);
    expect(createInContainerLine(spec, 4, '/proc/1/ns/net', 'eth0')).toBe('link add link if4 link-netns /proc/1/ns/net name eth0 type vlan id 7');
    expect(subLinkSysctls('t', [{ address: '10.0.0.2/24' }], spec.notify)).toEqual({});
    expect(linkDefaultSysctls([{ address: 'fd00::2/64' }], false)).toEqual({ 'net/ipv6/conf/default/disable_ipv6': '0', 'net/ipv6/conf/default/keep_addr_on_down': '1' });
  });
  it('rejects a missing master, an id outside 0–4094, a negative MTU and a missing IPAM with code 7', () => {
    expect(errorOf(() => parseVlanConf(netconf({ vlanId: 1 })))).toMatchObject({ code: 7, msg: '"master" field is required. It specifies the host interface name to create the VLAN for' });
    expect(errorOf(() => parseVlanConf(netconf({ master: 'm0', vlanId: 4095 })))).toMatchObject({ code: 7, msg: 'invalid VLAN ID 4095 (must be between 0 and 4094 inclusive)' });
    expect(errorOf(() => parseVlanConf(netconf({ master: 'm0', vlanId: -1 }))).msg).toMatch(/invalid VLAN ID -1/);
    expect(errorOf(() => parseVlanConf(netconf({ master: 'm0', vlanId: '5' }))).msg).toBe('vlan config: "vlanId" must be an integer, got "5"');
    expect(errorOf(() => parseVlanConf(netconf({ master: 'm0', mtu: -1 }))).msg).toBe('vlan config: "mtu" is -1, below the minimum 0');
    expect(errorOf(() => requireIpam(undefined))).toMatchObject({ code: 7, msg: 'vlan: "ipam" with a "type" is required' });
    expect(requireIpam('host-local')).toBe('host-local');
  });
  it('a kernel without 802.1q support is named', () => {
    const { spec } = parseVlanConf(netconf({ master: 'm0', vlanId: 7 }));
    expect(createFailure(spec, 'm0', 'host netns', 'Error: Unknown device type.\n').msg).toBe('failed to create vlan: the kernel has no vlan support (CONFIG_VLAN_8021Q / the 8021q module is missing)');
  });
  it('CHECK: the id must match, the MTU when configured', () => {
    const link = { ifindex: 2, ifname: 'eth0', mtu: 1500, linkinfo: { info_kind: 'vlan', info_data: { protocol: '802.1Q', id: 100 } } };
    expect(() => verifyVlanLink(link, 100, 0)).not.toThrow();
    expect(() => verifyVlanLink(link, 100, 1500)).not.toThrow();
    expect(errorOf(() => verifyVlanLink(link, 200, 0)).msg).toBe("vlan: container interface eth0 has VLAN id 100, the config's vlanId is 200");
    expect(errorOf(() => verifyVlanLink(link, 100, 1400)).msg).toBe('vlan: configured MTU of eth0 is 1400, current value is 1500');
  });
});

describe('tap config', () => {
  it('defaults: no MAC, kernel MTU, one queue, no owner/group/bridge', () => {
    expect(parseTapConf(netconf({ type: 'tap' }), '')).toEqual({ mtu: 0, multiQueue: false });
  });
  it('MAC precedence: runtimeConfig.mac, then CNI_ARGS MAC, then the config', () => {
    const c = (o: Record<string, unknown>) => netconf({ type: 'tap', mac: '02:00:00:00:00:03', ...o });
    expect(parseTapConf(c({ runtimeConfig: { mac: '02:00:00:00:00:01' } }), 'MAC=02:00:00:00:00:02').mac).toBe('02:00:00:00:00:01');
    expect(parseTapConf(c({}), 'MAC=02:00:00:00:00:02').mac).toBe('02:00:00:00:00:02');
    expect(parseTapConf(c({}), '').mac).toBe('02:00:00:00:00:03');
    expect(parseTapConf(c({ mac: '02:AB:00:00:00:03' }), '').mac).toBe('02:ab:00:00:00:03');
    // args.cni.mac is not a tap key (the reference ignores "args")
    expect(parseTapConf(c({ args: { cni: { mac: '02:00:00:00:00:09' } } }), '').mac).toBe('02:00:00:00:00:03');
  });
  it('refuses MACs the kernel would, unknown CNI_ARGS and bad values with code 7 (CNI_ARGS: 4)', () => {
    expect(macProblem('01:00:5e:00:00:01')).toMatch(/multicast/);
    expect(macProblem('00:00:00:00:00:00')).toMatch(/all zeros/);
    expect(macProblem('02:00:00:00:00')).toMatch(/not a MAC/);
    expect(errorOf(() => parseTapConf(netconf({ mac: '03:00:00:00:00:01' }), ''))).toMatchObject({ code: 7, msg: expect.stringMatching(/invalid MAC address "03:00:00:00:00:01" in tap config "mac": it is a multicast address/) });
    expect(errorOf(() => parseTapConf(netconf({ runtimeConfig: { mac: 'zz' } }), ''))).toMatchObject({ code: 7, msg: expect.stringMatching(/in runtimeConfig.mac/) });
    expect(errorOf(() => parseTapConf(netconf({}), 'MAC=1:2'))).toMatchObject({ code: 7, msg: expect.stringMatching(/in CNI_ARGS MAC/) });
    expect(errorOf(() => parseTapConf(netconf({}), 'COLOR=red')).code).toBe(4);
    expect(parseTapConf(netconf({}), 'IgnoreUnknown=1;COLOR=red')).toEqual({ mtu: 0, multiQueue: false });
    expect(errorOf(() => parseTapConf(netconf({ mtu: 20 }), '')).msg).toBe('tap config: "mtu" is 20, below the minimum 68');
    expect(errorOf(() => parseTapConf(netconf({ mtu: 70000 }), '')).msg).toBe('tap config: "mtu" is 70000, above the maximum 65535');
    expect(errorOf(() => parseTapConf(netconf({ owner: -1 }), '')).code).toBe(7);
    expect(errorOf(() => parseTapConf(netconf({ group: 'wheel' }), '')).msg).toBe('tap config: "group" must be an integer, got "wheel"');
    expect(errorOf(() => parseTapConf(netconf({ multiQueue: 'yes' }), '')).code).toBe(7);
    expect(errorOf(() => parseTapConf(netconf({ bridge: 'a/b' }), '')).msg).toBe('tap config: "bridge" is not an interface name: "a/b"');
    expect(errorOf(() => parseTapConf(netconf({ bridge: 'x'.repeat(16) }), '')).code).toBe(7);
    expect(errorOf(() => parseTapConf(netconf({ selinuxContext: 'container_t' }), '')).msg).toMatch(/"selinuxContext" is not an SELinux context/);
    expect(parseTapConf(netconf({ selinuxContext: 'system_u:system_r:container_t:s0:c1,c2' }), '').selinuxContext).toBe('system_u:system_r:container_t:s0:c1,c2');
  });
  it('ip tuntap arguments: persistent tap; owner and group both set give the reference netlink path flags', () => {
    expect(tuntapArgs({ mtu: 0, multiQueue: false }, 't1')).toEqual(['tuntap', 'add', 'mode', 'tap', 'name', 't1']);
    expect(tuntapArgs({ mtu: 0, multiQueue: true, owner: 107 }, 't1')).toEqual(['tuntap', 'add', 'mode', 'tap', 'name', 't1', 'multi_queue', 'user', '107']);
    expect(tuntapArgs({ mtu: 0, multiQueue: false, owner: 0, group: 0 }, 't1')).toEqual(['tuntap', 'add', 'mode', 'tap', 'name', 't1', 'user', '0', 'group', '0', 'vnet_hdr', 'pi']);
    expect(tuntapArgs({ mtu: 0, multiQueue: true, owner: 0, group: 0 }, 't1')).toEqual(['tuntap', 'add', 'mode', 'tap', 'name', 't1', 'multi_queue', 'user', '0', 'group', '0', 'vnet_hdr']);
    expect(settingsLine({ mtu: 0, multiQueue: false }, 't1')).toEqual([]);
    expect(settingsLine({ mtu: 9000, multiQueue: false, mac: '02:00:00:00:00:01' }, 't1')).toEqual(['link set dev t1 mtu 9000 address 02:00:00:00:00:01']);
  });
  it('an L2 tap (no ipam) cannot be a 0.1.0/0.2.0 result: refused up front', () => {
    expect(errorOf(() => requireRepresentable('0.2.0', false))).toMatchObject({ code: 1, msg: 'cannot convert: no valid IP addresses' });
    expect(() => requireRepresentable('0.2.0', true)).not.toThrow();
    expect(() => requireRepresentable('0.3.1', false)).not.toThrow();
  });
});

describe('links created in the container (dummy, tap)', () => {
  const tap: ContainerLinkPlan = {
    checks: ['link show dev br0'],
    create: ['tuntap add mode tap name cnitmp1', 'link set dev cnitmp1 mtu 1400'],
    name: 'cnitmp1',
    attach: ['link set dev eth0 master br0'],
    sysctls: { 'net/ipv4/conf/eth0/arp_notify': '1' },
  };
  it('plans checks, creation, rename, attach, then addresses, up, routes and a read-back', () => {
    const { lines, stages, split } = planLines(tap, 'eth0', [{ address: '10.0.0.2/24', gateway: '10.0.0.1' }], [{ dst: '0.0.0.0/0' }]);
    expect(lines).toEqual([
      'link show dev br0',
      'tuntap add mode tap name cnitmp1',
      'link set dev cnitmp1 mtu 1400',
      'link set dev cnitmp1 name eth0',
      'link set dev eth0 master br0',
      'addr add 10.0.0.2/24 brd + dev eth0',
      'link set eth0 up',
      'route add 0.0.0.0/0 via 10.0.0.1 dev eth0',
      'link show dev eth0',
    ]);
    expect(stages).toEqual(['check', 'create', 'create', 'rename', 'attach', 'configure', 'configure', 'configure', 'configure']);
    expect(split).toBe(5);
    const dummy = planLines({ create: ['link add eth0 type dummy'], name: 'eth0' }, 'eth0', [], []);
    expect(dummy.lines).toEqual(['link add eth0 type dummy', 'link set eth0 up', 'link show dev eth0']);
  });
  it('after a failure removes only what this ADD created, never a link that already had CNI_IFNAME', () => {
    const { stages } = planLines(tap, 'eth0', [], []);
    expect([1, 2, 3, 4, 5, 6, 7].map((n) => leftover(tap, 'eth0', stages, n))).toEqual([undefined, undefined, 'cnitmp1', 'cnitmp1', 'eth0', 'eth0', 'eth0']);
    expect(leftover(tap, 'eth0', stages, 0)).toBe('cnitmp1'); // unknown line: only the temporary name
    const direct: ContainerLinkPlan = { create: ['link add eth0 type dummy'], name: 'eth0' };
    const ds = planLines(direct, 'eth0', [], []).stages;
    expect([0, 1, 2].map((n) => leftover(direct, 'eth0', ds, n))).toEqual([undefined, undefined, 'eth0']);
    const made: ContainerLinkPlan = { ...tap, create: ['link set dev cnitmp1 mtu 1400'], exists: true };
    const ms = planLines(made, 'eth0', [], []).stages;
    expect([1, 2].map((n) => leftover(made, 'eth0', ms, n))).toEqual(['cnitmp1', 'cnitmp1']);
  });
  it("the new link's sysctls become the container's defaults while it is created; the others stay by name", () => {
    expect(splitSysctls({ 'net/ipv4/conf/eth0/arp_notify': '1', 'net/ipv6/conf/lo/disable_ipv6': '0', 'net/ipv6/conf/eth0/disable_ipv6': '0' }, 'eth0')).toEqual({
      defaults: { 'net/ipv4/conf/default/arp_notify': '1', 'net/ipv6/conf/default/disable_ipv6': '0' },
      others: { 'net/ipv6/conf/lo/disable_ipv6': '0' },
    });
  });
});
