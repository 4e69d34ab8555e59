/**
 * The order of an interface plugin's ADD. Normally the IPAM comes first: when it fails nothing has been created.
 * Some IPAMs work on the container's interface itself — the dhcp daemon runs its DHCP client on it — so the link
 * must exist under CNI_IFNAME, up and connected to its network, before the IPAM ADD (the reference plugins create
 * the link first for every IPAM). Plugins take that order only for these IPAMs and, in it, delete what they created
 * when the IPAM fails (releasing nothing they did not get).
 */
import { CniError, ErrorCode } from './errors.js';
import { ipamType } from './invoke.js';
import type { CniContext } from './skel.js';

/** IPAM types that need the container's interface to exist (and be up) when their ADD runs. */
export const LINK_FIRST_IPAM: ReadonlySet<string> = new Set(['dhcp']);

/** Does this config's IPAM need the link first? */
export const needsLinkFirst = (ctx: CniContext): boolean => LINK_FIRST_IPAM.has(ipamType(ctx) ?? '');

/**
 * For an interface that can never reach the network such an IPAM talks to (a dummy drops every frame it sends; a ptp
 * veth ends at the routed host end, where no DHCP server can answer before the host end has its address): a code-7
 * error before anything is created or asked for, instead of the daemon's retries running out minutes later.
 */
export function refuseLinkFirstIpam(ctx: CniContext, plugin: string, why: string, instead: string): void {
  if (!needsLinkFirst(ctx)) return;
  throw new CniError(ErrorCode.InvalidNetworkConfig, `${plugin} cannot get its addresses from "ipam" type ${JSON.stringify(ipamType(ctx))}: ${why}`, instead);
}
