/** CHECK (reference cmdCheck): bridge, container veth, its host peer on the bridge, addresses and routes vs prevResult. */
import { pluginError } from '../../lib/cni/errors.js';
import type { Interface } from '../../lib/cni/result.js';
import type { CniContext } from '../../lib/cni/skel.js';
import { checkInterfaceIPs, checkRoutes, ipsForInterface, readLink, type IpLink } from '../../lib/iface.js';
import type { Netns } from '../../lib/netns.js';
import type { BridgeConf } from './config.js';

const sameMac = (a: string | undefined, b: string | undefined): boolean => (a ?? '').toLowerCase() === (b ?? '').toLowerCase();

export function checkBridge(ctx: CniContext, conf: BridgeConf, host: Netns, container: Netns): void {
  const prev = ctx.conf.prevResult;
  if (!prev) throw pluginError('Required prevResult missing');
  const ifaces = prev.interfaces ?? [];
  const brIdx = ifaces.findIndex((i) => i.name === conf.brName && !i.sandbox);
  const contIdx = ifaces.findIndex((i) => i.name === ctx.ifname && i.sandbox === ctx.netns);
  const br = ifaces[brIdx];
  const cont = ifaces[contIdx];
  if (!br) throw pluginError(`CNI created bridge ${conf.brName} is not in prevResult`);
  if (!cont) {
    const other = ifaces.find((i) => i.name === ctx.ifname);
    if (other) throw pluginError(`Sandbox in prevResult ${other.sandbox ?? ''} doesn't match configured netns: ${ctx.netns}`);
    throw pluginError(`CNI created interface in container ${ctx.ifname} is not in prevResult`);
  }

  const hostLinks = host.ipJson<IpLink[]>(['-d', 'link', 'show']);
  const brLink = hostLinks.find((l) => l.ifname === conf.brName);
  if (!brLink) throw pluginError(`CNI created bridge ${conf.brName} in host namespace was not found`);
  if (brLink.linkinfo?.info_kind !== 'bridge') throw pluginError(`Interface ${conf.brName} does not have link type of bridge`);
  if (br.mac && !sameMac(br.mac, brLink.address)) throw pluginError(`Bridge interface ${conf.brName} Mac doesn't match: ${br.mac} (it is ${brLink.address})`);
  const promisc = (brLink.flags ?? []).includes('PROMISC');
  if (promisc !== conf.promiscMode) {
    throw pluginError(`Bridge interface ${conf.brName} configured Promisc Mode ${conf.promiscMode} doesn't match current state: ${promisc}`);
  }

  const contLink = readLink(container, ctx.ifname, true);
  if (!contLink) throw pluginError(`CNI created interface in container ${ctx.ifname} not found in ${ctx.netns}`);
  if (contLink.linkinfo?.info_kind !== 'veth') throw pluginError(`Error: Container interface ${ctx.ifname} not of type veth`);
  if (cont.mac && !sameMac(cont.mac, contLink.address)) {
    throw pluginError(`Interface ${ctx.ifname} Mac ${cont.mac} doesn't match container Mac: ${contLink.address}`);
  }

  // The host veth: a prevResult interface that is the container veth's peer and a port of the bridge.
  const peerIndex = contLink.link_index;
  const candidates = ifaces.filter((i: Interface, idx) => idx !== brIdx && idx !== contIdx && !i.sandbox);
  const veth = candidates
    .map((i) => ({ i, l: hostLinks.find((l) => l.ifname === i.name) }))
    .find(({ l }) => l && l.linkinfo?.info_kind === 'veth' && l.ifindex === peerIndex && l.master === conf.brName);
  if (!veth) {
    const names = candidates.map((i) => i.name).join(', ') || 'none';
    throw pluginError(`CNI veth created for bridge ${conf.brName} was not found (prevResult host interfaces: ${names}; none is the peer of ${ctx.ifname} on ${conf.brName})`);
  }
  if (veth.i.mac && !sameMac(veth.i.mac, veth.l!.address)) throw pluginError(`Interface ${veth.i.name} Mac doesn't match: ${veth.i.mac} not found`);

  checkInterfaceIPs(contLink, ipsForInterface(prev, contIdx));
  checkRoutes(container, ctx.ifname, prev.routes ?? []);
}
