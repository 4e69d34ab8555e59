/** Host-side effects of the bridge plugin: reading the bridge, creating bridge + veth in one `ip -batch`, VLANs, sysctls. */
import { writeFileSync } from 'node:fs';
import { pluginError } from '../../lib/cni/errors.js';
import { sleepSync } from '../../lib/exec.js';
import { announceAddresses } from '../../lib/garp.js';
import { configureIfaceCommands, readLink, type IpLink } from '../../lib/iface.js';
import { libc } from '../../lib/native.js';
import { describeBatchFailure, Netns } from '../../lib/netns.js';
import { needsVlanFiltering, type BridgeConf } from './config.js';
import { applyVethBatch, forwardingSysctls, newMac, newVethPair, randomVethName } from '../../lib/veth.js';
import { containerSysctls, gatewayAddrLines, gatewayDeviceLines, hostLinkLines, isUnsupported, portVlanLines, vlanGatewayName, type Gateways, type HostPlan } from './plan.js';

/** The bridge (with addresses and details), undefined when missing; a non-bridge link of that name is an error. */
export function readBridge(host: Netns, name: string): IpLink | undefined {
  const link = readLink(host, name, true);
  if (!link) return undefined;
  if (link.linkinfo?.info_kind !== 'bridge') {
    throw pluginError(`${JSON.stringify(name)} already exists but is not a bridge`, `its kind is ${JSON.stringify(link.linkinfo?.info_kind ?? 'unknown')}`);
  }
  return link;
}

const VLAN_FILTERING_MISSING =
  'this kernel does not support bridge VLAN filtering (CONFIG_BRIDGE_VLAN_FILTERING), which "vlan" and "vlanTrunk" need';

/**
 * Run the host batch (lib/veth applyVethBatch: veth name clashes handled). A bridge created by a concurrent ADD
 * between our read and our batch is adopted and the batch retried. Returns the plan actually applied.
 */
export function applyHostLinks(host: Netns, container: Netns, plan: HostPlan): HostPlan {
  return applyVethBatch(host, container, plan, hostLinkLines, (p, f) => {
    if (!p.bridge && f.line.startsWith(`link add ${p.conf.brName} `) && /File exists/.test(f.stderr) && f.attempt < 10) {
      const bridge = readBridge(host, p.conf.brName);
      if (bridge) return { ...p, bridge, bridgeMac: bridge.address ?? p.bridgeMac };
    }
    if (/vlan_filtering/.test(f.line) && isUnsupported(f.stderr)) throw pluginError(VLAN_FILTERING_MISSING, describeBatchFailure(f.stderr, f.lines));
    throw pluginError(`failed to set up bridge ${JSON.stringify(p.conf.brName)} and veth ${p.hostVeth}`, describeBatchFailure(f.stderr, f.lines));
  });
}

/** VLANs of the port (and of the VLAN gateway's port; undefined `hostVeth`: that one only): one `bridge -batch`. */
export function applyPortVlans(conf: BridgeConf, hostVeth: string | undefined, vlanGatewayPeer?: string): void {
  if (!needsVlanFiltering(conf)) return;
  const lines = hostVeth ? portVlanLines(hostVeth, conf) : [];
  if (vlanGatewayPeer) lines.push(...portVlanLines(vlanGatewayPeer, conf, conf.vlan, []));
  if (!lines.length) return;
  const r = Netns.host().bridge(['-batch', '-'], lines.join('\n') + '\n');
  if (r.status !== 0) {
    if (isUnsupported(r.stderr)) throw pluginError(VLAN_FILTERING_MISSING, r.stderr.trim());
    throw pluginError(`failed to set up VLANs on ${hostVeth ?? vlanGatewayPeer}`, describeBatchFailure(r.stderr, lines));
  }
}

/**
 * Link first (lib/cni/linkfirst.ts): once the IPAM answered, what the host batch could not do before — the gateway
 * addresses on the bridge (or on the `<bridge>.<vlan>` veth, created now with its port VLANs). Nothing without
 * isGateway. Returns the plan with those parts (the result lists the VLAN gateway).
 */
export function applyGateways(host: Netns, plan: HostPlan, gws: Gateways): HostPlan {
  if (!plan.conf.isGW) return plan;
  const next: HostPlan = { ...plan, ...planGateways(host, plan.conf, readBridge(host, plan.conf.brName), gws) };
  const lines = gatewayDeviceLines(next);
  const r = lines.length ? host.ipBatch(lines) : undefined;
  if (r && r.status !== 0) throw pluginError(`failed to set up the gateway on bridge ${JSON.stringify(plan.conf.brName)}`, describeBatchFailure(r.stderr, lines));
  if (next.vlanGateway && !next.vlanGateway.exists) applyPortVlans(plan.conf, undefined, next.vlanGateway.peer);
  return next;
}

/** Best-effort host sysctl writes (the reference ignores their errors: e.g. IPv6 disabled on the host). */
export function hostSysctlsBestEffort(values: Record<string, string>): void {
  for (const [k, v] of Object.entries(values)) {
    try {
      writeFileSync(`/proc/sys/${k}`, v);
    } catch {
      /* ignored as the reference does */
    }
  }
}

/**
 * With DAD on (enabledad), wait until the container's IPv6 addresses are no longer tentative before adding routes
 * (reference SettleAddresses: every 50 ms, up to 5 s; a failed DAD is an error).
 */
export function settleAddresses(ns: Netns, ifname: string, timeoutMs = 5000): void {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = ns.ip(['-j', '-6', 'addr', 'show', 'dev', ifname]);
    if (r.status !== 0) throw pluginError(`failed to read the addresses of ${ifname}`, r.stderr.trim());
    const addrs = (JSON.parse(r.stdout || '[]') as IpLink[])[0]?.addr_info ?? [];
    const failed = addrs.find((a) => a.dadfailed);
    if (failed) throw pluginError(`${ifname} has an address ${failed.local} that failed duplicate address detection`);
    if (!addrs.some((a) => a.tentative && a.scope !== 'link')) return;
    if (Date.now() > deadline) throw pluginError(`${ifname} still has tentative addresses after ${timeoutMs / 1000}s`);
    sleepSync(50);
  }
}

/**
 * L3 container setup: sysctls (setns in-process, else one exec), then addresses, link up and routes (one `ip -batch`). With DAD on and an
 * IPv6 gateway, routes wait until the addresses settled (two batches).
 */
export function configureContainer(container: Netns, ifname: string, gws: Gateways, enableDad: boolean): void {
  container.sysctlSet(containerSysctls(ifname, gws.ips, enableDad), true);
  const lines = configureIfaceCommands(ifname, gws.ips, gws.routes);
  if (enableDad && gws.ips.some((i) => i.gateway && i.address.includes(':'))) {
    const up = lines.findIndex((l) => l.startsWith('link set'));
    container.ipBatchOk(lines.slice(0, up + 1));
    settleAddresses(container, ifname);
    container.ipBatchOk(lines.slice(up + 1));
  } else {
    container.ipBatchOk(lines);
  }
}

/** How long a gratuitous ARP waits for the host end to become a forwarding port (the kernel's link watch does it). */
const PORT_FORWARDING_WAIT_MS = 250;

/**
 * Announce the container's IPv4 addresses with its MAC (lib/garp.ts) once the host end forwards: the kernel makes the
 * port forwarding a moment after the container end came up, and drops what the container sends before (so
 * arp_notify's announcement at link up never reaches the bridge). Best effort; nothing without FFI or IPv4.
 */
export function announceContainer(host: Netns, hostVeth: string, netnsPath: string, ifname: string, mac: string, addresses: readonly string[]): void {
  if (!libc() || !addresses.some((a) => !a.includes(':'))) return;
  for (let waited = 0; waited < PORT_FORWARDING_WAIT_MS; waited += 10) {
    const state = readLink(host, hostVeth, true)?.linkinfo?.info_slave_data?.state;
    if (state === undefined || state === 'forwarding') break;
    sleepSync(10);
  }
  announceAddresses(netnsPath, ifname, mac, addresses);
}

/** ip_forward / IPv6 forwarding for the families that got a gateway on the bridge (written only when not already 1). */
export function enableForwarding(host: Netns, gws: Gateways): void {
  host.sysctlSet(forwardingSysctls(([4, 6] as const).filter((f) => gws.bridgeAddrs[f].length)));
}

/** What the host batch will do: fresh random names/MACs, the bridge's pinned MAC, gateway addresses, VLAN gateway. */
export function planHost(host: Netns, conf: BridgeConf, bridge: IpLink | undefined, gws: Gateways | undefined, ifname: string, netnsPath: string): HostPlan {
  return {
    conf,
    ...(bridge ? { bridge } : {}),
    ...newVethPair(ifname, netnsPath, conf.mac),
    bridgeMac: bridge?.address ?? newMac(),
    ...planGateways(host, conf, bridge, gws),
  };
}

/** The gateway part of a plan (none before the IPs are known): addresses for the bridge or the VLAN gateway veth. */
function planGateways(host: Netns, conf: BridgeConf, bridge: IpLink | undefined, gws: Gateways | undefined): Pick<HostPlan, 'gatewayLines' | 'vlanGateway'> {
  const vlanGw = conf.isGW && conf.vlan !== 0 && gws ? vlanGatewayName(conf) : undefined;
  const vlanGwLink = vlanGw ? readLink(host, vlanGw, true) : undefined;
  const gwDevAddrs = vlanGw ? vlanGwLink?.addr_info : bridge?.addr_info;
  return {
    gatewayLines: gws && conf.isGW ? gatewayAddrLines(vlanGw ?? conf.brName, gwDevAddrs, gws.bridgeAddrs, conf.forceAddress) : [],
    ...(vlanGw ? { vlanGateway: { name: vlanGw, peer: randomVethName(), mac: vlanGwLink?.address ?? newMac(), exists: !!vlanGwLink } } : {}),
  };
}
