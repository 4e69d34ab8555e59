/**
 * CHECK (reference cmdCheck, and more): the container veth of prevResult in this sandbox with its MAC, addresses, the
 * ptp routes and the result's routes; on the host, its veth peer carrying the gateways and a route to each address.
 */
import { pluginError } from '../../lib/cni/errors.js';
import type { CniContext } from '../../lib/cni/skel.js';
import { checkInterfaceIPs, checkRoutes, ipsForInterface, readLink, type IpLink } from '../../lib/iface.js';
import { bitsOf } from '../../lib/ip.js';
import type { Netns } from '../../lib/netns.js';
import { ptpAddresses, ptpRoutes } from './plan.js';

const sameMac = (a: string | undefined, b: string | undefined): boolean => (a ?? '').toLowerCase() === (b ?? '').toLowerCase();

export function checkPtp(ctx: CniContext, host: Netns, container: Netns): void {
  const prev = ctx.conf.prevResult;
  if (!prev) throw pluginError('Required prevResult missing');
  const ifaces = prev.interfaces ?? [];
  const contIdx = ifaces.findIndex((i) => i.name === ctx.ifname && i.sandbox === ctx.netns);
  if (contIdx < 0) {
    const other = ifaces.find((i) => i.name === ctx.ifname);
    throw pluginError(`Sandbox in prevResult ${other?.sandbox ?? ''} doesn't match configured netns: ${ctx.netns}`);
  }
  const cont = ifaces[contIdx]!;
  const link = readLink(container, ctx.ifname, true);
  if (!link) throw pluginError(`Container interface name in prevResult: ${ctx.ifname} not found in ${ctx.netns}`);
  if (link.linkinfo?.info_kind !== 'veth') throw pluginError(`Error: Container interface ${ctx.ifname} not of type veth/p2p`);
  if (cont.mac && !sameMac(cont.mac, link.address)) throw pluginError(`Interface ${ctx.ifname} Mac ${cont.mac} doesn't match container Mac: ${link.address}`);

  const ips = ipsForInterface(prev, contIdx);
  checkInterfaceIPs(link, ips);
  const addrs = ptpAddresses({ cniVersion: prev.cniVersion, ips });
  checkRoutes(container, ctx.ifname, [...ptpRoutes(addrs), ...(prev.routes ?? [])]);

  // The host end: a prevResult host interface that is the container veth's peer.
  const candidates = ifaces.filter((i) => !i.sandbox).map((i) => i.name);
  const hostLinks = host.ipJson<IpLink[]>(['-d', 'addr', 'show']);
  const veth = hostLinks.find((l) => candidates.includes(l.ifname) && l.ifindex === link.link_index && l.linkinfo?.info_kind === 'veth');
  if (!veth) {
    throw pluginError(`the host end of ${ctx.ifname} was not found (prevResult host interfaces: ${candidates.join(', ') || 'none'}; none is the peer of ${ctx.ifname})`);
  }
  checkInterfaceIPs(veth, addrs.map((a) => ({ address: `${a.gateway}/${bitsOf(a.family)}` })));
  checkRoutes(host, veth.ifname, addrs.map((a) => ({ dst: `${a.ip}/${bitsOf(a.family)}` })), true);
}
