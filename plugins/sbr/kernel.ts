/**
 * sbr's reads and writes in the container: in-process rtnetlink through the executable's FFI (dumps of rules, routes and
 * addresses; rule requests) with `ip` for the route changes, or `ip` only (Node, CNI_TS_NO_FFI=1). Both give the
 * plan (plan.ts) the same listings, so they make the same changes.
 */
import { pluginError } from '../../lib/cni/errors.js';
import type { CniContext } from '../../lib/cni/skel.js';
import type { Family } from '../../lib/ip.js';
import { inNetns, libc, type Libc } from '../../lib/native.js';
import { batchFailedLine, describeBatchFailure, isNotFound, type Netns } from '../../lib/netns.js';
import { jsonLines } from '../../lib/routes.js';
import { DUMP, dumpMessage, parseAddr, parseRoute, parseRule, ruleMessage, type DumpedRule, type RuleSpec } from '../../lib/rtnl.js';
import { traced } from '../../lib/trace.js';
import { ruleDelLine, ruleSpecOf, type RouteEntry, type RuleEntry, type SbrPlan } from './plan.js';

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

/** In-process rtnetlink in the container's netns (the executable's FFI), or undefined (Node, CNI_TS_NO_FFI=1). */
export const ffiIn = (ctx: CniContext): Libc | undefined => (ctx.netns ? libc() : undefined);

const ENOENT = 2;

function dump(c: Libc, type: (typeof DUMP)[keyof typeof DUMP]): Uint8Array[] {
  const r = traced(`netlink dump ${type}`, () => c.rtnetlinkDump(dumpMessage(type)));
  if (typeof r === 'number') throw pluginError(`rtnetlink dump failed`, `errno ${-r}`);
  return r;
}

export const listRules = (c: Libc): RuleEntry[] => dump(c, DUMP.rules).map(parseRule).filter((r): r is DumpedRule => r !== undefined);

/** In-process: the rules (both families) and the interface's main-table routes; undefined when it does not exist. */
export function readStateFfi(c: Libc, path: string, ifname: string): { rules: RuleEntry[]; other: RouteEntry[] } | undefined {
  return inNetns(c, path, () => {
    const index = c.ifNameToIndex(ifname);
    if (!index) return undefined;
    const names = new Map<number, string | undefined>();
    const nameOf = (i: number) => (names.has(i) ? names.get(i) : names.set(i, c.ifIndexToName(i)).get(i));
    const routes = dump(c, DUMP.routes)
      .map((m) => parseRoute(m, nameOf))
      // as `ip route show dev IF` and the reference's RouteList(link): routes out of the link (not multipath ones)
      .filter((r) => r !== undefined && r.table === 254 && r.oif === index)
      .map((r) => {
        const { table: _t, oif: _o, ...rest } = r!;
        return rest as RouteEntry;
      });
    return { rules: listRules(c), other: routes };
  });
}

/** In-process: the rules (both families) and the interface's addresses; undefined when it does not exist. */
export function readRulesAndAddrsFfi(c: Libc, path: string, ifname: string): { rules: RuleEntry[]; addrs: string[] } | undefined {
  return inNetns(c, path, () => {
    const index = c.ifNameToIndex(ifname);
    if (!index) return undefined;
    const addrs = dump(c, DUMP.addrs).map(parseAddr).filter((a) => a?.index === index).map((a) => a!.local);
    return { rules: listRules(c), addrs };
  });
}

/** In-process rule requests; returns the number done before the first failure and its errno (0: all done). */
function ruleRequests(c: Libc, path: string, add: boolean, specs: readonly RuleSpec[], tolerateMissing = false): { done: number; errno: number } {
  return inNetns(c, path, () => {
    for (const [i, spec] of specs.entries()) {
      const err = traced(`netlink ${add ? 'RTM_NEWRULE' : 'RTM_DELRULE'}`, () => c.rtnetlinkRequest(ruleMessage(add, spec, i + 1)));
      if (err !== 0 && !(tolerateMissing && err === -ENOENT)) return { done: i, errno: -err };
    }
    return { done: specs.length, errno: 0 };
  });
}

/** `route add|replace … table T` → `route del … table T` (undoing what a plan added). */
const undoRouteLine = (line: string): string => line.replace(/^route (add|replace) /, 'route del ');

/** `rule add …` → `rule del …`. */
const undoRuleLine = (line: string): string => line.replace(/^rule add /, 'rule del ');

/** Run the plan: IPv6 rules, then one batch of IPv4 rules, routes and deletions; a failure undoes what was done. */
export function apply(ns: Netns, plan: SbrPlan, c: Libc | undefined, path: string): void {
  const undoV6 = (): void => {
    if (c) ruleRequests(c, path, false, plan.v6Rules, true);
    else if (plan.rules6.length) ns.ip(['-6', '-force', '-batch', '-'], plan.rules6.map(undoRuleLine).join('\n') + '\n');
  };
  if (plan.v6Rules.length && c) {
    const r = ruleRequests(c, path, true, plan.v6Rules);
    if (r.errno) {
      ruleRequests(c, path, false, plan.v6Rules.slice(0, r.done), true);
      throw pluginError('Failed to add rule', `${plan.rules6[r.done]}: errno ${r.errno}`);
    }
  } else if (plan.rules6.length) {
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

/** Remove rules (in-process, or IPv4 and IPv6 in their own batches); every one is tried, the first failure reported. */
export function deleteRules(ns: Netns, rules: readonly RuleEntry[], c: Libc | undefined, path: string): void {
  if (c) {
    let first: number | undefined;
    for (const r of rules) {
      const res = ruleRequests(c, path, false, [ruleSpecOf(r)], true);
      if (res.errno) first ??= res.errno;
    }
    if (first) throw pluginError('Failed to delete rule', `errno ${first}`);
    return;
  }
  for (const family of [4, 6] as const) {
    const lines = rules.filter((r) => r.family === family).map(ruleDelLine);
    if (!lines.length) continue;
    const r = ns.ip([`-${family}`, '-force', '-batch', '-'], lines.join('\n') + '\n');
    if (r.status !== 0 && !isNotFound(r.stderr)) throw pluginError('Failed to delete rule', describeBatchFailure(r.stderr, lines));
  }
}


/** The rules (both families) and the interface's main-table routes; undefined when the interface does not exist. */
export function readState(ns: Netns, c: Libc | undefined, path: string, ifname: string): { rules: RuleEntry[]; other: RouteEntry[] } | undefined {
  return c ? readStateFfi(c, path, ifname) : readBoth<RouteEntry>(ns, `route show table main dev ${ifname}`);
}

/** The rules (both families) and the interface's addresses; undefined when the interface does not exist. */
export function readRulesAndAddrs(ns: Netns, c: Libc | undefined, path: string, ifname: string): { rules: RuleEntry[]; addrs: string[] } | undefined {
  if (c) return readRulesAndAddrsFfi(c, path, ifname);
  const read = readBoth<{ addr_info?: Array<{ local: string; prefixlen: number }> }>(ns, `addr show dev ${ifname}`);
  return read && { rules: read.rules, addrs: read.other.flatMap((l) => (l.addr_info ?? []).map((a) => a.local)).filter(Boolean) };
}

/** The rules of both families. */
export function readRules(ns: Netns, c: Libc | undefined, path: string): RuleEntry[] {
  if (c) return inNetns(c, path, () => listRules(c));
  return [...(readFamily(ns, 4, 'link show')?.rules ?? []), ...(readFamily(ns, 6, 'link show')?.rules ?? [])];
}
