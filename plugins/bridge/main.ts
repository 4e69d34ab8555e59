/**
 * bridge: a veth pair between the container and a Linux bridge on the host (reference plugins/main/bridge), with
 * IPAM, gateway on the bridge, masquerade, VLANs and MAC spoof checking. DEL always cleans up, netns or not.
 */
import { parseCniArgs } from '../../lib/cni/args.js';
import { delegate, ipamAdd, ipamDel, ipamStatus, ipamType } from '../../lib/cni/invoke.js';
import { needsLinkFirst } from '../../lib/cni/linkfirst.js';
import { isDnsEmpty, requireAddressesForVersion, type Interface, type Result } from '../../lib/cni/result.js';
import type { CniContext, Plugin } from '../../lib/cni/skel.js';
import { requestedMac } from '../../lib/iface.js';
import { requireIpMasq, setupIpMasq, teardownIpMasq } from '../../lib/ipmasq.js';
import { Netns } from '../../lib/netns.js';
import { withRollback } from '../../lib/rollback.js';
import { setupSpoofcheck, spoofRefId, teardownSpoofcheck } from '../../lib/spoofcheck.js';
import { deleteHostVeth, delVethAttachment, gcVethAttachments } from '../../lib/veth.js';
import { checkBridge } from './check.js';
import { parseBridgeConf, type BridgeConf } from './config.js';
import {
  announceContainer,
  applyGateways,
  applyHostLinks,
  applyPortVlans,
  configureContainer,
  enableForwarding,
  hostSysctlsBestEffort,
  planHost,
  readBridge,
} from './links.js';
import { calcGateways, type Gateways } from './plan.js';

const confOf = (ctx: CniContext): BridgeConf => parseBridgeConf(ctx.conf, requestedMac(ctx, parseCniArgs(ctx.args, ['MAC'])));

function add(ctx: CniContext): Result {
  const conf = confOf(ctx);
  requireAddressesForVersion(ctx.conf.cniVersion, conf.layer3, 'a bridge');
  const host = Netns.host();
  const container = Netns.at(ctx.netns);
  container.requireExists();
  const bridge = readBridge(host, conf.brName);
  const undo: Array<() => void> = [];
  // IPAM first (a failure creates nothing), unless it needs the container interface (dhcp): then after the veth
  const linkFirst = conf.layer3 && needsLinkFirst(ctx);
  let ipam = conf.layer3 && !linkFirst ? ipamAdd(ctx) : undefined;
  if (ipam) undo.push(() => ipamDel(ctx));
  return withRollback(undo, () => {
    let gws: Gateways | undefined = ipam ? calcGateways(ipam, conf) : undefined;
    let plan = planHost(host, conf, bridge, gws, ctx.ifname, ctx.netns);
    plan = applyHostLinks(host, container, plan);
    undo.push(() => deleteHostVeth(host, plan.hostVeth));
    hostSysctlsBestEffort({ [`net/ipv6/conf/${conf.brName}/accept_ra`]: '0', [`net/ipv6/conf/${plan.hostVeth}/accept_ra`]: '0' });
    applyPortVlans(conf, plan.hostVeth, plan.vlanGateway && !plan.vlanGateway.exists ? plan.vlanGateway.peer : undefined);
    if (linkFirst) {
      // The veth is a port of the bridge (with its VLANs) by now; up, as the reference's, for the DHCP client on it.
      container.ipBatchOk([`link set dev ${ctx.ifname} up`]);
      ipam = ipamAdd(ctx);
      undo.push(() => ipamDel(ctx)); // undone before the veth: a DHCP lease is released over it
      gws = calcGateways(ipam, conf);
      plan = applyGateways(host, plan, gws);
    }

    const result: Result = {
      cniVersion: ctx.conf.cniVersion,
      interfaces: [
        { name: conf.brName, mac: plan.bridgeMac },
        { name: plan.hostVeth, mac: plan.hostMac },
        { name: ctx.ifname, mac: plan.containerMac, sandbox: ctx.netns },
      ],
    };
    if (conf.macspoofchk) {
      setupSpoofcheck(plan.hostVeth, plan.containerMac, spoofRefId(ctx.containerId, ctx.ifname));
      undo.push(() => teardownSpoofcheck(spoofRefId(ctx.containerId, ctx.ifname)));
    }
    if (ipam && gws) {
      configureContainer(container, ctx.ifname, gws, conf.enableDad);
      if (plan.vlanGateway) (result.interfaces as Interface[]).push({ name: plan.vlanGateway.name, mac: plan.vlanGateway.mac });
      if (conf.isGW) enableForwarding(host, gws);
      if (conf.ipMasq) {
        const masq = { network: conf.network, ifname: ctx.ifname, containerId: ctx.containerId };
        const m = { ...masq, addresses: gws.ips.map((i) => i.address), ...(conf.ipMasqBackend ? { backend: conf.ipMasqBackend } : {}) };
        setupIpMasq(m);
        undo.push(() => teardownIpMasq(m));
      }
      result.ips = gws.ips;
      if (gws.routes.length) result.routes = gws.routes;
      // the reference (1.1.1) only sets arp_notify, whose announcement the bridge drops: announce once the port forwards
      announceContainer(host, plan.hostVeth, ctx.netns, ctx.ifname, plan.containerMac, gws.ips.map((i) => i.address));
      if (!isDnsEmpty(ipam.dns)) result.dns = ipam.dns!;
    } else if (!conf.disableContainerInterface) {
      container.ipBatchOk([`link set ${ctx.ifname} up`]);
    }
    if (!isDnsEmpty(ctx.conf.dns)) result.dns = ctx.conf.dns;
    return result;
  });
}

/**
 * The config DEL works from. A config that no longer validates (edited since ADD) must not block the cleanup — the
 * reference fails such DELs and leaks: fall back to what identifies the attachment and tear everything down.
 */
function delConfOf(ctx: CniContext): Pick<BridgeConf, 'network' | 'layer3' | 'ipMasq' | 'ipMasqBackend' | 'macspoofchk'> {
  try {
    return confOf(ctx);
  } catch {
    const type = ctx.conf.ipam?.type;
    return { network: ctx.conf.name, layer3: typeof type === 'string' && type !== '', ipMasq: true, macspoofchk: true };
  }
}

function del(ctx: CniContext): void {
  const conf = delConfOf(ctx);
  delVethAttachment(ctx, conf, conf.macspoofchk ? [() => teardownSpoofcheck(spoofRefId(ctx.containerId, ctx.ifname))] : []);
}

function check(ctx: CniContext): void {
  const conf = confOf(ctx);
  const container = Netns.at(ctx.netns);
  container.requireExists();
  if (conf.layer3) delegate(ipamType(ctx)!, 'CHECK', ctx);
  checkBridge(ctx, conf, Netns.host(), container);
  if (conf.layer3 && conf.ipMasq) {
    requireIpMasq({ network: conf.network, ifname: ctx.ifname, containerId: ctx.containerId }, (ctx.conf.prevResult?.ips ?? []).map((i) => i.address));
  }
}

function gc(ctx: CniContext): void {
  gcVethAttachments(ctx, confOf(ctx).network);
}

export const plugin: Plugin = { name: 'bridge', add, del, check, status: ipamStatus, gc };
