/** host-local IPAM: allocates addresses from ranges, with leases on local disk shared with the Go host-local. */
import { existsSync } from 'node:fs';
import { CniError, ErrorCode, pluginError } from '../../lib/cni/errors.js';
import { parseCniArgs } from '../../lib/cni/args.js';
import { validAttachments } from '../../lib/cni/config.js';
import type { IPConfig, Result } from '../../lib/cni/result.js';
import type { CniContext, Plugin } from '../../lib/cni/skel.js';
import { formatIP, parseCIDR } from '../../lib/ip.js';
import { allocate, releaseByID, staleLeases } from './allocator.js';
import { parseHostLocalConfig, rangeSetContains, storeLocation } from './config.js';
import { readResolvConf } from './resolvconf.js';
import { DiskStore, leaseMatches, type Lease } from './store.js';

function add(ctx: CniContext): Result {
  const cfg = parseHostLocalConfig(ctx.conf, parseCniArgs(ctx.args, ['IP']));
  const unplaced = cfg.requestedIPs.filter((ip) => !cfg.rangeSets.some((set) => rangeSetContains(set, ip)));
  if (unplaced.length) {
    throw pluginError(`failed to allocate all requested IPs: ${unplaced.map(formatIP).join(', ')} not in any configured range`);
  }
  const dns = cfg.resolvConf ? readResolvConf(cfg.resolvConf) : undefined;
  const store = new DiskStore(cfg.dataDir, cfg.name).open();
  const ips = store.locked(() => {
    const requested = [...cfg.requestedIPs];
    let leases: Lease[] | undefined;
    const existing = (): Lease[] => (leases ??= store.leases());
    const got: IPConfig[] = [];
    try {
      cfg.rangeSets.forEach((set, i) => got.push(allocate(store, set, i, ctx.containerId, ctx.ifname, requested, existing)));
      if (requested.length) throw pluginError(`failed to allocate all requested IPs: ${requested.map(formatIP).join(', ')}`);
    } catch (e) {
      // Undo only what this call reserved; existing leases stay.
      for (const ipc of got) store.remove({ file: formatIP(parseCIDR(ipc.address)!.ip), ip: parseCIDR(ipc.address)!.ip, containerId: ctx.containerId });
      throw e;
    }
    return got;
  });
  const result: Result = { cniVersion: ctx.conf.cniVersion, ips };
  if (cfg.routes.length) result.routes = cfg.routes;
  if (dns) result.dns = dns;
  return result;
}

function del(ctx: CniContext): void {
  const loc = storeLocation(ctx.conf);
  const store = new DiskStore(loc.dataDir, loc.name);
  if (!existsSync(store.dir)) return; // nothing was ever stored: nothing to release, nothing to create
  store.locked(() => releaseByID(store, ctx.containerId, ctx.ifname));
}

function check(ctx: CniContext): void {
  const loc = storeLocation(ctx.conf);
  const leases = new DiskStore(loc.dataDir, loc.name).leases();
  const found = leases.some((l) => leaseMatches(l, ctx.containerId, ctx.ifname, false) || leaseMatches(l, ctx.containerId, ctx.ifname, true));
  if (!found) throw pluginError(`host-local: Failed to find address added by container ${ctx.containerId}`);
}

function gc(ctx: CniContext): void {
  const loc = storeLocation(ctx.conf);
  const valid = validAttachments(ctx.conf.raw);
  const store = new DiskStore(loc.dataDir, loc.name);
  if (!existsSync(store.dir)) return;
  store.locked(() => {
    for (const l of staleLeases(store.leases(), valid)) store.remove(l);
    store.removeStaleTemps();
  });
}

function status(ctx: CniContext): void {
  const loc = storeLocation(ctx.conf);
  let store: DiskStore;
  try {
    store = new DiskStore(loc.dataDir, loc.name).open();
  } catch (e) {
    throw new CniError(ErrorCode.PluginNotAvailable, `host-local store ${loc.dataDir}/${loc.name} is not usable`, (e as CniError).details);
  }
  if (!store.writable()) throw new CniError(ErrorCode.PluginNotAvailable, `host-local store ${store.dir} is not writable`);
}

export const plugin: Plugin = { name: 'host-local', add, del, check, gc, status };
