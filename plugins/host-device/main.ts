/**
 * host-device: moves an existing host link into the container as CNI_IFNAME (its host name kept in the link's alias)
 * and gives it back on DEL. Drop-in for the reference's plugins/main/host-device.
 */
import { pluginError } from '../../lib/cni/errors.js';
import { delegate, ipamAdd, ipamDel, ipamGc, ipamStatus, ipamType } from '../../lib/cni/invoke.js';
import { needsLinkFirst } from '../../lib/cni/linkfirst.js';
import { requireAddressesForVersion, type IPConfig, type Result, type Route } from '../../lib/cni/result.js';
import type { CniContext, Plugin } from '../../lib/cni/skel.js';
import { checkInterfaceIPs, checkRoutes, ifaceSysctls, ipsForInterface, readLink, type IpLink } from '../../lib/iface.js';
import { isNotFound, Netns } from '../../lib/netns.js';
import { withRollback } from '../../lib/rollback.js';
import { parseSelector, trySelector, type Selector } from './config.js';
import { ConfigureFailure, configureAddresses, configureInContainer, moveIn, returnToHost } from './move.js';
import { hasDpdkDriver, maybeDpdk, resolveHostDevice } from './select.js';

/** A result without addresses cannot be printed at 0.1.0/0.2.0: refuse before the link moves (the reference after). */
function requirePrintable(ctx: CniContext): void {
  requireAddressesForVersion(ctx.conf.cniVersion, ipamType(ctx) !== undefined, 'a host-device');
}

/** A PCI device bound to a userspace (DPDK) driver: no kernel link; only IPAM, whose addresses the result carries. */
function addDpdk(ctx: CniContext): Result {
  const result: Result = { cniVersion: ctx.conf.cniVersion };
  if (!ipamType(ctx)) return result;
  const ipam = ipamAdd(ctx);
  return { ...result, ips: ipam.ips ?? [], ...(ipam.routes?.length ? { routes: ipam.routes } : {}), ...(Object.keys(ctx.conf.dns).length ? { dns: ctx.conf.dns } : {}) };
}

/**
 * ADD: IPAM first (nothing moves when it fails), then the link moves in, is renamed (its host name in the alias),
 * configured and set up in one container exec. With an IPAM that works on the link itself (dhcp) the link moves in,
 * is renamed and set up first, as the reference's does, then the IPAM runs on it and a second exec configures it.
 * Any failure gives the link back to the host under its name and releases what the IPAM gave.
 */
function add(ctx: CniContext): Result {
  const sel = parseSelector(ctx.conf);
  const container = Netns.at(ctx.netns).requireExists();
  requirePrintable(ctx);
  if (sel.by === 'pciBusID' && hasDpdkDriver(sel.pci)) return addDpdk(ctx);
  const host = Netns.host();
  const hostName = resolveHostDevice(sel, host);
  const undo: Array<() => void> = [];
  return withRollback(undo, () => {
    const linkFirst = needsLinkFirst(ctx);
    let ipam = ipamType(ctx) && !linkFirst ? ipamAdd(ctx) : undefined;
    if (ipam) undo.push(() => ipamDel(ctx));
    const before = moveIn(host, hostName, ctx.netns);
    let current = hostName;
    undo.push(() => returnToHost(container, host, current, hostName, before));
    let link: IpLink | undefined;
    const configure = (ips: IPConfig[], routes: Route[]): IpLink | undefined => {
      try {
        return configureInContainer(container, hostName, ctx.ifname, ips, routes);
      } catch (e) {
        if (e instanceof ConfigureFailure) current = e.currentName;
        throw e;
      }
    };
    if (linkFirst) {
      configure([], []); // renamed, its host name in the alias, up
      current = ctx.ifname;
      ipam = ipamAdd(ctx);
      undo.push(() => ipamDel(ctx)); // undone before the link goes back: a DHCP lease is released over it
      if (ipam.ips?.length) container.sysctlSet(ifaceSysctls(ctx.ifname, ipam.ips));
      link = configureAddresses(container, ctx.ifname, ipam.ips ?? [], ipam.routes ?? []);
    } else {
      if (ipam?.ips?.length) container.sysctlSet(ifaceSysctls(hostName, ipam.ips));
      link = configure(ipam?.ips ?? [], ipam?.routes ?? []);
    }
    const result: Result = { cniVersion: ctx.conf.cniVersion, interfaces: [{ name: ctx.ifname, ...(link?.address ? { mac: link.address } : {}), sandbox: ctx.netns }] };
    if (!ipam) return result;
    result.ips = (ipam.ips ?? []).map((ip) => ({ ...ip, interface: 0 }));
    if (ipam.routes?.length) result.routes = ipam.routes;
    if (Object.keys(ctx.conf.dns).length) result.dns = ctx.conf.dns;
    return result;
  });
}

/**
 * The netns is gone: a physical link comes back to the root netns under its container name, its host name still in
 * the alias. When that is the link the config names (by `device` or `hwaddr`) and its name is free, rename it back.
 */
function rescueReturnedLink(sel: Selector | undefined): void {
  if (sel?.by !== 'device' && sel?.by !== 'hwaddr') return;
  const host = Netns.host();
  const links = host.ipJson<IpLink[]>(['link', 'show']);
  const wanted = sel.by === 'device' ? sel.name : undefined;
  if (wanted && links.some((l) => l.ifname === wanted)) return;
  const back = links.find((l) => l.ifalias && l.ifalias !== l.ifname && (wanted ? l.ifalias === wanted : l.address?.toLowerCase() === (sel as { mac: string }).mac));
  if (!back || links.some((l) => l.ifname === back.ifalias)) return;
  host.ipBatch([`link set dev ${back.ifname} down`, `link set dev ${back.ifname} name ${back.ifalias}`, `link set dev ${back.ifalias} alias ""`]);
}

/** `ip -j link show dev IF` (which, unlike `addr show`, has the alias); undefined when there is no such link. */
function showLink(ns: Netns, ifname: string): IpLink | undefined {
  const r = ns.ip(['-j', 'link', 'show', 'dev', ifname]);
  if (r.status !== 0) {
    if (isNotFound(r.stderr)) return undefined;
    throw pluginError(`failed to read ${ifname} in ${ns.label}`, r.stderr.trim());
  }
  return (JSON.parse(r.stdout || '[]') as IpLink[])[0];
}

/**
 * DEL: IPAM DEL first (also without a netns or after it is gone), then the link goes back to the host under the name
 * its alias holds. Nothing to give back (no netns, no such link, a DPDK device) is success; DEL can run any number of
 * times.
 */
function del(ctx: CniContext): void {
  const sel = trySelector(ctx.conf);
  if (ipamType(ctx)) ipamDel(ctx);
  if (!ctx.netns || maybeDpdk(sel)) return;
  const container = Netns.at(ctx.netns);
  if (!container.exists()) {
    rescueReturnedLink(sel);
    return;
  }
  const link = showLink(container, ctx.ifname);
  if (!link) return; // no such link
  const alias = link.ifalias ?? '';
  const hostName = alias || (sel?.by === 'device' ? sel.name : undefined);
  if (!hostName) throw pluginError(`cannot give ${ctx.ifname} back to the host: it has no alias holding its host name, and the config names no "device"`);
  returnToHost(container, Netns.host(), ctx.ifname, hostName, { up: false, alias: '' });
}

/** CHECK: IPAM CHECK, then the prevResult's interface is in the container with its MAC, addresses and routes. */
function check(ctx: CniContext): void {
  const sel = parseSelector(ctx.conf);
  const container = Netns.at(ctx.netns).requireExists();
  const type = ipamType(ctx);
  if (type) delegate(type, 'CHECK', ctx);
  const prev = ctx.conf.prevResult;
  if (!prev) throw pluginError('Required prevResult missing');
  if (sel.by === 'pciBusID' && hasDpdkDriver(sel.pci)) return;
  const index = (prev.interfaces ?? []).findIndex((i) => i.name === ctx.ifname && i.sandbox === ctx.netns);
  if (index < 0) throw pluginError(`Sandbox in prevResult doesn't match configured netns: ${ctx.netns} (no interface ${JSON.stringify(ctx.ifname)} there)`);
  const intf = prev.interfaces![index]!;
  const link = readLink(container, ctx.ifname);
  if (!link) throw pluginError(`Container Interface name in prevResult: ${ctx.ifname} not found`);
  if (intf.mac && intf.mac.toLowerCase() !== (link.address ?? '').toLowerCase()) {
    throw pluginError(`Interface ${ctx.ifname} Mac ${intf.mac} doesn't match container Mac: ${link.address ?? ''}`);
  }
  checkInterfaceIPs(link, ipsForInterface(prev, index));
  checkRoutes(container, ctx.ifname, prev.routes ?? []);
}

export const plugin: Plugin = { name: 'host-device', add, del, check, status: ipamStatus, gc: ipamGc };
