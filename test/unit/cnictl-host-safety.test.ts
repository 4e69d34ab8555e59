import { describe, expect, it } from 'vitest';
import type { IpLink } from '../../lib/iface.js';
import { bridgeUser, gatewayAddresses, gatewayConflict, isolationRuleDeletes, linkFound, restoreFound } from '../../cli/network/bridges.js';
import { buildConflist, parseDriverOptions } from '../../cli/network/create.js';
import { describe as describeNet } from '../../cli/network/model.js';
import { planRange, parseSubnet } from '../../cli/network/subnet.js';
import { confListFromBytes } from '../../cli/runtime/conffiles.js';
import { checkHostAddresses, parsePublish } from '../../cli/sandbox/ports.js';

const link = (kind: string | undefined, addrs: string[], up = true): IpLink => ({
  ifindex: 5,
  ifname: 'x',
  flags: up ? ['BROADCAST', 'MULTICAST', 'UP'] : ['BROADCAST', 'MULTICAST'],
  ...(kind ? { linkinfo: { info_kind: kind } } : {}),
  addr_info: addrs.map((a) => ({ family: a.includes(':') ? 'inet6' : 'inet', local: a.split('/')[0]!, prefixlen: Number(a.split('/')[1]) })),
});

const net = (name: string, bridge: string, subnet = '10.5.0.0/24') =>
  describeNet(
    confListFromBytes(
      JSON.stringify(buildConflist({ name, driver: 'bridge', cniVersion: '1.0.0', ranges: [planRange(parseSubnet(subnet), undefined, undefined)], internal: false, options: parseDriverOptions('bridge', []), bridgeName: bridge, extras: ['firewall'] })),
      `/etc/cni/net.d/cnictl-${name}.conflist`,
    ),
  );

describe('a bridge network on a real host', () => {
  it('the bridge name: free, a bridge found (addresses and state recorded) or another kind of link (named)', () => {
    expect(linkFound(undefined)).toEqual({ kind: 'absent' });
    expect(linkFound(link('bridge', ['192.0.2.1/24', 'fe80::1/64'], false))).toEqual({ kind: 'bridge', addresses: ['192.0.2.1/24', 'fe80::1/64'], up: false });
    expect(linkFound(link('veth', []))).toEqual({ kind: 'other', type: 'veth' });
    expect(linkFound(link(undefined, []))).toEqual({ kind: 'other', type: 'device' }); // a physical NIC has no kind
  });

  it('two networks cannot share a bridge: the user is named', () => {
    const nets = [net('a', 'br-a'), net('b', 'shared0')];
    expect(bridgeUser('shared0', nets)?.name).toBe('b');
    expect(bridgeUser('shared0', nets, 'b')).toBeUndefined();
    expect(bridgeUser('br-c', nets)).toBeUndefined();
  });

  it('a found bridge is left as found: only our gateway addresses it lacked are removed, and it goes down if it was down', () => {
    const info = net('a', 'br0', '10.5.0.0/24');
    expect(gatewayAddresses(info)).toEqual(['10.5.0.1/24']);
    const now = link('bridge', ['192.0.2.1/24', '10.5.0.1/24']);
    expect(restoreFound({ name: 'br0', created: false, addresses: ['192.0.2.1/24'], up: true }, ['10.5.0.1/24'], now)).toEqual({ delAddresses: ['10.5.0.1/24'], down: false });
    // the admin had put the gateway address there themselves: it stays
    expect(restoreFound({ name: 'br0', created: false, addresses: ['10.5.0.1/24'], up: false }, ['10.5.0.1/24'], now)).toEqual({ delAddresses: [], down: true });
  });

  it('a found bridge whose address the gateway cannot go beside (as the bridge plugin decides) is named', () => {
    const br = link('bridge', ['198.51.100.1/24', 'fd01::1/64', 'fe80::1/64']);
    expect(gatewayConflict(br, ['10.5.0.1/24'])).toEqual({ have: '198.51.100.1/24', want: '10.5.0.1/24' });
    expect(gatewayConflict(br, ['198.51.100.1/24'])).toBeUndefined(); // already its address
    expect(gatewayConflict(br, ['fd02::1/64'])).toBeUndefined(); // IPv6 addresses accumulate when apart
    expect(gatewayConflict(br, ['fd01::2/64'])).toEqual({ have: 'fd01::1/64', want: 'fd01::2/64' });
    expect(gatewayConflict(link('bridge', ['fe80::1/64']), ['10.5.0.1/24'])).toBeUndefined();
  });

  it('the isolation rules naming one bridge, and only those', () => {
    const c = '-m comment --comment "CNI firewall plugin rules (ingressPolicy: same-bridge)"';
    const save = [
      '*filter',
      ':CNI-ISOLATION-STAGE-1 - [0:0]',
      ':CNI-ISOLATION-STAGE-2 - [0:0]',
      `-A FORWARD ${c} -j CNI-ISOLATION-STAGE-1`,
      `-A CNI-ISOLATION-STAGE-1 -i br-a ! -o br-a ${c} -j CNI-ISOLATION-STAGE-2`,
      `-A CNI-ISOLATION-STAGE-1 -i br-ab ! -o br-ab ${c} -j CNI-ISOLATION-STAGE-2`,
      `-A CNI-ISOLATION-STAGE-1 ${c} -j RETURN`,
      `-A CNI-ISOLATION-STAGE-2 -o br-a ${c} -j DROP`,
      `-A CNI-ISOLATION-STAGE-2 -o br-ab ${c} -j DROP`,
      `-A CNI-ISOLATION-STAGE-2 ${c} -j RETURN`,
      '-A FORWARD -o br-a -j ACCEPT',
      'COMMIT',
    ].join('\n');
    expect(isolationRuleDeletes(save, 'br-a')).toEqual([`-D CNI-ISOLATION-STAGE-1 -i br-a ! -o br-a ${c} -j CNI-ISOLATION-STAGE-2`, `-D CNI-ISOLATION-STAGE-2 -o br-a ${c} -j DROP`]);
    expect(isolationRuleDeletes(save, 'br-x')).toEqual([]);
  });

  it('bridge networks get the firewall with same-bridge isolation and published ports accepted; macvlan does not', () => {
    const b = buildConflist({ name: 'n', driver: 'bridge', cniVersion: '1.1.0', ranges: [planRange(parseSubnet('10.5.0.0/24'), undefined, undefined)], internal: true, options: parseDriverOptions('bridge', []), bridgeName: 'br-x', extras: ['firewall', 'tuning'] }) as any;
    expect(b.plugins.map((p: any) => p.type)).toEqual(['bridge', 'portmap', 'firewall', 'tuning']);
    expect(b.plugins[2]).toEqual({ type: 'firewall', ingressPolicy: 'same-bridge', acceptPublishedPorts: true });
    const m = buildConflist({ name: 'n', driver: 'macvlan', cniVersion: '1.1.0', ranges: [planRange(parseSubnet('10.5.0.0/24'), undefined, undefined)], internal: false, options: parseDriverOptions('macvlan', []), bridgeName: 'x', extras: ['firewall'] }) as any;
    expect(m.plugins[2]).toEqual({ type: 'firewall' });
  });
});

describe('-p host addresses', () => {
  const host = new Set(['127.0.0.1', '192.0.2.1', '::1', 'fd00::1']);
  const check = (spec: string, ipv6 = false) => () => checkHostAddresses(parsePublish(spec), host, { name: 'app', ipv6 });
  it('an address of this host or a wildcard is fine; any other is refused, naming it', () => {
    for (const spec of ['8080:80', '0.0.0.0:8080:80', '127.0.0.1:8080:80', '192.0.2.1::80']) expect(check(spec)).not.toThrow();
    expect(check('10.9.9.9:8085:80')).toThrow('-p 10.9.9.9:8085:80/tcp: 10.9.9.9 is not an address of this host (cannot assign requested address)');
    expect(check('[fd00::1]:8080:80', true)).not.toThrow();
    expect(check('[::]:8080:80', true)).not.toThrow();
    expect(check('[fd00::9]:8080:80', true)).toThrow(/fd00::9 is not an address of this host/);
  });
  it('IPv6 host addresses on an IPv4-only network are refused', () => {
    expect(check('[::]:8080:80')).toThrow('-p [::]:8080:80/tcp: network app has no IPv6 subnet, so nothing can be published on the IPv6 address ::');
    expect(check('[::1]:8080:80')).toThrow(/network app has no IPv6 subnet/);
  });
});
