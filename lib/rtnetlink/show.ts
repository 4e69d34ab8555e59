/**
 * rtnetlink objects printed as `ip -j` / `bridge -j` print them (iproute2 6.x print_linkinfo, print_addrinfo,
 * print_route, print_rule, print_neigh, print_fdb): the same keys, values and conditions, for the fields cni-ts and
 * its tools read. Rarely used keys (statistics, XDP, VF lists, gso/tso sizes) are left out; every key printed here has
 * the value `ip` prints (test/integration/rtnetlink-compat compares them). Pure: names of other links come from
 * `LinkNames`.
 */
import { readFileSync } from 'node:fs';
import { formatIP } from '../ip.js';
import { AF_BRIDGE, AF_INET, AF_INET6, IFA, IFA_F, IFF, IFLA, IFLA_BR, IFLA_BRPORT, IFLA_INET6_ADDR_GEN_MODE, IFLA_INFO, IFLA_IPVLAN, IFLA_MACVLAN, IFLA_TUN, IFLA_VLAN, IFLA_VRF_TABLE, IFLA_VXLAN, NDA, NTF, NUD, FRA, FR_ACT, RTA, RTN, RTNH_F, RTM_F_CLONED, RTPROT, RT_SCOPE, RT_TABLE } from './consts.js';
import { IFADDRMSG_LEN, IFINFOMSG_LEN, NDMSG_LEN, RTMSG_LEN, readIfaddrmsg, readIfinfomsg, readNdmsg, readRtmsg } from './headers.js';
import { protoName, rtnTypeName, scopeName, tableName } from './names.js';
import { attrList, bytesToIP, formatMac, getBe16, getI32, getStr, getU16, getU32, getU8, parseAttrs, type Attrs, type Message } from './wire.js';

export type Json = Record<string, unknown>;

/** Another link's name and UP flag by index (ip's link cache), undefined when there is none. */
export type LinkNames = (index: number) => { name: string; up: boolean } | undefined;

/**
 * The address of `len` bytes at `off` in `b` as text (4 or 16 bytes, else undefined). IPv4 is built directly: this
 * runs for every route, neighbour and FDB entry of a dump (thousands per agent resync).
 */
function ipAt(b: Uint8Array, off: number, len: number): string | undefined {
  if (len === 4) return `${b[off]}.${b[off + 1]}.${b[off + 2]}.${b[off + 3]}`;
  const ip = len === 16 ? bytesToIP(b.subarray(off, off + 16)) : undefined;
  return ip ? formatIP(ip) : undefined;
}

/** An address attribute as text. */
const ipString = (b: Uint8Array | undefined): string | undefined => (b ? ipAt(b, 0, b.length) : undefined);

/** Little-endian u16 / u32 at `off` (attribute lengths and values read in place). */
const le16 = (b: Uint8Array, off: number): number => b[off]! | (b[off + 1]! << 8);
const le32 = (b: Uint8Array, off: number): number => (b[off]! | (b[off + 1]! << 8) | (b[off + 2]! << 16) | (b[off + 3]! << 24)) >>> 0;

/**
 * Each attribute from `start` (type without the nested flag, offset and length of its payload), read in place: for
 * the objects a dump has thousands of (routes, neighbours, FDB entries), no Map and no view per attribute.
 */
function eachAttr(b: Uint8Array, start: number, visit: (type: number, off: number, len: number) => void): void {
  for (let off = start; off + 4 <= b.length; ) {
    const len = le16(b, off);
    if (len < 4 || off + len > b.length) break;
    visit(le16(b, off + 2) & 0x3fff, off + 4, len - 4);
    off += (len + 3) & ~3;
  }
}

// ---------- links ----------

export interface ParsedLink {
  index: number;
  family: number;
  type: number;
  flags: number;
  name: string;
  attrs: Attrs;
}

export function parseLink(m: Message): ParsedLink | undefined {
  if (m.payload.length < IFINFOMSG_LEN) return undefined;
  const h = readIfinfomsg(m.payload);
  const attrs = parseAttrs(m.payload, IFINFOMSG_LEN);
  const name = getStr(attrs.get(IFLA.IFNAME));
  if (name === undefined) return undefined;
  return { index: h.index, family: h.family, type: h.type, flags: h.flags, name, attrs };
}

const OPER_STATES = ['UNKNOWN', 'NOTPRESENT', 'DOWN', 'LOWERLAYERDOWN', 'TESTING', 'DORMANT', 'UP'];
const LINK_MODES = ['DEFAULT', 'DORMANT', 'TESTING'];
const IFF_RUNNING = 0x40;
const FLAG_NAMES: Array<[number, string]> = [
  [IFF.LOOPBACK, 'LOOPBACK'], [IFF.BROADCAST, 'BROADCAST'], [IFF.POINTOPOINT, 'POINTOPOINT'], [IFF.MULTICAST, 'MULTICAST'],
  [IFF.NOARP, 'NOARP'], [IFF.ALLMULTI, 'ALLMULTI'], [IFF.PROMISC, 'PROMISC'], [IFF.MASTER, 'MASTER'], [IFF.SLAVE, 'SLAVE'],
  [0x4, 'DEBUG'], [0x8000, 'DYNAMIC'], [0x4000, 'AUTOMEDIA'], [0x2000, 'PORTSEL'], [0x20, 'NOTRAILERS'], [IFF.UP, 'UP'],
  [IFF.LOWER_UP, 'LOWER_UP'], [IFF.DORMANT, 'DORMANT'], [IFF.ECHO, 'ECHO'],
];

/** print_link_flags: ["NO-CARRIER", "BROADCAST", ..., "UP", "LOWER_UP"] (+ "M-DOWN" when the lower link is down). */
export function linkFlags(flags: number, mdown: boolean): string[] {
  const out: string[] = [];
  if (flags & IFF.UP && !(flags & IFF_RUNNING)) out.push('NO-CARRIER');
  let f = flags & ~IFF_RUNNING;
  for (const [bit, name] of FLAG_NAMES) {
    if (f & bit) {
      f &= ~bit;
      out.push(name);
    }
  }
  if (f) out.push(f.toString(16));
  if (mdown) out.push('M-DOWN');
  return out;
}

const LINK_TYPES: Record<number, string> = { 1: 'ether', 772: 'loopback', 776: 'sit', 768: 'ipip', 778: 'gre', 65534: 'none', 65535: 'void' };

export interface LinkPrint {
  /** `link show` (true) or `addr show` (false) */
  doLink: boolean;
  details: boolean;
  /** -N: the group and link type as numbers (rtnl_group_n2a, ll_type_n2a) */
  numeric: boolean;
  /** -4/-6 filter (addr show): the link-layer address is then only printed with -d */
  family: number;
}

/** print_linkinfo as JSON (without addr_info). */
export function linkJson(l: ParsedLink, p: LinkPrint, names: LinkNames): Json {
  const a = l.attrs;
  const j: Json = { ifindex: l.index };
  let mdown = false;
  const iflink = getU32(a.get(IFLA.LINK));
  if (iflink !== undefined) {
    if (iflink) {
      if (a.has(IFLA.LINK_NETNSID)) j.link_index = iflink;
      else {
        const other = names(iflink);
        j.link = other?.name ?? `if${iflink}`;
        mdown = !other?.up;
      }
    } else j.link = null;
  }
  j.ifname = l.name;
  j.flags = linkFlags(l.flags, mdown);
  const mtu = getU32(a.get(IFLA.MTU));
  if (mtu !== undefined) j.mtu = mtu;
  const qdisc = getStr(a.get(IFLA.QDISC));
  if (qdisc !== undefined) j.qdisc = qdisc;
  const master = getU32(a.get(IFLA.MASTER));
  if (master !== undefined) j.master = names(master)?.name ?? `if${master}`;
  const oper = getU8(a.get(IFLA.OPERSTATE));
  if (oper !== undefined) {
    if (oper < OPER_STATES.length) j.operstate = OPER_STATES[oper];
    else j.operstate_index = oper;
  }
  const mode = getU8(a.get(IFLA.LINKMODE));
  if (p.doLink && mode !== undefined) {
    if (mode < LINK_MODES.length) j.linkmode = LINK_MODES[mode];
    else j.linkmode_index = mode;
  }
  const group = getU32(a.get(IFLA.GROUP));
  if (group !== undefined) j.group = group === 0 && !p.numeric ? 'default' : String(group);
  const qlen = getU32(a.get(IFLA.TXQLEN));
  if (qlen) j.txqlen = qlen;
  if (!p.family || p.details) {
    j.link_type = (!p.numeric && LINK_TYPES[l.type]) || `[${l.type}]`;
    const addr = a.get(IFLA.ADDRESS);
    if (addr) j.address = formatMac(addr);
    const brd = a.get(IFLA.BROADCAST);
    if (brd) {
      if (l.flags & IFF.POINTOPOINT) j.link_pointtopoint = true;
      j.broadcast = formatMac(brd);
    }
    const perm = a.get(IFLA.PERM_ADDRESS);
    if (perm && (!addr || formatMac(addr) !== formatMac(perm))) j.permaddr = formatMac(perm);
  }
  const nsid = getI32(a.get(IFLA.LINK_NETNSID));
  if (nsid !== undefined) j.link_netnsid = nsid;
  if (p.details) {
    const num = (key: string, attr: number): void => {
      const v = getU32(a.get(attr));
      if (v !== undefined) j[key] = v;
    };
    num('promiscuity', IFLA.PROMISCUITY);
    num('allmulti', IFLA.ALLMULTI);
    num('min_mtu', IFLA.MIN_MTU);
    num('max_mtu', IFLA.MAX_MTU);
    const info = a.get(IFLA.LINKINFO);
    if (info) j.linkinfo = linkInfoJson(parseAttrs(info), names);
    const spec = a.get(IFLA.AF_SPEC);
    if (p.doLink && spec) {
      const inet6 = attrList(spec).find(([t]) => t === AF_INET6)?.[1];
      const gen = inet6 ? getU8(parseAttrs(inet6).get(IFLA_INET6_ADDR_GEN_MODE)) : undefined;
      if (gen !== undefined) j.inet6_addr_gen_mode = ['eui64', 'none', 'stable_secret', 'random'][gen] ?? String(gen);
    }
    num('num_tx_queues', IFLA.NUM_TX_QUEUES);
    num('num_rx_queues', IFLA.NUM_RX_QUEUES);
  }
  const alias = getStr(a.get(IFLA.IFALIAS));
  if ((p.doLink || p.details) && alias !== undefined) j.ifalias = alias;
  return j;
}

const MACVLAN_MODES: Record<number, string> = { 1: 'private', 2: 'vepa', 4: 'bridge', 8: 'passthru', 16: 'source' };
const BR_PORT_STATES = ['disabled', 'listening', 'learning', 'forwarding', 'blocking'];
/** Kinds whose iproute2 module prints options (info_data appears, possibly empty). */
const KINDS_WITH_DATA = new Set(['bridge', 'macvlan', 'ipvlan', 'vlan', 'vxlan', 'vrf', 'macvtap', 'ipvtap', 'tun']);

/**
 * getpwuid/getgrgid as glibc's `files` source answers them (the name of the first entry with that id in /etc/passwd or
 * /etc/group), for tun_print_opt's user and group; undefined when there is none (ip then prints the number).
 */
function idName(file: '/etc/passwd' | '/etc/group', id: number): string | undefined {
  try {
    for (const line of readFileSync(file, 'utf8').split('\n')) {
      const f = line.split(':');
      if (f.length > 2 && f[2] === String(id)) return f[0];
    }
  } catch {
    /* no such file: numbers */
  }
  return undefined;
}

function linkInfoJson(info: Attrs, names: LinkNames): Json {
  const j: Json = {};
  const kind = getStr(info.get(IFLA_INFO.KIND));
  if (kind !== undefined) {
    j.info_kind = kind;
    if (KINDS_WITH_DATA.has(kind)) {
      const data = info.get(IFLA_INFO.DATA);
      j.info_data = data ? kindDataJson(kind, parseAttrs(data), names) : {};
    }
  }
  const slave = getStr(info.get(IFLA_INFO.SLAVE_KIND));
  if (slave !== undefined) {
    j.info_slave_kind = slave;
    if (slave === 'bridge' || slave === 'bond' || slave === 'vrf') {
      const data = info.get(IFLA_INFO.SLAVE_DATA);
      j.info_slave_data = data && slave === 'bridge' ? bridgeSlaveJson(parseAttrs(data)) : {};
    }
  }
  return j;
}

function kindDataJson(kind: string, d: Attrs, names: LinkNames): Json {
  const j: Json = {};
  switch (kind) {
    case 'bridge': {
      const vf = getU8(d.get(IFLA_BR.VLAN_FILTERING));
      if (vf !== undefined) j.vlan_filtering = vf;
      break;
    }
    case 'macvlan':
    case 'macvtap': {
      const mode = getU32(d.get(IFLA_MACVLAN.MODE));
      if (mode === undefined) break;
      j.mode = MACVLAN_MODES[mode] ?? 'unknown';
      const flags = getU16(d.get(IFLA_MACVLAN.FLAGS)) ?? 0;
      if (flags & 1) j.nopromisc = true;
      if (flags & 2) j.nodst = true;
      const bc = getU32(d.get(IFLA_MACVLAN.BC_QUEUE_LEN));
      if (bc !== undefined) j.bcqueuelen = bc;
      const used = getU32(d.get(IFLA_MACVLAN.BC_QUEUE_LEN_USED));
      if (used !== undefined) j.usedbcqueuelen = used;
      break;
    }
    case 'ipvlan':
    case 'ipvtap': {
      const mode = getU16(d.get(IFLA_IPVLAN.MODE));
      if (mode !== undefined) j.mode = ['l2', 'l3', 'l3s'][mode] ?? 'unknown';
      const flags = getU16(d.get(IFLA_IPVLAN.FLAGS));
      if (flags !== undefined) j[flags & 1 ? 'private' : flags & 2 ? 'vepa' : 'bridge'] = true;
      break;
    }
    case 'vlan': {
      const id = getU16(d.get(IFLA_VLAN.ID));
      if (id === undefined) break;
      const proto = getBe16(d.get(IFLA_VLAN.PROTOCOL));
      j.protocol = proto === undefined ? '802.1q' : proto === 0x8100 ? '802.1Q' : proto === 0x88a8 ? '802.1ad' : `0x${proto.toString(16).padStart(4, '0')}`;
      j.id = id;
      break;
    }
    case 'tun': {
      // tun_print_opt
      const type = getU8(d.get(IFLA_TUN.TYPE));
      if (type !== undefined) j.type = type === 1 ? 'tun' : type === 2 ? 'tap' : `UNKNOWN:${type}`;
      const onOff = (key: string, a: number): void => {
        const v = getU8(d.get(a));
        if (v !== undefined) j[key] = v !== 0;
      };
      onOff('pi', IFLA_TUN.PI);
      onOff('vnet_hdr', IFLA_TUN.VNET_HDR);
      if (getU8(d.get(IFLA_TUN.MULTI_QUEUE))) {
        j.multi_queue = true;
        const n = getU32(d.get(IFLA_TUN.NUM_QUEUES));
        if (n !== undefined) j.numqueues = n;
        const off = getU32(d.get(IFLA_TUN.NUM_DISABLED_QUEUES));
        if (off !== undefined) j.numdisabled = off;
      } else j.multi_queue = false;
      onOff('persist', IFLA_TUN.PERSIST);
      const owner = getU32(d.get(IFLA_TUN.OWNER));
      if (owner !== undefined) j.user = idName('/etc/passwd', owner) ?? owner;
      const group = getU32(d.get(IFLA_TUN.GROUP));
      if (group !== undefined) j.group = idName('/etc/group', group) ?? group;
      break;
    }
    case 'vrf': {
      const t = getU32(d.get(IFLA_VRF_TABLE));
      if (t !== undefined) j.table = t;
      break;
    }
    case 'vxlan': {
      const id = getU32(d.get(IFLA_VXLAN.ID));
      if (id !== undefined) j.id = id;
      // vxlan_print_opt: an IPv4 local address as "local", an IPv6 one as "local6"; the unspecified address not at all
      const local4 = d.get(IFLA_VXLAN.LOCAL);
      const local6 = d.get(IFLA_VXLAN.LOCAL6);
      if (local4) {
        if (local4.some((b) => b !== 0)) j.local = ipString(local4);
      } else if (local6?.some((b) => b !== 0)) j.local6 = ipString(local6);
      const link = getU32(d.get(IFLA_VXLAN.LINK));
      if (link) j.link = names(link)?.name ?? String(link);
      const port = getBe16(d.get(IFLA_VXLAN.PORT));
      if (port !== undefined) j.port = port;
      const learning = getU8(d.get(IFLA_VXLAN.LEARNING));
      if (learning !== undefined) j.learning = learning !== 0;
      break;
    }
  }
  return j;
}

function bridgeSlaveJson(d: Attrs): Json {
  const j: Json = {};
  const state = getU8(d.get(IFLA_BRPORT.STATE));
  if (state !== undefined) j.state = BR_PORT_STATES[state] ?? String(state);
  const bool = (key: string, attr: number): void => {
    const v = getU8(d.get(attr));
    if (v !== undefined) j[key] = v !== 0;
  };
  bool('hairpin', IFLA_BRPORT.MODE);
  bool('learning', IFLA_BRPORT.LEARNING);
  bool('flood', IFLA_BRPORT.UNICAST_FLOOD);
  bool('isolated', IFLA_BRPORT.ISOLATED);
  return j;
}

// ---------- addresses ----------

export interface ParsedAddr {
  family: number;
  prefixlen: number;
  scope: number;
  index: number;
  flags: number;
  attrs: Attrs;
}

export function parseAddr(m: Message): ParsedAddr | undefined {
  if (m.payload.length < IFADDRMSG_LEN) return undefined;
  const h = readIfaddrmsg(m.payload);
  const attrs = parseAttrs(m.payload, IFADDRMSG_LEN);
  return { family: h.family, prefixlen: h.prefixlen, scope: h.scope, index: h.index, flags: getU32(attrs.get(IFA.FLAGS)) ?? h.flags, attrs };
}

const IFA_FLAG_PRINT: Array<[number, string]> = [
  [IFA_F.SECONDARY, 'secondary'], [IFA_F.NODAD, 'nodad'], [IFA_F.OPTIMISTIC, 'optimistic'], [IFA_F.DADFAILED, 'dadfailed'],
  [IFA_F.HOMEADDRESS, 'home'], [IFA_F.DEPRECATED, 'deprecated'], [IFA_F.TENTATIVE, 'tentative'], [IFA_F.PERMANENT, 'permanent'],
  [IFA_F.MANAGETEMPADDR, 'mngtmpaddr'], [IFA_F.NOPREFIXROUTE, 'noprefixroute'], [IFA_F.MCAUTOJOIN, 'autojoin'], [IFA_F.STABLE_PRIVACY, 'stable-privacy'],
];

/** print_addrinfo as JSON (one entry of addr_info). */
export function addrJson(x: ParsedAddr, numeric: boolean): Json {
  const j: Json = { family: x.family === AF_INET ? 'inet' : x.family === AF_INET6 ? 'inet6' : String(x.family) };
  // an address without IFA_LOCAL (IPv6) is its IFA_ADDRESS, and the other way round
  const local = ipString(x.attrs.get(IFA.LOCAL) ?? x.attrs.get(IFA.ADDRESS));
  const address = ipString(x.attrs.get(IFA.ADDRESS) ?? x.attrs.get(IFA.LOCAL));
  if (local !== undefined) {
    j.local = local;
    if (address !== undefined && address !== local) j.address = address;
    j.prefixlen = x.prefixlen;
    const metric = getU32(x.attrs.get(IFA.RT_PRIORITY));
    if (metric !== undefined) j.metric = metric;
  }
  const brd = ipString(x.attrs.get(IFA.BROADCAST));
  if (brd !== undefined) j.broadcast = brd;
  const any = ipString(x.attrs.get(IFA.ANYCAST));
  if (any !== undefined) j.anycast = any;
  j.scope = scopeName(x.scope, numeric);
  let flags = x.flags;
  for (const [mask, name] of IFA_FLAG_PRINT) {
    if (mask === IFA_F.PERMANENT) {
      if (!(flags & mask)) j.dynamic = true;
    } else if (flags & mask) {
      if (mask === IFA_F.SECONDARY && x.family === AF_INET6) j.temporary = true;
      else j[name] = true;
    }
    flags &= ~mask;
  }
  if (flags) j.ifa_flags = flags.toString(16).padStart(2, '0');
  const label = getStr(x.attrs.get(IFA.LABEL));
  if (label !== undefined) j.label = label;
  const ci = x.attrs.get(IFA.CACHEINFO);
  if (ci && ci.length >= 8) {
    const v = new DataView(ci.buffer, ci.byteOffset, ci.length);
    const preferred = v.getUint32(0, true);
    j.valid_life_time = v.getUint32(4, true);
    j.preferred_life_time = preferred !== 0xffffffff && x.flags & IFA_F.DEPRECATED ? v.getInt32(0, true) : preferred;
  }
  return j;
}

// ---------- routes ----------

export interface ParsedRoute {
  family: number;
  dstLen: number;
  srcLen: number;
  tos: number;
  /** RTA_TABLE, else rtm_table */
  table: number;
  protocol: number;
  scope: number;
  type: number;
  flags: number;
  /** RTA_DST, RTA_SRC, RTA_GATEWAY, RTA_PREFSRC as text */
  dst?: string;
  src?: string;
  gateway?: string;
  prefsrc?: string;
  oif?: number;
  /** RTA_PRIORITY (the metric) */
  priority?: number;
  uid?: number;
  pref?: number;
  /** RTA_MULTIPATH's payload (struct rtnexthop list) */
  multipath?: Uint8Array;
}

/** struct rtmsg and the attributes print_route reads, in one pass. */
export function parseRoute(m: Message): ParsedRoute | undefined {
  const p = m.payload;
  if (p.length < RTMSG_LEN) return undefined;
  const r: ParsedRoute = { family: p[0]!, dstLen: p[1]!, srcLen: p[2]!, tos: p[3]!, table: p[4]!, protocol: p[5]!, scope: p[6]!, type: p[7]!, flags: le32(p, 8) };
  eachAttr(p, RTMSG_LEN, (type, off, len) => {
    if (type === RTA.DST) r.dst = ipAt(p, off, len);
    else if (type === RTA.SRC) r.src = ipAt(p, off, len);
    else if (type === RTA.GATEWAY) r.gateway = ipAt(p, off, len);
    else if (type === RTA.PREFSRC) r.prefsrc = ipAt(p, off, len);
    else if (len >= 4 && type === RTA.OIF) r.oif = le32(p, off);
    else if (len >= 4 && type === RTA.TABLE) r.table = le32(p, off);
    else if (len >= 4 && type === RTA.PRIORITY) r.priority = le32(p, off);
    else if (len >= 4 && type === RTA.UID) r.uid = le32(p, off);
    else if (len >= 1 && type === RTA.PREF) r.pref = p[off];
    else if (type === RTA.MULTIPATH) r.multipath = p.subarray(off, off + len);
  });
  return r;
}

export interface RouteFilter {
  family: number;
  /** 0: all tables */
  table: number;
  oif?: number;
  protocol?: number;
  defaultOnly: boolean;
}

/** iproute's filter_nlmsg for the selectors cni-ts uses. */
export function routeSelected(r: ParsedRoute, f: RouteFilter): boolean {
  if (f.family && r.family !== f.family) return false;
  if (r.flags & RTM_F_CLONED) return false;
  if (f.table > 0 && r.table !== f.table) return false;
  if (f.protocol !== undefined && r.protocol !== f.protocol) return false;
  if (f.defaultOnly && r.dstLen !== 0) return false;
  if (f.oif !== undefined && r.oif !== f.oif) return false;
  return true;
}

/** print_route as JSON. */
export function routeJson(r: ParsedRoute, o: { numeric: boolean; details: boolean; filter: RouteFilter }, names: LinkNames): Json {
  const j: Json = {};
  const hostLen = r.family === AF_INET6 ? 128 : 32;
  if (r.type !== RTN.UNICAST || o.details) j.type = rtnTypeName(r.type, o.numeric);
  if (r.dst !== undefined) j.dst = r.dstLen !== hostLen ? `${r.dst}/${r.dstLen}` : r.dst;
  else if (r.dstLen) j.dst = `0/${r.dstLen} `;
  else j.dst = 'default';
  if (r.src !== undefined) j.from = r.srcLen !== hostLen ? `${r.src}/${r.srcLen}` : r.src;
  else if (r.srcLen) j.src = `0/${r.srcLen}`;
  if (r.gateway !== undefined) j.gateway = r.gateway;
  if (r.oif !== undefined && o.filter.oif === undefined) j.dev = names(r.oif)?.name ?? `if${r.oif}`;
  if (r.table && (r.table !== RT_TABLE.MAIN || o.details) && !o.filter.table) j.table = tableName(r.table, o.numeric);
  if (!(r.flags & RTM_F_CLONED)) {
    if ((r.protocol !== RTPROT.BOOT || o.details) && o.filter.protocol === undefined) j.protocol = protoName(r.protocol, o.numeric);
    if (r.scope !== RT_SCOPE.UNIVERSE || o.details) j.scope = scopeName(r.scope, o.numeric);
  }
  if (r.prefsrc !== undefined) j.prefsrc = r.prefsrc;
  if (r.priority !== undefined) j.metric = r.priority;
  j.flags = routeFlags(r.flags);
  if (r.uid !== undefined) j.uid = r.uid;
  if (r.flags & RTM_F_CLONED && r.family === AF_INET) j.cache = cacheFlags(r.flags); // `route get`'s answers
  if (r.pref !== undefined) j.pref = r.pref === 3 ? 'low' : r.pref === 0 ? 'medium' : r.pref === 1 ? 'high' : String(r.pref);
  if (r.multipath) j.nexthops = nexthopsJson(r.multipath, names);
  return j;
}

/** print_rta_multipath: struct rtnexthop (len u16, flags u8, hops u8, ifindex i32) then its attributes, repeated. */
function nexthopsJson(mp: Uint8Array, names: LinkNames): Json[] {
  const out: Json[] = [];
  const v = new DataView(mp.buffer, mp.byteOffset, mp.length);
  for (let off = 0; off + 8 <= mp.length; ) {
    const len = v.getUint16(off, true);
    if (len < 8 || off + len > mp.length) break;
    const nh: Json = {};
    const gw = ipString(parseAttrs(mp.subarray(off + 8, off + len)).get(RTA.GATEWAY));
    if (gw !== undefined) nh.gateway = gw;
    const ifindex = v.getInt32(off + 4, true);
    nh.dev = names(ifindex)?.name ?? `if${ifindex}`;
    nh.weight = v.getUint8(off + 3) + 1;
    nh.flags = routeFlags(v.getUint8(off + 2));
    out.push(nh);
    off += (len + 3) & ~3;
  }
  return out;
}

/** RTCF_* (linux/in_route.h) in the upper half of a cloned IPv4 route's flags, as print_cache_flags names them. */
const RTCF_NAMES: Array<[number, string]> = [
  [0x80000000, 'local'], [0x40000000, 'reject'], [0x20000000, 'mc'], [0x10000000, 'brd'], [0x08000000, 'dst-nat'], [0x00800000, 'src-nat'],
  [0x00400000, 'masq'], [0x00020000, 'dst-direct'], [0x04000000, 'src-direct'], [0x00040000, 'redirected'], [0x01000000, 'redirect'],
  [0x00200000, 'fastroute'], [0x00010000, 'notify'], [0x00080000, 'proxy'],
];

function cacheFlags(flags: number): string[] {
  let f = (flags & ~0xffff) >>> 0;
  const out: string[] = [];
  for (const [bit, name] of RTCF_NAMES) {
    if (f & bit) {
      f = (f & ~bit) >>> 0;
      out.push(name);
    }
  }
  if (f) out.push(f.toString(16));
  return out;
}

function routeFlags(flags: number): string[] {
  const out: string[] = [];
  if (flags & RTNH_F.DEAD) out.push('dead');
  if (flags & RTNH_F.ONLINK) out.push('onlink');
  if (flags & RTNH_F.PERVASIVE) out.push('pervasive');
  if (flags & RTNH_F.OFFLOAD) out.push('offload');
  if (flags & 0x40) out.push('trap');
  if (flags & 0x1000) out.push('notify');
  if (flags & RTNH_F.LINKDOWN) out.push('linkdown');
  if (flags & RTNH_F.UNRESOLVED) out.push('unresolved');
  if (flags & 0x4000) out.push('rt_offload');
  if (flags & 0x8000) out.push('rt_trap');
  if (flags & 0x20000) out.push('rt_offload_failed');
  return out;
}

// ---------- rules ----------

/** print_rule as JSON (the selectors cni-ts writes: from, to, pref, table, iif, oif; actions table/goto/nop/types). */
export function ruleJson(m: Message, o: { numeric: boolean; details: boolean }): Json | undefined {
  if (m.payload.length < RTMSG_LEN) return undefined;
  const h = readRtmsg(m.payload); // fib_rule_hdr has rtmsg's layout: table at 4, action at 7
  const a = parseAttrs(m.payload, RTMSG_LEN);
  const hostLen = h.family === AF_INET6 ? 128 : 32;
  const j: Json = { priority: getU32(a.get(FRA.PRIORITY)) ?? 0 };
  if (h.flags & 2) j.not = null;
  const src = a.get(FRA.SRC);
  if (src) {
    j.src = ipString(src);
    if (h.srcLen !== hostLen) j.srclen = h.srcLen;
  } else if (h.srcLen) {
    j.src = '0';
    j.srclen = h.srcLen;
  } else j.src = 'all';
  const dst = a.get(FRA.DST);
  if (dst) {
    j.dst = ipString(dst);
    if (h.dstLen !== hostLen) j.dstlen = h.dstLen;
  } else if (h.dstLen) {
    j.dst = '0';
    j.dstlen = h.dstLen;
  }
  const iif = getStr(a.get(FRA.IIFNAME));
  if (iif !== undefined) {
    j.iif = iif;
    if (h.flags & 8) j.iif_detached = null;
  }
  const oif = getStr(a.get(FRA.OIFNAME));
  if (oif !== undefined) {
    j.oif = oif;
    if (h.flags & 16) j.oif_detached = null;
  }
  if (getU8(a.get(FRA.L3MDEV))) j.l3mdev = null;
  const table = getU32(a.get(FRA.TABLE)) ?? h.table;
  if (table) j.table = tableName(table, o.numeric);
  const action = h.type;
  if (action === FR_ACT.GOTO) j.goto = getU32(a.get(FRA.GOTO)) ?? 'none';
  else if (action === FR_ACT.NOP) j.nop = null;
  else if (action !== FR_ACT.TO_TBL) j.action = rtnTypeName(action, o.numeric);
  const proto = getU8(a.get(FRA.PROTOCOL));
  if (proto !== undefined && ((proto && proto !== RTPROT.KERNEL) || o.details)) j.protocol = protoName(proto, o.numeric);
  return j;
}

// ---------- neighbours and FDB ----------

const NUD_PRINT: Array<[number, string]> = [
  [NUD.INCOMPLETE, 'INCOMPLETE'], [NUD.REACHABLE, 'REACHABLE'], [NUD.STALE, 'STALE'], [NUD.DELAY, 'DELAY'], [NUD.PROBE, 'PROBE'],
  [NUD.FAILED, 'FAILED'], [NUD.NOARP, 'NOARP'], [NUD.PERMANENT, 'PERMANENT'],
];

/** The attributes of a neighbour or FDB entry (struct ndmsg) print_neigh and print_fdb read, in one pass. */
interface NeighAttrs {
  dst?: string;
  lladdr?: string;
  vlan?: number;
  port?: number;
  vni?: number;
  master?: number;
  protocol?: number;
}

function neighAttrs(p: Uint8Array): NeighAttrs {
  const a: NeighAttrs = {};
  eachAttr(p, NDMSG_LEN, (type, off, len) => {
    if (type === NDA.DST) a.dst = ipAt(p, off, len);
    else if (type === NDA.LLADDR) a.lladdr = formatMac(p, off, len);
    else if (len >= 2 && type === NDA.VLAN) a.vlan = le16(p, off);
    else if (len >= 2 && type === NDA.PORT) a.port = (p[off]! << 8) | p[off + 1]!;
    else if (len >= 4 && type === NDA.VNI) a.vni = le32(p, off);
    else if (len >= 4 && type === NDA.MASTER) a.master = le32(p, off);
    else if (len >= 1 && type === NDA.PROTOCOL) a.protocol = p[off];
  });
  return a;
}

/** print_neigh as JSON for `neigh show [dev D]` (default state filter: everything but NOARP and NONE). */
export function neighJson(m: Message, o: { devFilter?: number; family: number }, names: LinkNames): Json | undefined {
  if (m.payload.length < NDMSG_LEN) return undefined;
  const h = readNdmsg(m.payload);
  if (o.family && h.family !== o.family) return undefined;
  if (o.devFilter !== undefined && h.ifindex !== o.devFilter) return undefined;
  const stateFilter = 0xff & ~NUD.NOARP;
  if (!(stateFilter & h.state) && !(h.flags & NTF.PROXY) && !(h.flags & NTF.EXT_LEARNED) && h.state) return undefined;
  if (!h.state && !(h.flags & (NTF.PROXY | NTF.EXT_LEARNED))) return undefined;
  const a = neighAttrs(m.payload);
  const j: Json = {};
  if (a.dst !== undefined) j.dst = a.dst;
  if (o.devFilter === undefined && h.ifindex) j.dev = names(h.ifindex)?.name ?? `if${h.ifindex}`;
  if (a.lladdr !== undefined) j.lladdr = a.lladdr;
  if (h.flags & NTF.ROUTER) j.router = null;
  if (h.flags & NTF.PROXY) j.proxy = null;
  if (h.flags & NTF.EXT_LEARNED) j.extern_learn = null;
  if (h.flags & NTF.OFFLOADED) j.offload = null;
  if (h.state) {
    const state: string[] = [];
    for (const [bit, name] of NUD_PRINT) if (h.state & bit) state.push(name);
    j.state = state;
  }
  if (a.protocol) j.protocol = protoName(a.protocol, false);
  return j;
}

/** print_fdb as JSON for `fdb show [dev D]`. */
export function fdbJson(m: Message, o: { devFilter?: number }, names: LinkNames): Json | undefined {
  if (m.payload.length < NDMSG_LEN) return undefined;
  const h = readNdmsg(m.payload);
  if (h.family !== AF_BRIDGE) return undefined;
  if (o.devFilter !== undefined && h.ifindex !== o.devFilter) return undefined;
  const a = neighAttrs(m.payload);
  const j: Json = {};
  if (a.lladdr !== undefined) j.mac = a.lladdr;
  if (o.devFilter === undefined && h.ifindex) j.ifname = names(h.ifindex)?.name ?? `if${h.ifindex}`;
  if (a.dst !== undefined) j.dst = a.dst;
  if (a.vlan) j.vlan = a.vlan;
  if (a.port !== undefined) j.port = a.port;
  if (a.vni !== undefined) j.vni = a.vni;
  const flags: string[] = [];
  if (h.flags & NTF.SELF) flags.push('self');
  if (h.flags & NTF.ROUTER) flags.push('router');
  if (h.flags & NTF.EXT_LEARNED) flags.push('extern_learn');
  if (h.flags & NTF.OFFLOADED) flags.push('offload');
  if (h.flags & NTF.MASTER) flags.push('master');
  if (h.flags & NTF.STICKY) flags.push('sticky');
  j.flags = flags;
  if (a.master !== undefined) j.master = names(a.master)?.name ?? `if${a.master}`;
  const s = h.state;
  j.state = s & NUD.PERMANENT ? 'permanent' : s & NUD.NOARP ? 'static' : s & NUD.STALE ? 'stale' : s & NUD.REACHABLE ? '' : `0x${s.toString(16)}`;
  return j;
}
