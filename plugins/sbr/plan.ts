/**
 * Source-based routing, planned from what `ip -N -j` shows: the tables to use, the `from <ip>` rules, the routes copied
 * into each table and the main-table routes removed (ADD), and the rules to remove (DEL). Pure: no I/O.
 */
import type { IPConfig } from '../../lib/cni/result.js';
import { contains, formatCIDR, formatIP, ipEqual, networkOf, parseCIDR, parseIP, type CIDR, type Family } from '../../lib/ip.js';
import { routeSpec, type RouteEntry } from '../../lib/routes.js';
import type { SbrConf } from './config.js';

/** The reference starts looking for a free table here. */
export const FIRST_TABLE = 100;

/** One entry of `ip -N -j rule show` (the family is the listing's). */
export interface RuleEntry {
  family: Family;
  priority?: number;
  src?: string;
  srclen?: number;
  table?: string;
}

export type { RouteEntry };

/** Lines for `ip -batch`: rules per family (a rule's family cannot be inferred), routes of either family. */
export interface SbrPlan {
  tables: number[];
  rules4: string[];
  rules6: string[];
  /** Default routes and copies into the new tables. */
  routes: string[];
  /** Main-table routes removed (failures are errors). */
  deletes: string[];
  /** For each of `deletes`, the line that puts the route back (undoing a failed ADD). */
  restores: string[];
  /** addSourceHints: subnet routes with a source hint, and the non-subnet routes removed (failures only warnings). */
  hints: string[];
}

const defaultDst = (f: Family): string => (f === 4 ? '0.0.0.0/0' : '::/0');
const hostLen = (f: Family): number => (f === 4 ? 32 : 128);

/** A rule's table as a number (`-N` prints numbers); undefined for none. */
const ruleTable = (r: RuleEntry): number | undefined => (r.table !== undefined && /^\d+$/.test(r.table) ? Number(r.table) : undefined);

/** The first table id from `candidate` on that no rule refers to. */
export function nextFreeTable(used: ReadonlySet<number>, candidate: number): number {
  let t = candidate;
  while (used.has(t)) t++;
  return t;
}

/** The reference's copy test: the route's source or gateway lies in the IP's subnet, or it has neither (generic). */
export function routeBelongsTo(r: RouteEntry, addr: CIDR): boolean {
  const src = r.prefsrc ? parseIP(r.prefsrc) : undefined;
  const gw = r.gateway ? parseIP(r.gateway) : undefined;
  if (!src && !gw) return true;
  return (src !== undefined && contains(addr, src)) || (gw !== undefined && contains(addr, gw));
}

export const copyLine = (r: RouteEntry, ifname: string, table: number): string => `route replace ${routeSpec(r, ifname, table)}`;
export const deleteLine = (r: RouteEntry, ifname: string): string => `route del ${routeSpec(r, ifname, 'main')}`;

/** `from <ip>/32|128` (the rule matches the one address, never the subnet). */
export const ruleFrom = (ip: CIDR): string => `${formatIP(ip.ip)}/${hostLen(ip.ip.family)}`;

/**
 * ADD. Per IP (in prevResult order) the next free table ≥ 100: a rule `from <ip> lookup <table>`, a default route via
 * the gateway (a static one of `conf.gateways` first), and a copy of each main-table route of the interface that
 * belongs to the IP; then the interface's main-table routes are removed (all of them, or with `addSourceHints` all but
 * the subnet routes, which get the address as source hint). With a fixed `conf.table`: only the rules.
 */
export function planAdd(ips: readonly IPConfig[], ifname: string, rules: readonly RuleEntry[], mainRoutes: readonly RouteEntry[], conf: SbrConf): SbrPlan {
  const plan: SbrPlan = { tables: [], rules4: [], rules6: [], routes: [], deletes: [], restores: [], hints: [] };
  const addrs = ips.map((ip) => parseCIDR(ip.address)).filter((c): c is CIDR => c !== undefined);
  const ruleLine = (c: CIDR, table: number): void => {
    (c.ip.family === 4 ? plan.rules4 : plan.rules6).push(`rule add from ${ruleFrom(c)} table ${table}`);
  };
  if (conf.table !== undefined) {
    for (const c of addrs) ruleLine(c, conf.table);
    plan.tables.push(conf.table);
    return plan;
  }
  const used = new Set(rules.map(ruleTable).filter((t): t is number => t !== undefined));
  let table = nextFreeTable(used, FIRST_TABLE);
  ips.forEach((ip, i) => {
    const c = parseCIDR(ip.address);
    if (!c) return;
    plan.tables.push(table);
    ruleLine(c, table);
    const gw = conf.gateways[c.ip.family] ?? ip.gateway;
    if (gw) plan.routes.push(`route add ${defaultDst(c.ip.family)} via ${gw} dev ${ifname} table ${table}`);
    for (const r of mainRoutes) if (routeBelongsTo(r, c)) plan.routes.push(copyLine(r, ifname, table));
    if (i < ips.length - 1) table = nextFreeTable(used, table + 1);
  });
  if (conf.addSourceHints) {
    for (const c of addrs) plan.hints.push(`route replace ${formatCIDR(networkOf(c))} dev ${ifname} src ${formatIP(c.ip)} scope link table main`);
    for (const r of mainRoutes) if (r.scope !== '253') plan.hints.push(deleteLine(r, ifname));
  } else {
    for (const r of mainRoutes) {
      plan.deletes.push(deleteLine(r, ifname));
      plan.restores.push(`route replace ${routeSpec(r, ifname, 'main')}`);
    }
  }
  return plan;
}

/** `rule del` of one listed rule (by priority, source and table: what tells it apart). */
export function ruleDelLine(r: RuleEntry): string {
  const parts = ['rule', 'del'];
  if (r.priority !== undefined) parts.push('pref', String(r.priority));
  if (r.src && r.src !== 'all') parts.push('from', r.srclen !== undefined ? `${r.src}/${r.srclen}` : r.src);
  if (r.table !== undefined) parts.push('table', r.table);
  return parts.join(' ');
}

/**
 * DEL: the rules whose source is one of `addresses` (any prefix length, as the reference compares the IPs), limited to
 * `table` when the config fixes one.
 */
export function rulesToDelete(rules: readonly RuleEntry[], addresses: readonly string[], table?: number): RuleEntry[] {
  const ips = addresses.map((a) => parseIP(a.split('/')[0]!)).filter((x) => x !== undefined);
  return rules.filter((r) => {
    if (!r.src || r.src === 'all') return false;
    if (table !== undefined && ruleTable(r) !== table) return false;
    const src = parseIP(r.src);
    return src !== undefined && ips.some((ip) => ipEqual(ip, src));
  });
}

/**
 * DEL when the interface is gone (so are its addresses and the routes of its tables): the rules sbr made for the
 * prevResult's IPs — a host-length `from <ip>` into a table ≥ 100 (or the configured table).
 */
export function orphanRules(rules: readonly RuleEntry[], ips: readonly IPConfig[], table?: number): RuleEntry[] {
  const addrs = ips.map((ip) => parseCIDR(ip.address)).filter((c): c is CIDR => c !== undefined);
  return rules.filter((r) => {
    const t = ruleTable(r);
    if (t === undefined || (table !== undefined ? t !== table : t < FIRST_TABLE || t === 253 || t === 254 || t === 255)) return false;
    const src = r.src && r.src !== 'all' ? parseIP(r.src) : undefined;
    if (!src || (r.srclen !== undefined && r.srclen !== hostLen(src.family))) return false;
    return addrs.some((c) => ipEqual(c.ip, src));
  });
}
