/**
 * sbr (chained): source-based routing for the interface's addresses — per address a routing table with a
 * `from <ip> lookup <table>` rule, a default route via the gateway and the interface's routes, which then leave the
 * main table. Drop-in for the reference's plugins/meta/sbr (and its current `table`, `gateways`, `addSourceHints`).
 * In the container: one `ip -4` and one `ip -6` read, then one batch per family (run in-process over rtnetlink by
 * the shipped executable: no exec; exec'd under Node or with CNI_TS_NO_FFI=1). A failed ADD is undone.
 */
import { pluginError } from '../../lib/cni/errors.js';
import type { Result } from '../../lib/cni/result.js';
import type { CniContext, Plugin } from '../../lib/cni/skel.js';
import { formatIP, parseCIDR, parseIP, ipEqual } from '../../lib/ip.js';
import { withFileLock } from '../../lib/lock.js';
import { Netns } from '../../lib/netns.js';
import { ipsOfInterface, parseSbrConf, requireHostAddresses } from './config.js';
import { apply, deleteRules, readBoth, readRules, readRulesAndAddrs, readState } from './kernel.js';
import { orphanRules, planAdd, rulesToDelete } from './plan.js';

function requirePrev(ctx: CniContext): Result {
  if (!ctx.conf.prevResult) throw pluginError('This plugin must be called as chained plugin');
  return ctx.conf.prevResult;
}

function add(ctx: CniContext): Result {
  const conf = parseSbrConf(ctx.conf);
  const prev = requirePrev(ctx);
  const ips = ipsOfInterface(prev, ctx.ifname);
  requireHostAddresses(ips);
  const ns = Netns.at(ctx.netns).requireExists();
  if (!ips.length) return prev;
  withFileLock(ctx.netns, () => {
    const state = readState(ns, ctx.ifname);
    if (!state) throw pluginError(`Cannot find network interface ${ctx.ifname}: Link not found`);
    apply(ns, planAdd(ips, ctx.ifname, state.rules, state.other, conf));
  }, 60, false);
  return prev;
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
    const state = readRulesAndAddrs(ns, ctx.ifname);
    const prev = ctx.conf.prevResult;
    const prevIps = prev?.ips?.length ? ipsOfInterface(prev, ctx.ifname) : [];
    if (state) {
      // the interface's addresses, and prevResult's (ADD made their rules whether or not the interface had them)
      const rules = rulesToDelete(state.rules, state.addrs, table);
      for (const r of orphanRules(state.rules, prevIps, table)) if (!rules.includes(r)) rules.push(r);
      deleteRules(ns, rules);
      return;
    }
    if (!prevIps.length) return;
    deleteRules(ns, orphanRules(readRules(ns), prevIps, table));
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
