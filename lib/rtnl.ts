/**
 * rtnetlink messages built and parsed in-process (through the executable's FFI, lib/native.ts): for sbr, dumps of
 * rules, routes and addresses into the shapes `ip -N -d -j` gives (lib/routes.ts, plugins/sbr/plan.ts) and the
 * requests that add and delete a rule; for host-device, reading one link and moving it into another netns. Message building and parsing is pure
 * (unit-tested); the plugin sends them through lib/native.ts in the container's netns.
 */
import { formatIP, type Family } from './ip.js';
import type { RouteEntry } from './routes.js';

const RTM_NEWLINK = 16;
const RTM_GETLINK = 18;
const RTM_SETLINK = 19;
const RTM_NEWADDR = 20;
const RTM_GETADDR = 22;
const RTM_NEWROUTE = 24;
const RTM_GETROUTE = 26;
const RTM_NEWRULE = 32;
const RTM_DELRULE = 33;
const RTM_GETRULE = 34;
const NLM_F_REQUEST = 1;
const NLM_F_ACK = 4;
const NLM_F_EXCL = 0x200;
const NLM_F_CREATE = 0x400;
const NLM_F_DUMP = 0x300;
const AF_INET = 2;
const AF_INET6 = 10;
const FR_ACT_TO_TBL = 1;
// rule attributes
const FRA_SRC = 2;
const FRA_PRIORITY = 6;
const FRA_TABLE = 15;
// route attributes
const RTA_DST = 1;
const RTA_OIF = 4;
const RTA_GATEWAY = 5;
const RTA_PRIORITY = 6;
const RTA_PREFSRC = 7;
const RTA_MULTIPATH = 9;
const RTA_TABLE = 15;
// link attributes
const IFLA_ADDRESS = 1;
const IFLA_IFNAME = 3;
const IFLA_MASTER = 10;
const IFLA_LINKINFO = 18;
const IFLA_IFALIAS = 20;
const IFLA_INFO_KIND = 1;
const IFLA_INFO_DATA = 2;
const IFLA_VRF_TABLE = 1;
const IFLA_NET_NS_FD = 28;
const IFF_UP = 1;
// address attributes
const IFA_ADDRESS = 1;
const IFA_LOCAL = 2;

const align4 = (n: number): number => (n + 3) & ~3;
const familyCode = (f: Family): number => (f === 4 ? AF_INET : AF_INET6);
const familyOf = (code: number): Family | undefined => (code === AF_INET ? 4 : code === AF_INET6 ? 6 : undefined);

/** nlmsghdr + a fixed header of `body` bytes + attributes ([type, payload]). */
function message(type: number, flags: number, body: Uint8Array, attrs: Array<[number, Uint8Array]> = [], seq = 1): Uint8Array {
  const attrLen = attrs.reduce((n, [, p]) => n + align4(4 + p.length), 0);
  const total = 16 + align4(body.length) + attrLen;
  const buf = new Uint8Array(total);
  const v = new DataView(buf.buffer);
  v.setUint32(0, total, true);
  v.setUint16(4, type, true);
  v.setUint16(6, flags, true);
  v.setUint32(8, seq, true);
  buf.set(body, 16);
  let off = 16 + align4(body.length);
  for (const [t, p] of attrs) {
    v.setUint16(off, 4 + p.length, true);
    v.setUint16(off + 2, t, true);
    buf.set(p, off + 4);
    off += align4(4 + p.length);
  }
  return buf;
}

const u32 = (n: number): Uint8Array => {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n, true);
  return b;
};

/** An address's bytes in network order. */
export function ipBytes(text: string): { family: Family; bytes: Uint8Array } {
  if (text.includes(':')) {
    const b = new Uint8Array(16);
    // expand "::" and parse hex groups (addresses here come from formatIP/parseIP-validated text)
    const [head, tail] = text.split('::') as [string, string | undefined];
    const hs = head ? head.split(':') : [];
    const ts = tail !== undefined && tail !== '' ? tail.split(':') : [];
    const groups = tail !== undefined ? [...hs, ...new Array<string>(8 - hs.length - ts.length).fill('0'), ...ts] : hs;
    groups.forEach((g, i) => {
      const n = parseInt(g, 16);
      b[2 * i] = n >> 8;
      b[2 * i + 1] = n & 255;
    });
    return { family: 6, bytes: b };
  }
  return { family: 4, bytes: Uint8Array.from(text.split('.').map(Number)) };
}

/** A dump request, all families: RTM_GETRULE / RTM_GETROUTE (12-byte header), RTM_GETADDR (8), RTM_GETLINK (16). */
export const dumpMessage = (type: number): Uint8Array =>
  message(type, NLM_F_REQUEST | NLM_F_DUMP, new Uint8Array(type === RTM_GETADDR ? 8 : type === RTM_GETLINK ? 16 : 12));

export const DUMP = { rules: RTM_GETRULE, routes: RTM_GETROUTE, addrs: RTM_GETADDR, links: RTM_GETLINK } as const;

/** A rule to add or delete: `from <src>/<srcLen> lookup <table>` (with the priority, when deleting a listed one). */
export interface RuleSpec {
  family: Family;
  src: string;
  srcLen: number;
  table: number;
  priority?: number;
}

/** RTM_NEWRULE (create, exclusive) or RTM_DELRULE for `r`, with an ACK requested. */
export function ruleMessage(add: boolean, r: RuleSpec, seq = 1): Uint8Array {
  const hdr = new Uint8Array(12);
  hdr[0] = familyCode(r.family);
  hdr[2] = r.srcLen;
  hdr[4] = r.table < 256 ? r.table : 0;
  hdr[7] = FR_ACT_TO_TBL;
  const attrs: Array<[number, Uint8Array]> = [[FRA_SRC, ipBytes(r.src).bytes], [FRA_TABLE, u32(r.table)]];
  if (r.priority !== undefined) attrs.push([FRA_PRIORITY, u32(r.priority)]);
  return message(add ? RTM_NEWRULE : RTM_DELRULE, NLM_F_REQUEST | NLM_F_ACK | (add ? NLM_F_CREATE | NLM_F_EXCL : 0), hdr, attrs, seq);
}

/** The attributes of a message after its fixed header of `hdrLen` bytes: type → payload (the last one of a type wins). */
function attributes(msg: Uint8Array, hdrLen: number): Map<number, Uint8Array> {
  const v = new DataView(msg.buffer, msg.byteOffset, msg.byteLength);
  const out = new Map<number, Uint8Array>();
  for (let off = 16 + align4(hdrLen); off + 4 <= msg.byteLength; ) {
    const len = v.getUint16(off, true);
    if (len < 4) break;
    out.set(v.getUint16(off + 2, true) & 0x3fff, msg.subarray(off + 4, off + len));
    off += align4(len);
  }
  return out;
}

/** The attributes nested in an attribute's payload. */
function nested(payload: Uint8Array): Map<number, Uint8Array> {
  const v = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  const out = new Map<number, Uint8Array>();
  for (let off = 0; off + 4 <= payload.byteLength; ) {
    const len = v.getUint16(off, true);
    if (len < 4) break;
    out.set(v.getUint16(off + 2, true) & 0x3fff, payload.subarray(off + 4, off + len));
    off += align4(len);
  }
  return out;
}

const u32At = (b: Uint8Array | undefined): number | undefined => (b && b.length >= 4 ? new DataView(b.buffer, b.byteOffset, 4).getUint32(0, true) : undefined);
const addrText = (b: Uint8Array | undefined, family: Family): string | undefined => {
  if (!b) return undefined;
  let value = 0n;
  for (const x of b) value = (value << 8n) | BigInt(x);
  return formatIP({ family, value });
};
const msgType = (msg: Uint8Array): number => new DataView(msg.buffer, msg.byteOffset, msg.byteLength).getUint16(4, true);

/** One RTM_NEWRULE of a dump as `ip -N -j rule show` lists it. */
export interface DumpedRule {
  family: Family;
  priority?: number;
  src?: string;
  srclen?: number;
  table?: string;
}

export function parseRule(msg: Uint8Array): DumpedRule | undefined {
  if (msgType(msg) !== RTM_NEWRULE) return undefined;
  const family = familyOf(msg[16]!);
  if (!family) return undefined;
  const srcLen = msg[18]!;
  const a = attributes(msg, 12);
  const r: DumpedRule = { family, src: srcLen ? addrText(a.get(FRA_SRC), family) : 'all', table: String(u32At(a.get(FRA_TABLE)) ?? msg[20]!) };
  const prio = u32At(a.get(FRA_PRIORITY));
  r.priority = prio ?? 0;
  if (srcLen && srcLen !== (family === 4 ? 32 : 128)) r.srclen = srcLen;
  return r;
}

/** One RTM_NEWROUTE of a dump as `ip -N -d -j route show` lists it, with its table and output interface index. */
export interface DumpedRoute extends RouteEntry {
  table: number;
  oif?: number;
}

export function parseRoute(msg: Uint8Array, nameOf: (index: number) => string | undefined): DumpedRoute | undefined {
  if (msgType(msg) !== RTM_NEWROUTE) return undefined;
  const family = familyOf(msg[16]!);
  if (!family) return undefined;
  const [dstLen, , , tableHdr, protocol, scope, type] = [msg[17]!, msg[18]!, msg[19]!, msg[20]!, msg[21]!, msg[22]!, msg[23]!];
  const a = attributes(msg, 12);
  const dst = addrText(a.get(RTA_DST), family);
  const r: DumpedRoute = {
    family,
    type: String(type),
    dst: dstLen === 0 ? 'default' : dstLen === (family === 4 ? 32 : 128) ? dst! : `${dst}/${dstLen}`,
    protocol: String(protocol),
    scope: String(scope),
    table: u32At(a.get(RTA_TABLE)) ?? tableHdr,
  };
  const gw = addrText(a.get(RTA_GATEWAY), family);
  if (gw) r.gateway = gw;
  const src = addrText(a.get(RTA_PREFSRC), family);
  if (src) r.prefsrc = src;
  const metric = u32At(a.get(RTA_PRIORITY));
  if (metric !== undefined) r.metric = metric;
  const oif = u32At(a.get(RTA_OIF));
  if (oif !== undefined) r.oif = oif;
  const mp = a.get(RTA_MULTIPATH);
  if (mp) {
    r.nexthops = [];
    const v = new DataView(mp.buffer, mp.byteOffset, mp.byteLength);
    for (let off = 0; off + 8 <= mp.byteLength; ) {
      const len = v.getUint16(off, true);
      if (len < 8) break;
      const hop = { weight: mp[off + 3]! + 1, dev: nameOf(v.getInt32(off + 4, true)) } as { weight: number; dev?: string; gateway?: string };
      for (let ao = off + 8; ao + 4 <= off + len; ) {
        const alen = v.getUint16(ao, true);
        if (alen < 4) break;
        if ((v.getUint16(ao + 2, true) & 0x3fff) === RTA_GATEWAY) hop.gateway = addrText(mp.subarray(ao + 4, ao + alen), family);
        ao += align4(alen);
      }
      r.nexthops.push(hop);
      off += align4(len);
    }
  }
  return r;
}

/** One RTM_NEWADDR of a dump: its interface index, address, prefix length and scope. */
export function parseAddr(msg: Uint8Array): { family: Family; index: number; local: string; prefixlen: number; scope: number } | undefined {
  if (msgType(msg) !== RTM_NEWADDR) return undefined;
  const family = familyOf(msg[16]!);
  if (!family) return undefined;
  const index = new DataView(msg.buffer, msg.byteOffset, msg.byteLength).getUint32(20, true);
  const a = attributes(msg, 8);
  const local = addrText(a.get(IFA_LOCAL) ?? a.get(IFA_ADDRESS), family);
  return local ? { family, index, local, prefixlen: msg[17]!, scope: msg[19]! } : undefined;
}

const nameAttr = (name: string): [number, Uint8Array] => [IFLA_IFNAME, new TextEncoder().encode(`${name}\0`)];

/** RTM_GETLINK of the link named `name` (answered with one RTM_NEWLINK, then the ACK). */
export const getLinkMessage = (name: string, seq = 1): Uint8Array => message(RTM_GETLINK, NLM_F_REQUEST | NLM_F_ACK, new Uint8Array(16), [nameAttr(name)], seq);

/** RTM_SETLINK moving the link named `name` into the netns whose open file is `netnsFd`. */
export const moveLinkMessage = (name: string, netnsFd: number, seq = 1): Uint8Array =>
  message(RTM_SETLINK, NLM_F_REQUEST | NLM_F_ACK, new Uint8Array(16), [nameAttr(name), [IFLA_NET_NS_FD, u32(netnsFd)]], seq);

/** A link as RTM_NEWLINK describes it: name, index, up or not, alias, MAC (lower-case, ":"-separated), master, kind. */
export interface LinkInfo {
  name: string;
  index: number;
  up: boolean;
  alias: string;
  mac?: string;
  /** IFLA_MASTER: the index of the link this one is enslaved to. */
  master?: number;
  /** IFLA_INFO_KIND ("veth", "vrf", …) and, for a VRF, its table. */
  kind?: string;
  vrfTable?: number;
}

export function parseLink(msg: Uint8Array): LinkInfo | undefined {
  if (msgType(msg) !== RTM_NEWLINK) return undefined;
  const v = new DataView(msg.buffer, msg.byteOffset, msg.byteLength);
  const a = attributes(msg, 16);
  const text = (b: Uint8Array | undefined): string => (b ? new TextDecoder().decode(b).replace(/\0.*$/s, '') : '');
  const mac = a.get(IFLA_ADDRESS);
  const info: LinkInfo = { name: text(a.get(IFLA_IFNAME)), index: v.getInt32(20, true), up: (v.getUint32(24, true) & IFF_UP) !== 0, alias: text(a.get(IFLA_IFALIAS)) };
  if (mac && mac.length) info.mac = Array.from(mac, (x) => x.toString(16).padStart(2, '0')).join(':');
  const master = u32At(a.get(IFLA_MASTER));
  if (master) info.master = master;
  const linkinfo = a.get(IFLA_LINKINFO);
  if (linkinfo) {
    const li = nested(linkinfo);
    const kind = text(li.get(IFLA_INFO_KIND));
    if (kind) info.kind = kind;
    const data = li.get(IFLA_INFO_DATA);
    if (kind === 'vrf' && data) info.vrfTable = u32At(nested(data).get(IFLA_VRF_TABLE));
  }
  return info;
}

/** RTM_SETLINK taking the link named `name` out of its master (IFLA_MASTER 0). */
export const noMasterMessage = (name: string, seq = 1): Uint8Array => message(RTM_SETLINK, NLM_F_REQUEST | NLM_F_ACK, new Uint8Array(16), [nameAttr(name), [IFLA_MASTER, u32(0)]], seq);
