/**
 * The `ip` and `bridge` command lines cni-ts runs, read as iproute2 6.x reads them (same keywords, abbreviations,
 * argument order and defaults: ip/iplink.c, ipaddress.c, iproute.c, iprule.c, ipneigh.c, bridge/fdb.c, vlan.c), into
 * requests (lib/rtnetlink/request.ts) and listings that lib/rtnetlink/run.ts executes over rtnetlink in-process.
 *
 * Anything outside the subset understood here — another keyword, a value iproute2 would refuse, a quoting or option it
 * treats specially — yields `undefined`, and the caller runs the real program instead. So a line either means exactly
 * what it means to iproute2, or is not taken over. Pure; unit-tested.
 */
import { parseIP, type IP } from '../ip.js';
import { AF_BRIDGE, AF_INET, AF_INET6, AF_UNSPEC, ADDR_GEN_MODE, BRIDGE_VLAN_INFO, IFA, IFA_F, IFF, IFLA, IFLA_BR, IFLA_BRIDGE, IFLA_BRPORT, IFLA_INET6_ADDR_GEN_MODE, IFLA_INFO, IFLA_IPVLAN, IFLA_MACVLAN, IFLA_VLAN, IFLA_VRF_TABLE, IFLA_VXLAN, IPVLAN_F, IPVLAN_MODE, MACVLAN_MODE, NDA, NTF, NUD, FRA, FR_ACT, RTA, RTM, RTN, RTNH_F, RT_SCOPE, RT_TABLE, RTPROT, VETH_INFO_PEER } from './consts.js';
import { fibRuleHdr, ifaddrmsg, ifinfomsg, ndmsg, rtmsg } from './headers.js';
import { protoId, scopeId, strtoul, tableId } from './names.js';
import type { Item, Missing, Request } from './request.js';
import { be16, cstr, ipBytes, macBytes, str, u16, u32, u8, NLM_F_APPEND, NLM_F_CREATE, NLM_F_EXCL, NLM_F_REPLACE } from './wire.js';

// ---------- programs ----------

export interface Options {
  json: boolean;
  details: boolean;
  numeric: boolean;
  /** -4 / -6: AF_INET, AF_INET6, or AF_UNSPEC. */
  family: number;
  force: boolean;
}

export interface LinkList {
  kind: 'links';
  /** `addr show` (with addresses) or `link show`. */
  addresses: boolean;
  dev?: string;
  /** `addr show … scope S` (filter.scope, filter.scopemask: 0 for `scope all`). */
  scope?: { value: number; mask: number };
}

export interface RouteList {
  kind: 'routes';
  /** undefined: main (ip's default); 0: all; else that table. */
  table?: number;
  dev?: string;
  protocol?: number;
  /** `default`: only routes with a zero-length destination. */
  defaultOnly: boolean;
}

/** `ip route get ADDR`: the route the kernel would use (RTM_GETROUTE answered by one RTM_NEWROUTE), printed. */
export interface RouteGet {
  kind: 'routeGet';
  /** struct rtmsg as iproute_get fills it (family, dst_len, RTM_F_LOOKUP_TABLE for IPv4) */
  header: Uint8Array;
  /** RTA_DST */
  dst: Uint8Array;
}

export interface RuleList {
  kind: 'rules';
}

export interface NeighList {
  kind: 'neighbours';
  dev?: string;
}

export interface FdbList {
  kind: 'fdb';
  dev?: string;
}

/** `ip tuntap add …`: the ifreq of TUNSETIFF and the owner/group ioctls (not a netlink request). */
export interface TuntapAdd {
  kind: 'tuntap';
  name: string;
  /** ifr_flags, IFF_TUN_EXCL included as tap_add_ioctl adds it */
  flags: number;
  uid?: number;
  gid?: number;
}

export type Command = Request | LinkList | RouteList | RouteGet | RuleList | NeighList | FdbList | TuntapAdd;

export interface Program {
  tool: 'ip' | 'bridge';
  options: Options;
  /** Batch mode (`-batch -`): each command with its line number; otherwise one command, line 0. */
  batch: boolean;
  commands: Array<{ line: number; command: Command }>;
}

/** iproute2's abbreviation rule: `arg` is a non-empty prefix of `keyword`. */
export const matches = (arg: string, keyword: string): boolean => arg.length > 0 && keyword.startsWith(arg);

class Unsupported extends Error {}
const unsupported = (): never => {
  throw new Unsupported();
};

/**
 * The lines of a batch file as iproute2 splits them (getcmdline + makeargs): `#` starts a comment, words split on
 * blanks, a word may be quoted with ' or " (no escapes). Line numbers count every line. A continuation line ("\" at
 * the end) or an unterminated quote is not taken over.
 */
export function splitBatch(input: string): Array<{ line: number; argv: string[] }> {
  const out: Array<{ line: number; argv: string[] }> = [];
  const lines = input.split('\n');
  if (lines.length && lines[lines.length - 1] === '') lines.pop();
  lines.forEach((raw, i) => {
    let text = raw;
    const hash = text.indexOf('#');
    if (hash >= 0) text = text.slice(0, hash);
    if (/\\$/.test(raw)) unsupported();
    const argv: string[] = [];
    let p = 0;
    const ws = ' \t\r\n';
    while (p < text.length) {
      while (p < text.length && ws.includes(text[p]!)) p++;
      if (p >= text.length) break;
      const c = text[p]!;
      if (c === "'" || c === '"') {
        const end = text.indexOf(c, p + 1);
        if (end < 0) unsupported();
        argv.push(text.slice(p + 1, end));
        p = end + 1;
      } else {
        let e = p;
        while (e < text.length && !ws.includes(text[e]!)) e++;
        argv.push(text.slice(p, e));
        p = e + 1;
      }
    }
    if (argv.length) out.push({ line: i + 1, argv });
  });
  return out;
}

/**
 * `ip ARGS` (with `input` for `-batch -`), or undefined when any part of it is not taken over. `-n NAME` is not
 * accepted here: the caller picks the namespace.
 */
export function parseIp(args: readonly string[], input?: string): Program | undefined {
  return parseProgram('ip', args, input);
}

/** `bridge ARGS` (vlan add/del, fdb add/append/replace/del/show), as parseIp. */
export function parseBridge(args: readonly string[], input?: string): Program | undefined {
  return parseProgram('bridge', args, input);
}

function parseProgram(tool: 'ip' | 'bridge', args: readonly string[], input?: string): Program | undefined {
  try {
    const options: Options = { json: false, details: false, numeric: false, family: AF_UNSPEC, force: false };
    let batch: string | undefined;
    let i = 0;
    for (; i < args.length; i++) {
      let opt = args[i]!;
      if (opt === '--') {
        i++;
        break;
      }
      if (!opt.startsWith('-')) break;
      if (opt[1] === '-') opt = opt.slice(1);
      if (opt === '-4') options.family = AF_INET;
      else if (opt === '-6') options.family = AF_INET6;
      else {
        switch (optionOf(tool, opt)) {
          case '-details':
            options.details = true;
            break;
          case '-force':
            options.force = true;
            break;
          case '-json':
            options.json = true;
            break;
          case '-Numeric':
            options.numeric = true;
            break;
          case '-batch':
            batch = args[++i];
            if (batch !== '-') return undefined;
            break;
          default:
            return undefined;
        }
      }
    }
    const parse = tool === 'ip' ? parseIpCommand : parseBridgeCommand;
    if (batch !== undefined) {
      if (i < args.length || input === undefined) return undefined;
      const commands = splitBatch(input).map(({ line, argv }) => ({ line, command: parse(argv, options) }));
      return { tool, options, batch: true, commands };
    }
    if (i >= args.length) return undefined;
    return { tool, options, batch: false, commands: [{ line: 0, command: parse(args.slice(i), options) }] };
  } catch (e) {
    if (e instanceof Unsupported) return undefined;
    throw e;
  }
}

/** The options of ip's and bridge's main(), in the order they test them (exact matches of -4/-6/-0/-M/-B first). */
const OPTIONS = {
  ip: ['-loops', '-family', '-human', '-human-readable', '-iec', '-stats', '-statistics', '-details', '-resolve', '-oneline', '-timestamp', '-tshort', '-Version', '-force', '-batch', '-brief', '-json', '-pretty', '-rcvbuf', '-color', '-help', '-netns', '-Numeric', '-all'],
  bridge: ['-help', '-Version', '-stats', '-statistics', '-details', '-oneline', '-timestamp', '-family', '-netns', '-color', '-compressvlans', '-force', '-json', '-pretty', '-batch'],
};

/** The option `opt` abbreviates, as the tool's main() decides (the first match in its order). */
function optionOf(tool: 'ip' | 'bridge', opt: string): string | undefined {
  if (['-0', '-M', '-B'].includes(opt)) return undefined;
  return OPTIONS[tool].find((o) => matches(opt, o));
}

// ---------- ip objects ----------

/** ip's object table, in order (the first one `argv0` abbreviates). */
const IP_OBJECTS = ['address', 'addrlabel', 'maddress', 'route', 'rule', 'neighbor', 'neighbour', 'ntable', 'ntbl', 'link', 'l2tp', 'fou', 'ila', 'macsec', 'tunnel', 'tuntap', 'tap', 'token', 'tcpmetrics', 'tcp_metrics', 'monitor', 'xfrm', 'mroute', 'mrule', 'netns', 'netconf', 'vrf', 'sr', 'nexthop', 'mptcp', 'ioam', 'stats', 'help'];

function parseIpCommand(argv: string[], o: Options): Command {
  const object = IP_OBJECTS.find((c) => matches(argv[0]!, c));
  const rest = argv.slice(1);
  switch (object) {
    case 'link':
      return parseLinkCommand(rest, o);
    case 'address':
      return parseAddrCommand(rest, o);
    case 'route':
      return parseRouteCommand(rest, o);
    case 'rule':
      return parseRuleCommand(rest, o);
    case 'neighbor':
    case 'neighbour':
      return parseNeighCommand(rest, o);
    case 'tuntap':
    case 'tap':
      return parseTuntap(rest);
    default:
      return unsupported();
  }
}

const IFF_TAP = 0x0002;
const IFF_MULTI_QUEUE = 0x0100;
const IFF_NO_PI = 0x1000;
const IFF_VNET_HDR = 0x4000;
const IFF_TUN_EXCL = 0x8000;

/**
 * iptuntap.c's `add` (parse_args, tap_add_ioctl) for the words the tap plugin writes, each spelled out: `mode tap`,
 * `name N` (or a bare N), `multi_queue`, `vnet_hdr`, `pi`, numeric `user` and `group`. Anything else (`tun`, names
 * for users, abbreviations, `del`/`show`) is not taken over.
 */
function parseTuntap(argv: string[]): TuntapAdd {
  if (argv[0] !== 'add') unsupported();
  const a = new Args(argv.slice(1));
  let flags = IFF_NO_PI;
  let name: string | undefined;
  let uid: number | undefined;
  let gid: number | undefined;
  const num = (s: string): number => (/^\d+$/.test(s) && Number(s) < 2 ** 32 - 1 ? Number(s) : unsupported());
  for (; a.more; a.advance()) {
    const w = a.cur;
    if (w === 'mode') {
      if (a.next() !== 'tap' || flags & IFF_TAP) unsupported();
      flags |= IFF_TAP;
    } else if (w === 'user') uid = num(a.next());
    else if (w === 'group') gid = num(a.next());
    else if (w === 'pi') flags &= ~IFF_NO_PI;
    else if (w === 'vnet_hdr') flags |= IFF_VNET_HDR;
    else if (w === 'multi_queue') flags |= IFF_MULTI_QUEUE;
    else if (w !== 'name' && ['mode', 'user', 'group', 'pi', 'one_queue', 'vnet_hdr', 'multi_queue', 'dev', 'name', 'help'].some((k) => matches(w, k))) unsupported();
    else {
      const n = w === 'name' ? a.next() : w;
      if (name !== undefined) unsupported(); // duparg2
      name = ifname(n);
    }
  }
  if (!(flags & IFF_TAP) || name === undefined) unsupported(); // no mode: ip's error; no name: the kernel picks one
  return { kind: 'tuntap', name: name!, flags: flags | IFF_TUN_EXCL, ...(uid !== undefined ? { uid } : {}), ...(gid !== undefined ? { gid } : {}) };
}

const nodev = (dev: string): Missing => ({ abort: false, status: 1, text: `Cannot find device "${dev}"\n` });
const invarg = (arg: string, msg: string): Missing => ({ abort: true, status: 255, text: `Error: argument "${arg}" is wrong: ${msg}\n` });

class Args {
  i = 0;
  constructor(readonly a: readonly string[]) {}
  get more(): boolean {
    return this.i < this.a.length;
  }
  get cur(): string {
    return this.a[this.i]!;
  }
  /** NEXT_ARG(): the next word; a missing one is ip's "Command line is not complete" (not taken over). */
  next(): string {
    this.i++;
    if (this.i >= this.a.length) unsupported();
    return this.a[this.i]!;
  }
  advance(): void {
    this.i++;
  }
  rest(): string[] {
    return this.a.slice(this.i);
  }
}

/** get_integer/get_u32-style: a decimal (or 0x) number in range, else not taken over. */
function num(s: string, max = 0xffffffff, min = 0): number {
  const v = strtoul(s, max);
  if (v === undefined || v < min) return unsupported();
  return v;
}

const onOff = (s: string): boolean => (s === 'on' ? true : s === 'off' ? false : unsupported());

/** A valid interface name as iproute2's check_ifname (1–15 bytes, no '/', ':' or blanks). */
const ifname = (s: string): string => (s.length > 0 && Buffer.byteLength(s) < 16 && !/[/:\s]/.test(s) ? s : unsupported());

// ---------- link ----------

interface LinkParse {
  items: Item[];
  flags: number;
  change: number;
  name?: string;
  dev?: string;
  link?: string;
  type?: string;
  /** words after `type KIND` */
  typeArgs: string[];
}

/**
 * iplink_parse: the link options in order. Keywords are tested in iproute2's order with its exact/abbreviated
 * comparisons, so a word means here what it means there; the ones cni-ts never sends are not taken over.
 */
function parseLinkOptions(args: Args, create: boolean): LinkParse {
  const p: LinkParse = { items: [], flags: 0, change: 0, typeArgs: [] };
  const flag = (bit: number, on: boolean): void => {
    p.change |= bit;
    p.flags = on ? p.flags | bit : p.flags & ~bit;
  };
  for (; args.more; args.advance()) {
    const w = args.cur;
    if (w === 'up') flag(IFF.UP, true);
    else if (w === 'down') flag(IFF.UP, false);
    else if (w === 'name') {
      if (p.name) unsupported();
      p.name = ifname(args.next());
      if (!p.dev) p.dev = p.name;
    } else if (w === 'index') unsupported();
    else if (matches(w, 'link')) {
      p.link = args.next();
    } else if (matches(w, 'address')) {
      const mac = macBytes(args.next());
      if (!mac || mac.length !== 6) unsupported();
      p.items.push({ k: 'attr', type: IFLA.ADDRESS, value: mac! });
    } else if (matches(w, 'broadcast') || w === 'brd') unsupported();
    else if (matches(w, 'txqueuelen') || w === 'qlen' || matches(w, 'txqlen')) {
      p.items.push({ k: 'attr', type: IFLA.TXQLEN, value: u32(num(args.next(), 0x7fffffff)) });
    } else if (w === 'mtu') {
      p.items.push({ k: 'attr', type: IFLA.MTU, value: u32(num(args.next(), 0x7fffffff)) });
    } else if (w === 'xdpgeneric' || w === 'xdpdrv' || w === 'xdpoffload' || w === 'xdp') unsupported();
    else if (w === 'netns') {
      const ns = args.next();
      if (/^\d+$/.test(ns)) unsupported(); // a PID (IFLA_NET_NS_PID) when no such netns exists
      p.items.push({ k: 'nsfd', type: IFLA.NET_NS_FD, ns, missing: invarg(ns, 'Invalid "netns" value\n') });
    } else if (w === 'multicast') flag(IFF.MULTICAST, onOff(args.next()));
    else if (w === 'allmulticast') flag(IFF.ALLMULTI, onOff(args.next()));
    else if (w === 'promisc') flag(IFF.PROMISC, onOff(args.next()));
    else if (w === 'trailers') unsupported();
    else if (w === 'arp') flag(IFF.NOARP, !onOff(args.next()));
    else if (w === 'carrier' || w === 'vf') unsupported();
    else if (matches(w, 'master')) {
      const dev = args.next();
      p.items.push({ k: 'ifindex', type: IFLA.MASTER, dev, missing: invarg(dev, 'Device does not exist\n') });
    } else if (w === 'vrf') unsupported();
    else if (matches(w, 'nomaster')) p.items.push({ k: 'attr', type: IFLA.MASTER, value: u32(0) });
    else if (matches(w, 'dynamic')) unsupported();
    else if (matches(w, 'type')) {
      p.type = args.next();
      args.advance();
      p.typeArgs = args.rest();
      args.i = args.a.length;
      break;
    } else if (matches(w, 'alias')) {
      const alias = args.next();
      if (Buffer.byteLength(alias) >= 256) unsupported();
      p.items.push({ k: 'attr', type: IFLA.IFALIAS, value: str(alias) });
    } else if (w === 'group' || w === 'mode' || w === 'state') unsupported();
    else if (matches(w, 'numtxqueues') || matches(w, 'numrxqueues')) unsupported();
    else if (matches(w, 'addrgenmode')) {
      const mode = ADDR_GEN_MODE[args.next()];
      if (mode === undefined) unsupported();
      p.items.push({ k: 'nest', type: IFLA.AF_SPEC, items: [{ k: 'nest', type: AF_INET6, items: [{ k: 'attr', type: IFLA_INET6_ADDR_GEN_MODE, value: u8(mode!) }] }] });
    } else if (matches(w, 'link-netns')) {
      const ns = args.next();
      p.items.push({ k: 'nsid', type: IFLA.LINK_NETNSID, ns, missing: invarg(ns, 'Invalid "link-netns" value\n') });
    } else if (matches(w, 'link-netnsid')) unsupported();
    else if (w === 'protodown' || w === 'protodown_reason' || w === 'gso_max_size' || w === 'gso_max_segs' || w === 'gro_max_size' || w === 'parentdev') unsupported();
    else {
      if (matches(w, 'help')) unsupported();
      let d = w;
      if (w === 'dev') d = args.next();
      if (p.dev !== p.name) unsupported(); // duparg2("dev")
      p.dev = ifname(d);
    }
  }
  // "Allow ip link add dev and ip link add name"
  if (!p.name) p.name = p.dev;
  else if (!p.dev) p.dev = p.name;
  if (create && p.name !== p.dev) unsupported(); // both "name" and "dev" when creating
  return p;
}

function parseLinkCommand(argv: string[], o: Options): Command {
  if (!argv.length) return { kind: 'links', addresses: false };
  const sub = argv[0]!;
  const args = new Args(argv.slice(1));
  if (matches(sub, 'add')) return linkModify(RTM.NEWLINK, NLM_F_CREATE | NLM_F_EXCL, args, o);
  if (matches(sub, 'set') || matches(sub, 'change')) return linkModify(RTM.NEWLINK, 0, args, o);
  if (matches(sub, 'replace')) return unsupported();
  if (matches(sub, 'delete')) return linkModify(RTM.DELLINK, 0, args, o);
  if (matches(sub, 'show') || matches(sub, 'lst') || matches(sub, 'list')) return parseLinkList(args, false);
  return unsupported();
}

/** `link show` / `addr show`: all links, or `[dev] NAME`. Any other filter is not taken over. */
function parseLinkList(args: Args, addresses: boolean): LinkList {
  let dev: string | undefined;
  let scope: LinkList['scope'];
  for (; args.more; args.advance()) {
    const w = args.cur;
    if (w === 'scope' && addresses) {
      const a = args.next();
      const id = scopeId(a);
      scope = id !== undefined ? { value: id, mask: 0xff } : a === 'all' ? { value: 255, mask: 0 } : unsupported();
      continue;
    }
    if (['to', 'scope', 'up', 'label', 'group', 'master', 'vrf', 'nomaster', 'type'].includes(w)) unsupported();
    if (isAddrFilterWord(w)) unsupported();
    if (w !== 'dev' && matches(w, 'help')) unsupported();
    const d = w === 'dev' ? args.next() : w;
    if (dev) unsupported();
    dev = d;
  }
  return { kind: 'links', addresses, ...(dev !== undefined ? { dev } : {}), ...(scope ? { scope } : {}) };
}

/** get_filter's words (ip addr show dynamic/permanent/...): not taken over. */
const isAddrFilterWord = (w: string): boolean => {
  const x = w.startsWith('-') ? w.slice(1) : w;
  return ['secondary', 'temporary', 'primary', 'tentative', 'deprecated', 'home', 'nodad', 'mngtmpaddr', 'noprefixroute', 'autojoin', 'dadfailed', 'optimistic', 'permanent', 'dynamic', 'stable-privacy'].includes(x);
};

function linkModify(type: number, flags: number, args: Args, o: Options): Request {
  const create = (flags & NLM_F_CREATE) !== 0;
  const p = parseLinkOptions(args, create);
  const items = [...p.items];
  if (!create) {
    if (!p.dev) unsupported(); // "Not enough information: dev argument is required"
    items.push({ k: 'hdrindex', dev: p.dev!, missing: nodev(p.dev!) });
    if (p.name === p.dev) p.name = undefined; // not renaming to the same name
  } else if (p.link !== undefined) {
    const link = p.link;
    items.push({ k: 'ifindex', type: IFLA.LINK, dev: link, missing: nodev(link) });
  }
  if (p.name) items.push({ k: 'attr', type: IFLA.IFNAME, value: cstr(p.name) });
  if (p.type !== undefined) items.push(linkInfo(p.type, p.typeArgs, type, create, o));
  else if (create) unsupported(); // "type" argument is required
  return { kind: 'request', type, flags, header: ifinfomsg({ family: o.family, flags: p.flags, change: p.change }), items, onKernelError: 'fail2' };
}

/** IFLA_LINKINFO: the kind and its options (IFLA_INFO_DATA, or IFLA_INFO_SLAVE_DATA for `*_slave`). */
function linkInfo(kind: string, args: string[], msgType: number, create: boolean, o: Options): Item {
  const data = kindData(kind, new Args(args), msgType, create, o);
  const slave = kind.endsWith('_slave');
  const items: Item[] = [{ k: 'attr', type: IFLA_INFO.KIND, value: str(kind) }];
  // iproute2 adds the data nest only when its kind has options and some were given
  if (data !== undefined && args.length) items.push({ k: 'nest', type: slave ? IFLA_INFO.SLAVE_DATA : IFLA_INFO.DATA, items: data });
  return { k: 'nest', type: IFLA.LINKINFO, items };
}

/** The kind's options (its parse_opt); undefined for kinds iproute2 has no options parser for. */
function kindData(kind: string, a: Args, msgType: number, create: boolean, o: Options): Item[] | undefined {
  const out: Item[] = [];
  const attr = (type: number, value: Uint8Array): void => void out.push({ k: 'attr', type, value });
  switch (kind) {
    case 'dummy':
    case 'ifb':
      if (a.more) unsupported(); // "Garbage instead of arguments"
      return undefined;
    case 'veth': {
      if (!a.more) return [];
      if (a.cur !== 'peer') unsupported();
      a.advance();
      const peer = parseLinkOptions(a, true);
      if (peer.type !== undefined) unsupported();
      const items = [...peer.items];
      if (peer.link !== undefined) items.push({ k: 'ifindex', type: IFLA.LINK, dev: peer.link, missing: nodev(peer.link) });
      if (peer.name) items.push({ k: 'attr', type: IFLA.IFNAME, value: cstr(peer.name) });
      return [{ k: 'nest', type: VETH_INFO_PEER, header: ifinfomsg({ flags: peer.flags, change: peer.change }), items }];
    }
    case 'bridge':
      for (; a.more; a.advance()) {
        if (matches(a.cur, 'vlan_filtering') && !['forward_delay', 'hello_time', 'max_age', 'ageing_time', 'stp_state', 'priority'].some((k) => matches(a.cur, k))) {
          attr(IFLA_BR.VLAN_FILTERING, u8(num(a.next(), 255)));
        } else unsupported();
      }
      return out;
    case 'bridge_slave':
      for (; a.more; a.advance()) {
        const w = a.cur;
        const earlier = ['fdb_flush', 'state', 'priority', 'cost'];
        if (earlier.some((k) => matches(w, k))) unsupported();
        if (matches(w, 'hairpin')) attr(IFLA_BRPORT.MODE, u8(onOff(a.next()) ? 1 : 0));
        else if (['guard', 'root_block', 'fastleave', 'learning', 'flood', 'mcast_flood', 'bcast_flood', 'mcast_to_unicast', 'proxy_arp', 'proxy_arp_wifi', 'mcast_router', 'mcast_fast_leave', 'neigh_suppress', 'group_fwd_mask', 'vlan_tunnel'].some((k) => matches(w, k))) unsupported();
        else if (matches(w, 'isolated')) attr(IFLA_BRPORT.ISOLATED, u8(onOff(a.next()) ? 1 : 0));
        else unsupported();
      }
      return out;
    case 'macvlan': {
      let mode = 0;
      for (; a.more; a.advance()) {
        const w = a.cur;
        if (matches(w, 'mode')) {
          mode = MACVLAN_MODE[a.next()] ?? unsupported();
        } else if (matches(w, 'bcqueuelen') && !['flag', 'macaddr', 'nopromisc', 'nodst'].some((k) => matches(w, k))) {
          attr(IFLA_MACVLAN.BC_QUEUE_LEN, u32(num(a.next())));
        } else unsupported();
      }
      // mode goes after the loop's attributes
      if (mode) out.push({ k: 'attr', type: IFLA_MACVLAN.MODE, value: u32(mode) });
      return out;
    }
    case 'ipvlan': {
      let flags = 0;
      let flagGiven = false;
      for (; a.more; a.advance()) {
        const w = a.cur;
        if (matches(w, 'mode')) attr(IFLA_IPVLAN.MODE, u16(IPVLAN_MODE[a.next()] ?? unsupported()));
        else if (matches(w, 'private') && !flagGiven) [flags, flagGiven] = [flags | IPVLAN_F.PRIVATE, true];
        else if (matches(w, 'vepa') && !flagGiven) [flags, flagGiven] = [flags | IPVLAN_F.VEPA, true];
        else if (matches(w, 'bridge') && !flagGiven) flagGiven = true;
        else unsupported();
      }
      attr(IFLA_IPVLAN.FLAGS, u16(flags));
      return out;
    }
    case 'vlan':
      for (; a.more; a.advance()) {
        const w = a.cur;
        if (matches(w, 'protocol')) {
          const p = a.next().toLowerCase();
          attr(IFLA_VLAN.PROTOCOL, be16(p === '802.1q' ? 0x8100 : p === '802.1ad' ? 0x88a8 : unsupported()));
        } else if (matches(w, 'id')) attr(IFLA_VLAN.ID, u16(num(a.next(), 0xffff)));
        else unsupported();
      }
      return out;
    case 'vrf':
      for (; a.more; a.advance()) {
        if (matches(a.cur, 'table')) attr(IFLA_VRF_TABLE, u32(tableId(a.next()) ?? unsupported()));
        else unsupported();
      }
      return out;
    case 'vxlan':
      return vxlanData(a, msgType === RTM.NEWLINK && !create, o);
    default:
      return unsupported();
  }
}

/** vxlan_parse_opt for id/vni, local, dev, dstport, [no]learning; then iproute2's defaults. */
function vxlanData(a: Args, setOp: boolean, o: Options): Item[] {
  const out: Item[] = [];
  let vni: number | undefined;
  let local: IP | undefined;
  let dstport: number | undefined;
  let learning: number | undefined;
  for (; a.more; a.advance()) {
    const w = a.cur;
    if (matches(w, 'id') || matches(w, 'vni')) {
      if (vni !== undefined) unsupported();
      vni = num(a.next(), (1 << 24) - 1);
    } else if (matches(w, 'group') || matches(w, 'remote')) unsupported();
    else if (matches(w, 'local')) {
      if (local) unsupported();
      local = parseIP(a.next()) ?? unsupported();
    } else if (matches(w, 'dev')) {
      const dev = a.next();
      out.push({ k: 'ifindex', type: IFLA_VXLAN.LINK, dev, missing: { abort: true, status: 255, text: `Cannot find device "${dev}"\n` } });
    } else if (['ttl', 'hoplimit', 'tos', 'dsfield', 'df', 'label', 'flowlabel', 'ageing', 'maxaddress', 'port', 'srcport'].some((k) => matches(w, k))) unsupported();
    else if (matches(w, 'dstport')) {
      if (dstport !== undefined) unsupported();
      dstport = num(a.next(), 0xffff);
    } else if (matches(w, 'nolearning')) {
      if (learning !== undefined) unsupported();
      learning = 0;
    } else if (matches(w, 'learning')) {
      if (learning !== undefined) unsupported();
      learning = 1;
    } else unsupported();
  }
  if (vni === undefined && !setOp) unsupported(); // "missing virtual network identifier"
  if (dstport === undefined && !setOp) unsupported(); // prints a warning about the kernel's default port
  if (local && (local.family === 4 ? local.value >> 28n === 0xen : local.value >> 120n === 0xffn)) unsupported(); // multicast
  if (vni !== undefined) out.push({ k: 'attr', type: IFLA_VXLAN.ID, value: u32(vni) });
  if (local) out.push({ k: 'attr', type: local.family === 4 ? IFLA_VXLAN.LOCAL : IFLA_VXLAN.LOCAL6, value: ipBytes(local) });
  else if (o.family === AF_INET) out.push({ k: 'attr', type: IFLA_VXLAN.GROUP, value: new Uint8Array(4) });
  else if (o.family === AF_INET6) out.push({ k: 'attr', type: IFLA_VXLAN.GROUP6, value: new Uint8Array(16) });
  if (!setOp || learning !== undefined) out.push({ k: 'attr', type: IFLA_VXLAN.LEARNING, value: u8(learning ?? 1) });
  if (dstport) out.push({ k: 'attr', type: IFLA_VXLAN.PORT, value: be16(dstport) });
  return out;
}

// ---------- addresses ----------

interface Prefix {
  family: number;
  ip?: IP;
  /** bits; for "default" 0 */
  bitlen: number;
  /** a /len was written */
  lenGiven: boolean;
  isDefault: boolean;
}

/** get_prefix: an address with optional /len (or "default"), of `family` when set; anything else not taken over. */
function prefix(s: string, family: number): Prefix {
  if (s === 'default') {
    if (family === AF_UNSPEC) return { family, bitlen: 0, lenGiven: true, isDefault: true };
    return { family, bitlen: 0, lenGiven: true, isDefault: true };
  }
  if (s === 'all' || s === 'any') unsupported();
  const slash = s.indexOf('/');
  const ip = parseIP(slash >= 0 ? s.slice(0, slash) : s) ?? unsupported();
  const fam = ip.family === 4 ? AF_INET : AF_INET6;
  if (family !== AF_UNSPEC && family !== fam) unsupported();
  const max = ip.family === 4 ? 32 : 128;
  if (slash < 0) return { family: fam, ip, bitlen: max, lenGiven: false, isDefault: false };
  const len = s.slice(slash + 1);
  if (!/^\d+$/.test(len) || Number(len) > max) unsupported(); // dotted netmasks are not taken over
  return { family: fam, ip, bitlen: Number(len), lenGiven: true, isDefault: false };
}

/** get_addr: a plain address of `family` when set. */
function address(s: string, family: number): IP {
  const ip = parseIP(s) ?? unsupported();
  if (family !== AF_UNSPEC && family !== (ip.family === 4 ? AF_INET : AF_INET6)) unsupported();
  return ip;
}

const afOf = (ip: IP): number => (ip.family === 4 ? AF_INET : AF_INET6);

function parseAddrCommand(argv: string[], o: Options): Command {
  if (!argv.length) return { kind: 'links', addresses: true };
  const sub = argv[0]!;
  const args = new Args(argv.slice(1));
  if (matches(sub, 'add')) return addrModify(RTM.NEWADDR, NLM_F_CREATE | NLM_F_EXCL, args, o);
  if (matches(sub, 'change') || sub === 'chg') return unsupported();
  if (matches(sub, 'replace')) return addrModify(RTM.NEWADDR, NLM_F_CREATE | NLM_F_REPLACE, args, o);
  if (matches(sub, 'delete')) return addrModify(RTM.DELADDR, 0, args, o);
  if (matches(sub, 'list') || matches(sub, 'show') || matches(sub, 'lst')) return parseLinkList(args, true);
  return unsupported();
}

const IFA_FLAG_WORDS: Record<string, { mask: number; v6only: boolean; readonly: boolean }> = {
  secondary: { mask: IFA_F.SECONDARY, v6only: false, readonly: true },
  temporary: { mask: IFA_F.SECONDARY, v6only: false, readonly: true },
  nodad: { mask: IFA_F.NODAD, v6only: true, readonly: false },
  optimistic: { mask: IFA_F.OPTIMISTIC, v6only: true, readonly: false },
  dadfailed: { mask: IFA_F.DADFAILED, v6only: true, readonly: true },
  home: { mask: IFA_F.HOMEADDRESS, v6only: true, readonly: false },
  deprecated: { mask: IFA_F.DEPRECATED, v6only: true, readonly: true },
  tentative: { mask: IFA_F.TENTATIVE, v6only: true, readonly: true },
  permanent: { mask: IFA_F.PERMANENT, v6only: true, readonly: true },
  mngtmpaddr: { mask: IFA_F.MANAGETEMPADDR, v6only: true, readonly: false },
  noprefixroute: { mask: IFA_F.NOPREFIXROUTE, v6only: false, readonly: false },
  autojoin: { mask: IFA_F.MCAUTOJOIN, v6only: false, readonly: false },
  'stable-privacy': { mask: IFA_F.STABLE_PRIVACY, v6only: true, readonly: true },
};

/** ipaddr_modify for `CIDR [brd +|-|ADDR] [scope S] dev D [label L] [metric N] [flags...]`. */
function addrModify(type: number, flags: number, args: Args, o: Options): Request {
  let family = o.family;
  let dev: string | undefined;
  let local: Prefix | undefined;
  let brd: '+' | '-' | IP | undefined;
  let scope: number | undefined;
  let ifaFlags = 0;
  const items: Item[] = [];
  for (; args.more; args.advance()) {
    const w = args.cur;
    if (w === 'peer' || w === 'remote' || w === 'anycast') unsupported();
    else if (matches(w, 'broadcast') || w === 'brd') {
      if (brd !== undefined) unsupported();
      const b = args.next();
      if (b === '+' || b === '-') brd = b;
      else {
        const ip = address(b, family);
        if (family === AF_UNSPEC) family = afOf(ip);
        items.push({ k: 'attr', type: IFA.BROADCAST, value: ipBytes(ip) });
        brd = ip;
      }
    } else if (w === 'scope') scope = scopeId(args.next()) ?? unsupported();
    else if (w === 'dev') dev = args.next();
    else if (w === 'label') {
      const l = args.next();
      items.push({ k: 'attr', type: IFA.LABEL, value: cstr(l) });
    } else if (matches(w, 'metric') || matches(w, 'priority') || matches(w, 'preference')) {
      items.push({ k: 'attr', type: IFA.RT_PRIORITY, value: u32(num(args.next())) });
    } else if (matches(w, 'valid_lft') || matches(w, 'preferred_lft')) unsupported();
    else if (IFA_FLAG_WORDS[w]) {
      const f = IFA_FLAG_WORDS[w]!;
      if (f.readonly || (f.v6only && family !== AF_INET6)) unsupported(); // ip warns and ignores it
      ifaFlags |= f.mask;
    } else {
      let v = w;
      if (w === 'local') v = args.next();
      if (matches(v, 'help') || local) unsupported();
      local = prefix(v, family);
      if (local.isDefault) unsupported();
      if (family === AF_UNSPEC) family = local.family;
      items.push({ k: 'attr', type: IFA.LOCAL, value: ipBytes(local.ip!) });
    }
  }
  if (!dev || !local) return unsupported();
  const hdr = { family, prefixlen: 0, flags: 0, scope: 0 };
  if (ifaFlags <= 0xff) hdr.flags = ifaFlags;
  else items.push({ k: 'attr', type: IFA.FLAGS, value: u32(ifaFlags) });
  if (type === RTM.DELADDR && local.family === AF_INET && !local.lenGiven) unsupported(); // wildcard deletion warning
  items.push({ k: 'attr', type: IFA.ADDRESS, value: ipBytes(local.ip!) });
  hdr.prefixlen = local.bitlen;
  if ((brd === '+' || brd === '-') && type !== RTM.DELADDR) {
    if (family !== AF_INET) unsupported(); // "Broadcast can be set only for IPv4 addresses"
    if (local.bitlen <= 30) {
      const host = (1n << BigInt(32 - local.bitlen)) - 1n;
      const v = brd === '+' ? local.ip!.value | host : local.ip!.value & ~host;
      items.push({ k: 'attr', type: IFA.BROADCAST, value: ipBytes({ family: 4, value: v }) });
    }
  }
  if (scope !== undefined) hdr.scope = scope;
  else if (type !== RTM.DELADDR) hdr.scope = local.family === AF_INET && local.ip!.value >> 24n === 127n ? RT_SCOPE.HOST : 0;
  items.push({ k: 'hdrindex', dev, missing: nodev(dev) });
  return { kind: 'request', type, flags, header: ifaddrmsg(hdr), items, onKernelError: 'fail2' };
}

// ---------- routes ----------

function parseRouteCommand(argv: string[], o: Options): Command {
  if (!argv.length) return { kind: 'routes', defaultOnly: false };
  const sub = argv[0]!;
  const args = new Args(argv.slice(1));
  if (matches(sub, 'add')) return routeModify(RTM.NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, args, o);
  if (matches(sub, 'change') || sub === 'chg') return routeModify(RTM.NEWROUTE, NLM_F_REPLACE, args, o);
  if (matches(sub, 'replace')) return routeModify(RTM.NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE, args, o);
  if (matches(sub, 'prepend')) return routeModify(RTM.NEWROUTE, NLM_F_CREATE, args, o);
  if (matches(sub, 'append')) return routeModify(RTM.NEWROUTE, NLM_F_CREATE | NLM_F_APPEND, args, o);
  if (matches(sub, 'test')) return unsupported();
  if (matches(sub, 'delete')) return routeModify(RTM.DELROUTE, 0, args, o);
  if (matches(sub, 'list') || matches(sub, 'show') || matches(sub, 'lst')) return parseRouteList(args);
  if (matches(sub, 'get')) return parseRouteGet(args, o);
  return unsupported();
}

const RTM_F_LOOKUP_TABLE = 0x1000;
/** iproute_get's keywords, in its order (each compared as it compares them). */
const ROUTE_GET_WORDS: Array<[string, 'exact' | 'abbrev']> = [
  ['tos', 'exact'], ['dsfield', 'abbrev'], ['from', 'abbrev'], ['iif', 'abbrev'], ['mark', 'abbrev'], ['oif', 'abbrev'], ['dev', 'exact'],
  ['notify', 'abbrev'], ['connected', 'abbrev'], ['vrf', 'exact'], ['uid', 'abbrev'], ['fibmatch', 'abbrev'], ['as', 'exact'],
  ['sport', 'exact'], ['dport', 'exact'], ['ipproto', 'abbrev'],
];

/**
 * iproute_get for `[to] ADDRESS` alone (what `ip route get ADDR` asks: a plain address, no /len, no selector): the
 * family from -4/-6 or the address, dst_len the address's full length, RTM_F_LOOKUP_TABLE for IPv4.
 */
function parseRouteGet(args: Args, o: Options): RouteGet {
  let dst: IP | undefined;
  for (; args.more; args.advance()) {
    let w = args.cur;
    if (ROUTE_GET_WORDS.some(([k, how]) => (how === 'exact' ? w === k : matches(w, k)))) unsupported();
    if (w === 'to') w = args.next();
    if (matches(w, 'help') || dst) unsupported();
    const p = prefix(w, o.family);
    if (p.isDefault || p.lenGiven || !p.ip) unsupported(); // a /len draws ip's warning; "default" asks for 0.0.0.0
    dst = p.ip;
  }
  if (!dst) unsupported(); // ip: "need at least a destination address"
  const family = afOf(dst!);
  return { kind: 'routeGet', header: rtmsg({ family, dstLen: family === AF_INET ? 32 : 128, flags: family === AF_INET ? RTM_F_LOOKUP_TABLE : 0 }), dst: ipBytes(dst!) };
}

/** iproute_list: `[table T|all] [dev D] [proto P] [default]`; other selectors are not taken over. */
function parseRouteList(args: Args): RouteList {
  const l: RouteList = { kind: 'routes', defaultOnly: false };
  for (; args.more; args.advance()) {
    const w = args.cur;
    if (matches(w, 'table')) {
      const t = args.next();
      if (t === 'all') l.table = 0;
      else if (t === 'cache') unsupported();
      else l.table = tableId(t) ?? unsupported();
    } else if (w === 'dev' || w === 'oif') l.dev = args.next();
    else if (matches(w, 'protocol')) {
      const p = args.next();
      if (p === 'all') unsupported();
      l.protocol = protoId(p) ?? unsupported();
    } else if (w === 'default') l.defaultOnly = true;
    else unsupported();
  }
  return l;
}

function routeModify(type: number, flags: number, args: Args, o: Options): Request {
  const del = type === RTM.DELROUTE;
  const r: { family: number; dstLen: number; table: number; protocol: number; scope: number; type: number; flags: number } = {
    family: o.family, dstLen: 0, table: RT_TABLE.MAIN, protocol: del ? 0 : RTPROT.BOOT, scope: del ? RT_SCOPE.NOWHERE : RT_SCOPE.UNIVERSE, type: del ? 0 : RTN.UNICAST, flags: 0,
  };
  const items: Item[] = [];
  let dev: string | undefined;
  let gwOk = false;
  let dstOk = false;
  let scopeOk = false;
  let tableOk = false;
  for (; args.more; args.advance()) {
    const w = args.cur;
    if (w === 'src') {
      const ip = address(args.next(), r.family);
      if (r.family === AF_UNSPEC) r.family = afOf(ip);
      items.push({ k: 'attr', type: RTA.PREFSRC, value: ipBytes(ip) });
    } else if (w === 'as') unsupported();
    else if (w === 'via') {
      if (gwOk) unsupported();
      gwOk = true;
      const v = args.next();
      if (v === 'inet' || v === 'inet6') unsupported(); // a family word (RTA_VIA)
      const ip = address(v, r.family);
      if (r.family === AF_UNSPEC) r.family = afOf(ip);
      items.push({ k: 'attr', type: RTA.GATEWAY, value: ipBytes(ip) });
    } else if (w === 'from' || w === 'tos' || matches(w, 'dsfield') || w === 'expires') unsupported();
    else if (matches(w, 'metric') || matches(w, 'priority') || w === 'preference') {
      items.push({ k: 'attr', type: RTA.PRIORITY, value: u32(num(args.next())) });
    } else if (w === 'scope') {
      r.scope = scopeId(args.next()) ?? unsupported();
      scopeOk = true;
    } else if (['mtu', 'hoplimit', 'advmss', 'rtt', 'rto_min'].includes(w) || ['reordering', 'window', 'cwnd', 'initcwnd', 'initrwnd', 'features', 'quickack', 'congctl', 'rttvar', 'ssthresh', 'realms'].some((k) => matches(w, k))) unsupported();
    else if (w === 'onlink') r.flags |= RTNH_F.ONLINK;
    else if (w === 'nexthop' || w === 'nhid') unsupported();
    else if (matches(w, 'protocol')) r.protocol = protoId(args.next()) ?? unsupported();
    else if (matches(w, 'table')) {
      const tid = tableId(args.next()) ?? unsupported();
      if (tid < 256) r.table = tid;
      else {
        r.table = RT_TABLE.UNSPEC;
        items.push({ k: 'attr', type: RTA.TABLE, value: u32(tid) });
      }
      tableOk = true;
    } else if (matches(w, 'vrf')) unsupported();
    else if (w === 'dev' || w === 'oif') dev = args.next();
    else if (matches(w, 'pref') || w === 'encap' || w === 'ttl-propagate' || matches(w, 'fastopen_no_cookie')) unsupported();
    else {
      let v = w;
      if (w === 'to') v = args.next();
      if (!(v[0]! >= '0' && v[0]! <= '9') && isRouteTypeWord(v)) unsupported(); // `local 1.2.3.4`, `unreachable ...`
      if (matches(v, 'help') || dstOk) unsupported();
      const p = prefix(v, r.family);
      if (r.family === AF_UNSPEC) r.family = p.family;
      r.dstLen = p.bitlen;
      dstOk = true;
      if (p.ip && (p.ip.family === 4 ? 4 : 16)) items.push({ k: 'attr', type: RTA.DST, value: ipBytes(p.ip) });
    }
  }
  if (!dstOk) unsupported();
  if (dev) items.push({ k: 'ifindex', type: RTA.OIF, dev, missing: nodev(dev) });
  if (r.family === AF_UNSPEC) r.family = AF_INET;
  void tableOk; // unicast routes stay in main without "table"
  if (!scopeOk) {
    if (r.family === AF_INET6) r.scope = RT_SCOPE.UNIVERSE;
    else if (del) r.scope = RT_SCOPE.NOWHERE;
    else if (!gwOk) r.scope = RT_SCOPE.LINK;
  }
  return { kind: 'request', type, flags, header: rtmsg(r), items, onKernelError: 'fail2' };
}

const ROUTE_TYPE_WORDS = ['local', 'nat', 'brd', 'throw'];
const ROUTE_TYPE_ABBREVS = ['broadcast', 'anycast', 'multicast', 'prohibit', 'unreachable', 'blackhole', 'xresolve', 'unicast'];
const isRouteTypeWord = (w: string): boolean => ROUTE_TYPE_WORDS.includes(w) || ROUTE_TYPE_ABBREVS.some((k) => matches(w, k)) || strtoul(w, 255) !== undefined;

// ---------- rules ----------

function parseRuleCommand(argv: string[], o: Options): Command {
  if (!argv.length) return { kind: 'rules' };
  const sub = argv[0]!;
  const args = new Args(argv.slice(1));
  if (matches(sub, 'add')) return ruleModify(RTM.NEWRULE, args, o);
  if (matches(sub, 'delete')) return ruleModify(RTM.DELRULE, args, o);
  if (matches(sub, 'list') || matches(sub, 'show') || matches(sub, 'lst')) {
    if (args.more) unsupported();
    return { kind: 'rules' };
  }
  return unsupported();
}

/** iprule_modify for `[from P] [to P] [pref N] [table T|lookup T] [iif D] [oif D]`. */
function ruleModify(type: number, args: Args, o: Options): Request {
  if (!args.more) unsupported();
  const h = { family: o.family, dstLen: 0, srcLen: 0, tos: 0, table: 0, action: type === RTM.NEWRULE ? FR_ACT.TO_TBL : 0, flags: 0 };
  const items: Item[] = [];
  let tableOk = false;
  for (; args.more; args.advance()) {
    const w = args.cur;
    if (w === 'not') unsupported();
    else if (w === 'from' || w === 'to') {
      const p = prefix(args.next(), h.family);
      if (p.isDefault || !p.ip) unsupported();
      if (w === 'from') h.srcLen = p.bitlen;
      else h.dstLen = p.bitlen;
      items.push({ k: 'attr', type: w === 'from' ? FRA.SRC : FRA.DST, value: ipBytes(p.ip!) });
      // get_prefix with family AF_UNSPEC leaves the header's family alone (set to AF_INET at the end)
    } else if (matches(w, 'preference') || matches(w, 'order') || matches(w, 'priority')) {
      items.push({ k: 'attr', type: FRA.PRIORITY, value: u32(num(args.next())) });
    } else if (w === 'tos' || matches(w, 'dsfield') || w === 'fwmark' || matches(w, 'realms') || matches(w, 'protocol')) unsupported();
    else if (matches(w, 'table') || w === 'lookup') {
      const tid = tableId(args.next()) ?? unsupported();
      if (tid < 256) h.table = tid;
      else {
        h.table = RT_TABLE.UNSPEC;
        items.push({ k: 'attr', type: FRA.TABLE, value: u32(tid) });
      }
      tableOk = true;
    } else if (matches(w, 'suppress_prefixlength') || matches(w, 'suppress_ifgroup')) unsupported();
    else if (w === 'dev' || w === 'iif') items.push({ k: 'attr', type: FRA.IIFNAME, value: cstr(ifname(args.next())) });
    else if (w === 'oif') items.push({ k: 'attr', type: FRA.OIFNAME, value: cstr(ifname(args.next())) });
    else unsupported(); // l3mdev, uidrange, nat, ipproto, sport, dport, types, goto
  }
  if (h.family === AF_UNSPEC) h.family = AF_INET;
  if (!tableOk && type === RTM.NEWRULE) h.table = RT_TABLE.MAIN;
  const flags = type === RTM.NEWRULE ? NLM_F_CREATE | NLM_F_EXCL : 0;
  return { kind: 'request', type, flags, header: fibRuleHdr(h), items, onKernelError: 'fail2' };
}

// ---------- neighbours ----------

function parseNeighCommand(argv: string[], o: Options): Command {
  if (!argv.length) return { kind: 'neighbours' };
  const sub = argv[0]!;
  const args = new Args(argv.slice(1));
  if (matches(sub, 'add')) return neighModify(RTM.NEWNEIGH, NLM_F_CREATE | NLM_F_EXCL, args, o);
  if (matches(sub, 'change') || sub === 'chg') return neighModify(RTM.NEWNEIGH, NLM_F_REPLACE, args, o);
  if (matches(sub, 'replace')) return neighModify(RTM.NEWNEIGH, NLM_F_CREATE | NLM_F_REPLACE, args, o);
  if (matches(sub, 'delete')) return neighModify(RTM.DELNEIGH, 0, args, o);
  if (matches(sub, 'list') || matches(sub, 'show') || matches(sub, 'lst')) {
    let dev: string | undefined;
    for (; args.more; args.advance()) {
      if (args.cur !== 'dev' || dev) unsupported();
      dev = args.next();
    }
    return { kind: 'neighbours', ...(dev !== undefined ? { dev } : {}) };
  }
  return unsupported();
}

const NUD_WORDS: Array<[string, number, boolean]> = [
  ['permanent', NUD.PERMANENT, true], ['reachable', NUD.REACHABLE, true], ['noarp', NUD.NOARP, false], ['none', NUD.NONE, false],
  ['stale', NUD.STALE, false], ['incomplete', NUD.INCOMPLETE, false], ['delay', NUD.DELAY, false], ['probe', NUD.PROBE, false], ['failed', NUD.FAILED, true],
];

/** ipneigh_modify for `ADDR [lladdr MAC] [nud STATE] dev D`. */
function neighModify(type: number, flags: number, args: Args, o: Options): Request {
  let state: number = NUD.PERMANENT;
  let dev: string | undefined;
  let dst: IP | undefined;
  let lla: Uint8Array | undefined;
  for (; args.more; args.advance()) {
    const w = args.cur;
    if (matches(w, 'lladdr')) {
      if (lla) unsupported();
      lla = macBytes(args.next()) ?? unsupported();
    } else if (w === 'nud') {
      const s = args.next();
      const hit = NUD_WORDS.find(([name, , abbrev]) => (abbrev ? matches(s, name) : s === name));
      state = hit ? hit[1] : unsupported();
    } else if (matches(w, 'proxy') || w === 'router' || w === 'use' || w === 'managed' || matches(w, 'extern_learn') || matches(w, 'protocol')) unsupported();
    else if (w === 'dev') dev = args.next();
    else {
      let v = w;
      if (w === 'to') v = args.next();
      if (matches(v, 'help') || dst) unsupported();
      dst = address(v, o.family);
    }
  }
  if (!dev || !dst) return unsupported();
  const items: Item[] = [{ k: 'attr', type: NDA.DST, value: ipBytes(dst) }];
  if (lla) items.push({ k: 'attr', type: NDA.LLADDR, value: lla });
  items.push({ k: 'hdrindex', dev, missing: nodev(dev) });
  return { kind: 'request', type, flags, header: ndmsg({ family: afOf(dst), state }), items, onKernelError: 'abort2' };
}

// ---------- bridge ----------

const BRIDGE_OBJECTS = ['link', 'fdb', 'mdb', 'vlan', 'vni', 'monitor', 'help'];

function parseBridgeCommand(argv: string[], o: Options): Command {
  const object = BRIDGE_OBJECTS.find((c) => matches(argv[0]!, c));
  const sub = argv[1];
  const args = new Args(argv.slice(2));
  if (object === 'vlan' && sub !== undefined) {
    if (matches(sub, 'add')) return vlanModify(RTM.SETLINK, args);
    if (matches(sub, 'delete')) return vlanModify(RTM.DELLINK, args);
    return unsupported();
  }
  if (object === 'fdb' && sub !== undefined) {
    if (matches(sub, 'add')) return fdbModify(RTM.NEWNEIGH, NLM_F_CREATE | NLM_F_EXCL, args, o);
    if (matches(sub, 'append')) return fdbModify(RTM.NEWNEIGH, NLM_F_CREATE | NLM_F_APPEND, args, o);
    if (matches(sub, 'replace')) return fdbModify(RTM.NEWNEIGH, NLM_F_CREATE | NLM_F_REPLACE, args, o);
    if (matches(sub, 'delete')) return fdbModify(RTM.DELNEIGH, 0, args, o);
    if (matches(sub, 'show') || matches(sub, 'lst') || matches(sub, 'list')) {
      let dev: string | undefined;
      for (; args.more; args.advance()) {
        if (args.cur !== 'dev' || dev) unsupported();
        dev = args.next();
      }
      return { kind: 'fdb', ...(dev !== undefined ? { dev } : {}) };
    }
  }
  return unsupported();
}

/** bridge vlan add|del dev D vid N [pvid] [untagged] [self] [master]. */
function vlanModify(type: number, args: Args): Request {
  let dev: string | undefined;
  let vid = -1;
  let vflags = 0;
  let bflags = 0;
  for (; args.more; args.advance()) {
    const w = args.cur;
    if (w === 'dev') dev = args.next();
    else if (w === 'vid') {
      const v = args.next();
      if (!/^\d+$/.test(v)) unsupported(); // ranges
      vid = Number(v);
    } else if (w === 'self') bflags |= 2;
    else if (w === 'master') bflags |= 1;
    else if (w === 'pvid') vflags |= BRIDGE_VLAN_INFO.PVID;
    else if (w === 'untagged') vflags |= BRIDGE_VLAN_INFO.UNTAGGED;
    else unsupported();
  }
  if (!dev || vid < 0 || vid >= 4096) return unsupported();
  const info = new Uint8Array(4);
  new DataView(info.buffer).setUint16(0, vflags, true);
  new DataView(info.buffer).setUint16(2, vid, true);
  const spec: Item[] = [];
  if (bflags) spec.push({ k: 'attr', type: IFLA_BRIDGE.FLAGS, value: u16(bflags) });
  spec.push({ k: 'attr', type: IFLA_BRIDGE.VLAN_INFO, value: info });
  return {
    kind: 'request', type, flags: 0, header: ifinfomsg({ family: AF_BRIDGE }),
    items: [{ k: 'hdrindex', dev, missing: { abort: false, status: 1, text: `Cannot find bridge device "${dev}"\n` } }, { k: 'nest', type: IFLA.AF_SPEC, items: spec }],
    onKernelError: 'fail1',
  };
}

/** bridge fdb add|append|replace|del MAC dev D [dst IP] [self|master] [permanent|static|dynamic]. */
function fdbModify(type: number, flags: number, args: Args, o: Options): Request {
  let dev: string | undefined;
  let mac: string | undefined;
  let dst: IP | undefined;
  let ntf = 0;
  let state: number = NUD.NOARP;
  for (; args.more; args.advance()) {
    const w = args.cur;
    if (w === 'dev') dev = args.next();
    else if (w === 'dst') {
      if (dst) unsupported();
      dst = address(args.next(), o.family);
    } else if (w === 'nhid' || w === 'port' || w === 'vni' || w === 'src_vni' || w === 'via') unsupported();
    else if (w === 'self') ntf |= NTF.SELF;
    else if (matches(w, 'master')) ntf |= NTF.MASTER;
    else if (matches(w, 'router')) unsupported();
    else if (matches(w, 'local') || matches(w, 'permanent')) state |= NUD.PERMANENT;
    else if (matches(w, 'temp') || matches(w, 'static')) state |= NUD.REACHABLE;
    else if (matches(w, 'dynamic')) state = (state | NUD.REACHABLE) & ~NUD.NOARP;
    else if (matches(w, 'vlan') || matches(w, 'use') || matches(w, 'extern_learn') || matches(w, 'sticky')) unsupported();
    else {
      let v = w;
      if (w === 'to') v = args.next();
      if (matches(v, 'help') || mac) unsupported();
      mac = v;
    }
  }
  if (!dev || !mac) return unsupported();
  if (!(ntf & (NTF.SELF | NTF.MASTER))) ntf |= NTF.SELF;
  if (!(state & (NUD.PERMANENT | NUD.REACHABLE))) state |= NUD.PERMANENT;
  const lla = /^([0-9a-fA-F]{1,2}:){5}[0-9a-fA-F]{1,2}$/.test(mac) ? macBytes(mac)! : unsupported();
  const items: Item[] = [{ k: 'attr', type: NDA.LLADDR, value: lla }];
  if (dst) items.push({ k: 'attr', type: NDA.DST, value: ipBytes(dst) });
  items.push({ k: 'hdrindex', dev, missing: nodev(dev) });
  return { kind: 'request', type, flags, header: ndmsg({ family: AF_BRIDGE, state, flags: ntf }), items, onKernelError: 'fail1' };
}
