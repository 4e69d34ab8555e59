/**
 * Reading the kernel state the data path reconciles against: the VXLAN device (with its addresses), the agent's routes,
 * the device's neighbours and FDB entries; and what underlay detection (underlay.ts, every resync) looks at: the links
 * with their addresses, the default routes, the route to an address. Each is one `ip -j` / `bridge -j` listing
 * (lib/iface.ts IpLink, IpRoute; Neigh and Fdb below), read through Netns.list: in the shipped executable the listing
 * runs in-process on lib/rtnetlink — the one netlink client the plugins use too: a dump on its socket (the kernel
 * filtering by protocol, device and family where the request names them), and the objects `ip` would print handed over
 * as objects, no text — where an `ip -j … show` exec costs ~12 ms of CPU (mostly exec'ing ip and loading its
 * libraries). Under Node (tests, CNI_TS_NO_FFI=1), for a line lib/rtnetlink does not take over, or when its socket
 * cannot be opened, the program runs and its output is parsed: the same objects (test/integration/rtnetlink-compat).
 */
import type { IpLink, IpRoute } from '../lib/iface.js';
import { libc } from '../lib/native.js';
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
  /** Routes of the main table with protocol `proto`, IPv4 and (`v6`) IPv6, as `ip -j [-6] route show proto P`. */
  routes(proto: number, v6: boolean): IpRoute[];
  /** Neighbours on `dev` (both families), as `ip -j neigh show dev DEV`. */
  neighs(dev: string): Neigh[];
  /** FDB entries on `dev`, as `bridge -j fdb show dev DEV`. */
  fdb(dev: string): Fdb[];
  /** Every link with its addresses (flags: secondary, temporary, tentative, dadfailed, deprecated), as `ip -j addr show`. */
  links(): IpLink[];
  /** Default routes of the main table, IPv4 first (device, metric, ECMP next hops), as `ip -j route show default` (and -6). */
  defaultRoutes(): DefaultRoute[];
  /** The device and source address the kernel would use to reach `addr` (`ip -j route get ADDR`); undefined: no route. */
  routeGet(addr: string): { dev?: string; prefsrc?: string } | undefined;
  /** In-process over lib/rtnetlink (the executable) or the ip/bridge programs (Node, CNI_TS_NO_FFI=1). */
  readonly kind: 'netlink' | 'exec';
}

/** A `-j` listing's objects (ARGS without the -j); [] when it fails (a device that is not there lists nothing). */
export type Lister = <T>(tool: 'ip' | 'bridge', args: string[]) => T[];

const host = Netns.host();
const hostList: Lister = <T>(tool: 'ip' | 'bridge', args: string[]): T[] => host.list<T>(tool, args).items;

/** The reader of the namespace this process runs in (`list`: unit tests run the listings against a stand-in kernel). */
export function kernelReader(list: Lister = hostList): KernelReader {
  return {
    kind: libc() ? 'netlink' : 'exec',
    link: (name) => list<IpLink>('ip', ['-d', 'addr', 'show', 'dev', name])[0],
    routes: (proto, v6) => [...list<IpRoute>('ip', ['route', 'show', 'proto', String(proto)]), ...(v6 ? list<IpRoute>('ip', ['-6', 'route', 'show', 'proto', String(proto)]) : [])],
    neighs: (dev) => list<Neigh>('ip', ['neigh', 'show', 'dev', dev]),
    fdb: (dev) => list<Fdb>('bridge', ['fdb', 'show', 'dev', dev]),
    links: () => list<IpLink>('ip', ['addr', 'show']),
    defaultRoutes: () => [...list<DefaultRoute>('ip', ['route', 'show', 'default']), ...list<DefaultRoute>('ip', ['-6', 'route', 'show', 'default'])],
    routeGet: (addr) => list<{ dev?: string; prefsrc?: string }>('ip', ['route', 'get', addr])[0],
  };
}
