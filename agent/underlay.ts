/**
 * The underlay: the interface and address(es) this node reaches its peers on, its MTU, and the networks directly
 * connected to it (a host-gw peer must be on one of them). Chosen as flannel does, in this order:
 *
 *   --iface NAME (with --public-ip: that address must be on it), else the interface holding --public-ip,
 *   --iface-regex (the first interface with a matching address, else with a matching name),
 *   --iface-can-reach ADDR (what `ip route get ADDR` picks: its device and source address),
 *   the Node's InternalIP(s) (Kubernetes mode: --node-ips from the downward API, or read from the Node),
 *   the default route's interface (the lowest metric; an ECMP route's first next hop).
 *
 * Addresses picked automatically are global, neither tentative, failed, deprecated nor temporary (IPv6 privacy
 * addresses change every few hours), IPv4 primaries before secondaries; one per family. Re-run on every resync, so a
 * changed address or MTU is picked up. Choosing is pure (chooseUnderlay); detectUnderlay reads the kernel through a
 * KernelReader (kernel-state.ts): `ip -j` listings, run in-process on lib/rtnetlink in the shipped executable (a
 * resync with nothing to do stays within its CPU budget), by the program otherwise.
 */
import { formatCIDR, ipEqual, networkOf, parseCIDR, parseIP } from '../lib/ip.js';
import type { IpAddrInfo, IpLink } from '../lib/iface.js';
import { kernelReader, type KernelReader } from './kernel-state.js';

export interface Underlay {
  iface: string;
  /** The underlay address used for VXLAN and published to peers (first of publicIPs). */
  publicIPs: string[];
  mtu: number;
  /** Networks directly connected to the underlay interface ("192.168.1.0/24"): host-gw peers must be inside one. */
  onLink?: string[];
}

export interface UnderlaySelection {
  publicIPs: readonly string[];
  iface: string;
  ifaceRegex: string;
  ifaceCanReach: string;
  /** The Node's InternalIPs (Kubernetes mode). */
  nodeIPs: readonly string[];
}

/** A default route as `ip -j route show default` prints it (ECMP: next hops instead of a device). */
export interface DefaultRoute {
  dev?: string;
  metric?: number;
  nexthops?: Array<{ dev?: string; gateway?: string }>;
}

export interface KernelView {
  links: IpLink[];
  /** IPv4 default routes first, then IPv6. */
  defaultRoutes: DefaultRoute[];
  /** `ip route get <--iface-can-reach>`: device and source address. */
  reach?: { dev?: string; prefsrc?: string };
}

const sameIP = (a: string | undefined, b: string | undefined): boolean => {
  const x = a ? parseIP(a) : undefined;
  const y = b ? parseIP(b) : undefined;
  return !!x && !!y && ipEqual(x, y);
};

/** Usable as this node's address: global, settled (not tentative or failed), current (not deprecated), not temporary. */
export function usableAddress(a: IpAddrInfo & Record<string, unknown>): boolean {
  if (a.scope !== 'global' || a.tentative || a.dadfailed) return false;
  if (a.family === 'inet6' && (a.temporary || a.deprecated || a.preferred_life_time === 0)) return false;
  return true;
}

/** One address per family (IPv4 first): primaries before secondaries. */
export function pickAddresses(link: IpLink): string[] {
  const addrs = (link.addr_info ?? []) as Array<IpAddrInfo & Record<string, unknown>>;
  const usable = addrs.filter(usableAddress);
  const v4 = usable.filter((a) => a.family === 'inet').sort((a, b) => Number(!!a.secondary) - Number(!!b.secondary))[0];
  const v6 = usable.find((a) => a.family === 'inet6');
  return [v4?.local, v6?.local].filter((x): x is string => !!x);
}

/** The networks of the interface's addresses (link-local ones left out). */
export function onLinkNetworks(link: IpLink): string[] {
  const out = new Set<string>();
  for (const a of link.addr_info ?? []) {
    if (a.scope === 'link' || a.scope === 'host') continue;
    const c = parseCIDR(`${a.local}/${a.prefixlen}`);
    if (c) out.add(formatCIDR(networkOf(c)));
  }
  return [...out];
}

/** The device of the best default route (lowest metric; for ECMP, its first next hop). */
export function defaultRouteDevice(routes: readonly DefaultRoute[]): string | undefined {
  const withDev = routes.map((r, i) => ({ dev: r.dev ?? r.nexthops?.find((h) => h.dev)?.dev, metric: r.metric ?? 0, i })).filter((r) => r.dev);
  withDev.sort((a, b) => a.metric - b.metric || a.i - b.i);
  return withDev[0]?.dev;
}

const holding = (links: readonly IpLink[], ip: string): IpLink | undefined => links.find((l) => (l.addr_info ?? []).some((a) => sameIP(a.local, ip)));

/** Choose the underlay (pure). Throws with one line saying what is missing and which flag to give. */
export function chooseUnderlay(sel: UnderlaySelection, k: KernelView): Underlay {
  const byName = (n: string): IpLink => {
    const l = k.links.find((x) => x.ifname === n);
    if (!l) throw new Error(`underlay interface ${n} does not exist`);
    return l;
  };
  let link: IpLink | undefined;
  let ips: string[] | undefined;
  let how = '';
  if (sel.iface) {
    link = byName(sel.iface);
    how = '--iface';
  } else if (sel.publicIPs.length) {
    link = holding(k.links, sel.publicIPs[0]!);
    if (!link) throw new Error(`--public-ip ${sel.publicIPs[0]} is not an address of any interface of this node`);
    how = '--public-ip';
  } else if (sel.ifaceRegex) {
    const re = new RegExp(sel.ifaceRegex);
    const candidates = k.links.filter((l) => l.ifname !== 'lo');
    for (const l of candidates) {
      const a = (l.addr_info ?? []).find((x) => usableAddress(x as IpAddrInfo & Record<string, unknown>) && re.test(x.local));
      if (a) {
        link = l;
        ips = [a.local];
        break;
      }
    }
    link ??= candidates.find((l) => re.test(l.ifname));
    if (!link) throw new Error(`--iface-regex ${sel.ifaceRegex}: no interface name or address matches`);
    how = '--iface-regex';
  } else if (sel.ifaceCanReach) {
    if (!k.reach?.dev) throw new Error(`--iface-can-reach ${sel.ifaceCanReach}: this node has no route to it`);
    link = byName(k.reach.dev);
    if (k.reach.prefsrc) ips = [k.reach.prefsrc];
    how = '--iface-can-reach';
  } else if (sel.nodeIPs.length) {
    const local = sel.nodeIPs.filter((ip) => holding(k.links, ip));
    if (local.length === 0) throw new Error(`the Node's InternalIP ${sel.nodeIPs.join(', ')} is not an address of this machine (another machine with this node name? give --public-ip or --iface)`);
    link = holding(k.links, local[0]!)!;
    ips = local.filter((ip) => holding(k.links, ip) === link);
    how = "the Node's InternalIP";
  } else {
    const dev = defaultRouteDevice(k.defaultRoutes);
    if (!dev) throw new Error('cannot find the underlay interface: no default route; give --iface, --iface-regex, --iface-can-reach or --public-ip');
    link = byName(dev);
    how = 'the default route';
  }
  if (sel.publicIPs.length) {
    for (const ip of sel.publicIPs) {
      if (!(link.addr_info ?? []).some((a) => sameIP(a.local, ip))) throw new Error(`--public-ip ${ip} is not an address of ${link.ifname}`);
    }
    ips = [...sel.publicIPs];
  }
  ips ??= pickAddresses(link);
  if (ips.length === 0) throw new Error(`underlay interface ${link.ifname} (chosen by ${how}) has no usable global address; give --public-ip`);
  return { iface: link.ifname, publicIPs: ips, mtu: link.mtu ?? 1500, onLink: onLinkNetworks(link) };
}

/** Read the kernel (in the agent's network namespace) and choose. */
export function detectUnderlay(sel: UnderlaySelection, reader: KernelReader = kernelReader()): Underlay {
  const needsRoutes = !sel.iface && !sel.publicIPs.length && !sel.ifaceRegex && !sel.ifaceCanReach && !sel.nodeIPs.length;
  const view: KernelView = { links: reader.links(), defaultRoutes: needsRoutes ? reader.defaultRoutes() : [] };
  if (sel.ifaceCanReach && !sel.iface && !sel.publicIPs.length && !sel.ifaceRegex) view.reach = reader.routeGet(sel.ifaceCanReach);
  return chooseUnderlay(sel, view);
}

/** What changed between two underlays, for the log ("address 10.0.0.1 → 10.0.0.2, MTU 1500 → 9000"); empty when nothing. */
export function underlayChanges(a: Underlay, b: Underlay): string[] {
  const out: string[] = [];
  if (a.iface !== b.iface) out.push(`interface ${a.iface} → ${b.iface}`);
  if (a.publicIPs.join(',') !== b.publicIPs.join(',')) out.push(`address ${a.publicIPs.join(',')} → ${b.publicIPs.join(',')}`);
  if (a.mtu !== b.mtu) out.push(`MTU ${a.mtu} → ${b.mtu}`);
  return out;
}
