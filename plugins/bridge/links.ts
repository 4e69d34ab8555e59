/** Host-side effects of the bridge plugin: reading the bridge, creating bridge + veth in one `ip -batch`, VLANs, sysctls. */
import { randomBytes } from '../../lib/hash.js';
import { writeFileSync } from 'node:fs';
import { pluginError } from '../../lib/cni/errors.js';
import { run } from '../../lib/exec.js';
import { configureIfaceCommands, readLink, type IpLink } from '../../lib/iface.js';
import { describeBatchFailure, type Netns } from '../../lib/netns.js';
import { needsVlanFiltering, type BridgeConf } from './config.js';
import { containerSysctls, gatewayAddrLines, hostLinkLines, isUnsupported, portVlanLines, randomMac, vlanGatewayName, type Gateways, type HostPlan } from './plan.js';

/** The bridge (with addresses and details), undefined when missing; a non-bridge link of that name is an error. */
export function readBridge(host: Netns, name: string): IpLink | undefined {
  const link = readLink(host, name, true);
  if (!link) return undefined;
  if (link.linkinfo?.info_kind !== 'bridge') {
    throw pluginError(`${JSON.stringify(name)} already exists but is not a bridge`, `its kind is ${JSON.stringify(link.linkinfo?.info_kind ?? 'unknown')}`);
  }
  return link;
}

export const randomVethName = (): string => `veth${randomBytes(4).toString('hex')}`;
export const newMac = (): string => randomMac(randomBytes(6));

const VLAN_FILTERING_MISSING =
  'this kernel does not support bridge VLAN filtering (CONFIG_BRIDGE_VLAN_FILTERING), which "vlan" and "vlanTrunk" need';

/**
 * Run the host batch. A name clash of the random host veth name is retried with a new name; a clash of the container
 * interface name is reported as such. Returns the plan actually applied.
 */
export function applyHostLinks(host: Netns, container: Netns, plan: HostPlan): HostPlan {
  for (let attempt = 0; ; attempt++) {
    const lines = hostLinkLines(plan);
    const r = host.ipBatch(lines);
    if (r.status === 0) return plan;
    const failedLine = Number(/Command failed -:(\d+)/.exec(r.stderr)?.[1] ?? 0);
    if (failedLine === 1 && /File exists/.test(r.stderr)) {
      // Either the container name is taken or (rarely) our random host name.
      const taken = container.ip(['link', 'show', 'dev', plan.containerIfname]).status === 0;
      if (taken) throw pluginError(`container veth name provided (${plan.containerIfname}) already exists`);
      if (attempt < 10) {
        plan = { ...plan, hostVeth: randomVethName() };
        continue;
      }
    }
    // Anything after line 1 may have left the veth behind: remove it (tolerant), the caller cleans up the rest.
    if (failedLine > 1) host.ipBatch([`link del ${plan.hostVeth}`], true);
    const line = lines[failedLine - 1] ?? '';
    if (!plan.bridge && line.startsWith(`link add ${plan.conf.brName} `) && /File exists/.test(r.stderr) && attempt < 10) {
      // A concurrent ADD created the bridge between our read and our batch: use theirs.
      const bridge = readBridge(host, plan.conf.brName);
      if (bridge) {
        plan = { ...plan, bridge, bridgeMac: bridge.address ?? plan.bridgeMac };
        continue;
      }
    }
    if (/vlan_filtering/.test(line) && isUnsupported(r.stderr)) throw pluginError(VLAN_FILTERING_MISSING, describeBatchFailure(r.stderr, lines));
    throw pluginError(`failed to set up bridge ${JSON.stringify(plan.conf.brName)} and veth ${plan.hostVeth}`, describeBatchFailure(r.stderr, lines));
  }
}

/** VLANs of the port (and of the VLAN gateway's port): one `bridge -batch`. */
export function applyPortVlans(conf: BridgeConf, hostVeth: string, vlanGatewayPeer?: string): void {
  if (!needsVlanFiltering(conf)) return;
  const lines = portVlanLines(hostVeth, conf);
  if (vlanGatewayPeer) lines.push(...portVlanLines(vlanGatewayPeer, conf, conf.vlan, []));
  const r = run('bridge', ['-batch', '-'], { input: lines.join('\n') + '\n' });
  if (r.status !== 0) {
    if (isUnsupported(r.stderr)) throw pluginError(VLAN_FILTERING_MISSING, r.stderr.trim());
    throw pluginError(`failed to set up VLANs on ${hostVeth}`, describeBatchFailure(r.stderr, lines));
  }
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

/** Remove the host veth (and with it the container end); tolerant of it being gone. */
export function deleteHostVeth(host: Netns, name: string): void {
  host.ipBatch([`link del ${name}`], true);
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
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50);
  }
}

/**
 * L3 container setup: sysctls (one exec), then addresses, link up and routes (one `ip -batch`). With DAD on and an
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

/** ip_forward / IPv6 forwarding for the families that got a gateway on the bridge (written only when not already 1). */
export function enableForwarding(host: Netns, gws: Gateways): void {
  const fwd: Record<string, string> = {};
  if (gws.bridgeAddrs[4].length) fwd['net/ipv4/ip_forward'] = '1';
  if (gws.bridgeAddrs[6].length) fwd['net/ipv6/conf/all/forwarding'] = '1';
  host.sysctlSet(fwd);
}

/** What the host batch will do: fresh random names/MACs, the bridge's pinned MAC, gateway addresses, VLAN gateway. */
export function planHost(host: Netns, conf: BridgeConf, bridge: IpLink | undefined, gws: Gateways | undefined, ifname: string, netnsPath: string): HostPlan {
  const vlanGw = conf.isGW && conf.vlan !== 0 && gws ? vlanGatewayName(conf) : undefined;
  const vlanGwLink = vlanGw ? readLink(host, vlanGw, true) : undefined;
  const gwDevAddrs = vlanGw ? vlanGwLink?.addr_info : bridge?.addr_info;
  return {
    conf,
    ...(bridge ? { bridge } : {}),
    bridgeMac: bridge?.address ?? newMac(),
    hostVeth: randomVethName(),
    hostMac: newMac(),
    containerIfname: ifname,
    containerMac: conf.mac ?? newMac(),
    netnsPath,
    gatewayLines: gws && conf.isGW ? gatewayAddrLines(vlanGw ?? conf.brName, gwDevAddrs, gws.bridgeAddrs, conf.forceAddress) : [],
    ...(vlanGw ? { vlanGateway: { name: vlanGw, peer: randomVethName(), mac: vlanGwLink?.address ?? newMac(), exists: !!vlanGwLink } } : {}),
  };
}
