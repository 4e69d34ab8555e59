/** What a conflist means in Docker's terms (driver, subnets, bridge, internal…). Pure. */
import { sha256Hex } from '../../lib/hash.js';
import { basename } from 'node:path';
import { isObject, type Obj } from '../../lib/cni/fields.js';
import { parseCIDR, formatCIDR, networkOf, type CIDR } from '../../lib/ip.js';
import type { ConfList } from '../runtime/conffiles.js';

/** Docker's pseudo networks: no CNI call. */
export const PSEUDO = ['host', 'none'] as const;
export const DEFAULT_NETWORK = 'bridge';
/** Files cnictl writes (and may remove): NETCONFPATH/cnictl-<name>.conflist. */
export const managedFile = (name: string): string => `cnictl-${name}.conflist`;
export const isManagedFile = (file: string, name: string): boolean => basename(file) === managedFile(name);

export const networkId = (name: string): string => sha256Hex(`cnictl network ${name}`);

export interface IpamRange {
  subnet: string;
  gateway?: string;
  rangeStart?: string;
  rangeEnd?: string;
}

export interface NetworkInfo {
  name: string;
  id: string;
  driver: string;
  /** Every range of the main plugin's host-local IPAM. */
  ranges: IpamRange[];
  bridge?: string;
  internal: boolean;
  ipv6: boolean;
  mtu?: number;
  parent?: string;
  mode?: string;
  /** Plugin types in order. */
  plugins: string[];
  file: string;
  managed: boolean;
  hasPortMappings: boolean;
  /** The lease directory of host-local, when that is the IPAM. */
  leaseDir?: string;
}

/** The main (first) plugin's host-local ranges: `ranges` range sets or the legacy `subnet`. */
export function ipamRanges(ipam: unknown): IpamRange[] {
  if (!isObject(ipam)) return [];
  const out: IpamRange[] = [];
  const take = (r: unknown) => {
    if (!isObject(r) || typeof r.subnet !== 'string') return;
    const x: IpamRange = { subnet: r.subnet };
    for (const k of ['gateway', 'rangeStart', 'rangeEnd'] as const) if (typeof r[k] === 'string') x[k] = r[k] as string;
    out.push(x);
  };
  if (Array.isArray(ipam.ranges)) for (const set of ipam.ranges) if (Array.isArray(set)) set.forEach(take);
  if (typeof ipam.subnet === 'string') take(ipam);
  return out;
}

export function describe(list: ConfList): NetworkInfo {
  const main: Obj = list.plugins[0] ?? {};
  const ipam = isObject(main.ipam) ? main.ipam : undefined;
  const ranges = ipamRanges(ipam);
  const routes = isObject(ipam) && Array.isArray(ipam.routes) ? ipam.routes : [];
  const hasDefault = main.isDefaultGateway === true || routes.some((r) => isObject(r) && (r.dst === '0.0.0.0/0' || r.dst === '::/0'));
  const info: NetworkInfo = {
    name: list.name,
    id: networkId(list.name),
    driver: String(main.type),
    ranges,
    internal: !hasDefault && main.ipMasq !== true,
    ipv6: ranges.some((r) => parseCIDR(r.subnet)?.ip.family === 6),
    plugins: list.plugins.map((p) => String(p.type)),
    file: list.file,
    managed: isManagedFile(list.file, list.name),
    hasPortMappings: list.plugins.some((p) => isObject(p.capabilities) && p.capabilities.portMappings === true),
  };
  if (main.type === 'bridge') info.bridge = typeof main.bridge === 'string' && main.bridge ? main.bridge : 'cni0';
  if (typeof main.mtu === 'number') info.mtu = main.mtu;
  if (typeof main.master === 'string') info.parent = main.master;
  if (typeof main.mode === 'string') info.mode = main.mode;
  if (ipam?.type === 'host-local') info.leaseDir = `${typeof ipam.dataDir === 'string' && ipam.dataDir ? ipam.dataDir : '/var/lib/cni/networks'}/${list.name}`;
  return info;
}

/** The subnets (normalised) a network occupies. */
export function subnetsOf(info: NetworkInfo): CIDR[] {
  return info.ranges.map((r) => parseCIDR(r.subnet)).filter((c): c is CIDR => !!c).map(networkOf);
}

export const showSubnet = (c: CIDR): string => formatCIDR(networkOf(c));

/**
 * The list as a second (third…) interface gets it: the default route stays with the first network, as Docker
 * does (two default routes through two bridges collide: "RTNETLINK answers: File exists").
 */
export function withoutDefaultRoute(list: ConfList): ConfList {
  const isDefault = (r: unknown) => isObject(r) && (r.dst === '0.0.0.0/0' || r.dst === '::/0');
  const plugins = list.plugins.map((p, i) => {
    if (i !== 0) return p;
    const main: Obj = { ...p };
    if (main.isDefaultGateway === true) main.isDefaultGateway = false;
    if (isObject(main.ipam) && Array.isArray(main.ipam.routes)) main.ipam = { ...main.ipam, routes: main.ipam.routes.filter((r) => !isDefault(r)) };
    return main;
  });
  let raw: Obj;
  try {
    raw = JSON.parse(list.bytes) as Obj;
  } catch {
    raw = { cniVersion: list.cniVersion, name: list.name };
  }
  return { ...list, plugins, bytes: JSON.stringify({ ...raw, plugins }) };
}
