/** vlan: an 802.1Q link on a parent ("master") link, created in the container (with the master's MAC); IPs from IPAM. */
import { ipamAdd, ipamGc, ipamStatus, ipamType } from '../../lib/cni/invoke.js';
import type { Result } from '../../lib/cni/result.js';
import type { CniContext, Plugin } from '../../lib/cni/skel.js';
import { addSubLink, checkSubLink, delSubLink, ipamSource } from '../../lib/parentlink.js';
import { parseVlanConf, requireIpam, verifyVlanLink } from './config.js';

/** ADD: master checked (exists, MTU), IPAM, then the link created in the container and configured; undone on failure. */
function add(ctx: CniContext): Result {
  const { spec } = parseVlanConf(ctx.conf);
  requireIpam(ipamType(ctx));
  return addSubLink(ctx, spec, () => ipamSource(ctx, ipamAdd));
}

/** CHECK: IPAM CHECK, the master exists, the link is a vlan with the configured id (and MTU), MAC, addresses, routes. */
function check(ctx: CniContext): void {
  const { spec, vlanId } = parseVlanConf(ctx.conf);
  requireIpam(ipamType(ctx));
  checkSubLink(ctx, spec, true, (link) => verifyVlanLink(link, vlanId, spec.mtu));
}

/** DEL: IPAM DEL first, then the link; needs neither the master nor the netns (both may be gone). */
export const plugin: Plugin = { name: 'vlan', add, del: delSubLink, check, status: ipamStatus, gc: ipamGc };
