/**
 * portmap: publishes container ports on the host (chained after bridge/ptp), with an nftables backend (default)
 * and the reference's iptables rules. See nft-rules.ts and iptables-rules.ts for the layouts.
 */
import { capability, validAttachments } from '../../lib/cni/config.js';
import { pluginError } from '../../lib/cni/errors.js';
import type { Result } from '../../lib/cni/result.js';
import type { CniContext, Plugin } from '../../lib/cni/skel.js';
import { existsSync } from 'node:fs';
import { join } from '../../lib/paths.js';
import type { Backend } from '../../lib/netfilter.js';
import { containerAddresses, parseConf, type PortMapConf } from './config.js';
import type { Forwarder } from './forwarder.js';
import { enableRouteLocalnet, flushUdp } from './host.js';
import { iptablesForwarder } from './iptables-backend.js';
import { nftForwarder } from './nft-backend.js';

/** nftables unless the nft tool is missing (no exec: the first transaction tells us if it works). */
function defaultBackend(): Backend {
  const dirs = (process.env.PATH ?? '').split(':').filter(Boolean);
  return dirs.some((d) => existsSync(join(d, 'nft'))) ? 'nftables' : 'iptables';
}

const forwarder = (conf: PortMapConf): Forwarder => (conf.backend === 'nftables' ? nftForwarder : iptablesForwarder);

function add(ctx: CniContext): Result {
  const conf = parseConf(ctx.conf, defaultBackend);
  const prev = ctx.conf.prevResult;
  if (!prev) throw pluginError('must be called as chained plugin', 'portmap needs prevResult (the container addresses)');
  if (!conf.mappings.length) return prev;
  const addrs = containerAddresses(prev, ctx.ifname);
  forwarder(conf).add(conf, ctx.containerId, addrs);
  const v4 = addrs.find((a) => a.family === 4);
  if (v4 && conf.snat && conf.routeLocalnet) enableRouteLocalnet(v4.ip);
  const udp = conf.mappings.filter((m) => m.protocol === 'udp').map((m) => m.hostPort);
  flushUdp(new Map(addrs.map((a) => [a.family, udp])));
  return prev;
}

/**
 * A config that no longer validates (edited since ADD) must not block DEL — that leaks rules: remove everything of
 * this attachment from both backends, found by container ID.
 */
function delWithInvalidConf(ctx: CniContext): void {
  const base: PortMapConf = {
    name: ctx.conf.name, snat: true, masqAll: false, markMasqBit: 13, conditionsV4: [], conditionsV6: [],
    backend: 'nftables', routeLocalnet: false, mappings: [],
  };
  const errors: string[] = [];
  for (const backend of ['nftables', 'iptables'] as const) {
    try {
      flushUdp(forwarder({ ...base, backend }).del({ ...base, backend }, ctx.containerId, undefined).udpPorts);
    } catch (e) {
      errors.push((e as Error).message);
    }
  }
  if (errors.length === 2) throw pluginError('failed to remove port mappings', errors.join('; '));
}

function del(ctx: CniContext): void {
  let conf: PortMapConf;
  try {
    conf = parseConf(ctx.conf, defaultBackend);
  } catch {
    return delWithInvalidConf(ctx);
  }
  // The runtime said explicitly there are no mappings: nothing was installed, touch nothing.
  if (!conf.mappings.length && Array.isArray(capability(ctx.conf, 'portMappings'))) return;
  const addrs = ctx.conf.prevResult ? containerAddresses(ctx.conf.prevResult, ctx.ifname) : undefined;
  const removed = forwarder(conf).del(conf, ctx.containerId, addrs);
  flushUdp(removed.udpPorts);
}

function check(ctx: CniContext): void {
  const conf = parseConf(ctx.conf, defaultBackend);
  const prev = ctx.conf.prevResult;
  if (!prev) throw pluginError('Required prevResult missing');
  if (!conf.mappings.length) return;
  forwarder(conf).check(conf, ctx.containerId, containerAddresses(prev, ctx.ifname));
}

function gc(ctx: CniContext): void {
  const conf = parseConf(ctx.conf, defaultBackend);
  const keep = new Set(validAttachments(ctx.conf.raw).map((a) => a.containerID));
  forwarder(conf).gc(conf, keep);
}

export const plugin: Plugin = { name: 'portmap', add, del, check, status: () => undefined, gc };
