/**
 * tap: a persistent tap device created in the container (for a VM in the pod: KubeVirt, Kata), optionally a port of a
 * bridge there; with "ipam", addresses and routes on it.
 */
import { existsSync } from 'node:fs';
import { CniError, pluginError } from '../../lib/cni/errors.js';
import { delegate, ipamAdd, ipamDel, ipamGc, ipamStatus, ipamType } from '../../lib/cni/invoke.js';
import { needsLinkFirst } from '../../lib/cni/linkfirst.js';
import type { IPConfig, Result, Route } from '../../lib/cni/result.js';
import type { CniContext, Plugin } from '../../lib/cni/skel.js';
import { createContainerLink, createLinkFirst, readExpectedLink, type ContainerLinkPlan, type LinkFailure } from '../../lib/containerlink.js';
import { checkInterfaceIPs, checkRoutes, deleteContainerLink, ifaceSysctls, ipsForInterface, type IpLink } from '../../lib/iface.js';
import { Netns } from '../../lib/netns.js';
import { tempLinkName } from '../../lib/parentlink.js';
import { parseTapConf, requireRepresentable, settingsLine, tuntapArgs, type TapConf } from './config.js';

/** SELinux is on when its filesystem is mounted; without it a context labels nothing and is not applied. */
const selinuxEnabled = (): boolean => existsSync('/sys/fs/selinux/enforce');

function failure(ctx: CniContext, conf: TapConf, f: LinkFailure): CniError {
  switch (f.stage) {
    case 'check':
      return pluginError(`failed to get bridge ${conf.bridge}: Link not found`, `no bridge ${JSON.stringify(conf.bridge)} in ${ctx.netns}: "bridge" names a bridge inside the container's netns`);
    case 'create':
      return f.line.startsWith('tuntap') ? pluginError('failed to create tap', f.error) : pluginError(`failed to set the tap's ${f.line.replace(/^link set dev \S+ /, '')}`, f.error);
    case 'rename':
      return /exists/i.test(f.error)
        ? pluginError(`failed to rename tap to ${JSON.stringify(ctx.ifname)}: file exists`, `${ctx.netns} already has an interface named ${JSON.stringify(ctx.ifname)}`)
        : pluginError(`failed to rename tap to ${JSON.stringify(ctx.ifname)}`, f.error);
    case 'attach':
      return pluginError(`failed to set tap ${ctx.ifname} as a port of bridge ${conf.bridge}`, f.error);
    default:
      return pluginError(`failed to configure ${ctx.ifname} in ${ctx.netns}`, `${f.error} (while running "ip ${f.line}")`);
  }
}

/**
 * ADD: IPAM first (when configured), then one `ip -batch` in the container (in-process over rtnetlink and the tun
 * ioctls in the executable, else one exec): the bridge must exist, the tap is created
 * under a temporary name with its MTU and MAC, renamed to CNI_IFNAME (refused when that name is taken), made a bridge
 * port, given its addresses (arp_notify on), set up. With an SELinux context on an SELinux host the tap is created by a
 * separate `runcon` exec first. With an IPAM that works on the link itself (dhcp) the tap comes first, up, as the
 * reference makes it: its DHCP gets through once the VM side attached to the tap. Any failure removes the tap and
 * releases the addresses.
 */
function add(ctx: CniContext): Result {
  const conf = parseTapConf(ctx.conf, ctx.args);
  const ipam = ipamType(ctx);
  requireRepresentable(ctx.conf.cniVersion, ipam !== undefined);
  const container = Netns.at(ctx.netns).requireExists();
  const linkFirst = needsLinkFirst(ctx);
  const ipamResult = ipam && !linkFirst ? ipamAdd(ctx) : undefined;
  const sysctlsFor = (ips: readonly IPConfig[]): Record<string, string> => (ipam ? { [`net/ipv4/conf/${ctx.ifname}/arp_notify`]: '1', ...ifaceSysctls(ctx.ifname, ips) } : {});
  try {
    const tmp = tempLinkName();
    const plan: ContainerLinkPlan = {
      checks: conf.bridge ? [`link show dev ${conf.bridge}`] : [],
      create: [tuntapArgs(conf, tmp).join(' '), ...settingsLine(conf, tmp)],
      name: tmp,
      attach: conf.bridge ? [`link set dev ${ctx.ifname} master ${conf.bridge}`] : [],
      sysctls: sysctlsFor(ipamResult?.ips ?? []),
    };
    if (conf.selinuxContext && selinuxEnabled()) {
      // The tap is labelled with the context of the process that creates it: `ip` started by runcon.
      const made = container.exec('runcon', [conf.selinuxContext, 'ip', ...tuntapArgs(conf, tmp)]);
      if (made.status !== 0) throw pluginError(`failed to create tap with SELinux context ${conf.selinuxContext}`, made.stderr.trim());
      plan.create = plan.create.slice(1);
      plan.exists = true;
    }
    const fail = (f: LinkFailure): CniError => failure(ctx, conf, f);
    const { link, ips, routes } = linkFirst
      ? linkFirstTap(ctx, container, plan, sysctlsFor, fail)
      : { link: createContainerLink(container, ctx.ifname, plan, ipamResult?.ips ?? [], ipamResult?.routes ?? [], fail), ips: ipamResult?.ips ?? [], routes: ipamResult?.routes ?? [] };
    const result: Result = { cniVersion: ctx.conf.cniVersion, interfaces: [{ name: ctx.ifname, mac: link?.address, sandbox: ctx.netns }] };
    if (ips.length) result.ips = ips.map((ip) => ({ ...ip, interface: 0 }));
    if (routes.length) result.routes = [...routes];
    if (Object.keys(ctx.conf.dns).length) result.dns = ctx.conf.dns;
    return result;
  } catch (e) {
    if (ipamResult) {
      try {
        ipamDel(ctx);
      } catch {
        /* the original error is the one to report */
      }
    }
    throw e;
  }
}

/** The tap created and up, then the IPAM ADD on it, then its addresses (lib/containerlink createLinkFirst). */
function linkFirstTap(
  ctx: CniContext,
  container: Netns,
  plan: ContainerLinkPlan,
  sysctlsFor: (ips: readonly IPConfig[]) => Record<string, string>,
  fail: (f: LinkFailure) => CniError,
): { link: IpLink | undefined; ips: readonly IPConfig[]; routes: readonly Route[] } {
  const { link, got } = createLinkFirst(container, ctx.ifname, plan, () => {
    const r = ipamAdd(ctx);
    const ips = r.ips ?? [];
    return { ips, routes: r.routes ?? [], sysctls: sysctlsFor(ips), release: () => ipamDel(ctx) };
  }, fail);
  return { link, ips: got.ips, routes: got.routes };
}

/** DEL: IPAM DEL (when configured), then the tap; nothing to do when the netns or the tap is gone. */
function del(ctx: CniContext): void {
  if (ipamType(ctx)) ipamDel(ctx);
  deleteContainerLink(ctx, false);
}

/** CHECK: IPAM CHECK, then prevResult's interface is a tap with its MAC (a port of the bridge), addresses and routes. */
function check(ctx: CniContext): void {
  const conf = parseTapConf(ctx.conf, ctx.args);
  const container = Netns.at(ctx.netns).requireExists();
  const ipam = ipamType(ctx);
  if (ipam) delegate(ipam, 'CHECK', ctx);
  const { prev, index, link } = readExpectedLink(ctx, container, 'tap');
  if (link.linkinfo?.info_kind !== 'tun' || link.linkinfo.info_data?.type !== 'tap') throw pluginError(`Error: Container interface ${ctx.ifname} not of type tap`);
  if (conf.bridge && link.master !== conf.bridge) throw pluginError(`tap ${ctx.ifname} is not a port of bridge ${conf.bridge}`, link.master ? `its master is ${link.master}` : 'it has no master');
  checkInterfaceIPs(link, ipsForInterface(prev, index));
  checkRoutes(container, ctx.ifname, prev.routes ?? []);
}

export const plugin: Plugin = { name: 'tap', add, del, check, status: ipamStatus, gc: ipamGc };
