/**
 * lib/rtnetlink without root: the bytes of every request kind against what iproute2 6.1 sends for the same command
 * line (test/unit/fixtures/iproute2-requests.json, captured with strace from `ip`/`bridge`), the grammar subset taken
 * over (and what is left to the program), name resolution failures with iproute2's texts, batch splitting, the wire
 * helpers and the `-j` printers.
 */
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseBridge, parseIp, splitBatch, matches, type Program } from '../../lib/rtnetlink/ipcmd.js';
import { buildRequest, routeGetMessage, Unresolved, type Request, type Resolver } from '../../lib/rtnetlink/request.js';
import { nftGenerationOf, nftGetGenRequest } from '../../lib/rtnetlink/nftgen.js';
import { attrList, message, parseAck, parseAttrs, parseDone, parseMessages, getStr, getU32, NLMSG_ERROR, NLM_F_ACK_TLVS, NLM_F_CAPPED, u32, cstr, type Message } from '../../lib/rtnetlink/wire.js';
import { addrJson, fdbJson, linkFlags, linkJson, neighJson, parseAddr, parseLink, parseRoute, routeJson, routeSelected, ruleJson } from '../../lib/rtnetlink/show.js';
import { ifaddrmsg, ifinfomsg, ndmsg, rtmsg } from '../../lib/rtnetlink/headers.js';
import { parseIdNames, strtoul } from '../../lib/rtnetlink/names.js';
import { asStdinErrors, parseNftArgs } from '../../lib/nftables.js';

interface Fixture {
  links: Record<string, number>;
  messages: Array<{ line: string; len: number; type: number; flags: string; body: string }>;
}
const fixture = JSON.parse(readFileSync(join(import.meta.dirname, 'fixtures', 'iproute2-requests.json'), 'utf8')) as Fixture;

const FLAG_NAMES: Record<string, number> = { NLM_F_REQUEST: 1, NLM_F_ACK: 4 };
const flagsOf = (s: string): number => s.split('|').reduce((f, x) => f | (FLAG_NAMES[x] ?? Number(x)), 0);
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const NSFD_MARK = 0x5eadbeef;

/** A resolver answering from the fixture's links (and iproute2's "ifN" names); namespaces get a marker fd. */
const fixtureResolver = (links: Record<string, number>): Resolver => ({
  ifindex: (dev) => links[dev] ?? (/^if(\d+)$/.test(dev) ? Number(dev.slice(2)) : 0),
  nsfd: () => NSFD_MARK,
  nsid: () => 0,
});

function onlyRequest(p: Program | undefined): Request {
  expect(p).toBeDefined();
  expect(p!.commands).toHaveLength(1);
  const c = p!.commands[0]!.command;
  expect(c.kind).toBe('request');
  return c as Request;
}

const parseLine = (line: string): Program | undefined => {
  const [tool, ...args] = line.split(' ');
  return tool === 'bridge' ? parseBridge(args) : parseIp(args);
};

describe('requests: the bytes iproute2 6.1 sends', () => {
  for (const m of fixture.messages) {
    it(m.line, () => {
      const p = parseLine(m.line);
      const get = p?.commands[0]?.command;
      const ours = get?.kind === 'routeGet' ? routeGetMessage(get) : buildRequest(onlyRequest(p), fixtureResolver(fixture.links));
      const view = new DataView(ours.buffer);
      expect(view.getUint32(0, true)).toBe(m.len);
      expect(view.getUint16(4, true)).toBe(m.type);
      expect(view.getUint16(6, true)).toBe(flagsOf(m.flags));
      // a namespace fd (IFLA_NET_NS_FD) is whatever number each process got: compare it as the marker
      const expected = Buffer.from(m.body, 'hex');
      const body = Buffer.from(ours.subarray(16));
      const at = body.indexOf(Buffer.from(u32(NSFD_MARK)));
      if (at >= 0) expected.writeUInt32LE(NSFD_MARK, at);
      expect(hex(body)).toBe(hex(expected));
    });
  }
});

describe('what is taken over, and what is left to the program', () => {
  it.each([
    ['ip', 'link set a up'], // "a" abbreviates "address": ip would read "up" as a MAC and fail
    ['ip', 'link add x type veth peer name y netns 1234'], // a PID
    ['ip', 'addr add 10.0.0.1/24 dev x nodad'], // ip warns: nodad is IPv6-only
    ['ip', 'route add 10.0.0.0/8 nexthop via 1.1.1.1'],
    ['ip', 'route add local 10.0.0.1 dev lo'],
    ['ip', 'link add x type gre remote 1.1.1.1'],
    ['ip', 'link set dev x xdp off'],
    ['ip', '-o link show'],
    ['ip', '-s link show'],
    ['ip', 'netns add x'],
    ['ip', 'tuntap add dev tap0 mode tap'],
    ['ip', 'tuntap add mode tun name t0'],
    ['ip', 'tuntap add mode tap name t0 user nobody'],
    ['ip', 'tuntap add mode tap na t0'], // "na" abbreviates "name"
    ['ip', 'tuntap add mode tap'], // the kernel names it
    ['ip', 'tuntap del mode tap name t0'],
    ['ip', 'route get 10.0.0.0/8'], // ip warns: only /32 (or none)
    ['ip', 'route get 10.0.0.1 from 10.0.0.2'],
    ['ip', 'route get fibmatch 10.0.0.1'],
    ['ip', 'route get 10.0.0.1 10.0.0.2'],
    ['ip', 'route get'],
    ['ip', 'addr show dev x scope nosuch'],
    ['ip', 'link show dev x scope global'],
    ['ip', 'link add x type vxlan id 1 dev y'], // no dstport: ip warns about the kernel default
    ['bridge', 'vlan add dev x vid 10-20'],
    ['bridge', 'fdb add 00:11:22:33:44:55 dev x vni 5'],
  ])('%s %s → not taken over', (tool, line) => {
    const args = line.split(' ');
    expect(tool === 'ip' ? parseIp(args) : parseBridge(args)).toBeUndefined();
  });

  it('batch lines: numbered as iproute2 counts them, comments and quotes as its makeargs', () => {
    expect(splitBatch('link set dev x up\n\n# comment\naddr add 10.0.0.1/24 dev x # trailing\nlink set dev x alias "a b"\n')).toEqual([
      { line: 1, argv: ['link', 'set', 'dev', 'x', 'up'] },
      { line: 4, argv: ['addr', 'add', '10.0.0.1/24', 'dev', 'x'] },
      { line: 5, argv: ['link', 'set', 'dev', 'x', 'alias', 'a b'] },
    ]);
    expect(parseIp(['-batch', '-'], 'link set dev x up \\\nmtu 1400\n')).toBeUndefined(); // continuation line
    const p = parseIp(['-j', '-force', '-batch', '-'], 'link show dev x\nlink set dev x up\n')!;
    expect(p.batch).toBe(true);
    expect(p.options).toMatchObject({ json: true, force: true });
    expect(p.commands.map((c) => c.command.kind)).toEqual(['links', 'request']);
  });

  it("tuntap add: the tap plugin's words, as iptuntap.c's ifreq flags (IFF_NO_PI unless pi, IFF_TUN_EXCL added)", () => {
    expect(parseIp(['tuntap', 'add', 'mode', 'tap', 'name', 'tap0'])!.commands[0]!.command).toEqual({ kind: 'tuntap', name: 'tap0', flags: 0x2 | 0x1000 | 0x8000 });
    expect(parseIp(['tap', 'add', 'mode', 'tap', 'name', 'tap0', 'multi_queue', 'user', '107', 'group', '0', 'vnet_hdr'])!.commands[0]!.command).toEqual({ kind: 'tuntap', name: 'tap0', flags: 0x2 | 0x1000 | 0x8000 | 0x100 | 0x4000, uid: 107, gid: 0 });
    expect(parseIp(['tuntap', 'add', 'mode', 'tap', 'tap0', 'vnet_hdr', 'pi'])!.commands[0]!.command).toMatchObject({ flags: 0x2 | 0x8000 | 0x4000 });
  });

  it('options and listings', () => {
    expect(parseIp(['-N', '-d', '-j', '-6', 'route', 'show', 'table', 'all'])).toMatchObject({
      options: { numeric: true, details: true, json: true, family: 10 },
      commands: [{ command: { kind: 'routes', table: 0, defaultOnly: false } }],
    });
    expect(parseIp(['-j', 'route', 'show', 'default'])!.commands[0]!.command).toMatchObject({ kind: 'routes', defaultOnly: true });
    expect(parseIp(['-j', 'addr', 'show', 'dev', 'x', 'scope', 'global'])!.commands[0]!.command).toMatchObject({ kind: 'links', addresses: true, dev: 'x', scope: { value: 0, mask: 255 } });
    expect(parseIp(['-j', 'addr', 'show', 'scope', 'all'])!.commands[0]!.command).toMatchObject({ kind: 'links', scope: { mask: 0 } });
    expect(parseIp(['-j', 'route', 'show', 'proto', '177'])!.commands[0]!.command).toMatchObject({ kind: 'routes', protocol: 177 });
    expect(parseIp(['-j', 'addr', 'show', 'dev', 'eth0'])!.commands[0]!.command).toEqual({ kind: 'links', addresses: true, dev: 'eth0' });
    expect(parseIp(['-j', 'link', 'show', 'lo'])!.commands[0]!.command).toEqual({ kind: 'links', addresses: false, dev: 'lo' });
    expect(parseBridge(['-j', 'fdb', 'show', 'dev', 'vx0'])!.commands[0]!.command).toEqual({ kind: 'fdb', dev: 'vx0' });
    expect(parseIp(['-j', 'route', 'get', 'to', '10.9.9.9'])!.commands[0]!.command).toMatchObject({ kind: 'routeGet', dst: Uint8Array.of(10, 9, 9, 9) });
    expect(parseIp(['-4', '-j', 'route', 'get', 'fd00::1'])).toBeUndefined(); // another family than -4 asks for
    expect(matches('addr', 'address')).toBe(true);
    expect(matches('', 'address')).toBe(false);
  });
});

describe('names that do not resolve: what iproute2 prints and does', () => {
  const none: Resolver = { ifindex: () => 0, nsfd: () => -1, nsid: () => -1 };
  const missing = (line: string) => {
    try {
      buildRequest(onlyRequest(parseLine(line)), none);
    } catch (e) {
      expect(e).toBeInstanceOf(Unresolved);
      return (e as Unresolved).missing;
    }
    throw new Error('resolved');
  };
  it.each([
    ['ip link set dev nope up', { abort: false, status: 1, text: 'Cannot find device "nope"\n' }],
    ['ip link set dev x master nope', { abort: true, status: 255, text: 'Error: argument "nope" is wrong: Device does not exist\n\n' }],
    ['ip link add x type veth peer name y netns /nonexist', { abort: true, status: 255, text: 'Error: argument "/nonexist" is wrong: Invalid "netns" value\n\n' }],
    ['ip link add x link nope type macvlan mode bridge', { abort: false, status: 1, text: 'Cannot find device "nope"\n' }],
    ['ip link add x link eth0 link-netns /nonexist type macvlan mode bridge', { abort: true, status: 255, text: 'Error: argument "/nonexist" is wrong: Invalid "link-netns" value\n\n' }],
    ['ip addr add 10.0.0.1/24 dev nope', { abort: false, status: 1, text: 'Cannot find device "nope"\n' }],
    ['ip route add 10.0.0.0/24 dev nope', { abort: false, status: 1, text: 'Cannot find device "nope"\n' }],
    ['ip link add v type vxlan id 1 dev nope dstport 4789', { abort: true, status: 255, text: 'Cannot find device "nope"\n' }],
    ['bridge vlan add dev nope vid 5', { abort: false, status: 1, text: 'Cannot find bridge device "nope"\n' }],
  ])('%s', (line, want) => expect(missing(line)).toEqual(want));

  it('ip neigh ends the whole run when the kernel refuses (exit 2); bridge fails the command with -1', () => {
    expect(onlyRequest(parseIp(['neigh', 'del', '10.0.0.1', 'dev', 'x'])).onKernelError).toBe('abort2');
    expect(onlyRequest(parseBridge(['fdb', 'del', '00:11:22:33:44:55', 'dev', 'x'])).onKernelError).toBe('fail1');
    expect(onlyRequest(parseIp(['route', 'del', '10.0.0.0/8'])).onKernelError).toBe('fail2');
  });
});

describe('wire', () => {
  it('attributes pad to 4 bytes; nests are sent as iproute2 sends them (no NLA_F_NESTED)', () => {
    const m = message(16, 5, new Uint8Array(16), [[3, cstr('ab')], [18, [[1, new TextEncoder().encode('veth')]]]]);
    // IFLA_IFNAME "ab\0" (len 7, padded to 8), then IFLA_LINKINFO (len 12) holding IFLA_INFO_KIND "veth" (len 8)
    expect(hex(m.subarray(16 + 16))).toBe('07000300616200000c001200080001007665746' + '8');
    const [msg] = parseMessages(m);
    const attrs = parseAttrs(msg!.payload, 16);
    expect(getStr(attrs.get(3))).toBe('ab');
    expect(attrList(attrs.get(18)!).map(([t]) => t)).toEqual([1]);
  });

  it('ACKs: errno and the extended-ACK message, capped or with the request echoed', () => {
    const msgAttr = [1, cstr('Nexthop has invalid gateway')] as const;
    const capped = message(NLMSG_ERROR, NLM_F_CAPPED | NLM_F_ACK_TLVS, new Uint8Array([...new Uint8Array(new Int32Array([-22]).buffer), ...new Uint8Array(16)]), [msgAttr]);
    expect(parseAck(parseMessages(capped)[0]!)).toEqual({ error: -22, message: 'Nexthop has invalid gateway' });
    const echoedReq = message(24, 5, new Uint8Array(12));
    const uncapped = message(NLMSG_ERROR, NLM_F_ACK_TLVS, new Uint8Array([...new Uint8Array(new Int32Array([-17]).buffer), ...echoedReq]), [msgAttr]);
    expect(parseAck(parseMessages(uncapped)[0]!)).toEqual({ error: -17, message: 'Nexthop has invalid gateway' });
    const plain = message(NLMSG_ERROR, 0, new Uint8Array([...new Uint8Array(new Int32Array([0]).buffer), ...new Uint8Array(16)]));
    expect(parseAck(parseMessages(plain)[0]!)).toEqual({ error: 0 });
    const done = message(3, NLM_F_ACK_TLVS, new Uint8Array(new Int32Array([-2]).buffer), [[1, cstr('ipv4: FIB table does not exist')]]);
    expect(parseDone(parseMessages(done)[0]!)).toEqual({ error: -2, message: 'ipv4: FIB table does not exist' });
  });
});

describe('-j printers', () => {
  const names = (i: number) => (i === 2 ? { name: 'br0', up: true } : i === 9 ? { name: 'lower', up: false } : undefined);
  const msg = (type: number, body: Uint8Array, attrs: Parameters<typeof message>[3]): Message => parseMessages(message(type, 0, body, attrs))[0]!;

  it('links: flags, master, link (M-DOWN when the lower link is down), link_index with a netnsid, details', () => {
    expect(linkFlags(0x1003 | 0x40 | 0x10000, false)).toEqual(['BROADCAST', 'MULTICAST', 'UP', 'LOWER_UP']);
    expect(linkFlags(0x1003, true)).toEqual(['NO-CARRIER', 'BROADCAST', 'MULTICAST', 'UP', 'M-DOWN']);
    const l = parseLink(
      msg(16, ifinfomsg({ index: 5, type: 1, flags: 0x1002 }), [
        [3, cstr('mv0')], [4, u32(1400)], [5, u32(9)], [10, u32(2)], [1, Uint8Array.of(2, 0, 0, 0, 0, 1)],
        [18, [[1, new TextEncoder().encode('macvlan')], [2, [[1, u32(4)]]]]],
      ]),
    )!;
    expect(linkJson(l, { doLink: true, details: true, numeric: false, family: 0 }, names)).toMatchObject({
      ifindex: 5, link: 'lower', ifname: 'mv0', flags: ['BROADCAST', 'MULTICAST', 'M-DOWN'], mtu: 1400, master: 'br0',
      link_type: 'ether', address: '02:00:00:00:00:01', linkinfo: { info_kind: 'macvlan', info_data: { mode: 'bridge' } },
    });
    const v = parseLink(msg(16, ifinfomsg({ index: 3, type: 1 }), [[3, cstr('eth0')], [5, u32(7)], [37, u32(0)]]))!;
    expect(linkJson(v, { doLink: false, details: false, numeric: false, family: 0 }, names)).toMatchObject({ ifindex: 3, link_index: 7, link_netnsid: 0 });
    // tun_print_opt: a persistent tap owned by root
    const tap = parseLink(msg(16, ifinfomsg({ index: 6, type: 1 }), [[3, cstr('tap0')], [18, [[1, new TextEncoder().encode('tun')], [2, [[3, Uint8Array.of(2)], [4, Uint8Array.of(0)], [5, Uint8Array.of(1)], [6, Uint8Array.of(1)], [1, u32(0)], [2, u32(4294967294)]]]]]]))!;
    expect(linkJson(tap, { doLink: true, details: true, numeric: false, family: 0 }, names).linkinfo).toEqual({
      info_kind: 'tun', info_data: { type: 'tap', pi: false, vnet_hdr: true, multi_queue: false, persist: true, user: 'root', group: 4294967294 },
    });
    // -N: ll_type_n2a and rtnl_group_n2a print numbers
    const g = parseLink(msg(16, ifinfomsg({ index: 4, type: 1 }), [[3, cstr('eth1')], [27, u32(0)]]))!;
    expect(linkJson(g, { doLink: true, details: false, numeric: true, family: 0 }, names)).toMatchObject({ group: '0', link_type: '[1]' });
    expect(linkJson(g, { doLink: true, details: false, numeric: false, family: 0 }, names)).toMatchObject({ group: 'default', link_type: 'ether' });
  });

  it('addresses: IPv6 without IFA_LOCAL, flags as keys, dynamic when not permanent', () => {
    const a = parseAddr(msg(20, ifaddrmsg({ family: 10, prefixlen: 64, flags: 0x80 | 0x02, scope: 0, index: 2 }), [[1, Uint8Array.from(Buffer.from('fd000000000000000000000000000001', 'hex'))]]))!;
    expect(addrJson(a, false)).toEqual({ family: 'inet6', local: 'fd00::1', prefixlen: 64, scope: 'global', nodad: true });
    const b = parseAddr(msg(20, ifaddrmsg({ family: 2, prefixlen: 24, flags: 0, scope: 253, index: 2 }), [[2, Uint8Array.of(10, 0, 0, 1)], [1, Uint8Array.of(10, 0, 0, 1)], [4, Uint8Array.of(10, 0, 0, 255)], [3, cstr('br0')]]))!;
    expect(addrJson(b, false)).toEqual({ family: 'inet', local: '10.0.0.1', prefixlen: 24, broadcast: '10.0.0.255', scope: 'link', dynamic: true, label: 'br0' });
  });

  it('routes: default, table only for "table all", protocol left out when filtered by it, -N numbers', () => {
    const r = parseRoute(msg(24, rtmsg({ family: 2, dstLen: 0, table: 254, protocol: 177, scope: 0, type: 1, flags: 4 }), [[5, Uint8Array.of(10, 0, 0, 1)], [4, u32(2)]]))!;
    const all = { family: 0, table: 0, defaultOnly: false };
    expect(routeJson(r, { numeric: false, details: false, filter: all }, names)).toEqual({ dst: 'default', gateway: '10.0.0.1', dev: 'br0', protocol: '177', flags: ['onlink'] });
    const byProto = { family: 2, table: 254, protocol: 177, defaultOnly: true };
    expect(routeSelected(r, byProto)).toBe(true);
    expect(routeJson(r, { numeric: false, details: false, filter: byProto }, names)).toEqual({ dst: 'default', gateway: '10.0.0.1', dev: 'br0', flags: ['onlink'] });
    const local = parseRoute(msg(24, rtmsg({ family: 2, dstLen: 32, table: 255, protocol: 2, scope: 254, type: 2 }), [[1, Uint8Array.of(10, 0, 0, 1)], [4, u32(2)]]))!;
    expect(routeJson(local, { numeric: true, details: true, filter: all }, names)).toEqual({ type: '2', dst: '10.0.0.1', dev: 'br0', table: '255', protocol: '2', scope: '254', flags: [] });
    expect(routeSelected(local, { family: 0, table: 254, defaultOnly: false })).toBe(false);
  });

  it("route get's answer: a cloned IPv4 route (uid, cache flags; no protocol or scope), an IPv6 one as a route", () => {
    const all = { family: 0, table: 0, defaultOnly: false };
    const local = parseRoute(msg(24, rtmsg({ family: 2, dstLen: 32, table: 254, protocol: 0, scope: 0, type: 2, flags: 0x80000200 }), [[15, u32(254)], [1, Uint8Array.of(10, 9, 0, 7)], [4, u32(2)], [7, Uint8Array.of(10, 9, 0, 1)], [25, u32(0)]]))!;
    expect(routeJson(local, { numeric: false, details: false, filter: all }, names)).toEqual({ type: 'local', dst: '10.9.0.7', dev: 'br0', prefsrc: '10.9.0.1', flags: [], uid: 0, cache: ['local'] });
    expect(routeJson(local, { numeric: false, details: true, filter: all }, names)).toMatchObject({ type: 'local', table: 'main', cache: ['local'] });
    const v6 = parseRoute(msg(24, rtmsg({ family: 10, dstLen: 128, srcLen: 128, table: 254, protocol: 2, type: 1 }), [[15, u32(254)], [1, Uint8Array.from(Buffer.from('fd000000000000000000000000000001', 'hex'))], [2, new Uint8Array(16)], [4, u32(2)], [6, u32(256)], [20, Uint8Array.of(0)]]))!;
    expect(routeJson(v6, { numeric: false, details: false, filter: all }, names)).toEqual({ dst: 'fd00::1', from: '::', dev: 'br0', protocol: 'kernel', metric: 256, flags: [], pref: 'medium' });
  });

  it('vxlan: an IPv4 local address as "local", an IPv6 one as "local6" (vxlan_print_opt)', () => {
    const vx = (local: [number, Uint8Array]) => parseLink(msg(16, ifinfomsg({ index: 7, type: 1 }), [[3, cstr('cni-ts.1')], [18, [[1, new TextEncoder().encode('vxlan')], [2, [[1, u32(1)], local, [3, u32(2)], [15, Uint8Array.of(0x21, 0x18)]]]]]]))!;
    const p = { doLink: false, details: true, numeric: false, family: 0 };
    expect(linkJson(vx([4, Uint8Array.of(192, 0, 2, 1)]), p, names).linkinfo).toEqual({ info_kind: 'vxlan', info_data: { id: 1, local: '192.0.2.1', link: 'br0', port: 8472 } });
    expect(linkJson(vx([17, Uint8Array.from(Buffer.from('fd000000000000000000000000000011', 'hex'))]), p, names).linkinfo).toEqual({ info_kind: 'vxlan', info_data: { id: 1, local6: 'fd00::11', link: 'br0', port: 8472 } });
    expect(linkJson(vx([4, new Uint8Array(4)]), p, names).linkinfo).toEqual({ info_kind: 'vxlan', info_data: { id: 1, link: 'br0', port: 8472 } });
  });

  it('rules, neighbours, FDB', () => {
    expect(ruleJson(msg(32, rtmsg({ family: 2, srcLen: 32, table: 100, type: 1 }), [[6, u32(32765)], [2, Uint8Array.of(10, 1, 0, 9)], [21, Uint8Array.of(0)]]), { numeric: true, details: true })).toEqual({ priority: 32765, src: '10.1.0.9', table: '100', protocol: '0' });
    expect(neighJson(msg(28, ndmsg({ family: 2, ifindex: 2, state: 0x80 }), [[1, Uint8Array.of(10, 0, 0, 7)], [2, Uint8Array.of(2, 0, 0, 0, 0, 7)]]), { devFilter: 2, family: 0 }, names)).toEqual({ dst: '10.0.0.7', lladdr: '02:00:00:00:00:07', state: ['PERMANENT'] });
    expect(neighJson(msg(28, ndmsg({ family: 2, ifindex: 2, state: 0x40 }), [[1, Uint8Array.of(10, 0, 0, 8)]]), { family: 0 }, names)).toBeUndefined(); // NOARP hidden
    expect(fdbJson(msg(28, ndmsg({ family: 7, ifindex: 5, state: 0x80, flags: 2 }), [[2, Uint8Array.of(2, 0, 0, 0, 0, 10)], [1, Uint8Array.of(10, 9, 0, 1)]]), { devFilter: 5 }, names)).toEqual({ mac: '02:00:00:00:00:0a', dst: '10.9.0.1', flags: ['self'], state: 'permanent' });
  });
});

describe('nftables ruleset generation (nfnetlink, on the same socket code)', () => {
  it('NFT_MSG_GETGEN as libnftables sends it (no ACK); the id read from NFT_MSG_NEWGEN (big-endian)', () => {
    const [req] = parseMessages(nftGetGenRequest());
    expect([req!.type, req!.flags, [...req!.payload]]).toEqual([(10 << 8) | 16, 0x1, [0, 0, 0, 0]]);
    const id = Uint8Array.of(1, 2, 3, 4);
    expect(nftGenerationOf(parseMessages(message((10 << 8) | 15, 0, Uint8Array.of(0, 0, 0, 0), [[1, id]]))[0]!)).toBe(0x01020304);
    expect(nftGenerationOf(parseMessages(message(NLMSG_ERROR, 0, new Uint8Array(20)))[0]!)).toBeUndefined();
  });
});

describe('iproute2 name tables, nft command lines', () => {
  it('rt_* files and numbers', () => {
    expect(parseIdNames('# c\n0x10 ten\n177 cni\n  200\tsite\nbad line\n')).toEqual([[16, 'ten'], [177, 'cni'], [200, 'site']]);
    expect(strtoul('0x1f', 255)).toBe(31);
    expect(strtoul('010', 255)).toBe(8);
    expect(strtoul('256', 255)).toBeUndefined();
    expect(strtoul('1a', 255)).toBeUndefined();
  });

  it('nft: -j and -f - taken over, error locations named as the program names them', () => {
    expect(parseNftArgs(['-f', '-'])).toEqual({ json: false, stdin: true, words: [] });
    expect(parseNftArgs(['-j', 'list', 'table', 'ip', 'x'])).toEqual({ json: true, stdin: false, words: ['list', 'table', 'ip', 'x'] });
    expect(parseNftArgs(['-a', 'list', 'ruleset'])).toBeUndefined();
    expect(parseNftArgs(['-f', '/etc/nftables.conf'])).toBeUndefined();
    expect(asStdinErrors('/proc/self/fd/7:3:16-21: Error: Could not process rule\n', '/proc/self/fd/7')).toBe('/dev/stdin:3:16-21: Error: Could not process rule\n');
  });

  it('u32 values read back', () => expect(getU32(u32(0xfffffffe))).toBe(0xfffffffe));
});
