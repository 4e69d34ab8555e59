import { describe, expect, it } from 'vitest';
import { DUMP, dumpMessage, ipBytes, parseAddr, parseRoute, parseRule, ruleMessage } from '../../lib/rtnl.js';

/** A message as the kernel sends it: nlmsghdr, a fixed header, attributes. */
function kernelMessage(type: number, hdr: number[], attrs: Array<[number, number[]]>): Uint8Array {
  const align = (n: number) => (n + 3) & ~3;
  const body = [...hdr, ...new Array(align(hdr.length) - hdr.length).fill(0)];
  for (const [t, p] of attrs) {
    const len = 4 + p.length;
    body.push(len & 255, len >> 8, t & 255, t >> 8, ...p, ...new Array(align(len) - len).fill(0));
  }
  const total = 16 + body.length;
  return Uint8Array.from([total & 255, total >> 8, 0, 0, type, 0, 2, 0, 1, 0, 0, 0, 0, 0, 0, 0, ...body]);
}
const le32 = (n: number) => [n & 255, (n >> 8) & 255, (n >> 16) & 255, n >>> 24];

describe('rtnetlink messages (sbr in-process)', () => {
  it('dump requests: NLM_F_REQUEST|NLM_F_DUMP, all families, the right header size', () => {
    const m = dumpMessage(DUMP.rules);
    const v = new DataView(m.buffer);
    expect([m.length, v.getUint16(4, true), v.getUint16(6, true), m[16]]).toEqual([28, 34, 0x301, 0]);
    expect(dumpMessage(DUMP.addrs).length).toBe(24);
  });

  it('a rule request: fib_rule_hdr (family, src_len, table, FR_ACT_TO_TBL), FRA_SRC, FRA_TABLE, FRA_PRIORITY; create+excl to add', () => {
    const add = ruleMessage(true, { family: 6, src: 'fd09::2', srcLen: 128, table: 300 });
    const v = new DataView(add.buffer);
    expect([v.getUint16(4, true), v.getUint16(6, true)]).toEqual([32, 0x605]);
    expect(Array.from(add.subarray(16, 28))).toEqual([10, 0, 128, 0, 0, 0, 0, 1, 0, 0, 0, 0]);
    expect([v.getUint16(28, true), v.getUint16(30, true)]).toEqual([20, 2]);
    expect(Array.from(add.subarray(32, 48))).toEqual(Array.from(ipBytes('fd09::2').bytes));
    expect([v.getUint16(48, true), v.getUint16(50, true), v.getUint32(52, true)]).toEqual([8, 15, 300]);
    const del = ruleMessage(false, { family: 4, src: '10.9.0.2', srcLen: 32, table: 100, priority: 32765 });
    const d = new DataView(del.buffer);
    expect([d.getUint16(4, true), d.getUint16(6, true), del[20]]).toEqual([33, 5, 100]);
    expect(d.getUint32(del.length - 4, true)).toBe(32765);
  });

  it('addresses to bytes', () => {
    expect(Array.from(ipBytes('10.9.0.2').bytes)).toEqual([10, 9, 0, 2]);
    expect(Array.from(ipBytes('fe80::1').bytes)).toEqual([0xfe, 0x80, ...new Array(13).fill(0), 1]);
    expect(Array.from(ipBytes('1:2:3:4:5:6:7:8').bytes)).toEqual([0, 1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 0, 7, 0, 8]);
  });

  it('parses dumped rules, routes and addresses into the shapes of ip -N -d -j', () => {
    expect(parseRule(kernelMessage(32, [2, 0, 32, 0, 100, 0, 0, 1, 0, 0, 0, 0], [[2, [10, 9, 0, 2]], [6, le32(32765)], [15, le32(100)]]))).toEqual({ family: 4, src: '10.9.0.2', table: '100', priority: 32765 });
    expect(parseRule(kernelMessage(32, [10, 0, 64, 0, 0, 0, 0, 1, 0, 0, 0, 0], [[2, Array.from(ipBytes('fd09::').bytes)], [15, le32(1000)]]))).toEqual({ family: 6, src: 'fd09::', srclen: 64, table: '1000', priority: 0 });
    expect(parseRule(kernelMessage(32, [2, 0, 0, 0, 254, 0, 0, 1, 0, 0, 0, 0], [[6, le32(32766)], [15, le32(254)]]))).toEqual({ family: 4, src: 'all', table: '254', priority: 32766 });
    const route = kernelMessage(24, [2, 0, 0, 0, 254, 3, 0, 1, 0, 0, 0, 0], [[15, le32(254)], [5, [10, 9, 0, 1]], [4, le32(2)]]);
    expect(parseRoute(route, () => 'eth0')).toEqual({ family: 4, type: '1', dst: 'default', protocol: '3', scope: '0', table: 254, gateway: '10.9.0.1', oif: 2 });
    const connected = kernelMessage(24, [2, 24, 0, 0, 254, 2, 253, 1, 0, 0, 0, 0], [[15, le32(254)], [1, [10, 9, 0, 0]], [7, [10, 9, 0, 2]], [4, le32(2)]]);
    expect(parseRoute(connected, () => 'eth0')).toMatchObject({ dst: '10.9.0.0/24', prefsrc: '10.9.0.2', protocol: '2', scope: '253' });
    const multipath = kernelMessage(24, [2, 16, 0, 0, 254, 3, 0, 1, 0, 0, 0, 0], [[1, [10, 8, 0, 0]], [9, [16, 0, 0, 2, ...le32(3), 8, 0, 5, 0, 10, 0, 0, 1]]]);
    expect(parseRoute(multipath, (i) => (i === 3 ? 'eth1' : undefined))?.nexthops).toEqual([{ weight: 3, dev: 'eth1', gateway: '10.0.0.1' }]);
    expect(parseAddr(kernelMessage(20, [10, 64, 0, 0, ...le32(7)], [[1, Array.from(ipBytes('fd09::2').bytes)]]))).toEqual({ family: 6, index: 7, local: 'fd09::2', prefixlen: 64, scope: 0 });
    expect(parseAddr(kernelMessage(20, [2, 24, 0, 253, ...le32(2)], [[1, [10, 9, 0, 2]], [2, [10, 9, 0, 2]]]))).toEqual({ family: 4, index: 2, local: '10.9.0.2', prefixlen: 24, scope: 253 });
    expect(parseRule(route)).toBeUndefined();
  });
});

describe('rtnetlink link messages (host-device in-process)', () => {
  it('RTM_GETLINK by name with an ACK; RTM_SETLINK with IFLA_NET_NS_FD; RTM_NEWLINK parsed (flags, alias, MAC)', async () => {
    const { getLinkMessage, moveLinkMessage, parseLink } = await import('../../lib/rtnl.js');
    const g = getLinkMessage('hd0');
    const gv = new DataView(g.buffer);
    expect([gv.getUint16(4, true), gv.getUint16(6, true), gv.getUint16(32, true), gv.getUint16(34, true)]).toEqual([18, 5, 8, 3]);
    expect(new TextDecoder().decode(g.subarray(36, 40))).toBe('hd0\0');
    const m = moveLinkMessage('hd0', 9);
    const mv = new DataView(m.buffer);
    expect([mv.getUint16(4, true), mv.getUint16(mv.byteLength - 6, true), mv.getUint32(mv.byteLength - 4, true)]).toEqual([19, 28, 9]);
    const text = (s: string) => Array.from(new TextEncoder().encode(`${s}\0`));
    const newlink = kernelMessage(16, [0, 0, 1, 0, ...le32(7), ...le32(0x1003), ...le32(0)], [[3, text('eth0')], [1, [2, 0xde, 0, 0, 0, 1]], [20, text('hd0')]]);
    expect(parseLink(newlink)).toEqual({ name: 'eth0', index: 7, up: true, alias: 'hd0', mac: '02:de:00:00:00:01' });
    expect(parseLink(kernelMessage(16, [0, 0, 1, 0, ...le32(8), ...le32(0x1002), ...le32(0)], [[3, text('x')]]))).toEqual({ name: 'x', index: 8, up: false, alias: '' });
    // a VRF (IFLA_LINKINFO: kind "vrf", data: table) and a member of it (IFLA_MASTER)
    const linkinfo = [8, 0, 1, 0, ...text('vrf'), 12, 0, 2, 0, 8, 0, 1, 0, ...le32(1001)];
    expect(parseLink(kernelMessage(16, [0, 0, 1, 0, ...le32(9), ...le32(0x1), ...le32(0)], [[3, text('red')], [18, linkinfo]]))).toEqual({ name: 'red', index: 9, up: true, alias: '', kind: 'vrf', vrfTable: 1001 });
    expect(parseLink(kernelMessage(16, [0, 0, 1, 0, ...le32(7), ...le32(0x1), ...le32(0)], [[3, text('eth0')], [10, le32(9)]]))?.master).toBe(9);
  });
});
