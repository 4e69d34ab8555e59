/**
 * sbr (chained): source-based routing for the interface's addresses — per address a routing table with a
 * `from <ip> lookup <table>` rule, a default route via the gateway and the interface's routes, which then leave the
 * main table. Drop-in for the reference's plugins/meta/sbr (and its current `table`, `gateways`, `addSourceHints`).
 * In the container: one `ip -4` and one `ip -6` read, then one batch per family of changes; undone when one fails.
 */
import { pluginError } from '../../lib/cni/errors.js';
import type { Result } from '../../lib/cni/result.js';
import type { CniContext, Plugin } from '../../lib/cni/skel.js';
import { formatIP, parseCIDR, parseIP, ipEqual, type Family } from '../../lib/ip.js';
import { withFileLock } from '../../lib/lock.js';
import { batchFailedLine, describeBatchFailure, isNotFound, Netns } from '../../lib/netns.js';
import { jsonLines } from '../../lib/routes.js';
import { ipsOfInterface, parseSbrConf } from './config.js';
import { orphanRules, planAdd, ruleDelLine, rulesToDelete, type RouteEntry, type RuleEntry, type SbrPlan } from './plan.js';

/** One `ip -N -d -j -<family> -batch` (numbers for tables, protocols, scopes and types, all of them shown): `rule show`, then `second` (about the interface). Undefined when the link is gone. */
function readFamily<T>(ns: Netns, family: Family, second: string): { rules: RuleEntry[]; other: T[] } | undefined {
  const lines = ['rule show', second];
  const r = ns.ip(['-N', '-d', '-j', `-${family}`, '-batch', '-'], lines.join('\n') + '\n');
  if (r.status !== 0) {
    if (batchFailedLine(r.stderr) === 2 && isNotFound(r.stderr)) return undefined;
    if (family === 6 && /Address family not supported/i.test(r.stderr)) return { rules: [], other: [] }; // a kernel without IPv6
    throw pluginError(`failed to read the rules and routes in ${ns.label}`, describeBatchFailure(r.stderr, lines));
  }
  const [rules = [], other = []] = jsonLines<unknown>(r.stdout);
  return { rules: (rules as RuleEntry[]).map((x) => ({ ...x, family })), other: other as T[] };
}

/** Rules of both families and, per family, `second` (undefined when the interface does not exist). */
function readBoth<T>(ns: Netns, second: string): { rules: RuleEntry[]; other: Array<T & { family: Family }> } | undefined {
  const v4 = readFamily<T>(ns, 4, second);
  const v6 = readFamily<T>(ns, 6, second);
  if (!v4 || !v6) return undefined;
  const tag = (xs: T[], family: Family) => xs.map((x) => ({ ...x, family }));
  return { rules: [...v4.rules, ...v6.rules], other: [...tag(v4.other, 4), ...tag(v6.other, 6)] };
}

/** `route add|replace … table T` → `route del … table T` (undoing what a plan added). */
const undoRouteLine = (line: string): string => line.replace(/^route (add|replace) /, 'route del ');

/** `rule add …` → `rule del …`. */
const undoRuleLine = (line: string): string => line.replace(/^rule add /, 'rule del ');

/** Run the plan: IPv6 rules, then one batch of IPv4 rules, routes and deletions; a failure undoes what was done. */
function apply(ns: Netns, plan: SbrPlan): void {
  if (plan.rules6.length) {
    const v6 = ns.ip(['-6', '-batch', '-'], plan.rules6.join('\n') + '\n');
    if (v6.status !== 0) {
      const failedLine = batchFailedLine(v6.stderr);
      const done = failedLine ? plan.rules6.slice(0, failedLine - 1) : plan.rules6;
      if (done.length) ns.ip(['-6', '-force', '-batch', '-'], done.map(undoRuleLine).join('\n') + '\n');
      throw pluginError('Failed to add rule', describeBatchFailure(v6.stderr, plan.rules6));
    }
  }
  const main = [...plan.rules4, ...plan.routes, ...plan.deletes];
  const r = ns.ipBatch(main);
  if (r.status !== 0) {
    const failed = batchFailedLine(r.stderr) || main.length + 1;
    const firstDelete = plan.rules4.length + plan.routes.length;
    // Put back the main-table routes already removed, remove what was added.
    ns.ipBatch(plan.restores.slice(0, Math.max(0, failed - 1 - firstDelete)), true);
    ns.ipBatch([...plan.routes.map(undoRouteLine), ...plan.rules4.map(undoRuleLine)], true);
    if (plan.rules6.length) ns.ip(['-6', '-force', '-batch', '-'], plan.rules6.map(undoRuleLine).join('\n') + '\n');
    const line = main[failed - 1] ?? '';
    const what = line.startsWith('rule') ? 'Failed to add rule' : line.startsWith('route del') ? 'Failed to delete route' : line.startsWith('route add') ? 'Failed to add default route' : 'Failed to readd route';
    throw pluginError(what, describeBatchFailure(r.stderr, main));
  }
  if (plan.hints.length) ns.ipBatch(plan.hints, true); // the reference only warns about these
}

function requirePrev(ctx: CniContext): Result {
  if (!ctx.conf.prevResult) throw pluginError('This plugin must be called as chained plugin');
  return ctx.conf.prevResult;
}

function add(ctx: CniContext): Result {
  const conf = parseSbrConf(ctx.conf);
  const prev = requirePrev(ctx);
  const ips = ipsOfInterface(prev, ctx.ifname);
  const ns = Netns.at(ctx.netns).requireExists();
  if (!ips.length) return prev;
  withFileLock(ctx.netns, () => {
    const state = readBoth<RouteEntry>(ns, `route show table main dev ${ctx.ifname}`);
    if (!state) throw pluginError(`Cannot find network interface ${ctx.ifname}: Link not found`);
    apply(ns, planAdd(ips, ctx.ifname, state.rules, state.other, conf));
  }, 60, false);
  return prev;
}

/** Remove rules, IPv4 and IPv6 in their own batches; every one is tried, the first failure reported. */
function deleteRules(ns: Netns, rules: readonly RuleEntry[]): void {
  for (const family of [4, 6] as const) {
    const lines = rules.filter((r) => r.family === family).map(ruleDelLine);
    if (!lines.length) continue;
    const r = ns.ip([`-${family}`, '-force', '-batch', '-'], lines.join('\n') + '\n');
    if (r.status !== 0 && !isNotFound(r.stderr)) throw pluginError('Failed to delete rule', describeBatchFailure(r.stderr, lines));
  }
}

/**
 * DEL: remove the rules whose source is an address of the interface. No netns (or none any more): nothing to do and
 * nothing created. The interface gone: the rules made for prevResult's addresses (their tables emptied with it).
 */
function del(ctx: CniContext): void {
  const conf = parseSbrConf(ctx.conf);
  if (!ctx.netns) return;
  const ns = Netns.at(ctx.netns);
  if (!ns.exists()) return;
  try {
    delLocked(ctx, ns, conf.table);
  } catch (e) {
    if (!ns.exists()) return; // the netns went away meanwhile
    throw e;
  }
}

function delLocked(ctx: CniContext, ns: Netns, table: number | undefined): void {
  withFileLock(ctx.netns, () => {
    const state = readBoth<{ addr_info?: Array<{ local: string; prefixlen: number }> }>(ns, `addr show dev ${ctx.ifname}`);
    if (state) {
      const addrs = state.other.flatMap((l) => (l.addr_info ?? []).map((a) => a.local)).filter(Boolean);
      deleteRules(ns, rulesToDelete(state.rules, addrs, table));
      return;
    }
    const prev = ctx.conf.prevResult;
    if (!prev?.ips?.length) return;
    const rules = [...(readFamily(ns, 4, 'link show')?.rules ?? []), ...(readFamily(ns, 6, 'link show')?.rules ?? [])];
    deleteRules(ns, orphanRules(rules, ipsOfInterface(prev, ctx.ifname), table));
  }, 60, false);
}

/**
 * CHECK (the reference checks nothing): every address of the interface has its `from <ip>` rule, and without a fixed
 * table, that table has the default route via the gateway.
 */
function check(ctx: CniContext): void {
  const conf = parseSbrConf(ctx.conf);
  const prev = ctx.conf.prevResult;
  if (!prev) throw pluginError('Required prevResult missing');
  const ips = ipsOfInterface(prev, ctx.ifname);
  const ns = Netns.at(ctx.netns).requireExists();
  const state = readBoth<unknown>(ns, `link show dev ${ctx.ifname}`);
  if (!state) throw pluginError(`Cannot find network interface ${ctx.ifname}: Link not found`);
  for (const ip of ips) {
    const c = parseCIDR(ip.address)!;
    const rule = state.rules.find((r) => r.family === c.ip.family && r.src && r.src !== 'all' && parseIP(r.src) && ipEqual(parseIP(r.src)!, c.ip) && (conf.table === undefined || r.table === String(conf.table)));
    if (!rule?.table) throw pluginError(`sbr: no rule "from ${formatIP(c.ip)}" in ${ctx.netns}`);
    const gw = conf.gateways[c.ip.family] ?? ip.gateway;
    if (conf.table !== undefined || !gw) continue;
    const routes = ns.ipJson<Array<{ dst: string; gateway?: string }>>(['-N', `-${c.ip.family}`, 'route', 'show', 'table', rule.table]);
    const g = parseIP(gw)!;
    if (!routes.some((r) => r.dst === 'default' && r.gateway && parseIP(r.gateway) && ipEqual(parseIP(r.gateway)!, g))) {
      throw pluginError(`sbr: table ${rule.table} of ${formatIP(c.ip)} has no default route via ${gw}`);
    }
  }
}

export const plugin: Plugin = { name: 'sbr', add, del, check, status: () => undefined, gc: () => undefined };
