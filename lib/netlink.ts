/**
 * The rtnetlink cni-ts speaks itself instead of exec'ing `ip`, through the executable's FFI (lib/native.ts): deleting a
 * link by name (macvlan/ipvlan DEL, on a socket opened in the container's netns), and dumps of routes, neighbours,
 * FDB entries, links and addresses (the agent's reconcile). Message building and parsing are pure (unit-tested);
 * changes go through iproute2 (lib/netns.ts).
 */
import { formatIP, parseIP } from './ip.js';
import { inNetns, type Libc } from './native.js';

const RTM_DELLINK = 17;
const NLM_F_REQUEST = 1;
const NLM_F_ACK = 4;
const IFLA_IFNAME = 3;
const align4 = (n: number): number => (n + 3) & ~3;

/** struct nlmsghdr + struct ifinfomsg + IFLA_IFNAME: "delete the link named `ifname`", with an ACK requested. */
export function delLinkMessage(ifname: string, seq = 1): Uint8Array {
  const name = Buffer.from(`${ifname}\0`);
  const attrLen = 4 + name.length;
  const total = 16 + 16 + align4(attrLen);
  const buf = new Uint8Array(total);
  const v = new DataView(buf.buffer);
  v.setUint32(0, total, true); // nlmsg_len
  v.setUint16(4, RTM_DELLINK, true); // nlmsg_type
  v.setUint16(6, NLM_F_REQUEST | NLM_F_ACK, true); // nlmsg_flags
  v.setUint32(8, seq, true); // nlmsg_seq; nlmsg_pid 0; ifinfomsg all zero (AF_UNSPEC, index 0: by name)
  v.setUint16(32, attrLen, true); // rta_len
  v.setUint16(34, IFLA_IFNAME, true); // rta_type
  buf.set(name, 36);
  return buf;
}

const ENODEV = 19;

/** Delete `ifname` in the netns at `path`: true when deleted, false when there was no such link; throws otherwise. */
export function deleteLinkInNetns(c: Libc, path: string, ifname: string): boolean {
  const err = inNetns(c, path, () => c.rtnetlinkRequest(delLinkMessage(ifname)));
  if (err === 0) return true;
  if (err === -ENODEV) return false;
  throw new Error(`RTM_DELLINK ${ifname} in ${path}: errno ${-err}`);
}

// ---------- dumps: reading routes, neighbours, FDB entries, links and addresses in-process ----------
// Used by the agent's reconcile (agent/kernel-state.ts) through Libc.netlinkExchange: one socket round trip per dump
// instead of an `ip -j … show` exec (~12 ms of CPU each, mostly the exec of ip and its libraries). Pure below.

export const NLM_F_DUMP = 0x300;
export const NLMSG_ERROR = 2;
export const NLMSG_DONE = 3;
export const RTM_NEWLINK = 16;
export const RTM_GETLINK = 18;
export const RTM_NEWADDR = 20;
export const RTM_GETADDR = 22;
export const RTM_NEWROUTE = 24;
export const RTM_GETROUTE = 26;
export const RTM_NEWNEIGH = 28;
export const RTM_GETNEIGH = 30;
export const AF_UNSPEC = 0;
export const AF_INET = 2;
export const AF_BRIDGE = 7;
export const AF_INET6 = 10;
export const NETLINK_ROUTE = 0;
export const NETLINK_NETFILTER = 12;

/** A netlink message: header, the fixed-size body, then attributes (type, payload), each padded to 4 bytes. */
export function nlMessage(type: number, flags: number, body: Uint8Array, attrs: ReadonlyArray<readonly [number, Uint8Array]> = [], seq = 1): Uint8Array {
  const total = 16 + align4(body.length) + attrs.reduce((s, [, v]) => s + align4(4 + v.length), 0);
  const buf = new Uint8Array(total);
  const v = new DataView(buf.buffer);
  v.setUint32(0, total, true);
  v.setUint16(4, type, true);
  v.setUint16(6, flags, true);
  v.setUint32(8, seq, true);
  buf.set(body, 16);
  let off = 16 + align4(body.length);
  for (const [t, val] of attrs) {
    v.setUint16(off, 4 + val.length, true);
    v.setUint16(off + 2, t, true);
    buf.set(val, off + 4);
    off += align4(4 + val.length);
  }
  return buf;
}

export const cString = (s: string): Uint8Array => Buffer.from(`${s}\0`);

/** A dump request of `type` for address `family` with a zeroed fixed body of `bodyLen` bytes (family first). */
export function dumpRequest(type: number, family: number, bodyLen: number): Uint8Array {
  const body = new Uint8Array(bodyLen);
  body[0] = family;
  return nlMessage(type, NLM_F_REQUEST | NLM_F_DUMP, body);
}

/** RTM_GETLINK for one link by name, acknowledged (so the answer always ends with NLMSG_ERROR). */
export const getLinkRequest = (ifname: string): Uint8Array => nlMessage(RTM_GETLINK, NLM_F_REQUEST | NLM_F_ACK, new Uint8Array(16), [[IFLA_IFNAME, cString(ifname)]]);

/** RTM_GETLINK for one link by index, acknowledged. */
export function getLinkByIndexRequest(index: number): Uint8Array {
  const body = new Uint8Array(16);
  new DataView(body.buffer).setInt32(4, index, true);
  return nlMessage(RTM_GETLINK, NLM_F_REQUEST | NLM_F_ACK, body);
}

export interface NlMsg {
  type: number;
  flags: number;
  /** The message without its header. */
  payload: DataView;
}

/** Split received bytes into messages. An NLMSG_ERROR with a non-zero code throws (errno in the message). */
export function parseMessages(buf: Uint8Array): NlMsg[] {
  const out: NlMsg[] = [];
  const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  for (let off = 0; off + 16 <= buf.byteLength; ) {
    const len = v.getUint32(off, true);
    if (len < 16 || off + len > buf.byteLength) break;
    const type = v.getUint16(off + 4, true);
    const payload = new DataView(buf.buffer, buf.byteOffset + off + 16, len - 16);
    if (type === NLMSG_ERROR) {
      const err = payload.getInt32(0, true);
      if (err !== 0) throw Object.assign(new Error(`netlink: errno ${-err}`), { errno: -err });
    } else if (type !== NLMSG_DONE) out.push({ type, flags: v.getUint16(off + 6, true), payload });
    off += align4(len);
  }
  return out;
}

/** Attributes from `start` to the end of `view` (the last of a type wins). Nested ones: attrsOf(sub-view, 0). */
export function attrsOf(view: DataView, start: number): Map<number, DataView> {
  const out = new Map<number, DataView>();
  for (let off = start; off + 4 <= view.byteLength; ) {
    const len = view.getUint16(off, true);
    if (len < 4 || off + len > view.byteLength) break;
    out.set(view.getUint16(off + 2, true) & 0x3fff, new DataView(view.buffer, view.byteOffset + off + 4, len - 4));
    off += align4(len);
  }
  return out;
}

const bytesOf = (d: DataView): Uint8Array => new Uint8Array(d.buffer, d.byteOffset, d.byteLength);

/** An address attribute (4 or 16 bytes) as text; undefined otherwise. */
export function ipText(d: DataView | undefined): string | undefined {
  if (!d) return undefined;
  const b = bytesOf(d);
  if (b.length === 4) return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
  if (b.length !== 16) return undefined;
  let value = 0n;
  for (const x of b) value = (value << 8n) | BigInt(x);
  return formatIP({ family: 6, value });
}

export const macText = (d: DataView | undefined): string | undefined =>
  d && d.byteLength === 6 ? [...bytesOf(d)].map((x) => x.toString(16).padStart(2, '0')).join(':') : undefined;

const cStr = (d: DataView | undefined): string | undefined => (d ? Buffer.from(bytesOf(d)).toString('utf8').replace(/\0.*$/s, '') : undefined);
const u32 = (d: DataView | undefined): number | undefined => (d && d.byteLength >= 4 ? d.getUint32(0, true) : undefined);

const RTA_DST = 1;
const RTA_OIF = 4;
const RTA_GATEWAY = 5;
const RTA_TABLE = 15;
export const RTNH_F_ONLINK = 4;

export interface NlRoute {
  family: number;
  dst: string;
  gateway?: string;
  oif?: number;
  table: number;
  protocol: number;
  type: number;
  onlink: boolean;
}

// The two decoders below run once per route / neighbour / FDB entry of a dump (thousands per reconcile): they read
// the attributes in place, without a Map or a DataView per attribute.

/** The address of `len` bytes at `off` in `v` as text (4 or 16 bytes), else undefined. */
function ipAt(v: DataView, off: number, len: number): string | undefined {
  if (len === 4) return `${v.getUint8(off)}.${v.getUint8(off + 1)}.${v.getUint8(off + 2)}.${v.getUint8(off + 3)}`;
  if (len !== 16) return undefined;
  return ipText(new DataView(v.buffer, v.byteOffset + off, 16));
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));
const macAt = (v: DataView, off: number, len: number): string | undefined =>
  len === 6 ? `${HEX[v.getUint8(off)]}:${HEX[v.getUint8(off + 1)]}:${HEX[v.getUint8(off + 2)]}:${HEX[v.getUint8(off + 3)]}:${HEX[v.getUint8(off + 4)]}:${HEX[v.getUint8(off + 5)]}` : undefined;

/** struct rtmsg (12 bytes) + attributes. `dst` is "addr/len" ("0.0.0.0/0" for a default route). */
export function decodeRoute(m: NlMsg): NlRoute {
  const p = m.payload;
  const family = p.getUint8(0);
  const r: NlRoute = { family, dst: '', table: p.getUint8(4), protocol: p.getUint8(5), type: p.getUint8(7), onlink: (p.getUint32(8, true) & RTNH_F_ONLINK) !== 0 };
  let dst: string | undefined;
  for (let off = 12; off + 4 <= p.byteLength; ) {
    const len = p.getUint16(off, true);
    if (len < 4 || off + len > p.byteLength) break;
    const type = p.getUint16(off + 2, true) & 0x3fff;
    if (type === RTA_DST) dst = ipAt(p, off + 4, len - 4);
    else if (type === RTA_GATEWAY) r.gateway = ipAt(p, off + 4, len - 4);
    else if (type === RTA_OIF && len >= 8) r.oif = p.getUint32(off + 4, true);
    else if (type === RTA_TABLE && len >= 8) r.table = p.getUint32(off + 4, true);
    off += align4(len);
  }
  r.dst = `${dst ?? (family === AF_INET6 ? '::' : '0.0.0.0')}/${p.getUint8(1)}`;
  return r;
}

const NDA_DST = 1;
const NDA_LLADDR = 2;
export const NUD_PERMANENT = 0x80;
export const NTF_SELF = 0x02;

export interface NlNeigh {
  family: number;
  ifindex: number;
  state: number;
  flags: number;
  dst?: string;
  lladdr?: string;
}

/** struct ndmsg (12 bytes) + attributes; for AF_BRIDGE (FDB) `lladdr` is the MAC and `dst` the remote VTEP. */
export function decodeNeigh(m: NlMsg): NlNeigh {
  const p = m.payload;
  const n: NlNeigh = { family: p.getUint8(0), ifindex: p.getInt32(4, true), state: p.getUint16(8, true), flags: p.getUint8(10) };
  for (let off = 12; off + 4 <= p.byteLength; ) {
    const len = p.getUint16(off, true);
    if (len < 4 || off + len > p.byteLength) break;
    const type = p.getUint16(off + 2, true) & 0x3fff;
    if (type === NDA_DST) n.dst = ipAt(p, off + 4, len - 4);
    else if (type === NDA_LLADDR) n.lladdr = macAt(p, off + 4, len - 4);
    off += align4(len);
  }
  return n;
}

const IFLA_ADDRESS = 1;
const IFLA_MTU = 4;
const IFLA_LINKINFO = 18;
const IFLA_INFO_KIND = 1;
const IFLA_INFO_DATA = 2;
const IFLA_VXLAN_ID = 1;
const IFLA_VXLAN_LINK = 3;
const IFLA_VXLAN_LOCAL = 4;
const IFLA_VXLAN_PORT = 15;
const IFLA_VXLAN_LOCAL6 = 17;
export const IFF_UP = 1;

export interface NlLink {
  ifindex: number;
  ifname: string;
  flags: number;
  mtu?: number;
  address?: string;
  kind?: string;
  /** VXLAN settings when kind is vxlan. */
  vxlan?: { id?: number; link?: number; local?: string; port?: number };
}

/** struct ifinfomsg (16 bytes) + attributes. */
export function decodeLink(m: NlMsg): NlLink {
  const p = m.payload;
  const a = attrsOf(p, 16);
  const info = a.get(IFLA_LINKINFO);
  const ia = info ? attrsOf(info, 0) : new Map<number, DataView>();
  const kind = cStr(ia.get(IFLA_INFO_KIND));
  const link: NlLink = { ifindex: p.getInt32(4, true), ifname: cStr(a.get(IFLA_IFNAME)) ?? '', flags: p.getUint32(8, true), mtu: u32(a.get(IFLA_MTU)), address: macText(a.get(IFLA_ADDRESS)), kind };
  const data = ia.get(IFLA_INFO_DATA);
  if (kind === 'vxlan' && data) {
    const d = attrsOf(data, 0);
    const port = d.get(IFLA_VXLAN_PORT);
    link.vxlan = { id: u32(d.get(IFLA_VXLAN_ID)), link: u32(d.get(IFLA_VXLAN_LINK)), local: ipText(d.get(IFLA_VXLAN_LOCAL)) ?? ipText(d.get(IFLA_VXLAN_LOCAL6)), port: port && port.byteLength >= 2 ? port.getUint16(0, false) : undefined };
  }
  return link;
}

const IFA_ADDRESS = 1;
const IFA_LOCAL = 2;

export interface NlAddr {
  family: number;
  prefixlen: number;
  scope: number;
  index: number;
  local?: string;
}

/** struct ifaddrmsg (8 bytes) + attributes: IFA_LOCAL (IPv4), else IFA_ADDRESS. */
export function decodeAddr(m: NlMsg): NlAddr {
  const p = m.payload;
  const a = attrsOf(p, 8);
  return { family: p.getUint8(0), prefixlen: p.getUint8(1), scope: p.getUint8(3), index: p.getUint32(4, true), local: ipText(a.get(IFA_LOCAL)) ?? ipText(a.get(IFA_ADDRESS)) };
}

// ---------- nftables (nfnetlink): is a table there, how many rules has a chain ----------
const NFNL_SUBSYS_NFTABLES = 10;
const NFT_MSG_NEWTABLE = 0;
const NFT_MSG_GETTABLE = 1;
const NFT_MSG_NEWRULE = 6;
const NFT_MSG_GETRULE = 7;
const NFTA_TABLE_NAME = 1;
const NFTA_RULE_TABLE = 1;
const NFTA_RULE_CHAIN = 2;
export const NFPROTO_INET = 1;

const nftType = (msg: number): number => (NFNL_SUBSYS_NFTABLES << 8) | msg;
/** struct nfgenmsg: family, version 0, resource id 0. */
const nfgen = (family: number): Uint8Array => new Uint8Array([family, 0, 0, 0]);

/** NFT_MSG_GETTABLE for one table, acknowledged. */
export const nftGetTableRequest = (family: number, table: string): Uint8Array => nlMessage(nftType(NFT_MSG_GETTABLE), NLM_F_REQUEST | NLM_F_ACK, nfgen(family), [[NFTA_TABLE_NAME, cString(table)]]);

/** NFT_MSG_GETRULE dump of one chain (the kernel filters by table and chain). */
export const nftGetRulesRequest = (family: number, table: string, chain: string): Uint8Array =>
  nlMessage(nftType(NFT_MSG_GETRULE), NLM_F_REQUEST | NLM_F_DUMP, nfgen(family), [[NFTA_RULE_TABLE, cString(table)], [NFTA_RULE_CHAIN, cString(chain)]]);

/** The number of rules in `table`'s `chain`, or -1 when the table does not exist (`c`: the executable's FFI). */
export function nftChainRuleCount(c: Libc, family: number, table: string, chain: string): number {
  try {
    const t = parseMessages(c.netlinkExchange(NETLINK_NETFILTER, nftGetTableRequest(family, table)));
    if (!t.some((m) => m.type === nftType(NFT_MSG_NEWTABLE))) return -1;
  } catch (e) {
    if ((e as { errno?: number }).errno === 2) return -1; // ENOENT
    throw e;
  }
  return parseMessages(c.netlinkExchange(NETLINK_NETFILTER, nftGetRulesRequest(family, table, chain))).filter((m) => m.type === nftType(NFT_MSG_NEWRULE)).length;
}

// ---------- changes: routes, neighbours, FDB entries, sent in-process in one batch ----------
export const RTM_DELROUTE = 25;
export const RTM_DELNEIGH = 29;
const NLM_F_REPLACE = 0x100;
const NLM_F_CREATE = 0x400;
const NLM_F_APPEND = 0x800;
const RT_SCOPE_UNIVERSE = 0;
const RT_SCOPE_NOWHERE = 255;
const RTN_UNICAST_TYPE = 1;

/** An address as its 4 or 16 bytes (parseIP's value); throws on text that is not an address. */
export function ipBytes(s: string): Uint8Array {
  const ip = parseIP(s);
  if (!ip) throw new Error(`not an IP address: ${s}`);
  const n = ip.family === 4 ? 4 : 16;
  const out = new Uint8Array(n);
  let v = ip.value;
  for (let i = n - 1; i >= 0; i--) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
}

export function macBytes(mac: string): Uint8Array {
  const parts = mac.split(':');
  if (parts.length !== 6 || parts.some((p) => !/^[0-9a-fA-F]{1,2}$/.test(p))) throw new Error(`not a MAC address: ${mac}`);
  return Uint8Array.from(parts.map((p) => parseInt(p, 16)));
}

const u32Bytes = (n: number): Uint8Array => {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n, true);
  return b;
};

/**
 * `ip route replace|del DST via GW dev (oif) [onlink] proto PROTO` in the main table. `dst` is "addr/len".
 */
export function routeMessage(verb: 'replace' | 'del', r: { dst: string; gateway?: string; oif?: number; onlink?: boolean; protocol: number }, seq: number): Uint8Array {
  const [addr, len] = r.dst.split('/');
  const dst = ipBytes(addr!);
  const body = new Uint8Array(12);
  const v = new DataView(body.buffer);
  body[0] = dst.length === 4 ? AF_INET : AF_INET6;
  body[1] = len === undefined ? dst.length * 8 : Number(len);
  body[4] = 254; // RT_TABLE_MAIN
  body[5] = r.protocol;
  body[6] = verb === 'del' ? RT_SCOPE_NOWHERE : RT_SCOPE_UNIVERSE;
  body[7] = RTN_UNICAST_TYPE;
  if (r.onlink) v.setUint32(8, RTNH_F_ONLINK, true);
  const attrs: Array<[number, Uint8Array]> = [[RTA_DST, dst]];
  if (r.gateway) attrs.push([RTA_GATEWAY, ipBytes(r.gateway)]);
  if (r.oif) attrs.push([RTA_OIF, u32Bytes(r.oif)]);
  const flags = NLM_F_REQUEST | NLM_F_ACK | (verb === 'replace' ? NLM_F_CREATE | NLM_F_REPLACE : 0);
  return nlMessage(verb === 'replace' ? RTM_NEWROUTE : RTM_DELROUTE, flags, body, attrs, seq);
}

/** struct ndmsg for `family` on `ifindex`. */
function ndmsg(family: number, ifindex: number, state: number, flags: number): Uint8Array {
  const body = new Uint8Array(12);
  const v = new DataView(body.buffer);
  body[0] = family;
  v.setInt32(4, ifindex, true);
  v.setUint16(8, state, true);
  body[10] = flags;
  return body;
}

/** `ip neigh replace DST lladdr MAC dev (ifindex) nud permanent`, or `ip neigh del DST dev (ifindex)`. */
export function neighMessage(verb: 'replace' | 'del', n: { dst: string; lladdr?: string; ifindex: number }, seq: number): Uint8Array {
  const dst = ipBytes(n.dst);
  const family = dst.length === 4 ? AF_INET : AF_INET6;
  const attrs: Array<[number, Uint8Array]> = [[NDA_DST, dst]];
  if (verb === 'replace') {
    attrs.push([NDA_LLADDR, macBytes(n.lladdr ?? '')]);
    return nlMessage(RTM_NEWNEIGH, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE, ndmsg(family, n.ifindex, NUD_PERMANENT, 0), attrs, seq);
  }
  return nlMessage(RTM_DELNEIGH, NLM_F_REQUEST | NLM_F_ACK, ndmsg(family, n.ifindex, 0, 0), attrs, seq);
}

/** `bridge fdb append MAC dev (ifindex) dst DST self permanent`, or `bridge fdb del MAC dev (ifindex) dst DST self`. */
export function fdbMessage(verb: 'append' | 'del', f: { mac: string; dst: string; ifindex: number }, seq: number): Uint8Array {
  const attrs: Array<[number, Uint8Array]> = [[NDA_LLADDR, macBytes(f.mac)], [NDA_DST, ipBytes(f.dst)]];
  if (verb === 'append') return nlMessage(RTM_NEWNEIGH, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_APPEND, ndmsg(AF_BRIDGE, f.ifindex, NUD_PERMANENT, NTF_SELF), attrs, seq);
  return nlMessage(RTM_DELNEIGH, NLM_F_REQUEST | NLM_F_ACK, ndmsg(AF_BRIDGE, f.ifindex, 0, NTF_SELF), attrs, seq);
}

/** The errno the kernel answered to each request of a batch, by sequence number (0 = done). */
export function batchAnswers(buf: Uint8Array): Map<number, number> {
  const out = new Map<number, number>();
  const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  for (let off = 0; off + 16 <= buf.byteLength; ) {
    const len = v.getUint32(off, true);
    if (len < 16 || off + len > buf.byteLength) break;
    if (v.getUint16(off + 4, true) === NLMSG_ERROR && len >= 20) {
      // struct nlmsgerr: error, then the header of the request it answers (its seq at +8)
      out.set(v.getUint32(off + 16 + 4 + 8, true), Math.abs(v.getInt32(off + 16, true)));
    }
    off += align4(len);
  }
  return out;
}

const ERRNO_TEXT: Record<number, string> = { 1: 'Operation not permitted', 2: 'No such file or directory', 3: 'No such process', 17: 'File exists', 19: 'No such device', 22: 'Invalid argument', 95: 'Operation not supported', 101: 'Network is unreachable', 113: 'No route to host' };
export const errnoText = (e: number): string => ERRNO_TEXT[e] ?? `errno ${e}`;
