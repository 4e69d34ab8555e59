/**
 * Runs a parsed `ip` / `bridge` program (lib/rtnetlink/ipcmd.ts) over rtnetlink in-process and answers exactly as the
 * program would: the same exit status, the same stderr (iproute2's texts for a missing device or namespace, the
 * kernel's extended-ACK message as "Error: ….", else "RTNETLINK answers: <strerror>", "Command failed -:N" in a batch,
 * -force), the same `-j` listings on stdout. Callers (lib/netns.ts) cannot tell it from the exec.
 */
import { closeSync, openSync } from 'node:fs';
import { AF_BRIDGE, AF_INET, AF_UNSPEC, IFF, IFLA, NETNSA, RTEXT_FILTER, RTM, RT_TABLE } from './consts.js';
import { ifaddrmsg, ifinfomsg, ndmsg, rtgenmsg, rtmsg, fibRuleHdr } from './headers.js';
import { libc, inNetns } from '../native.js';
import { parseBridge, parseIp, splitBatch, type Command, type FdbList, type LinkList, type NeighList, type Program, type RouteGet, type RouteList, type RuleList, type TuntapAdd } from './ipcmd.js';
import { buildRequest, routeGetMessage, Unresolved, type Request, type Resolver } from './request.js';
import { addrJson, fdbJson, linkJson, neighJson, parseAddr, parseLink, parseRoute, routeJson, routeSelected, ruleJson, type Json, type LinkNames, type ParsedAddr } from './show.js';
import { NetlinkSocket } from './socket.js';
import { cstr, getI32, i32, message, parseAttrs, u32, NLM_F_DUMP, NLM_F_REQUEST, type Ack, type Message } from './wire.js';

export interface RunResult {
  status: number;
  stdout: string;
  stderr: string;
}

/** A run whose `-j` listings were kept as the objects ip prints (each listing's array), not as text on stdout. */
export interface ListResult extends RunResult {
  lists: Json[][];
}

// _IOW('T', 202..206, int)
const TUNSETIFF = 0x400454ca;
const TUNSETPERSIST = 0x400454cb;
const TUNSETOWNER = 0x400454cc;
const TUNSETGROUP = 0x400454ce;

/** The command ended the whole run (invarg, exit(nodev()), ip neigh's exit(2)). */
class Abort extends Error {
  constructor(readonly status: number) {
    super(`abort ${status}`);
  }
}

/**
 * Execute `p` in the network namespace at `netnsPath` (undefined: the current one). Undefined when it cannot be
 * taken over after all (no FFI, the namespace cannot be entered, a listing without -j): then exec the program.
 * `objects`: the listings are returned as objects (`lists`) instead of JSON text on stdout.
 */
export function runProgram(p: Program, netnsPath?: string): RunResult | undefined;
export function runProgram(p: Program, netnsPath: string | undefined, objects: true): ListResult | undefined;
export function runProgram(p: Program, netnsPath?: string, objects = false): RunResult | ListResult | undefined {
  // listings are taken over in -j form only
  if (!p.options.json && p.commands.some(({ command }) => command.kind !== 'request' && command.kind !== 'tuntap')) return undefined;
  let sock: NetlinkSocket | undefined;
  try {
    sock = NetlinkSocket.forNetns(netnsPath);
  } catch {
    return undefined; // the namespace or socket is the exec's to report
  }
  if (!sock) return undefined;
  // iproute2 turns strict dump checking on for single commands (ip) and always (bridge), not for ip's batches
  sock.setStrict(p.tool === 'bridge' || !p.batch);
  const x = new Execution(sock, p, netnsPath, objects);
  try {
    return x.run();
  } catch (e) {
    sock.close(); // its state is unknown: the next run opens a new one
    // the socket itself failed (not an answer of the kernel's): before any change, let the program run instead
    if (!x.changed) return undefined;
    return { status: 1, stdout: '', stderr: `rtnetlink: ${(e as Error).message}\n` };
  }
}

/** What an execution asks of its socket: a NetlinkSocket, or a stand-in answering from crafted messages (unit tests). */
export type Channel = Pick<NetlinkSocket, 'request' | 'get' | 'dump' | 'strerror'>;

/**
 * Execute `p` on `sock` (`objects`: listings kept as objects, as runProgram). What runProgram does once it has the
 * namespace's socket; exported so that unit tests run the listings against a stand-in kernel.
 */
export function execute(sock: Channel, p: Program, objects = false): RunResult | ListResult {
  return new Execution(sock, p, undefined, objects).run();
}

class Execution {
  private out = '';
  private err = '';
  private readonly lists: Json[][] = [];
  private readonly cache = new Map<number, { name: string; up: boolean } | null>();
  private doLink = false;
  /** A change request was sent (from then on, the run cannot be handed to the program). */
  changed = false;

  constructor(
    private readonly sock: Channel,
    private readonly p: Program,
    private readonly netnsPath?: string,
    private readonly objects = false,
  ) {}

  run(): RunResult | ListResult {
    const { p } = this;
    let status = 0;
    for (const { line, command } of p.commands) {
      let ret: number;
      try {
        ret = this.command(command);
      } catch (e) {
        if (e instanceof Abort) return this.result(e.status);
        throw e;
      }
      if (!p.batch) return this.result(p.tool === 'ip' ? -ret : ret & 0xff);
      if (ret !== 0) {
        this.err += `Command failed -:${line}\n`;
        status = 1;
        if (!p.options.force) break;
      }
    }
    return this.result(status);
  }

  private result(status: number): RunResult | ListResult {
    return this.objects ? { status, stdout: this.out, stderr: this.err, lists: this.lists } : { status, stdout: this.out, stderr: this.err };
  }

  /** One command: 0, or ip's failure return (-1: bad input/missing name, -2: the kernel refused). */
  private command(c: Command): number {
    switch (c.kind) {
      case 'request':
        return this.request(c);
      case 'links':
        return this.links(c);
      case 'routes':
        return this.routes(c);
      case 'routeGet':
        return this.routeGet(c);
      case 'rules':
        return this.rules(c);
      case 'neighbours':
        return this.neighbours(c);
      case 'fdb':
        return this.fdb(c);
      case 'tuntap':
        return this.tuntap(c);
    }
  }

  /**
   * iptuntap.c's tap_add_ioctl: /dev/net/tun opened in the namespace (a tap belongs to the netns its file was opened
   * in), TUNSETIFF, the owner and group, TUNSETPERSIST; a failure printed as perror() does, the device then gone with
   * the file (not persistent yet).
   */
  private tuntap(t: TuntapAdd): number {
    const c = libc()!;
    const perror = (what: string): number => {
      this.err += `${what}: ${this.sock.strerror(c.errno())}\n`;
      return -1;
    };
    const add = (): number => {
      this.changed = true;
      const fd = c.openRdwr('/dev/net/tun');
      if (fd < 0) return perror('open');
      try {
        const ifr = new Uint8Array(40); // struct ifreq: ifr_name[16], then ifr_flags (short)
        ifr.set(new TextEncoder().encode(t.name).subarray(0, 15));
        new DataView(ifr.buffer).setUint16(16, t.flags, true);
        if (c.ioctl(fd, TUNSETIFF, ifr) !== 0) return perror('ioctl(TUNSETIFF)');
        if (t.uid !== undefined && c.ioctl(fd, TUNSETOWNER, t.uid) !== 0) return perror('ioctl(TUNSETOWNER)');
        if (t.gid !== undefined && c.ioctl(fd, TUNSETGROUP, t.gid) !== 0) return perror('ioctl(TUNSETGROUP)');
        if (c.ioctl(fd, TUNSETPERSIST, 1) !== 0) return perror('ioctl(TUNSETPERSIST)');
        return 0;
      } finally {
        c.close(fd);
      }
    };
    return this.netnsPath ? inNetns(c, this.netnsPath, add) : add();
  }

  // ---------- changes ----------

  private request(req: Request): number {
    const fds: number[] = [];
    let bytes: Uint8Array;
    try {
      bytes = buildRequest(req, this.resolver(fds));
    } catch (e) {
      closeAll(fds);
      if (!(e instanceof Unresolved)) throw e;
      this.err += e.missing.text;
      if (e.missing.abort) throw new Abort(e.missing.status);
      return -1;
    }
    let ack: Ack;
    try {
      this.changed = true;
      ack = this.sock.request(bytes);
    } finally {
      closeAll(fds);
    }
    this.cache.clear(); // names and flags may have changed (ip drops its cache entry too)
    if (ack.error === 0) {
      if (ack.message) this.err += extAck('Warning', ack.message);
      return 0;
    }
    this.err += ack.message ? extAck('Error', ack.message) : `RTNETLINK answers: ${this.sock.strerror(-ack.error)}\n`;
    if (req.onKernelError === 'abort2') throw new Abort(2);
    return req.onKernelError === 'fail1' ? -1 : -2;
  }

  private resolver(fds: number[]): Resolver {
    return {
      ifindex: (dev) => this.ifindex(dev),
      nsfd: (ns) => {
        const fd = openNetns(ns);
        if (fd >= 0) fds.push(fd);
        return fd;
      },
      nsid: (ns) => this.nsid(ns),
    };
  }

  /** ll_name_to_index (for runBatch). */
  ifindexOf(dev: string): number {
    return this.ifindex(dev);
  }

  /** ll_name_to_index: the link of that name here, else an "ifN" name read as index N; 0 when neither. */
  private ifindex(dev: string): number {
    const link = this.getLink({ name: dev });
    if (link) return link.index;
    const m = /^if(\d+)$/.exec(dev);
    return m ? Number(m[1]) : 0;
  }

  /** get_netnsid_from_name, assigning an id first when there is none (set_netnsid_from_name). */
  private nsid(ns: string): number {
    const fd = openNetns(ns);
    if (fd < 0) return -1;
    try {
      const get = (): number => {
        const r = this.sock.get(message(RTM.GETNSID, NLM_F_REQUEST, rtgenmsg(AF_UNSPEC), [[NETNSA.FD, u32(fd)]]));
        if (!('payload' in r)) return -1;
        return getI32(parseAttrs(r.payload, 4).get(NETNSA.NSID)) ?? -1;
      };
      let id = get();
      if (id < 0) {
        this.sock.request(message(RTM.NEWNSID, NLM_F_REQUEST | 4, rtgenmsg(AF_UNSPEC), [[NETNSA.FD, u32(fd)], [NETNSA.NSID, i32(-1)]]));
        id = get();
      }
      return id;
    } finally {
      closeSync(fd);
    }
  }

  // ---------- listings ----------

  /** GETLINK of one link by name or index (no statistics); undefined when there is none. */
  private getLink(by: { name?: string; index?: number }, extMask: number = RTEXT_FILTER.SKIP_STATS, family: number = AF_UNSPEC): ReturnType<typeof parseLink> {
    const attrs: Array<[number, Uint8Array]> = [];
    if (by.name !== undefined) {
      if (by.name === '' || Buffer.byteLength(by.name) > 15) return undefined;
      attrs.push([IFLA.IFNAME, cstr(by.name)]);
    }
    attrs.push([IFLA.EXT_MASK, u32(extMask)]);
    const r = this.sock.get(message(RTM.GETLINK, NLM_F_REQUEST, ifinfomsg({ family, index: by.index ?? 0 }), attrs));
    return 'payload' in r ? parseLink(r) : undefined;
  }

  private readonly names: LinkNames = (index) => {
    if (!this.cache.has(index)) {
      const l = this.getLink({ index });
      this.cache.set(index, l ? { name: l.name, up: (l.flags & IFF.UP) !== 0 } : null);
    }
    return this.cache.get(index) ?? undefined;
  };

  private dump(msg: Uint8Array, terminated = 'Dump terminated\n'): Message[] | undefined {
    const d = this.sock.dump(msg);
    if (d.interrupted) this.err += 'Dump was interrupted and may be inconsistent.\n';
    if (!d.error) return d.messages;
    // rtnl_dump_done / rtnl_dump_error: the kernel's message, or perror for most errnos; then the caller gives up
    if (d.error.message) this.err += extAck('Error', d.error.message);
    else if (![2, 95].includes(-d.error.error)) this.err += `RTNETLINK answers: ${this.sock.strerror(-d.error.error)}\n`;
    this.err += terminated;
    return undefined;
  }

  private print(items: Json[]): void {
    if (this.objects) this.lists.push(items);
    else this.out += `${JSON.stringify(items)}\n`;
  }

  /** ipaddr_list_flush_or_save for `link show` / `addr show` [dev D]. */
  private links(c: LinkList): number {
    const o = this.p.options;
    // `link show` lists with preferred_family AF_PACKET (link-layer only)
    const family = c.addresses ? o.family : 17;
    let index = 0;
    if (c.dev !== undefined) {
      index = this.ifindex(c.dev);
      if (index <= 0) {
        this.err += `Device "${c.dev}" does not exist.\n`;
        return -1;
      }
    }
    // do_link is a global in iproute2 that `link show` sets and nothing resets: in a batch, a later `addr show` then
    // prints as `link show` (with `dev`: the link alone, without its addresses)
    if (!c.addresses) this.doLink = true;
    const p = { doLink: this.doLink, details: o.details, numeric: o.numeric, family: family === 17 ? 0 : family };
    if (c.dev !== undefined && this.doLink) {
      const l = this.getLink({ name: c.dev }, RTEXT_FILTER.VF, 17);
      if (!l) {
        this.err += `RTNETLINK answers: ${this.sock.strerror(19)}\n`;
        throw new Abort(1);
      }
      this.print([linkJson(l, p, this.names)]);
      return 0;
    }
    let links: NonNullable<ReturnType<typeof parseLink>>[];
    if (index) {
      const l = this.getLink({ index }, RTEXT_FILTER.VF | RTEXT_FILTER.SKIP_STATS, o.family);
      links = l ? [l] : [];
    } else {
      const msgs = this.dump(message(RTM.GETLINK, NLM_F_REQUEST | NLM_F_DUMP, ifinfomsg({ family: c.addresses ? AF_UNSPEC : 17 }), [[IFLA.EXT_MASK, u32(RTEXT_FILTER.VF)]]));
      if (!msgs) throw new Abort(1);
      links = msgs.map(parseLink).filter((l): l is NonNullable<typeof l> => l !== undefined);
    }
    for (const l of links) this.cache.set(l.index, { name: l.name, up: (l.flags & IFF.UP) !== 0 });
    if (!c.addresses) {
      this.print(links.map((l) => linkJson(l, p, this.names)));
      return 0;
    }
    const msgs = this.dump(message(RTM.GETADDR, NLM_F_REQUEST | NLM_F_DUMP, ifaddrmsg({ family: o.family, index })));
    if (!msgs) throw new Abort(1);
    const addrs = msgs.map(parseAddr).filter((a): a is ParsedAddr => a !== undefined);
    const out: Json[] = [];
    for (const l of links) {
      const mine = addrs.filter((a) => a.index === l.index);
      // ipaddr_filter: a link shows with an address of the family (and scope) asked for, or (no family) with none at all
      const selected = mine.filter((a) => !o.family || a.family === o.family);
      const inScope = (a: ParsedAddr): boolean => !c.scope || ((c.scope.value ^ a.scope) & c.scope.mask) === 0;
      if (!selected.some(inScope) && !(mine.length === 0 && !o.family)) continue;
      // print_selected_addrinfo opens an object per address of the family; print_addrinfo leaves it empty for another scope
      out.push({ ...linkJson(l, p, this.names), addr_info: selected.map((a) => (inScope(a) ? addrJson(a, o.numeric) : {})) });
    }
    this.print(out);
    return 0;
  }

  /** iproute_list_flush_or_save for `route show [table T|all] [dev D] [proto P] [default]`. */
  private routes(c: RouteList): number {
    const o = this.p.options;
    const table = c.table ?? RT_TABLE.MAIN;
    let oif: number | undefined;
    if (c.dev !== undefined) {
      oif = this.ifindex(c.dev);
      if (!oif) {
        this.err += `Cannot find device "${c.dev}"\n`;
        return -1;
      }
    }
    const attrs: Array<[number, Uint8Array]> = [];
    if (table) attrs.push([15 /* RTA_TABLE */, u32(table)]);
    if (oif) attrs.push([4 /* RTA_OIF */, u32(oif)]);
    // without -4/-6 a table's listing is IPv4 only; `table all` lists every family
    const dumpFamily = o.family === AF_UNSPEC && table ? AF_INET : o.family;
    const msgs = this.dump(message(RTM.GETROUTE, NLM_F_REQUEST | NLM_F_DUMP, rtmsg({ family: dumpFamily, protocol: c.protocol ?? 0 }), attrs));
    if (!msgs) {
      if (o.json) this.out += '['; // ip has opened its JSON array when the dump is refused, and exits
      throw new Abort(2);
    }
    const filter = { family: o.family, table, oif, protocol: c.protocol, defaultOnly: c.defaultOnly };
    const out: Json[] = [];
    for (const m of msgs) {
      // the selectors struct rtmsg answers alone, before the attributes are read: `default` among a large table
      if ((filter.defaultOnly && m.payload[1] !== 0) || (filter.protocol !== undefined && m.payload[5] !== filter.protocol)) continue;
      const r = parseRoute(m);
      if (r && routeSelected(r, filter)) out.push(routeJson(r, { numeric: o.numeric, details: o.details, filter }, this.names));
    }
    this.print(out);
    return 0;
  }

  /**
   * iproute_get: one RTM_GETROUTE, answered by the route the kernel would use (or refused: rtnl_talk's error, status
   * 2), printed by print_route with no filter but "cloned or not".
   */
  private routeGet(c: RouteGet): number {
    const r = this.sock.get(routeGetMessage(c));
    if (!('payload' in r)) {
      this.err += r.message ? extAck('Error', r.message) : `RTNETLINK answers: ${this.sock.strerror(-r.error)}\n`;
      return -2;
    }
    const route = parseRoute(r);
    if (!route) return -1;
    const o = this.p.options;
    this.print([routeJson(route, { numeric: o.numeric, details: o.details, filter: { family: 0, table: 0, defaultOnly: false } }, this.names)]);
    return 0;
  }

  /** iprule_list_flush_or_save: the rules of the family (IPv4 when none was given). */
  private rules(_c: RuleList): number {
    const o = this.p.options;
    const family = o.family === AF_UNSPEC ? AF_INET : o.family;
    const msgs = this.dump(message(RTM.GETRULE, NLM_F_REQUEST | NLM_F_DUMP, fibRuleHdr({ family })));
    if (!msgs) return -1;
    this.print(msgs.map((m) => ruleJson(m, o)).filter((j): j is Json => j !== undefined));
    return 0;
  }

  private neighbours(c: NeighList): number {
    const o = this.p.options;
    let index: number | undefined;
    if (c.dev !== undefined) {
      index = this.ifindex(c.dev);
      if (!index) {
        this.err += `Cannot find device "${c.dev}"\n`;
        return -1;
      }
    }
    const attrs: Array<[number, Uint8Array]> = index ? [[8 /* NDA_IFINDEX */, u32(index)]] : [];
    const msgs = this.dump(message(RTM.GETNEIGH, NLM_F_REQUEST | NLM_F_DUMP, ndmsg({ family: o.family }), attrs));
    if (!msgs) throw new Abort(1);
    this.print(msgs.map((m) => neighJson(m, { devFilter: index, family: o.family }, this.names)).filter((j): j is Json => j !== undefined));
    return 0;
  }

  private fdb(c: FdbList): number {
    let index: number | undefined;
    if (c.dev !== undefined) {
      index = this.ifindex(c.dev);
      if (!index) {
        this.err += `Cannot find device "${c.dev}"\n`;
        return -1;
      }
    }
    const msgs = this.dump(message(RTM.GETNEIGH, NLM_F_REQUEST | NLM_F_DUMP, ndmsg({ family: AF_BRIDGE, ifindex: index ?? 0 })));
    if (!msgs) throw new Abort(1);
    this.print(msgs.map((m) => fdbJson(m, { devFilter: index }, this.names)).filter((j): j is Json => j !== undefined));
    return 0;
  }
}

/** nl_dump_ext_ack's print: "Error: msg." / "Warning: msg." (a final '.' added when missing). */
const extAck = (kind: 'Error' | 'Warning', msg: string): string => `${kind}: ${msg}${msg.endsWith('.') ? '' : '.'}\n`;

/** netns_get_fd: a path (contains '/'), else a name under /run/netns; -1 when it cannot be opened. */
function openNetns(ns: string): number {
  try {
    return openSync(ns.includes('/') ? ns : `/run/netns/${ns}`, 'r');
  } catch {
    return -1;
  }
}

function closeAll(fds: number[]): void {
  for (const fd of fds.splice(0)) {
    try {
      closeSync(fd);
    } catch {
      /* already closed */
    }
  }
}


/**
 * Many `ip` / `bridge` change lines sent as ONE batch of netlink messages (one write, one ACK each): every line is
 * tried whatever the others do (as `-force`), names are resolved first. Per line: undefined when done, else the text
 * iproute2 would print for it ("Cannot find device …", "Error: …", "RTNETLINK answers: …"). Undefined overall when the
 * lines cannot all be taken over (a listing, something outside the subset, no FFI): then run the programs.
 */
export function runBatch(lines: ReadonlyArray<{ tool: 'ip' | 'bridge'; line: string }>, netnsPath?: string): Array<string | undefined> | undefined {
  const reqs: Request[] = [];
  for (const { tool, line } of lines) {
    let argv: string[];
    try {
      argv = splitBatch(`${line}\n`)[0]?.argv ?? [];
    } catch {
      return undefined;
    }
    const p = (tool === 'ip' ? parseIp : parseBridge)(argv);
    const c = p?.commands[0]?.command;
    if (!c || c.kind !== 'request') return undefined;
    reqs.push(c);
  }
  let sock: NetlinkSocket | undefined;
  try {
    sock = NetlinkSocket.forNetns(netnsPath);
  } catch {
    return undefined;
  }
  if (!sock) return undefined;
  const x = new Execution(sock, { tool: 'ip', options: { json: false, details: false, numeric: false, family: AF_UNSPEC, force: true }, batch: true, commands: [] }, netnsPath);
  const index = new Map<string, number>();
  const out: Array<string | undefined> = new Array(reqs.length).fill(undefined);
  const msgs: Uint8Array[] = [];
  const sent: number[] = [];
  const fds: number[] = [];
  try {
    reqs.forEach((req, i) => {
      try {
        msgs.push(buildRequest(req, {
          ifindex: (dev) => {
            if (!index.has(dev)) index.set(dev, x.ifindexOf(dev));
            return index.get(dev)!;
          },
          nsfd: (ns) => {
            const fd = openNetns(ns);
            if (fd >= 0) fds.push(fd);
            return fd;
          },
          nsid: () => -1,
        }));
        sent.push(i);
      } catch (e) {
        if (!(e instanceof Unresolved)) throw e;
        out[i] = e.missing.text.trim();
      }
    });
    const acks = msgs.length ? sock.batch(msgs) : [];
    acks.forEach((ack, k) => {
      if (ack.error === 0) return;
      out[sent[k]!] = (ack.message ? extAck('Error', ack.message) : `RTNETLINK answers: ${sock.strerror(-ack.error)}`).trim();
    });
    return out;
  } catch (e) {
    sock.close();
    if (!msgs.length) return undefined;
    return out.map((o) => o ?? `rtnetlink: ${(e as Error).message}`);
  } finally {
    closeAll(fds);
  }
}
