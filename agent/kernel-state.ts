/**
 * Reading the kernel state the data path reconciles against: the VXLAN device (with its addresses), the agent's routes,
 * the device's neighbours and FDB entries; and what underlay detection (underlay.ts, every resync) looks at: the links
 * with their addresses, the default routes, the route to an address. In the shipped executable these are rtnetlink dumps made in-process
 * (lib/netlink.ts through Bun's FFI): one socket round trip each, where an `ip -j … show` exec costs ~12 ms of CPU
 * (mostly exec'ing ip and loading its libraries) — with four of them, a periodic resync with nothing to change would
 * cost ~50 ms of CPU; in-process it costs ~1 ms per thousand peers. Under Node (tests, CNI_TS_NO_FFI=1) or when a
 * dump fails, the same state is read with `ip -j` / `bridge -j`, in the same shapes (lib/iface.ts IpLink, IpRoute).
 */
import type { IpAddrInfo, IpLink, IpRoute } from '../lib/iface.js';
import { run } from '../lib/exec.js';
import { libc, type Libc } from '../lib/native.js';
import {
  AF_BRIDGE, AF_INET, AF_INET6, AF_UNSPEC, IFA_F_DADFAILED, IFA_F_DEPRECATED, IFA_F_SECONDARY, IFA_F_TENTATIVE, IFF_UP, NETLINK_ROUTE, NTF_SELF, NUD_PERMANENT,
  RTM_GETADDR, RTM_GETLINK, RTM_GETNEIGH, RTM_GETROUTE, RTM_NEWADDR, RTM_NEWLINK, RTM_NEWNEIGH, RTM_NEWROUTE, decodeAddr, decodeLink, decodeNeigh, decodeRoute,
  dumpRequest, getLinkByIndexRequest, getLinkRequest, parseMessages, routeGetRequest, type NlAddr,
} from '../lib/netlink.js';
import { Netns } from '../lib/netns.js';
import type { DefaultRoute } from './underlay.js';

export interface Neigh {
  dst: string;
  lladdr?: string;
  state?: string[];
}

export interface Fdb {
  mac: string;
  dst?: string;
  flags?: string[];
  state?: string;
}

export interface KernelReader {
  /** One link by name with its addresses and (vxlan) settings, as `ip -d -j addr show dev NAME`; undefined if absent. */
  link(name: string): IpLink | undefined;
  /** Routes of the main table with protocol `proto`, of the given families; `names` resolves device indexes. */
  routes(proto: number, v6: boolean, names: readonly string[]): IpRoute[];
  /** Neighbours on `dev` (both families). */
  neighs(dev: string): Neigh[];
  /** FDB entries on `dev`. */
  fdb(dev: string): Fdb[];
  /** Every link with its addresses (flags: secondary, temporary, tentative, dadfailed, deprecated), as `ip -j addr show`. */
  links(): IpLink[];
  /** Default routes of the main table, IPv4 first (device, metric, ECMP next hops), as `ip -j route show default` (and -6). */
  defaultRoutes(): DefaultRoute[];
  /** The device and source address the kernel would use to reach `addr` (`ip -j route get ADDR`); undefined: no route. */
  routeGet(addr: string): { dev?: string; prefsrc?: string } | undefined;
  readonly kind: 'netlink' | 'exec';
}

const host = Netns.host();

function ipJson<T>(args: string[]): T | undefined {
  const r = host.ip(['-j', ...args]);
  if (r.status !== 0) return undefined;
  const t = r.stdout.trim();
  return (t ? JSON.parse(t) : []) as T;
}

/** `ip -j` / `bridge -j` execs. */
export const execReader: KernelReader = {
  kind: 'exec',
  link: (name) => ipJson<IpLink[]>(['-d', 'addr', 'show', 'dev', name])?.[0],
  routes: (proto, v6) => [...(ipJson<IpRoute[]>(['route', 'show', 'proto', String(proto)]) ?? []), ...(v6 ? (ipJson<IpRoute[]>(['-6', 'route', 'show', 'proto', String(proto)]) ?? []) : [])],
  neighs: (dev) => ipJson<Neigh[]>(['neigh', 'show', 'dev', dev]) ?? [],
  fdb: (dev) => {
    const r = run('bridge', ['-j', 'fdb', 'show', 'dev', dev]);
    return r.status === 0 && r.stdout.trim() ? (JSON.parse(r.stdout) as Fdb[]) : [];
  },
  links: () => ipJson<IpLink[]>(['addr', 'show']) ?? [],
  defaultRoutes: () => [...(ipJson<DefaultRoute[]>(['route', 'show', 'default']) ?? []), ...(ipJson<DefaultRoute[]>(['-6', 'route', 'show', 'default']) ?? [])],
  routeGet: (addr) => ipJson<Array<{ dev?: string; prefsrc?: string }>>(['route', 'get', addr])?.[0],
};

const RT_TABLE_MAIN = 254;
const RTN_UNICAST = 1;
const SCOPES: Record<number, string> = { 0: 'global', 200: 'site', 253: 'link', 254: 'host', 255: 'nowhere' };

/** An address as `ip -j addr show` prints it, flags included (IPv4: "secondary"; IPv6: "temporary"). */
function addrInfo(a: NlAddr): IpAddrInfo & Record<string, unknown> {
  const v6 = a.family === AF_INET6;
  const info: IpAddrInfo & Record<string, unknown> = { family: v6 ? 'inet6' : 'inet', local: a.local!, prefixlen: a.prefixlen, scope: SCOPES[a.scope] ?? String(a.scope) };
  if (a.flags & IFA_F_SECONDARY) info[v6 ? 'temporary' : 'secondary'] = true;
  if (a.flags & IFA_F_TENTATIVE) info.tentative = true;
  if (a.flags & IFA_F_DADFAILED) info.dadfailed = true;
  if (a.flags & IFA_F_DEPRECATED) info.deprecated = true;
  if (a.preferred !== undefined) info.preferred_life_time = a.preferred; // 4294967295: forever, as iproute2 prints it
  return info;
}

/** In-process rtnetlink dumps (see the top of this file). */
export function netlinkReader(c: Libc): KernelReader {
  const dump = (type: number, family: number, bodyLen: number) => parseMessages(c.netlinkExchange(NETLINK_ROUTE, dumpRequest(type, family, bodyLen)));
  const index = (name: string): number => c.ifNameToIndex(name);
  const addrDump = (): NlAddr[] => dump(RTM_GETADDR, AF_UNSPEC, 8).filter((x) => x.type === RTM_NEWADDR).map(decodeAddr).filter((a) => !!a.local);
  const linkDump = () => dump(RTM_GETLINK, AF_UNSPEC, 16).filter((x) => x.type === RTM_NEWLINK).map(decodeLink);
  return {
    kind: 'netlink',
    link(name) {
      let msgs;
      try {
        msgs = parseMessages(c.netlinkExchange(NETLINK_ROUTE, getLinkRequest(name)));
      } catch (e) {
        if ((e as { errno?: number }).errno === 19) return undefined; // ENODEV
        throw e;
      }
      const m = msgs.find((x) => x.type === RTM_NEWLINK);
      if (!m) return undefined;
      const l = decodeLink(m);
      const addrs = addrDump().filter((a) => a.index === l.ifindex);
      const info: Record<string, unknown> = {};
      if (l.vxlan) {
        const under = l.vxlan.link;
        info.id = l.vxlan.id;
        info.port = l.vxlan.port;
        info.local = l.vxlan.local;
        if (l.vxlan.local?.includes(':')) info.local6 = l.vxlan.local;
        // The underlay's name, as iproute2 prints it: only the index is in the message.
        if (under) info.link = nameOfIndex(c, under);
      }
      return {
        ifindex: l.ifindex,
        ifname: l.ifname,
        mtu: l.mtu,
        address: l.address,
        flags: l.flags & IFF_UP ? ['UP'] : [],
        linkinfo: l.kind ? { info_kind: l.kind, info_data: info } : undefined,
        addr_info: addrs.map(addrInfo),
      } as IpLink;
    },
    links() {
      const byIndex = new Map<number, IpAddrInfo[]>();
      for (const a of addrDump()) byIndex.set(a.index, [...(byIndex.get(a.index) ?? []), addrInfo(a)]);
      return linkDump().map((l) => ({ ifindex: l.ifindex, ifname: l.ifname, mtu: l.mtu, address: l.address, flags: l.flags & IFF_UP ? ['UP'] : [], addr_info: byIndex.get(l.ifindex) ?? [] }) as IpLink);
    },
    defaultRoutes() {
      const found: ReturnType<typeof decodeRoute>[] = [];
      for (const fam of [AF_INET, AF_INET6]) {
        for (const m of dump(RTM_GETROUTE, fam, 12)) {
          // dst_len 0 straight from struct rtmsg before decoding attributes: only default routes are wanted.
          if (m.type !== RTM_NEWROUTE || m.payload.getUint8(1) !== 0) continue;
          const r = decodeRoute(m);
          if (r.table === RT_TABLE_MAIN && r.type === RTN_UNICAST) found.push(r);
        }
      }
      if (!found.length) return [];
      const names = new Map(linkDump().map((l) => [l.ifindex, l.ifname] as const));
      return found.map((r) => ({
        ...(r.oif !== undefined ? { dev: names.get(r.oif) ?? `if${r.oif}` } : {}),
        ...(r.metric !== undefined ? { metric: r.metric } : {}),
        ...(r.nexthops ? { nexthops: r.nexthops.map((h) => ({ dev: names.get(h.oif) ?? `if${h.oif}`, gateway: h.gateway })) } : {}),
      }));
    },
    routeGet(addr) {
      let msgs;
      try {
        msgs = parseMessages(c.netlinkExchange(NETLINK_ROUTE, routeGetRequest(addr)));
      } catch (e) {
        if ((e as { errno?: number }).errno !== undefined) return undefined; // ENETUNREACH, EHOSTUNREACH…: no route
        throw e;
      }
      const m = msgs.find((x) => x.type === RTM_NEWROUTE);
      if (!m) return undefined;
      const r = decodeRoute(m);
      return { dev: r.oif !== undefined ? nameOfIndex(c, r.oif) : undefined, prefsrc: r.prefsrc };
    },
    routes(proto, v6, names) {
      const byIndex = new Map(names.map((n) => [index(n), n] as const).filter(([i]) => i > 0));
      const out: IpRoute[] = [];
      for (const fam of v6 ? [AF_INET, AF_INET6] : [AF_INET]) {
        for (const m of dump(RTM_GETROUTE, fam, 12)) {
          // protocol and table straight from struct rtmsg before decoding attributes: a node may hold many routes.
          if (m.type !== RTM_NEWROUTE || m.payload.getUint8(5) !== proto) continue;
          const r = decodeRoute(m);
          if (r.table !== RT_TABLE_MAIN || r.type !== RTN_UNICAST) continue;
          out.push({ dst: r.dst, gateway: r.gateway, dev: r.oif !== undefined ? (byIndex.get(r.oif) ?? `if${r.oif}`) : undefined, flags: r.onlink ? ['onlink'] : [] });
        }
      }
      return out;
    },
    neighs(dev) {
      const idx = index(dev);
      if (!idx) return [];
      const out: Neigh[] = [];
      for (const fam of [AF_INET, AF_INET6]) {
        for (const m of dump(RTM_GETNEIGH, fam, 12)) {
          if (m.type !== RTM_NEWNEIGH || m.payload.getInt32(4, true) !== idx) continue;
          const n = decodeNeigh(m);
          if (n.dst) out.push({ dst: n.dst, lladdr: n.lladdr, state: n.state & NUD_PERMANENT ? ['PERMANENT'] : [] });
        }
      }
      return out;
    },
    fdb(dev) {
      const idx = index(dev);
      if (!idx) return [];
      const out: Fdb[] = [];
      for (const m of dump(RTM_GETNEIGH, AF_BRIDGE, 12)) {
        if (m.type !== RTM_NEWNEIGH || m.payload.getInt32(4, true) !== idx) continue;
        const f = decodeNeigh(m);
        if (f.lladdr) out.push({ mac: f.lladdr, dst: f.dst, flags: f.flags & NTF_SELF ? ['self'] : [], state: f.state & NUD_PERMANENT ? 'permanent' : undefined });
      }
      return out;
    },
  };
}

/** A link's name from its index (only used for the VXLAN device's underlay). */
function nameOfIndex(c: Libc, idx: number): string {
  try {
    const m = parseMessages(c.netlinkExchange(NETLINK_ROUTE, getLinkByIndexRequest(idx))).find((x) => x.type === RTM_NEWLINK);
    return m ? decodeLink(m).ifname : `if${idx}`;
  } catch {
    return `if${idx}`;
  }
}

/**
 * The reader to use: netlink when the executable's FFI is there, each call falling back to the exec reader if a dump
 * fails (logged once through `warn`).
 */
export function kernelReader(warn: (msg: string) => void = () => undefined): KernelReader {
  const c = libc();
  if (!c) return execReader;
  const nl = netlinkReader(c);
  let warned = false;
  const safe =
    <A extends unknown[], R>(f: (...a: A) => R, g: (...a: A) => R) =>
    (...a: A): R => {
      try {
        return f(...a);
      } catch (e) {
        if (!warned) warn(`reading the kernel state over netlink failed (${(e as Error).message}): using ip/bridge instead`);
        warned = true;
        return g(...a);
      }
    };
  return {
    kind: 'netlink',
    link: safe(nl.link, execReader.link),
    routes: safe(nl.routes, execReader.routes),
    neighs: safe(nl.neighs, execReader.neighs),
    fdb: safe(nl.fdb, execReader.fdb),
    links: safe(nl.links, execReader.links),
    defaultRoutes: safe(nl.defaultRoutes, execReader.defaultRoutes),
    routeGet: safe(nl.routeGet, execReader.routeGet),
  };
}
