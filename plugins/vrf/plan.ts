/**
 * Putting an interface into a VRF, planned from what `ip -d -j link show` and `ip -N -j route/addr show` list: which
 * VRF to create (and its table), the enslaving, the global IPv6 addresses to put back and the routes to move into the
 * VRF's table (ADD); the nomaster and the VRF's removal (DEL). Pure: no I/O.
 */
import { pluginError } from '../../lib/cni/errors.js';
import type { IpLink } from '../../lib/iface.js';
import { routeSpec, routeType, type RouteEntry } from '../../lib/routes.js';
import type { VrfConf } from './config.js';

export type { RouteEntry };

export interface AddrEntry {
  local: string;
  prefixlen: number;
  scope?: string;
}

const isVrf = (l: IpLink | undefined): boolean => l?.linkinfo?.info_kind === 'vrf';
export const vrfTable = (l: IpLink): number | undefined => {
  const t = l.linkinfo?.info_data?.table;
  return typeof t === 'number' ? t : undefined;
};

/** The first table id ≥ 1 no VRF of the netns uses (the reference's findFreeRoutingTableID). */
export function freeTable(links: readonly IpLink[]): number {
  const taken = new Set(links.filter(isVrf).map(vrfTable));
  let t = 1;
  while (taken.has(t) || t === 253 || t === 254 || t === 255) t++;
  return t;
}

export interface VrfAddPlan {
  /** Whether the VRF is made by this ADD (and so removed again when a later step fails). */
  create: boolean;
  table: number;
  lines: string[];
  /** The line index (0-based) of the enslaving; lines before it create the VRF. */
  enslaveAt: number;
}

/**
 * The routes of the interface that enslaving takes out of the main table and ADD puts into the VRF's: those the
 * kernel does not make itself (not `proto kernel`, which come back in the VRF table with the addresses), of global
 * scope (0), IPv6 link-local and multicast left out.
 */
export function routesToMove(routes: readonly RouteEntry[]): RouteEntry[] {
  return routes.filter((r) => r.protocol !== '2' && r.protocol !== 'kernel' && (r.scope === undefined || r.scope === '0') && !/^(fe80|ff[0-9a-f]{2}):/i.test(r.dst) && routeType(r) === 'unicast');
}

export const moveLine = (r: RouteEntry, ifname: string, table: number | string): string => `route replace ${routeSpec(r, ifname, table)}`;

/**
 * ADD: validate (the interface exists and has no master; a link named like the VRF is a VRF with the configured
 * table), then the lines: create the VRF when missing, enslave, put back the global IPv6 addresses (enslaving takes
 * the device down, which drops them unless keep_addr_on_down), move the routes into the VRF's table.
 */
export function planVrfAdd(conf: VrfConf, ifname: string, links: readonly IpLink[], v6Global: readonly AddrEntry[], routes: readonly RouteEntry[]): VrfAddPlan {
  const iface = links.find((l) => l.ifname === ifname);
  if (!iface) throw pluginError(`could not get link by name ${ifname}`);
  if (iface.master) throw pluginError(`interface ${ifname} has already a master set: ${iface.master}`);
  const existing = links.find((l) => l.ifname === conf.vrfName);
  if (existing && !isVrf(existing)) throw pluginError(`Netlink ${conf.vrfName} is not a VRF`);
  const lines: string[] = [];
  let table: number;
  if (existing) {
    table = vrfTable(existing) ?? 0;
    if (conf.table !== 0 && table !== conf.table) throw pluginError(`VRF ${conf.vrfName} already exist with different routing table ${table}`);
  } else {
    table = conf.table || freeTable(links);
    lines.push(`link add ${conf.vrfName} type vrf table ${table}`, `link set dev ${conf.vrfName} up`);
  }
  const enslaveAt = lines.length;
  lines.push(`link set dev ${ifname} master ${conf.vrfName}`);
  for (const a of v6Global) lines.push(`addr replace ${a.local}/${a.prefixlen} dev ${ifname} nodad`);
  for (const r of routesToMove(routes)) lines.push(moveLine(r, ifname, table));
  return { create: !existing, table, lines, enslaveAt };
}

/** A DEL step: take the interface out of the VRF, or delete the VRF. */
export type VrfDelOp = { op: 'nomaster'; ifname: string } | { op: 'delete'; ifname: string };

/**
 * DEL: `nomaster` when the interface is in the VRF (an interface elsewhere is left alone), and the VRF's removal when
 * no other interface is in it. Nothing when the VRF is gone (or the name is not a VRF's: not ours to touch).
 */
export function planVrfDel(conf: VrfConf, ifname: string, links: readonly IpLink[]): VrfDelOp[] {
  const vrf = links.find((l) => l.ifname === conf.vrfName);
  if (!isVrf(vrf)) return [];
  const ops: VrfDelOp[] = [];
  const iface = links.find((l) => l.ifname === ifname);
  if (iface?.master === conf.vrfName) ops.push({ op: 'nomaster', ifname });
  const others = links.filter((l) => l.master === conf.vrfName && l.ifname !== ifname);
  if (others.length === 0) ops.push({ op: 'delete', ifname: conf.vrfName });
  return ops;
}

/** `ip -batch` lines of DEL steps. */
export const delLines = (ops: readonly VrfDelOp[]): string[] => ops.map((o) => (o.op === 'nomaster' ? `link set dev ${o.ifname} nomaster` : `link del ${o.ifname}`));

/** CHECK: the VRF exists (with the configured table) and the interface is in it. */
export function checkVrf(conf: VrfConf, ifname: string, links: readonly IpLink[]): void {
  const vrf = links.find((l) => l.ifname === conf.vrfName);
  if (!vrf) throw pluginError(`VRF ${conf.vrfName} not found`);
  if (!isVrf(vrf)) throw pluginError(`Netlink ${conf.vrfName} is not a VRF`);
  if (conf.table !== 0 && vrfTable(vrf) !== conf.table) throw pluginError(`VRF ${conf.vrfName} has routing table ${vrfTable(vrf)}, not ${conf.table}`);
  const iface = links.find((l) => l.ifname === ifname);
  if (!iface) throw pluginError(`could not get link by name ${ifname}`);
  if (iface.master !== conf.vrfName) throw pluginError(`Failed to find ${ifname} associated to vrf ${conf.vrfName}`);
}
