/**
 * vrf (chained, cniVersion ≥ 0.3.1): puts CNI_IFNAME into a VRF of the container (created when missing), keeping its
 * routes (moved into the VRF's table) and global IPv6 addresses. DEL takes it out and removes the VRF when empty.
 * Drop-in for the reference's plugins/meta/vrf. In the container: two `ip` reads and one batch for ADD, one read and
 * one batch for DEL, run in-process over rtnetlink by the shipped executable (no exec; exec'd under Node or with
 * CNI_TS_NO_FFI=1).
 */
import { type CniError, pluginError } from '../../lib/cni/errors.js';
import type { Result } from '../../lib/cni/result.js';
import type { CniContext, Plugin } from '../../lib/cni/skel.js';
import { versionsFrom } from '../../lib/cni/version.js';
import { withFileLock } from '../../lib/lock.js';
import { batchFailedLine, describeBatchFailure, Netns } from '../../lib/netns.js';
import { parseVrfConf } from './config.js';
import { readForAdd, readLinks, runDelOps } from './kernel.js';
import { checkVrf, moveLine, planVrfAdd, planVrfDel, routesToMove } from './plan.js';

function requirePrev(ctx: CniContext): Result {
  if (!ctx.conf.prevResult) throw pluginError('missing prevResult from earlier plugin');
  return ctx.conf.prevResult;
}

/** A failed `link add … type vrf`: name the missing kernel support when that is the reason. */
function createFailure(vrfName: string, stderr: string): CniError {
  stderr = stderr.split('\n').filter((l) => l.trim() && !l.startsWith('Command failed')).join('\n');
  if (/Unknown device type|Operation not supported/i.test(stderr)) {
    return pluginError(`could not add VRF ${vrfName}: the kernel has no VRF support (CONFIG_NET_VRF / the vrf module is missing)`, stderr.trim());
  }
  return pluginError(`could not add VRF ${vrfName}`, stderr.trim());
}

/**
 * ADD and DEL read the netns's links and then change them (create or delete the VRF): two at once for interfaces of
 * the same pod must not both create it, nor delete it under a new member. They take an flock(2) of the netns file
 * (as sbr does; never creating it).
 */
const locked = <T>(ctx: CniContext, fn: () => T): T => withFileLock(ctx.netns, fn, 60, false);

function add(ctx: CniContext): Result {
  const conf = parseVrfConf(ctx.conf);
  const prev = requirePrev(ctx);
  const ns = Netns.at(ctx.netns).requireExists();
  return locked(ctx, () => addLocked(ctx, conf, prev, ns));
}

function addLocked(ctx: CniContext, conf: ReturnType<typeof parseVrfConf>, prev: Result, ns: Netns): Result {
  const state = readForAdd(ns, ctx.ifname);
  const plan = planVrfAdd(conf, ctx.ifname, state.links, state.v6Global, state.routes);
  const r = ns.ipBatch(plan.lines);
  if (r.status === 0) return prev;
  // the 0-based line that failed; unknown (ip exits at a parse error without saying where): assume any may have run
  const failed = batchFailedLine(r.stderr) - 1;
  const upTo = failed >= 0 ? failed : plan.lines.length;
  const line = plan.lines[failed] ?? '';
  // Undo: out of the VRF again (the routes back into main), and no VRF of ours left behind.
  const undo: string[] = [];
  if (upTo > plan.enslaveAt) {
    undo.push(`link set dev ${ctx.ifname} nomaster`, `link set dev ${ctx.ifname} up`);
    for (const a of state.v6Global) undo.push(`addr replace ${a.local}/${a.prefixlen} dev ${ctx.ifname} nodad`);
    for (const x of routesToMove(state.routes)) undo.push(moveLine(x, ctx.ifname, 'main'));
  }
  if (plan.create && upTo > 0) undo.push(`link del ${conf.vrfName}`);
  ns.ipBatch(undo, true);
  if (plan.create && failed === 0) throw createFailure(conf.vrfName, r.stderr);
  if (failed === plan.enslaveAt) throw pluginError(`cmdAdd failed: could not set vrf ${conf.vrfName} as master of ${ctx.ifname}`, describeBatchFailure(r.stderr, plan.lines));
  if (failed < 0) throw pluginError(`cmdAdd failed: could not put ${ctx.ifname} into vrf ${conf.vrfName}`, describeBatchFailure(r.stderr, plan.lines));
  if (line.startsWith('addr')) throw pluginError(`cmdAdd failed: could not restore address to ${ctx.ifname} @ ${conf.vrfName}`, describeBatchFailure(r.stderr, plan.lines));
  throw pluginError(`cmdAdd failed: could not move a route of ${ctx.ifname} into table ${plan.table}`, describeBatchFailure(r.stderr, plan.lines));
}

/** DEL: out of the VRF, the VRF removed when empty. No netns, no VRF or no interface: nothing to do. */
function del(ctx: CniContext): void {
  const conf = parseVrfConf(ctx.conf);
  if (!ctx.netns) return;
  const ns = Netns.at(ctx.netns);
  if (!ns.exists()) return;
  try {
    locked(ctx, () => runDelOps(ns, planVrfDel(conf, ctx.ifname, readLinks(ns))));
  } catch (e) {
    if (!ns.exists()) return; // the netns went away meanwhile
    throw e;
  }
}

/** CHECK (1.1.1 reports nothing): the VRF exists and CNI_IFNAME is still in it. */
function check(ctx: CniContext): void {
  const conf = parseVrfConf(ctx.conf);
  requirePrev(ctx);
  const ns = Netns.at(ctx.netns).requireExists();
  checkVrf(conf, ctx.ifname, readLinks(ns));
}

export const plugin: Plugin = {
  name: 'vrf',
  add,
  del,
  check,
  status: () => undefined,
  gc: () => undefined,
  versions: versionsFrom('0.3.1'),
};
