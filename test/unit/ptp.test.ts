import { describe, expect, it } from 'vitest';
import { parseNetConf } from '../../lib/cni/config.js';
import { CniError } from '../../lib/cni/errors.js';
import { formatIP, linkLocalFromMac } from '../../lib/ip.js';
import { vethAddLine } from '../../lib/veth.js';
import { parsePtpConf } from '../../plugins/ptp/config.js';
import { containerLines, hostLines, ptpAddresses, ptpRoutes, resultIps } from '../../plugins/ptp/plan.js';

const conf = (extra: Record<string, unknown> = {}) =>
  parsePtpConf(parseNetConf({ cniVersion: '1.0.0', name: 'n', type: 'ptp', ipam: { type: 'host-local' }, ...extra }));

function fails(fn: () => unknown, code: number, pattern: RegExp): void {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(CniError);
    expect((e as CniError).code).toBe(code);
    expect((e as CniError).message).toMatch(pattern);
    return;
  }
  throw new Error('accepted');
}

describe('ptp config', () => {
  it('defaults and keys as the reference', () => {
    expect(conf()).toEqual({ network: 'n', ipMasq: false });
    expect(conf({ ipMasq: true, mtu: 1400, ipMasqBackend: 'nftables' })).toEqual({ network: 'n', ipMasq: true, mtu: 1400, ipMasqBackend: 'nftables' });
    expect(conf({ mtu: 0 }).mtu).toBeUndefined();
  });

  it('rejects bad values naming the key, and a missing IPAM', () => {
    fails(() => conf({ ipMasq: 'yes' }), 7, /ptp config: "ipMasq" must be true or false, got "yes"/);
    fails(() => conf({ mtu: 65536 }), 7, /"mtu" is 65536, above the maximum 65535/);
    fails(() => conf({ mtu: 40 }), 7, /"mtu" is 40, below the minimum 68/);
    fails(() => conf({ mtu: '1500' }), 7, /"mtu" must be an integer, got "1500"/);
    fails(() => conf({ ipMasqBackend: 'ipfw' }), 7, /"ipMasqBackend" is "ipfw"; allowed: iptables, nftables/);
    fails(() => conf({ ipam: undefined }), 7, /an IPAM plugin is required .* got no "ipam"/);
    fails(() => conf({ ipam: {} }), 7, /an IPAM plugin is required .* got "ipam.type" null/);
    fails(() => conf({ ipam: { type: 7 } }), 7, /got "ipam.type" 7/);
  });
});

describe('ptp plan', () => {
  const ipam = {
    cniVersion: '1.0.0',
    ips: [
      { address: '10.1.0.5/24', gateway: '10.1.0.1' },
      { address: 'fd00:1::5/64', gateway: 'fd00:1::1' },
    ],
    routes: [{ dst: '0.0.0.0/0' }, { dst: '::/0' }, { dst: '192.168.0.0/16', gw: '10.1.0.254' }],
  };
  const addrs = ptpAddresses(ipam);
  const pair = { hostVeth: 'veth01234567', hostMac: '02:00:00:00:00:02', containerIfname: 'eth0', containerMac: '02:00:00:00:00:03', netnsPath: '/run/netns/x' };

  it('addresses: every one needs a gateway of its family, different from itself', () => {
    expect(addrs).toEqual([
      { family: 4, cidr: '10.1.0.5/24', ip: '10.1.0.5', subnet: '10.1.0.0/24', gateway: '10.1.0.1' },
      { family: 6, cidr: 'fd00:1::5/64', ip: 'fd00:1::5', subnet: 'fd00:1::/64', gateway: 'fd00:1::1' },
    ]);
    expect(resultIps(addrs)).toEqual([
      { address: '10.1.0.5/24', gateway: '10.1.0.1', interface: 1 },
      { address: 'fd00:1::5/64', gateway: 'fd00:1::1', interface: 1 },
    ]);
    fails(() => ptpAddresses({ cniVersion: '1.0.0', ips: [{ address: '10.1.0.5/24' }] }), 999, /IPAM returned no gateway for 10.1.0.5\/24/);
    fails(() => ptpAddresses({ cniVersion: '1.0.0', ips: [{ address: '10.1.0.5/24', gateway: 'fd00::1' }] }), 999, /gateway fd00::1 of another family/);
    fails(() => ptpAddresses({ cniVersion: '1.0.0', ips: [{ address: '10.1.0.5/24', gateway: '10.1.0.5' }] }), 999, /equal to the container address/);
  });

  it('host batch: the veth first (into the netns), up, gateways /32 and /128 (no DAD), host routes', () => {
    expect(hostLines(pair, addrs, 1400)).toEqual([
      'link add veth01234567 address 02:00:00:00:00:02 mtu 1400 type veth peer name eth0 address 02:00:00:00:00:03 mtu 1400 netns /run/netns/x',
      'link set dev veth01234567 addrgenmode none',
      'link set dev veth01234567 up',
      'addr add fe80::ff:fe00:2/64 dev veth01234567 nodad',
      'addr add 10.1.0.1/32 dev veth01234567',
      'addr add fd00:1::1/128 dev veth01234567 nodad',
      'route replace 10.1.0.5/32 dev veth01234567 scope host',
      'route replace fd00:1::5/128 dev veth01234567',
    ]);
    expect(hostLines(pair, addrs)[0]).toBe(vethAddLine(pair));
    // Two addresses behind one gateway: the gateway once.
    const two = ptpAddresses({ cniVersion: '1.0.0', ips: [ipam.ips[0]!, { address: '10.1.0.6/24', gateway: '10.1.0.1' }] });
    expect(hostLines(pair, two).slice(1)).toEqual([
      'link set dev veth01234567 up',
      'addr add 10.1.0.1/32 dev veth01234567',
      'route replace 10.1.0.5/32 dev veth01234567 scope host',
      'route replace 10.1.0.6/32 dev veth01234567 scope host',
    ]);
  });

  it('the host end\'s link-local address is the one the kernel derives (EUI-64)', () => {
    // As seen on a veth made by the Go ptp: link/ether 4a:e9:30:b6:7a:15, inet6 fe80::48e9:30ff:feb6:7a15/64.
    expect(formatIP(linkLocalFromMac('4a:e9:30:b6:7a:15'))).toBe('fe80::48e9:30ff:feb6:7a15');
    expect(formatIP(linkLocalFromMac('02:11:22:33:44:55'))).toBe('fe80::11:22ff:fe33:4455');
  });

  it('container batch: addresses without the subnet route, gateway link route, subnet via gateway, then IPAM routes', () => {
    expect(containerLines('eth0', addrs, ipam.routes)).toEqual([
      'addr add 10.1.0.5/24 brd + dev eth0 noprefixroute',
      'addr add fd00:1::5/64 dev eth0 noprefixroute nodad',
      'link set eth0 up',
      'route add 10.1.0.1/32 dev eth0 scope link src 10.1.0.5',
      'route add 10.1.0.0/24 via 10.1.0.1 dev eth0 src 10.1.0.5',
      'route add fd00:1::1/128 dev eth0 src fd00:1::5',
      'route add fd00:1::/64 via fd00:1::1 dev eth0 src fd00:1::5',
      'route add 0.0.0.0/0 via 10.1.0.1 dev eth0',
      'route add ::/0 via fd00:1::1 dev eth0',
      'route add 192.168.0.0/16 via 10.1.0.254 dev eth0',
    ]);
    expect(ptpRoutes(addrs)).toEqual([
      { dst: '10.1.0.1/32' },
      { dst: '10.1.0.0/24', gw: '10.1.0.1' },
      { dst: 'fd00:1::1/128' },
      { dst: 'fd00:1::/64', gw: 'fd00:1::1' },
    ]);
  });
});
