/** ipvlan: a link sharing its parent's ("master") MAC, moved into the container; IPs from IPAM or a chained prevResult. */
import { ipamAdd, ipamGc, ipamStatus, ipamType } from '../../lib/cni/invoke.js';
import { requireAddressesForVersion, type Result } from '../../lib/cni/result.js';
import type { CniContext, Plugin } from '../../lib/cni/skel.js';
import { addSubLink, checkSubLink, delSubLink, ipamSource, type IpSource } from '../../lib/parentlink.js';
import { addSpec, ipSourceKind, parseIpvlanConf } from './config.js';

function add(ctx: CniContext): Result {
  const spec = addSpec(ctx.conf);
  const source = ipSourceKind(ctx.conf, ipamType(ctx));
  const prev = ctx.conf.prevResult;
  requireAddressesForVersion(ctx.conf.cniVersion, source === 'ipam' || (prev?.ips?.length ?? 0) > 0, 'an ipvlan');
  // Chained: reuse the previous plugin's IPs and routes (re-indexed to this interface); nothing to release.
  const reuse = (): IpSource => ({ ips: prev?.ips ?? [], routes: prev?.routes ?? [] });
  return addSubLink(ctx, spec, () => (source === 'ipam' ? ipamSource(ctx, ipamAdd) : reuse()));
}

function check(ctx: CniContext): void {
  const spec = parseIpvlanConf(ctx.conf);
  // The master is known when configured, or (not chained) is the default-route interface; a chained ipvlan's
  // master came from a prevResult that CHECK no longer sees.
  checkSubLink(ctx, spec, spec.master !== undefined || ipamType(ctx) !== undefined);
}

export const plugin: Plugin = { name: 'ipvlan', add, del: delSubLink, check, status: ipamStatus, gc: ipamGc };
