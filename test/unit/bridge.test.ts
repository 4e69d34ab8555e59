import { describe, expect, it } from 'vitest';
import { parseNetConf } from '../../lib/cni/config.js';
import { CniError } from '../../lib/cni/errors.js';
import { collectVlanTrunk, parseBridgeConf, type BridgeConf } from '../../plugins/bridge/config.js';
import { calcGateways, containerSysctls, gatewayAddrLines, hostLinkLines, portVlanLines, type HostPlan } from '../../plugins/bridge/plan.js';
import { randomMac } from '../../lib/veth.js';
import { spoofcheckSetupScript, spoofcheckTeardownScript } from '../../lib/spoofcheck.js';

const conf = (extra: Record<string, unknown> = {}): BridgeConf =>
  parseBridgeConf(parseNetConf({ cniVersion: '1.0.0', name: 'n', type: 'bridge', ipam: { type: 'host-local' }, ...extra }));

const fails = (extra: Record<string, unknown>, pattern: RegExp): void => {
  try {
    conf(extra);
  } catch (e) {
    expect(e).toBeInstanceOf(CniError);
    expect((e as CniError).code).toBe(7);
    expect((e as CniError).message).toMatch(pattern);
    return;
  }
  throw new Error(`config ${JSON.stringify(extra)} was accepted`);
};

describe('bridge config', () => {
  it('defaults as the reference', () => {
    const c = conf();
    expect(c).toMatchObject({ brName: 'cni0', isGW: false, ipMasq: false, vlan: 0, vlans: [], preserveDefaultVlan: true, enableDad: false, layer3: true });
    expect(c.mtu).toBeUndefined();
    expect(conf({ isDefaultGateway: true }).isGW).toBe(true);
    expect(conf({ ipam: {} }).layer3).toBe(false);
  });

  it('rejects bad values naming the key', () => {
    fails({ isGateway: 'true' }, /"isGateway" must be true or false, got "true"/);
    fails({ mtu: 70000 }, /"mtu" is 70000, above the maximum 65535/);
    fails({ mtu: 10 }, /"mtu" is 10, below the minimum 68/);
    fails({ mtu: '1500' }, /"mtu" must be an integer/);
    fails({ bridge: 'averyveryverylongbridge' }, /"bridge" "averyveryverylongbridge" is not a valid interface name: it is 23 bytes long/);
    fails({ bridge: 'a/b' }, /not a valid interface name/);
    fails({ hairpinMode: true, promiscMode: true }, /cannot set hairpin mode and promiscuous mode at the same time/);
    fails({ vlan: 5000 }, /invalid VLAN ID 5000 \(must be between 0 and 4094\)/);
    fails({ vlan: -1 }, /invalid VLAN ID -1/);
    fails({ vlan: 5, vlanTrunk: [{ id: 6 }] }, /cannot set "vlan" and "vlanTrunk" at the same time/);
    fails({ ipMasqBackend: 'pf' }, /"ipMasqBackend" is "pf"; allowed: iptables, nftables/);
    fails({ disableContainerInterface: true }, /cannot use IPAM when "disableContainerInterface" is set/);
  });

  it('vlanTrunk as the reference collectVlanTrunk', () => {
    expect(collectVlanTrunk([{ id: 5 }, { minID: 10, maxID: 12 }, { id: 11 }])).toEqual([5, 10, 11, 12]);
    const err = (t: unknown[]): string => {
      try {
        collectVlanTrunk(t);
        return '';
      } catch (e) {
        return (e as Error).message;
      }
    };
    expect(err([{ minID: 0, maxID: 3 }])).toMatch(/incorrect trunk minID parameter/);
    expect(err([{ minID: 1, maxID: 4095 }])).toMatch(/incorrect trunk maxID parameter/);
    expect(err([{ minID: 5, maxID: 3 }])).toMatch(/minID is greater than maxID in trunk parameter/);
    expect(err([{ maxID: 3 }])).toMatch(/minID is missing/);
    expect(err([{ minID: 3 }])).toMatch(/maxID is missing/);
    expect(err([{ id: 4095 }])).toMatch(/incorrect trunk id parameter/);
  });
});

describe('gateways', () => {
  const ipam = {
    cniVersion: '1.0.0',
    ips: [{ address: '10.1.0.5/24' }, { address: 'fd00:1::5/64', gateway: 'fd00:1::fe' }],
    routes: [{ dst: '192.168.0.0/16' }],
  };

  it('isDefaultGateway: gateway = network+1 when missing, default route per family, ips on interface 2', () => {
    const g = calcGateways(ipam, conf({ isDefaultGateway: true }));
    expect(g.ips).toEqual([
      { address: '10.1.0.5/24', gateway: '10.1.0.1', interface: 2 },
      { address: 'fd00:1::5/64', gateway: 'fd00:1::fe', interface: 2 },
    ]);
    expect(g.routes).toEqual([{ dst: '192.168.0.0/16' }, { dst: '0.0.0.0/0', gw: '10.1.0.1' }, { dst: '::/0', gw: 'fd00:1::fe' }]);
    expect(g.bridgeAddrs).toEqual({ 4: ['10.1.0.1/24'], 6: ['fd00:1::fe/64'] });
  });

  it('no default route added when IPAM already has one with a gateway; none at all without isGateway', () => {
    const g = calcGateways({ ...ipam, routes: [{ dst: '0.0.0.0/0', gw: '10.1.0.254' }] }, conf({ isDefaultGateway: true }));
    expect(g.routes.filter((r) => r.dst === '0.0.0.0/0')).toEqual([{ dst: '0.0.0.0/0', gw: '10.1.0.254' }]);
    const plain = calcGateways(ipam, conf());
    expect(plain.ips[0]).toEqual({ address: '10.1.0.5/24', interface: 2 });
    expect(plain.bridgeAddrs).toEqual({ 4: [], 6: [] });
  });

  it('bridge addresses: kept when present, v4 conflict is an error unless forceAddress, v6 accumulate', () => {
    const want = { 4: ['10.1.0.1/24'], 6: ['fd00:2::1/64'] };
    const have = [
      { family: 'inet' as const, local: '10.9.0.1', prefixlen: 24, scope: 'global' },
      { family: 'inet6' as const, local: 'fd00:1::1', prefixlen: 64, scope: 'global' },
      { family: 'inet6' as const, local: 'fe80::1', prefixlen: 64, scope: 'link' },
    ];
    expect(() => gatewayAddrLines('br0', have, want, false)).toThrow(/"br0" already has an IP address different from 10.1.0.1\/24/);
    expect(gatewayAddrLines('br0', have, want, true)).toEqual(['addr del 10.9.0.1/24 dev br0', 'addr replace 10.1.0.1/24 brd + dev br0', 'addr replace fd00:2::1/64 dev br0']);
    expect(gatewayAddrLines('br0', [{ family: 'inet', local: '10.1.0.1', prefixlen: 24 }], { 4: ['10.1.0.1/24'], 6: [] }, false)).toEqual([]);
    expect(() => gatewayAddrLines('br0', [{ family: 'inet6', local: 'fd00:2::2', prefixlen: 64 }], want, false)).toThrow(/already has an IP address/);
  });
});

describe('host batch', () => {
  const plan = (c: BridgeConf, extra: Partial<HostPlan> = {}): HostPlan => ({
    conf: c,
    bridgeMac: '02:00:00:00:00:01',
    hostVeth: 'veth01234567',
    hostMac: '02:00:00:00:00:02',
    containerIfname: 'eth0',
    containerMac: '02:00:00:00:00:03',
    netnsPath: '/run/netns/x',
    gatewayLines: ['addr replace 10.1.0.1/24 brd + dev br0'],
    ...extra,
  });

  it('creates the veth first (into the netns), then the bridge with a pinned MAC, port flags, gateway', () => {
    expect(hostLinkLines(plan(conf({ bridge: 'br0', mtu: 1400, hairpinMode: true, portIsolation: true })))).toEqual([
      'link add veth01234567 address 02:00:00:00:00:02 mtu 1400 type veth peer name eth0 address 02:00:00:00:00:03 mtu 1400 netns /run/netns/x',
      'link add br0 address 02:00:00:00:00:01 mtu 1400 type bridge',
      'link set dev br0 up',
      'link set dev veth01234567 master br0 up',
      'link set dev veth01234567 type bridge_slave hairpin on isolated on',
      'addr replace 10.1.0.1/24 brd + dev br0',
    ]);
  });

  it('reuses an existing bridge (pins its MAC), vlan filtering when a VLAN is asked', () => {
    const existing = { ifindex: 3, ifname: 'br0', address: '02:00:00:00:00:01', linkinfo: { info_kind: 'bridge', info_data: { vlan_filtering: 0 } } };
    const lines = hostLinkLines(plan(conf({ bridge: 'br0', vlan: 10, promiscMode: true }), { bridge: existing, gatewayLines: [] }));
    expect(lines.slice(1)).toEqual([
      'link set dev br0 type bridge vlan_filtering 1',
      'link set dev br0 address 02:00:00:00:00:01',
      'link set dev br0 promisc on',
      'link set dev br0 up',
      'link set dev veth01234567 master br0 up',
    ]);
  });

  it('port VLAN lines: access, trunk, default VLAN removed unless preserved', () => {
    expect(portVlanLines('v', conf({ vlan: 10 }))).toEqual(['vlan add dev v vid 10 pvid untagged']);
    expect(portVlanLines('v', conf({ vlanTrunk: [{ minID: 3, maxID: 4 }], preserveDefaultVlan: false }))).toEqual(['vlan del dev v vid 1', 'vlan add dev v vid 3', 'vlan add dev v vid 4']);
    expect(portVlanLines('v', conf())).toEqual([]);
  });

  it('container sysctls: DAD off by default, arp_notify, IPv6 enabled for v6 addresses', () => {
    expect(containerSysctls('eth0', [{ address: '10.0.0.2/24' }], false)).toEqual({ 'net/ipv6/conf/eth0/accept_dad': '0', 'net/ipv4/conf/eth0/arp_notify': '1' });
    const v6 = containerSysctls('eth0', [{ address: 'fd00::2/64' }], true);
    expect(v6).toMatchObject({ 'net/ipv6/conf/eth0/disable_ipv6': '0', 'net/ipv6/conf/eth0/accept_dad': '1', 'net/ipv6/conf/eth0/enhanced_dad': '1' });
  });

  it('random MACs are locally administered unicast', () => {
    expect(randomMac(new Uint8Array([0xff, 1, 2, 3, 4, 5]))).toBe('fe:01:02:03:04:05');
    expect(randomMac(new Uint8Array([0x00, 1, 2, 3, 4, 5]))).toBe('02:01:02:03:04:05');
  });
});

describe('macspoofchk scripts (reference names)', () => {
  it('setup: bridge nat PREROUTING at -300, iface and mac chains, rules commented', () => {
    const s = spoofcheckSetupScript('veth1', '02:00:00:00:00:03', 'cid-eth0');
    expect(s).toContain('add chain bridge nat PREROUTING { type filter hook prerouting priority -300 ; policy accept ; }');
    expect(s).toContain('add rule bridge nat PREROUTING iifname "veth1" jump cni-br-iface-cid-eth0 comment "macspoofchk-cid-eth0"');
    expect(s).toContain('add rule bridge nat cni-br-iface-cid-eth0-mac ether saddr 02:00:00:00:00:03 return comment "macspoofchk-cid-eth0"');
    expect(s).toContain('add rule bridge nat cni-br-iface-cid-eth0-mac drop comment "macspoofchk-cid-eth0"');
  });

  it('teardown: the jump rule by handle, then the two chains', () => {
    const listing = JSON.stringify({
      nftables: [
        { chain: { name: 'PREROUTING' } },
        { chain: { name: 'cni-br-iface-cid-eth0' } },
        { chain: { name: 'cni-br-iface-cid-eth0-mac' } },
        { rule: { chain: 'PREROUTING', handle: 7, expr: [{ jump: { target: 'cni-br-iface-cid-eth0' } }] } },
        { rule: { chain: 'PREROUTING', handle: 8, expr: [{ jump: { target: 'cni-br-iface-other-eth0' } }] } },
      ],
    });
    expect(spoofcheckTeardownScript(listing, 'cid-eth0')).toBe(
      [
        'delete rule bridge nat PREROUTING handle 7',
        'flush chain bridge nat cni-br-iface-cid-eth0',
        'flush chain bridge nat cni-br-iface-cid-eth0-mac',
        'delete chain bridge nat cni-br-iface-cid-eth0',
        'delete chain bridge nat cni-br-iface-cid-eth0-mac',
        '',
      ].join('\n'),
    );
    expect(spoofcheckTeardownScript(JSON.stringify({ nftables: [] }), 'cid-eth0')).toBeUndefined();
  });
});
