/**
 * bandwidth (chained): limits a container's traffic with the current reference's layout (plugins/meta/bandwidth):
 * an htb tree on the host veth for ingress, and for egress an IFB device `bwp<hash>` that the veth's ingress
 * redirects to, shaped the same way. Every tc change in one `tc -batch`. DEL removes the IFB device (the veth and
 * its qdiscs go with the interface plugin's DEL), with or without the netns, whatever the config says now.
 */
import { readFileSync } from 'node:fs';
import { pluginError } from '../../lib/cni/errors.js';
import type { Result } from '../../lib/cni/result.js';
import type { CniContext, Plugin } from '../../lib/cni/skel.js';
import { versionsFrom } from '../../lib/cni/version.js';
import { ifbDeviceName } from '../../lib/hash.js';
import { Netns } from '../../lib/netns.js';
import { parseBandwidthConf, type BandwidthConf } from './config.js';
import { createIfb, deleteIfb, findHostVeth, tcBatch, tcQdiscs, tcText } from './host.js';
import { htbLines, redirectLines, shapingMismatch, tickInUsec, toBytes, type Bytes } from './tc.js';

const tick = (): number => tickInUsec(readFileSync('/proc/net/psched', 'utf8'));

function limits(conf: BandwidthConf): { ingress?: Bytes; egress?: Bytes } {
  const t = tick();
  return {
    ...(conf.ingress ? { ingress: toBytes(conf.ingress, t, 'ingress') } : {}),
    ...(conf.egress ? { egress: toBytes(conf.egress, t, 'egress') } : {}),
  };
}

function requirePrev(ctx: CniContext, what = 'must be called as chained plugin'): Result {
  if (!ctx.conf.prevResult) throw pluginError(what, 'bandwidth needs prevResult (the host veth of the container)');
  return ctx.conf.prevResult;
}

function add(ctx: CniContext): Result {
  const conf = parseBandwidthConf(ctx.conf);
  const prev = requirePrev(ctx);
  if (!conf) return prev;
  const { ingress, egress } = limits(conf);
  const host = Netns.host();
  const veth = findHostVeth(Netns.at(ctx.netns).requireExists(), host, ctx.ifname, prev);
  const ifb = ifbDeviceName(ctx.conf.name, ctx.containerId);
  const lines = ingress ? htbLines(veth.name, ingress, conf) : [];
  let mac: string | undefined;
  if (egress) {
    mac = createIfb(host, ifb, veth);
    lines.push(...htbLines(ifb, egress, conf), ...redirectLines(veth.name, ifb));
  }
  const r = tcBatch(lines);
  if (!r.ok) {
    // undo what ran: the veth's qdiscs we added (the IFB's go with it)
    const ran = lines.slice(0, r.failed);
    if (ran.some((l) => l.startsWith(`qdisc add dev ${veth.name} root`))) tcBatch([`qdisc del dev ${veth.name} root`]);
    if (ran.some((l) => l.startsWith(`qdisc add dev ${veth.name} handle ffff:`))) tcBatch([`qdisc del dev ${veth.name} ingress`]);
    if (egress) deleteIfb(host, ifb);
    throw pluginError(`failed to set up traffic shaping on ${veth.name}`, r.message);
  }
  if (!mac) return prev;
  return { ...prev, interfaces: [...(prev.interfaces ?? []), { name: ifb, mac }] };
}

function del(ctx: CniContext): void {
  deleteIfb(Netns.host(), ifbDeviceName(ctx.conf.name, ctx.containerId));
}

function check(ctx: CniContext): void {
  const conf = parseBandwidthConf(ctx.conf);
  const prev = requirePrev(ctx, 'must be called as a chained plugin');
  if (!conf) return;
  const { ingress, egress } = limits(conf);
  const veth = findHostVeth(Netns.at(ctx.netns).requireExists(), Netns.host(), ctx.ifname, prev);
  const fail = (m: string | undefined): void => {
    if (m) throw pluginError(m);
  };
  if (ingress) fail(shapingMismatch(veth.name, tcQdiscs(veth.name), () => tcText(['class', 'show', 'dev', veth.name]), ingress, conf));
  if (egress) {
    const ifb = ifbDeviceName(ctx.conf.name, ctx.containerId);
    if (Netns.host().ip(['-j', 'link', 'show', 'dev', ifb]).status !== 0) throw pluginError(`get ifb device: ${ifb} not found`);
    fail(shapingMismatch(ifb, tcQdiscs(ifb), () => tcText(['class', 'show', 'dev', ifb]), egress, conf));
    if (!tcText(['filter', 'show', 'dev', veth.name, 'parent', 'ffff:']).includes(`Redirect to device ${ifb})`)) {
      throw pluginError(`the ingress of ${veth.name} is not redirected to ${ifb}`);
    }
  }
}

export const plugin: Plugin = { name: 'bandwidth', add, del, check, status: () => undefined, gc: () => undefined, versions: versionsFrom('0.3.0') };
