/**
 * tuning (chained): sets net.* sysctls and interface attributes (MAC, MTU, promiscuous, all-multicast, TX queue
 * length) of CNI_IFNAME in the container (reference plugins/meta/tuning). The original attributes are saved in the
 * reference's layout and put back on DEL. In the container: the sysctls (written in-process through setns(2) in the
 * executable, else one `sysctl` exec) and one `ip -batch` that reads the link and changes it.
 */
import { existsSync, readFileSync } from 'node:fs';
import { parseCniArgs } from '../../lib/cni/args.js';
import { CniError, ErrorCode, pluginError } from '../../lib/cni/errors.js';
import type { Result } from '../../lib/cni/result.js';
import type { CniContext, Plugin } from '../../lib/cni/skel.js';
import { describeBatchFailure, isNotFound, Netns } from '../../lib/netns.js';
import { readLink, type IpLink } from '../../lib/iface.js';
import { backupOf, backupPath, readBackup, removeBackup, restoreSettings, writeBackup } from './backup.js';
import { checkAllowlist, dataDirOf, parseAllowlist, parseTuningConf, wantsLinkChange, type LinkSettings, type TuningConf } from './config.js';
import { checkNoDuplicateSysctls } from './duplicates.js';
import { linkMismatch, linkSetLine, linkState, sameSysctlValue, type LinkState } from './link.js';

/** The reference's allowlist file; CNI_TS_TUNING_ALLOWLIST names another (tests, non-standard layouts). */
const allowlistFile = (): string => process.env.CNI_TS_TUNING_ALLOWLIST || '/etc/cni/tuning/allowlist.conf';

function confOf(ctx: CniContext): TuningConf {
  checkNoDuplicateSysctls(ctx.stdin.toString());
  return parseTuningConf(ctx.conf, ctx.ifname, parseCniArgs(ctx.args, ['MAC']).MAC);
}

function requirePrev(ctx: CniContext): Result {
  if (!ctx.conf.prevResult) throw pluginError('Required prevResult missing', 'tuning must be chained after a plugin that creates the interface');
  return ctx.conf.prevResult;
}

/** `ip -j -batch`: show the link, then change it. Returns the state before the change. */
function showAndSet(ns: Netns, ifname: string, set: LinkSettings): LinkState {
  const change = linkSetLine(ifname, set);
  const lines = [`link show dev ${ifname}`, ...(change ? [change] : [])];
  const r = ns.ip(['-j', '-batch', '-'], lines.join('\n') + '\n');
  const shown = r.stdout.trim() ? ((JSON.parse(r.stdout.trim().split('\n')[0]!) as IpLink[])[0]) : undefined;
  if (r.status !== 0) {
    const err = pluginError(`failed to configure ${ifname} in ${ns.label}`, describeBatchFailure(r.stderr, lines));
    if (shown && change) {
      // the change may have been applied in part: put back what was there
      const undo = linkSetLine(ifname, linkState(shown));
      if (undo) ns.ipBatch([undo]);
    }
    throw err;
  }
  if (!shown) throw pluginError(`failed to read ${ifname} in ${ns.label}`);
  return linkState(shown);
}

/**
 * A MAC is changed only where DEL can put the old one back: on an Ethernet link with a MAC of its own. lo (whose
 * 00:00:00:00:00:00 the kernel lets go of but never takes back), a tun or a tunnel would keep the new one for ever and
 * every DEL would fail; refused before anything changes (code 7).
 */
function requireRestorableMac(ns: Netns, ifname: string, mac: string): void {
  const link = readLink(ns, ifname);
  if (!link) return; // showAndSet reports the missing link
  const current = link.address ?? '';
  if (link.link_type !== 'ether' || /^(00:){5}00$/.test(current)) {
    throw new CniError(ErrorCode.InvalidNetworkConfig, `"mac" ${mac} cannot be set on ${ifname}: it is not an Ethernet link with an address of its own (link/${link.link_type ?? '?'} ${current}), so DEL could not put it back`);
  }
}

function add(ctx: CniContext): Result {
  const conf = confOf(ctx);
  if (conf.sysctls.length && existsSync(allowlistFile())) checkAllowlist(conf.sysctls, parseAllowlist(readFileSync(allowlistFile(), 'utf8')));
  const prev = requirePrev(ctx);
  if (!conf.sysctls.length && !wantsLinkChange(conf)) return prev;
  const ns = Netns.at(ctx.netns).requireExists();
  if (conf.mac !== undefined) requireRestorableMac(ns, ctx.ifname, conf.mac);
  if (conf.sysctls.length) ns.sysctlSet(Object.fromEntries(conf.sysctls.map((s) => [s.path, s.value])));
  if (wantsLinkChange(conf)) {
    const before = showAndSet(ns, ctx.ifname, conf);
    const file = backupPath(conf.dataDir, ctx.containerId, ctx.ifname);
    try {
      writeBackup(file, conf.dataDir, backupOf(conf, before));
    } catch (e) {
      const undo = linkSetLine(ctx.ifname, before);
      if (undo) ns.ipBatch([undo]);
      throw e;
    }
  }
  if (conf.mac === undefined) return prev;
  return { ...prev, interfaces: (prev.interfaces ?? []).map((i) => (i.name === ctx.ifname ? { ...i, mac: conf.mac! } : i)) };
}

/** DEL: put the saved attributes back; the backup goes once restored, or when there is nothing left to restore. */
function del(ctx: CniContext): void {
  const file = backupPath(dataDirOf(ctx.conf.raw), ctx.containerId, ctx.ifname);
  const saved = readBackup(file);
  if (!saved) return;
  const ns = ctx.netns ? Netns.at(ctx.netns) : undefined;
  const change = linkSetLine(ctx.ifname, restoreSettings(saved));
  if (ns?.exists() && change) {
    const r = ns.ipBatch([change]);
    if (r.status !== 0 && !isNotFound(r.stderr)) throw pluginError(`failed to restore the attributes of ${ctx.ifname}`, r.stderr.trim());
  }
  removeBackup(file);
}

function check(ctx: CniContext): void {
  const conf = confOf(ctx);
  requirePrev(ctx);
  const ns = Netns.at(ctx.netns).requireExists();
  if (conf.sysctls.length) {
    const values = ns.sysctlRead(conf.sysctls.map((s) => s.path));
    for (const s of conf.sysctls) {
      const cur = values.get(s.path);
      if (cur === undefined) throw pluginError(`Error: Tuning configured sysctl /proc/sys/${s.path} cannot be read in ${ns.label}`);
      if (!sameSysctlValue(cur, s.value)) throw pluginError(`Error: Tuning configured value of /proc/sys/${s.path} is ${s.value}, current value is ${cur}`);
    }
  }
  const link = readLink(ns, ctx.ifname);
  if (!link) throw pluginError(`Cannot find container link ${ctx.ifname}`);
  const mismatch = linkMismatch(ctx.ifname, conf, linkState(link));
  if (mismatch) throw pluginError(mismatch);
}

export const plugin: Plugin = { name: 'tuning', add, del, check, status: () => undefined, gc: () => undefined };
