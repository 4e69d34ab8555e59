/**
 * sbr's reads and writes in the container, as `ip` command lines (`-N -d -j` listings, `-batch` changes): run
 * in-process over rtnetlink in the shipped executable (lib/rtnetlink), exec'd under Node or with CNI_TS_NO_FFI=1.
 * Either way the plan (plan.ts) gets the same listings and makes the same changes.
 */
import { pluginError } from '../../lib/cni/errors.js';
import type { Family } from '../../lib/ip.js';
import { batchFailedLine, describeBatchFailure, isNotFound, type Netns } from '../../lib/netns.js';
import { jsonLines } from '../../lib/routes.js';
import { ruleDelLine, type RouteEntry, type RuleEntry, type SbrPlan } from './plan.js';

/** One `ip -N -d -j -<family> -batch` (numbers for tables, protocols, scopes and types, all of them shown): `rule show`, then `second` (about the interface). Undefined when the link is gone. */
export function readFamily<T>(ns: Netns, family: Family, second: string): { rules: RuleEntry[]; other: T[] } | undefined {
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
export function readBoth<T>(ns: Netns, second: string): { rules: RuleEntry[]; other: Array<T & { family: Family }> } | undefined {
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
export function apply(ns: Netns, plan: SbrPlan): void {
  const undoV6 = (): void => {
    if (plan.rules6.length) ns.ip(['-6', '-force', '-batch', '-'], plan.rules6.map(undoRuleLine).join('\n') + '\n');
  };
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
    undoV6();
    const line = main[failed - 1] ?? '';
    const what = line.startsWith('rule') ? 'Failed to add rule' : line.startsWith('route del') ? 'Failed to delete route' : line.startsWith('route add') ? 'Failed to add default route' : 'Failed to readd route';
    throw pluginError(what, describeBatchFailure(r.stderr, main));
  }
  if (plan.hints.length) ns.ipBatch(plan.hints, true); // the reference only warns about these
}

/** Remove rules, IPv4 and IPv6 in their own `-force` batches: every one is tried, the first failure reported. */
export function deleteRules(ns: Netns, rules: readonly RuleEntry[]): void {
  for (const family of [4, 6] as const) {
    const lines = rules.filter((r) => r.family === family).map(ruleDelLine);
    if (!lines.length) continue;
    const r = ns.ip([`-${family}`, '-force', '-batch', '-'], lines.join('\n') + '\n');
    if (r.status !== 0 && !isNotFound(r.stderr)) throw pluginError('Failed to delete rule', describeBatchFailure(r.stderr, lines));
  }
}

/** The rules (both families) and the interface's main-table routes; undefined when the interface does not exist. */
export function readState(ns: Netns, ifname: string): { rules: RuleEntry[]; other: RouteEntry[] } | undefined {
  return readBoth<RouteEntry>(ns, `route show table main dev ${ifname}`);
}

/** The rules (both families) and the interface's addresses; undefined when the interface does not exist. */
export function readRulesAndAddrs(ns: Netns, ifname: string): { rules: RuleEntry[]; addrs: string[] } | undefined {
  const read = readBoth<{ addr_info?: Array<{ local: string; prefixlen: number }> }>(ns, `addr show dev ${ifname}`);
  return read && { rules: read.rules, addrs: read.other.flatMap((l) => (l.addr_info ?? []).map((a) => a.local)).filter(Boolean) };
}

/** The rules of both families. */
export function readRules(ns: Netns): RuleEntry[] {
  return [...(readFamily(ns, 4, 'link show')?.rules ?? []), ...(readFamily(ns, 6, 'link show')?.rules ?? [])];
}
