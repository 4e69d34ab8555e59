/**
 * ptp: a veth pair per container, routed rather than bridged (reference plugins/main/ptp). The container reaches
 * everything, its own subnet included, through the gateway on the host end; the host routes to each container
 * address over its veth. IPAM, masquerade, MTU, DNS. DEL always cleans up, netns or not.
 */
import { ipamAdd, ipamDel, ipamStatus, ipamType, delegate } from '../../lib/cni/invoke.js';
import { refuseLinkFirstIpam } from '../../lib/cni/linkfirst.js';
import { isDnsEmpty, type Result } from '../../lib/cni/result.js';
import type { CniContext, Plugin } from '../../lib/cni/skel.js';
import { describeBatchFailure, Netns } from '../../lib/netns.js';
import { pluginError } from '../../lib/cni/errors.js';
import { ifaceSysctls } from '../../lib/iface.js';
import { requireIpMasq, setupIpMasq, teardownIpMasq } from '../../lib/ipmasq.js';
import { withRollback } from '../../lib/rollback.js';
import {
  applyVethBatch,
  deleteHostVeth,
  delVethAttachment,
  forwardingSysctls,
  gcVethAttachments,
  newVethPair,
} from '../../lib/veth.js';
import { checkPtp } from './check.js';
import { parsePtpConf, type PtpConf } from './config.js';
import { containerLines, hostLines, ptpAddresses, resultIps } from './plan.js';

function add(ctx: CniContext): Result {
  const conf = parsePtpConf(ctx.conf);
  refuseLinkFirstIpam(
    ctx,
    'ptp',
    'its container interface reaches only the routed host end of its veth, which gets its address from that very IPAM: no DHCP server can answer there',
    'use bridge (with the LAN uplink on the bridge), macvlan, ipvlan or host-device for addresses from the LAN\'s DHCP server',
  );
  const host = Netns.host();
  const container = Netns.at(ctx.netns);
  container.requireExists();
  const ipam = ipamAdd(ctx);
  const undo: Array<() => void> = [() => ipamDel(ctx)];
  return withRollback(undo, () => {
    const addrs = ptpAddresses(ipam);
    const pair = applyVethBatch(host, container, newVethPair(ctx.ifname, ctx.netns), (p) => hostLines(p, addrs, conf.mtu), (p, f) => {
      throw pluginError(`failed to set up veth ${p.hostVeth} for ${ctx.ifname}`, describeBatchFailure(f.stderr, f.lines));
    });
    undo.push(() => deleteHostVeth(host, pair.hostVeth));
    const ips = resultIps(addrs);
    // IPv6 enabled on the interface when it gets IPv6 addresses (nothing, and no exec, for IPv4 only). No arp_notify:
    // on a point-to-point link nobody holds a stale neighbour entry for the container.
    container.sysctlSet(ifaceSysctls(ctx.ifname, ips), true);
    container.ipBatchOk(containerLines(ctx.ifname, addrs, ipam.routes ?? []));
    host.sysctlSet(forwardingSysctls(new Set(addrs.map((a) => a.family))));
    if (conf.ipMasq) {
      const masq = { network: conf.network, ifname: ctx.ifname, containerId: ctx.containerId };
      const m = { ...masq, addresses: addrs.map((a) => a.cidr), ...(conf.ipMasqBackend ? { backend: conf.ipMasqBackend } : {}) };
      setupIpMasq(m);
      undo.push(() => teardownIpMasq(m));
    }
    const result: Result = {
      cniVersion: ctx.conf.cniVersion,
      interfaces: [
        { name: pair.hostVeth, mac: pair.hostMac },
        { name: ctx.ifname, mac: pair.containerMac, sandbox: ctx.netns },
      ],
      ips,
    };
    if (ipam.routes?.length) result.routes = ipam.routes;
    // The config's DNS wins when it sets anything; otherwise the IPAM's (as the reference).
    const dns = isDnsEmpty(ctx.conf.dns) ? ipam.dns : ctx.conf.dns;
    if (!isDnsEmpty(dns)) result.dns = dns!;
    return result;
  });
}

/**
 * The config DEL works from. A config that no longer validates (edited since ADD) must not block the cleanup: fall
 * back to what identifies the attachment and tear everything down.
 */
function delConfOf(ctx: CniContext): Pick<PtpConf, 'network' | 'ipMasq' | 'ipMasqBackend'> & { layer3: boolean } {
  try {
    return { ...parsePtpConf(ctx.conf), layer3: true };
  } catch {
    return { network: ctx.conf.name, layer3: ipamType(ctx) !== undefined, ipMasq: true };
  }
}

function del(ctx: CniContext): void {
  delVethAttachment(ctx, delConfOf(ctx));
}

function check(ctx: CniContext): void {
  const conf = parsePtpConf(ctx.conf);
  const container = Netns.at(ctx.netns);
  container.requireExists();
  delegate(ipamType(ctx)!, 'CHECK', ctx);
  checkPtp(ctx, Netns.host(), container);
  if (conf.ipMasq) {
    requireIpMasq({ network: conf.network, ifname: ctx.ifname, containerId: ctx.containerId }, (ctx.conf.prevResult?.ips ?? []).map((i) => i.address));
  }
}

function gc(ctx: CniContext): void {
  gcVethAttachments(ctx, parsePtpConf(ctx.conf).network);
}

export const plugin: Plugin = { name: 'ptp', add, del, check, status: ipamStatus, gc };
