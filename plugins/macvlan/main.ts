/** macvlan: a link with its own MAC on a parent ("master") link, moved into the container. */
import { parseCniArgs } from '../../lib/cni/args.js';
import { ipamAdd, ipamGc, ipamStatus, ipamType } from '../../lib/cni/invoke.js';
import { requireAddressesForVersion, type Result } from '../../lib/cni/result.js';
import type { CniContext, Plugin } from '../../lib/cni/skel.js';
import { requestedMac } from '../../lib/iface.js';
import { addSubLink, checkSubLink, delSubLink, ipamSource } from '../../lib/parentlink.js';
import { parseMacvlanConf } from './config.js';

const specOf = (ctx: CniContext) => parseMacvlanConf(ctx.conf, requestedMac(ctx, parseCniArgs(ctx.args, ['MAC'])));

function add(ctx: CniContext): Result {
  const spec = specOf(ctx);
  requireAddressesForVersion(ctx.conf.cniVersion, ipamType(ctx) !== undefined, 'a macvlan');
  // With an IPAM: its addresses and routes; without (no or empty "ipam"): L2 only, the link is just set up.
  return addSubLink(ctx, spec, () => (ipamType(ctx) ? ipamSource(ctx, ipamAdd) : undefined));
}

function check(ctx: CniContext): void {
  checkSubLink(ctx, specOf(ctx), true);
}

export const plugin: Plugin = { name: 'macvlan', add, del: delSubLink, check, status: ipamStatus, gc: ipamGc };
