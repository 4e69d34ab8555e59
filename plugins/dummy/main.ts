/** dummy: a dummy link created in the container, with the IPAM plugin's addresses, routes and DNS. */
import { CniError, ErrorCode, pluginError } from '../../lib/cni/errors.js';
import { ipamAdd, ipamDel, ipamGc, ipamStatus, ipamType, delegate } from '../../lib/cni/invoke.js';
import { refuseLinkFirstIpam } from '../../lib/cni/linkfirst.js';
import type { Result } from '../../lib/cni/result.js';
import type { CniContext, Plugin } from '../../lib/cni/skel.js';
import { createContainerLink, readExpectedLink, type LinkFailure } from '../../lib/containerlink.js';
import { checkInterfaceIPs, checkRoutes, deleteContainerLink, ifaceSysctls, ipsForInterface } from '../../lib/iface.js';
import { Netns } from '../../lib/netns.js';

/** The reference's rule: a dummy link is only useful with addresses, so the config must name an IPAM plugin. */
function requireIpam(ctx: CniContext): string {
  const type = ipamType(ctx);
  if (!type) throw new CniError(ErrorCode.InvalidNetworkConfig, 'dummy interface requires an IPAM configuration', 'set "ipam" with a "type" (e.g. host-local or static)');
  return type;
}

function createFailure(ctx: CniContext, f: LinkFailure): CniError {
  if (f.stage === 'create') {
    if (/exists/i.test(f.error)) return pluginError(`failed to create dummy: file exists`, `${ctx.netns} already has an interface named ${JSON.stringify(ctx.ifname)}`);
    if (/Unknown device type/i.test(f.error)) return pluginError('failed to create dummy: the kernel has no dummy support (CONFIG_DUMMY / the dummy module is missing)', f.error);
    return pluginError('failed to create dummy', f.error);
  }
  return pluginError(`failed to configure ${ctx.ifname} in ${ctx.netns}`, `${f.error} (while running "ip ${f.line}")`);
}

/**
 * ADD: IPAM first (nothing is created when it fails), then the link, its addresses and routes in one `ip -batch`
 * (in-process over rtnetlink in the executable).
 */
function add(ctx: CniContext): Result {
  requireIpam(ctx);
  refuseLinkFirstIpam(ctx, 'dummy', 'a dummy interface drops every frame it sends, so no DHCP server can answer on it', 'give a dummy static addresses ("ipam": {"type": "static"} or host-local)');
  const container = Netns.at(ctx.netns).requireExists();
  const ipam = ipamAdd(ctx);
  try {
    const ips = ipam.ips ?? [];
    const routes = ipam.routes ?? [];
    const plan = { create: [`link add ${ctx.ifname} type dummy`], name: ctx.ifname, sysctls: ifaceSysctls(ctx.ifname, ips) };
    const link = createContainerLink(container, ctx.ifname, plan, ips, routes, (f) => createFailure(ctx, f));
    // The IPAM result as it came (routes and DNS included), with the dummy as its one interface.
    const result: Result = { ...ipam, cniVersion: ctx.conf.cniVersion, interfaces: [{ name: ctx.ifname, mac: link?.address, sandbox: ctx.netns }] };
    result.ips = ips.map((ip) => ({ ...ip, interface: 0 }));
    return result;
  } catch (e) {
    try {
      ipamDel(ctx);
    } catch {
      /* the original error is the one to report */
    }
    throw e;
  }
}

/** DEL: IPAM DEL, then the link; nothing to do when the netns or the link is gone. */
function del(ctx: CniContext): void {
  if (ipamType(ctx)) ipamDel(ctx);
  deleteContainerLink(ctx, false);
}

/** CHECK: IPAM CHECK, then the interface of prevResult is a dummy, up, with its MAC, addresses and routes. */
function check(ctx: CniContext): void {
  const type = requireIpam(ctx);
  const container = Netns.at(ctx.netns).requireExists();
  delegate(type, 'CHECK', ctx);
  const { prev, index, link } = readExpectedLink(ctx, container, 'dummy');
  if (link.linkinfo?.info_kind !== 'dummy') throw pluginError(`Error: Container interface ${ctx.ifname} not of type dummy`);
  if (!link.flags?.includes('UP')) throw pluginError(`Interface ${ctx.ifname} is down`);
  checkInterfaceIPs(link, ipsForInterface(prev, index));
  checkRoutes(container, ctx.ifname, prev.routes ?? []);
}

export const plugin: Plugin = { name: 'dummy', add, del, check, status: ipamStatus, gc: ipamGc };
