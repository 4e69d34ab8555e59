/**
 * The agent's own netlink messages, through the executable's FFI (lib/native.ts netlinkExchange / netlinkBatch): dumps
 * of routes, neighbours, FDB entries, links and addresses, `route get`, the nftables ruleset generation (nfnetlink),
 * and its reconcile's changes as one batch of messages. Message building and parsing are pure (unit-tested).
 * The plugins do not use this file: their `ip`/`bridge` command lines run in-process through lib/rtnetlink.
 */
import { formatIP, parseIP } from './ip.js';
import type { Libc } from './native.js';

const NLM_F_REQUEST = 1;
const NLM_F_ACK = 4;
const align4 = (n: number): number => (n + 3) & ~3;
const IFLA_IFNAME = 3;

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
const RTA_PRIORITY = 6;
const RTA_PREFSRC = 7;
const RTA_MULTIPATH = 9;
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
  /** The route's metric (RTA_PRIORITY), when it has one. */
  metric?: number;
  /** The preferred source address (RTA_PREFSRC): what `ip route get` reports as "prefsrc". */
  prefsrc?: string;
  /** ECMP next hops (RTA_MULTIPATH): device index and gateway of each. */
  nexthops?: Array<{ oif: number; gateway?: string }>;
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
    else if (type === RTA_PRIORITY && len >= 8) r.metric = p.getUint32(off + 4, true);
    else if (type === RTA_PREFSRC) r.prefsrc = ipAt(p, off + 4, len - 4);
    else if (type === RTA_MULTIPATH) r.nexthops = decodeNexthops(p, off + 4, off + len);
    off += align4(len);
  }
  r.dst = `${dst ?? (family === AF_INET6 ? '::' : '0.0.0.0')}/${p.getUint8(1)}`;
  return r;
}

/** struct rtnexthop list (len u16, flags u8, hops u8, ifindex i32, then attributes) between `start` and `end`. */
function decodeNexthops(p: DataView, start: number, end: number): Array<{ oif: number; gateway?: string }> {
  const out: Array<{ oif: number; gateway?: string }> = [];
  for (let off = start; off + 8 <= end; ) {
    const len = p.getUint16(off, true);
    if (len < 8 || off + len > end) break;
    const hop: { oif: number; gateway?: string } = { oif: p.getInt32(off + 4, true) };
    for (let a = off + 8; a + 4 <= off + len; ) {
      const alen = p.getUint16(a, true);
      if (alen < 4 || a + alen > off + len) break;
      if ((p.getUint16(a + 2, true) & 0x3fff) === RTA_GATEWAY) hop.gateway = ipAt(p, a + 4, alen - 4);
      a += align4(alen);
    }
    out.push(hop);
    off += align4(len);
  }
  return out;
}

/**
 * RTM_GETROUTE for one destination (what `ip route get ADDR` asks), acknowledged: the answer is the route the kernel
 * would use, with its device (RTA_OIF) and source address (RTA_PREFSRC).
 */
export function routeGetRequest(addr: string): Uint8Array {
  const v6 = addr.includes(':');
  const body = new Uint8Array(12);
  body[0] = v6 ? AF_INET6 : AF_INET;
  body[1] = v6 ? 128 : 32;
  return nlMessage(RTM_GETROUTE, NLM_F_REQUEST | NLM_F_ACK, body, [[RTA_DST, ipBytes(addr)]]);
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
const IFA_CACHEINFO = 6;
const IFA_FLAGS = 8;
/** IPv4: a secondary address; IPv6: a temporary (privacy) address — the same bit. */
export const IFA_F_SECONDARY = 0x01;
export const IFA_F_DADFAILED = 0x08;
export const IFA_F_DEPRECATED = 0x20;
export const IFA_F_TENTATIVE = 0x40;

export interface NlAddr {
  family: number;
  prefixlen: number;
  scope: number;
  index: number;
  local?: string;
  /** ifa_flags, or the 32-bit IFA_FLAGS when the kernel sends it (IFA_F_*). */
  flags: number;
  /** Preferred lifetime in seconds (IFA_CACHEINFO; 0xffffffff = forever), when given. */
  preferred?: number;
}

/** struct ifaddrmsg (8 bytes) + attributes: IFA_LOCAL (IPv4), else IFA_ADDRESS. */
export function decodeAddr(m: NlMsg): NlAddr {
  const p = m.payload;
  const a = attrsOf(p, 8);
  const flags = a.get(IFA_FLAGS);
  const cache = a.get(IFA_CACHEINFO);
  return {
    family: p.getUint8(0),
    prefixlen: p.getUint8(1),
    scope: p.getUint8(3),
    index: p.getUint32(4, true),
    local: ipText(a.get(IFA_LOCAL)) ?? ipText(a.get(IFA_ADDRESS)),
    flags: flags && flags.byteLength >= 4 ? flags.getUint32(0, true) : p.getUint8(2),
    ...(cache && cache.byteLength >= 8 ? { preferred: cache.getUint32(0, true) } : {}),
  };
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

const NFT_MSG_NEWGEN = 15;
const NFT_MSG_GETGEN = 16;
const NFTA_GEN_ID = 1;

/** NFT_MSG_GETGEN, acknowledged: the ruleset's generation. */
export const nftGetGenRequest = (): Uint8Array => nlMessage(nftType(NFT_MSG_GETGEN), NLM_F_REQUEST | NLM_F_ACK, nfgen(AF_UNSPEC));

/** The generation id from NFT_MSG_NEWGEN answers (big-endian u32 NFTA_GEN_ID), or undefined. */
export function nftGenerationOf(msgs: readonly NlMsg[]): number | undefined {
  const m = msgs.find((x) => x.type === nftType(NFT_MSG_NEWGEN));
  const id = m && attrsOf(m.payload, 4).get(NFTA_GEN_ID);
  return id && id.byteLength >= 4 ? id.getUint32(0, false) : undefined;
}

/**
 * The nftables ruleset generation of the calling thread's netns: it changes with every ruleset change (nft,
 * iptables-nft, firewalld…), so "unchanged" means no rule anywhere in nf_tables was added, removed or changed.
 */
export function nftGeneration(c: Libc): number | undefined {
  return nftGenerationOf(parseMessages(c.netlinkExchange(NETLINK_NETFILTER, nftGetGenRequest())));
}

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
