/**
 * Routes as `ip -N -d -j route show` lists them: numeric protocol, scope, type and table (so any rt_tables naming
 * reads the same), defaults shown too (so a copy is exact). And the `ip -batch` route specs that add, replace or
 * delete exactly such a route: sbr copies routes into its tables, vrf moves them into the VRF's. Pure.
 */
import type { Family } from './ip.js';

export interface Nexthop {
  gateway?: string;
  dev?: string;
  weight?: number;
}

/** One listed route; `family` is the listing's (`ip -4` / `ip -6`), `dst` may be "default". */
export interface RouteEntry {
  family: Family;
  type?: string;
  dst: string;
  gateway?: string;
  dev?: string;
  prefsrc?: string;
  protocol?: string;
  scope?: string;
  metric?: number;
  nexthops?: Nexthop[];
}

/** rtnetlink route types by number (`ip -N` prints numbers; `ip route` only reads names). */
const ROUTE_TYPES = ['unspec', 'unicast', 'local', 'broadcast', 'anycast', 'multicast', 'blackhole', 'unreachable', 'prohibit', 'throw', 'nat', 'xresolve'];

/** A route's type by name ("unicast" when the listing omits it). */
export function routeType(r: Pick<RouteEntry, 'type'>): string {
  if (r.type === undefined) return 'unicast';
  return /^\d+$/.test(r.type) ? (ROUTE_TYPES[Number(r.type)] ?? r.type) : r.type;
}

/** "default" → 0.0.0.0/0 or ::/0 (explicit, so `ip -batch` infers the family); other destinations as listed. */
export const routeDst = (r: Pick<RouteEntry, 'dst' | 'family'>): string => (r.dst === 'default' ? (r.family === 4 ? '0.0.0.0/0' : '::/0') : r.dst);

/**
 * The attributes that identify a route and are copied with it: type, dst, gateway or nexthops, dev, protocol, scope,
 * source hint, metric (and `table`). `ifname` is the device when the listing (filtered by `dev`) leaves it out.
 */
export function routeSpec(r: RouteEntry, ifname: string, table?: number | string): string {
  const parts: string[] = [];
  const type = routeType(r);
  if (type !== 'unicast') parts.push(type);
  parts.push(routeDst(r));
  if (r.gateway) parts.push('via', r.gateway);
  if (!r.nexthops?.length && type === 'unicast') parts.push('dev', r.dev ?? ifname);
  if (r.protocol) parts.push('proto', r.protocol);
  if (r.scope) parts.push('scope', r.scope);
  if (r.prefsrc) parts.push('src', r.prefsrc);
  if (r.metric !== undefined) parts.push('metric', String(r.metric));
  if (table !== undefined) parts.push('table', String(table)); // before any nexthop: ip reads only nexthops after one
  for (const nh of r.nexthops ?? []) {
    parts.push('nexthop');
    if (nh.gateway) parts.push('via', nh.gateway);
    parts.push('dev', nh.dev ?? ifname);
    if (nh.weight !== undefined) parts.push('weight', String(nh.weight));
  }
  return parts.join(' ');
}

/** The JSON arrays an `ip -j -batch` printed, one line per command, in order. */
export function jsonLines<T>(stdout: string): T[][] {
  return stdout
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .map((l) => JSON.parse(l) as T[]);
}
