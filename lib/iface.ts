/**
 * Interface configuration shared by bridge, macvlan and ipvlan: applying an IPAM result to an interface
 * (the reference's ipam.ConfigureIface), checking it (CHECK), deleting it (DEL), and the MAC a runtime asks for.
 * Command generation is pure; the functions taking a Netns do the I/O.
 */
import { CniError, ErrorCode, pluginError } from './cni/errors.js';
import { argsCni, capability } from './cni/config.js';
import type { IPConfig, Result, Route } from './cni/result.js';
import type { CniContext } from './cni/skel.js';
import { isGlobalUnicast, parseCIDR, parseIP, formatIP, networkOf, formatCIDR } from './ip.js';
import { Netns, isNotFound } from './netns.js';

export interface IpAddrInfo {
  family: 'inet' | 'inet6';
  local: string;
  prefixlen: number;
  scope?: string;
  flags?: string[];
  tentative?: boolean;
  dadfailed?: boolean;
}

export interface IpLink {
  ifindex: number;
  ifname: string;
  link?: string;
  link_index?: number;
  flags?: string[];
  mtu?: number;
  txqlen?: number;
  /** ether, loopback, none (tun), ipip, … */
  link_type?: string;
  address?: string;
  operstate?: string;
  master?: string;
  /** IFLA_IFALIAS (host-device keeps the host name of a moved link there). */
  ifalias?: string;
  link_netnsid?: number;
  linkinfo?: { info_kind?: string; info_data?: Record<string, unknown>; info_slave_kind?: string; info_slave_data?: Record<string, unknown> };
  addr_info?: IpAddrInfo[];
}

export interface IpRoute {
  dst: string;
  gateway?: string;
  dev?: string;
  protocol?: string;
  scope?: string;
  metric?: number;
  table?: string;
  flags?: string[];
}

const familyOf = (cidr: string): 4 | 6 => (parseCIDR(cidr)?.ip.family === 6 ? 6 : 4);

/** The IPs of `result` that belong to the interface at `ifaceIndex` (IPs with no index belong to every interface). */
export function ipsForInterface(result: Result, ifaceIndex: number | undefined): IPConfig[] {
  return (result.ips ?? []).filter((ip) => ip.interface === undefined || ifaceIndex === undefined || ip.interface === ifaceIndex);
}

/** Sysctls to apply in the container before its addresses: IPv6 must be enabled when a v6 address comes. */
export function ifaceSysctls(ifname: string, ips: readonly IPConfig[]): Record<string, string> {
  if (!ips.some((ip) => familyOf(ip.address) === 6)) return {};
  return {
    'net/ipv6/conf/lo/disable_ipv6': '0',
    [`net/ipv6/conf/${ifname}/disable_ipv6`]: '0',
    [`net/ipv6/conf/${ifname}/keep_addr_on_down`]: '1',
  };
}

function routeLine(ifname: string, r: Route, gw: string | undefined): string {
  const parts = ['route', 'add', r.dst];
  if (gw) parts.push('via', gw);
  parts.push('dev', ifname);
  if (r.priority !== undefined) parts.push('metric', String(r.priority));
  if (r.table !== undefined) parts.push('table', String(r.table));
  if (r.scope !== undefined) parts.push('scope', String(r.scope));
  // No '-6' prefix: `ip -batch` takes no options per line, and the CIDR dst already selects the family.
  return parts.join(' ');
}

/** `ip -batch` lines adding `routes` on `ifname`; a route without "gw" goes via the first gateway of its family in `ips`. */
export function routeLines(ifname: string, ips: readonly IPConfig[], routes: readonly Route[]): string[] {
  const gw4 = ips.find((ip) => ip.gateway && familyOf(ip.address) === 4)?.gateway;
  const gw6 = ips.find((ip) => ip.gateway && familyOf(ip.address) === 6)?.gateway;
  return routes.map((r) => routeLine(ifname, r, r.gw ?? (familyOf(r.dst) === 4 ? gw4 : gw6)));
}

/**
 * ` brd +` for an IPv4 prefix shorter than /31: the broadcast address the reference's netlink library sets on every
 * IPv4 address it adds (`ip addr add` alone sets none).
 */
export function broadcastOption(cidr: string): string {
  const c = parseCIDR(cidr);
  return c && c.ip.family === 4 && c.prefix < 31 ? ' brd +' : '';
}

/** `ip -batch` lines that put the addresses on `ifname`, set it up and add the routes (gateway defaulting per family). */
export function configureIfaceCommands(ifname: string, ips: readonly IPConfig[], routes: readonly Route[] = []): string[] {
  return [...ips.map((ip) => `addr add ${ip.address}${broadcastOption(ip.address)} dev ${ifname}`), `link set ${ifname} up`, ...routeLines(ifname, ips, routes)];
}

/** Read one link (with addresses) from `ns`; undefined when it does not exist. */
export function readLink(ns: Netns, ifname: string, details = false): IpLink | undefined {
  const r = ns.ip(['-j', ...(details ? ['-d'] : []), 'addr', 'show', 'dev', ifname]);
  if (r.status !== 0) {
    if (isNotFound(r.stderr)) return undefined;
    throw pluginError(`failed to read ${ifname} in ${ns.label}`, r.stderr.trim());
  }
  return (JSON.parse(r.stdout || '[]') as IpLink[])[0];
}

/**
 * Delete `ifname` in `ns` and return the global unicast addresses it had (DEL uses them to remove masquerade rules).
 * One `ip -batch` (in-process in the executable). A missing netns or link is not an error.
 */
export function deleteLinkCapturingAddrs(ns: Netns, ifname: string): { existed: boolean; addresses: string[] } {
  if (!ns.exists()) return { existed: false, addresses: [] };
  const r = ns.ip(['-j', '-batch', '-'], `addr show dev ${ifname}\nlink del ${ifname}\n`);
  if (r.status !== 0) {
    if (isNotFound(r.stderr)) return { existed: false, addresses: [] };
    throw pluginError(`failed to delete ${ifname} in ${ns.label}`, r.stderr.trim());
  }
  const link = (JSON.parse(r.stdout.trim() || '[]') as IpLink[])[0];
  return { existed: true, addresses: globalAddresses(link) };
}

/** A link's global unicast addresses as CIDRs (what DEL-time cleanups key on: no link-local, loopback, multicast). */
export function globalAddresses(link: IpLink | undefined): string[] {
  return (link?.addr_info ?? [])
    .filter((a) => {
      const ip = parseIP(a.local);
      return ip !== undefined && isGlobalUnicast(ip);
    })
    .map((a) => `${a.local}/${a.prefixlen}`);
}

/**
 * DEL of the container's interface `ctx.ifname` (for a veth, its host end goes with it); nothing when the netns or
 * the link is gone. One `link del` (in-process over rtnetlink in the executable); when the caller needs the addresses
 * the link had (`captureAddresses`: masquerade teardown without a prevResult), one batch reads and deletes. Returns
 * the captured global addresses (empty when not captured).
 */
export function deleteContainerLink(ctx: CniContext, captureAddresses: boolean): string[] {
  if (!ctx.netns) return [];
  const ns = Netns.at(ctx.netns);
  if (!ns.exists()) return [];
  if (captureAddresses) return deleteLinkCapturingAddrs(ns, ctx.ifname).addresses;
  const r = ns.ip(['link', 'del', 'dev', ctx.ifname]);
  if (r.status !== 0 && !isNotFound(r.stderr)) throw pluginError(`failed to delete ${ctx.ifname} in ${ns.label}`, r.stderr.trim());
  return [];
}

/** CHECK: every expected address is on the interface. */
export function checkInterfaceIPs(link: IpLink, ips: readonly IPConfig[]): void {
  const have = new Set((link.addr_info ?? []).map((a) => `${formatIP(parseIP(a.local)!)}/${a.prefixlen}`));
  for (const ip of ips) {
    const c = parseCIDR(ip.address);
    const want = c ? `${formatIP(c.ip)}/${c.prefix}` : ip.address;
    if (!have.has(want)) throw pluginError(`Failed to match addr ${ip.address} on interface ${link.ifname}`);
  }
}

/**
 * CHECK: every expected route (dst, and gw when given) is present in `ns` (any table; with `devOnly`, only routes
 * through `ifname`).
 */
export function checkRoutes(ns: Netns, ifname: string, routes: readonly Route[], devOnly = false): void {
  if (routes.length === 0) return;
  // Per family: `ip -j` prints both defaults as "default".
  const have = new Map<4 | 6, IpRoute[]>();
  for (const fam of new Set(routes.map((r) => familyOf(r.dst)))) {
    have.set(fam, ns.ipJson<IpRoute[]>([fam === 6 ? '-6' : '-4', 'route', 'show', ...(devOnly ? ['dev', ifname] : ['table', 'all'])]));
  }
  const norm = (dst: string, fam: 4 | 6): string => {
    if (dst === 'default') return fam === 4 ? '0.0.0.0/0' : '::/0';
    const c = parseCIDR(dst.includes('/') ? dst : `${dst}/${fam === 4 ? 32 : 128}`);
    return c ? formatCIDR(networkOf(c)) : dst;
  };
  for (const r of routes) {
    const fam = familyOf(r.dst);
    const dst = norm(r.dst, fam);
    const found = have.get(fam)!.some(
      (h) => norm(h.dst, fam) === dst && (!r.gw || (h.gateway !== undefined && parseIP(h.gateway) && formatIP(parseIP(h.gateway)!) === formatIP(parseIP(r.gw)!))),
    );
    if (!found) throw pluginError(`Failed to match route ${r.dst}${r.gw ? ` via ${r.gw}` : ''} on interface ${ifname}`);
  }
}

const MAC_PATTERN = /^([0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}$/;

/** The MAC a runtime asks for: runtimeConfig.mac, then args.cni.mac, then CNI_ARGS MAC= (as the reference orders them). */
export function requestedMac(ctx: CniContext, cniArgs: Record<string, string>): string | undefined {
  const candidates: Array<[unknown, string]> = [
    [capability(ctx.conf, 'mac'), 'runtimeConfig.mac'],
    [argsCni(ctx.conf, 'mac'), 'args.cni.mac'],
    [cniArgs.MAC, 'CNI_ARGS MAC'],
  ];
  for (const [v, where] of candidates) {
    if (v === undefined || v === null || v === '') continue;
    if (typeof v !== 'string' || !MAC_PATTERN.test(v)) {
      throw new CniError(ErrorCode.InvalidNetworkConfig, `invalid MAC address ${JSON.stringify(v)} in ${where}`);
    }
    return v.toLowerCase();
  }
  return undefined;
}
