/**
 * What a bridge ADD does, computed without side effects: gateways and default routes (reference calcGateways),
 * gateway addresses on the bridge (ensureAddr), the host `ip -batch` lines, the `bridge -batch` VLAN lines and the
 * container sysctls. Pure; unit-tested.
 */
import { configError, pluginError } from '../../lib/cni/errors.js';
import type { IPConfig, Result, Route } from '../../lib/cni/result.js';
import { broadcastOption, ifaceSysctls, type IpLink } from '../../lib/iface.js';
import { vethAddLine, type VethPair } from '../../lib/veth.js';
import { addIP, contains, formatCIDR, formatIP, networkOf, parseCIDR, type CIDR } from '../../lib/ip.js';
import { needsVlanFiltering, type BridgeConf } from './config.js';

export interface Gateways {
  /** Container addresses, all on interface index 2 (the container veth), gateways filled in when isGateway. */
  ips: IPConfig[];
  routes: Route[];
  /** Gateway addresses (gw/prefix of the container's subnet) to put on the bridge, per family. */
  bridgeAddrs: { 4: string[]; 6: string[] };
}

/** Reference calcGateways: gateway = network+1 when IPAM gave none, default route per family when isDefaultGateway. */
export function calcGateways(ipam: Result, conf: BridgeConf): Gateways {
  const routes = [...(ipam.routes ?? [])];
  const out: Gateways = { ips: [], routes, bridgeAddrs: { 4: [], 6: [] } };
  const defaultFound = { 4: false, 6: false };
  for (const ipc of ipam.ips ?? []) {
    const c = parseCIDR(ipc.address);
    if (!c) throw pluginError(`IPAM returned an invalid address ${JSON.stringify(ipc.address)}`);
    const fam = c.ip.family;
    const ip: IPConfig = { ...ipc, interface: 2 };
    if (!ip.gateway && conf.isGW) ip.gateway = formatIP(addIP(networkOf(c).ip, 1n));
    if (conf.isDefaultGW && !defaultFound[fam]) {
      const dflt = fam === 4 ? '0.0.0.0/0' : '::/0';
      defaultFound[fam] = routes.some((r) => r.gw && sameNet(r.dst, dflt));
      if (!defaultFound[fam]) {
        const r: Route = { dst: dflt };
        if (ip.gateway) r.gw = ip.gateway;
        routes.push(r);
        defaultFound[fam] = true;
      }
    }
    if (conf.isGW && ip.gateway) out.bridgeAddrs[fam].push(`${ip.gateway}/${c.prefix}`);
    out.ips.push(ip);
  }
  return out;
}

function sameNet(a: string, b: string): boolean {
  const x = parseCIDR(a);
  const y = parseCIDR(b);
  return !!x && !!y && formatCIDR(networkOf(x)) === formatCIDR(networkOf(y));
}

const canon = (c: CIDR): string => `${formatIP(c.ip)}/${c.prefix}`;

/**
 * `ip -batch` lines that put the gateway addresses on `dev` (reference ensureAddr): an address already there is kept;
 * IPv4 allows one address (a different one is an error unless forceAddress, which replaces it); IPv6 addresses
 * accumulate unless their subnets overlap. `addr replace` makes concurrent ADDs of the same gateway harmless.
 */
export function gatewayAddrLines(dev: string, existing: IpLink['addr_info'], want: Gateways['bridgeAddrs'], forceAddress: boolean): string[] {
  const lines: string[] = [];
  const have = (existing ?? [])
    .filter((a) => a.scope !== 'link' && a.scope !== 'host')
    .map((a) => parseCIDR(`${a.local}/${a.prefixlen}`))
    .filter((c): c is CIDR => !!c);
  for (const fam of [4, 6] as const) {
    for (const gw of want[fam]) {
      const g = parseCIDR(gw)!;
      if (have.some((h) => canon(h) === canon(g))) continue;
      for (const h of have.filter((x) => x.ip.family === fam)) {
        const conflicts = fam === 4 || contains(h, g.ip) || contains(g, h.ip);
        if (!conflicts) continue;
        if (!forceAddress) throw pluginError(`"${dev}" already has an IP address different from ${canon(g)}`, `it has ${canon(h)}; set "forceAddress" to replace it`);
        lines.push(`addr del ${canon(h)} dev ${dev}`);
      }
      lines.push(`addr replace ${canon(g)}${broadcastOption(canon(g))} dev ${dev}`);
      have.push(g);
    }
  }
  return lines;
}

export interface HostPlan extends VethPair {
  conf: BridgeConf;
  /** The bridge as it exists now (undefined: create it). */
  bridge?: IpLink;
  bridgeMac: string;
  /** Extra lines for the gateway addresses (gatewayAddrLines), run after the bridge is up. */
  gatewayLines: string[];
  /** VLAN gateway veth (`<bridge>.<vlan>` and its bridge-side peer) to create, when isGateway with "vlan". */
  vlanGateway?: { name: string; peer: string; mac: string; exists: boolean };
}

/**
 * The host `ip -batch` lines of an ADD. The veth comes first, created straight into the container netns: when the
 * container interface name is taken, nothing at all has been created.
 */
export function hostLinkLines(p: HostPlan): string[] {
  const { conf } = p;
  const br = conf.brName;
  const mtu = conf.mtu ? ` mtu ${conf.mtu}` : '';
  const lines = [vethAddLine(p, conf.mtu)];
  const vlanFiltering = needsVlanFiltering(conf);
  if (!p.bridge) {
    lines.push(`link add ${br} address ${p.bridgeMac}${mtu} type bridge${vlanFiltering ? ' vlan_filtering 1' : ''}`);
  } else {
    if (vlanFiltering && p.bridge.linkinfo?.info_data?.vlan_filtering !== 1) lines.push(`link set dev ${br} type bridge vlan_filtering 1`);
    // Pin the bridge MAC: otherwise the kernel gives it the lowest port MAC, which changes as ports come and go.
    lines.push(`link set dev ${br} address ${p.bridgeMac}`);
  }
  if (conf.promiscMode) lines.push(`link set dev ${br} promisc on`);
  lines.push(`link set dev ${br} up`);
  lines.push(`link set dev ${p.hostVeth} master ${br} up`);
  const port: string[] = [];
  if (conf.hairpinMode) port.push('hairpin on');
  if (conf.portIsolation) port.push('isolated on');
  if (port.length) lines.push(`link set dev ${p.hostVeth} type bridge_slave ${port.join(' ')}`);
  lines.push(...gatewayDeviceLines(p));
  return lines;
}

/**
 * The tail of the host batch: the VLAN gateway veth (when it must be created) and the gateway addresses. Run on its
 * own after the IPAM when the link came first (lib/cni/linkfirst.ts: the addresses are known only then).
 */
export function gatewayDeviceLines(p: HostPlan): string[] {
  const { conf } = p;
  const mtu = conf.mtu ? ` mtu ${conf.mtu}` : '';
  const lines: string[] = [];
  const g = p.vlanGateway;
  if (g && !g.exists) {
    lines.push(`link add ${g.name} address ${g.mac}${mtu} type veth peer name ${g.peer}${mtu}`);
    lines.push(`link set dev ${g.peer} master ${conf.brName} up`, `link set dev ${g.name} up`);
  }
  lines.push(...p.gatewayLines);
  return lines;
}

/** `bridge -batch` lines for the port's VLANs (reference setupVeth): access VLAN (pvid untagged) or trunk (tagged). */
export function portVlanLines(dev: string, conf: BridgeConf, vlan = conf.vlan, vlans = conf.vlans): string[] {
  if (vlan === 0 && vlans.length === 0) return [];
  const lines: string[] = [];
  if (!conf.preserveDefaultVlan) lines.push(`vlan del dev ${dev} vid 1`);
  if (vlan !== 0) lines.push(`vlan add dev ${dev} vid ${vlan} pvid untagged`);
  for (const v of vlans) lines.push(`vlan add dev ${dev} vid ${v}`);
  return lines;
}

/** Container sysctls before its addresses (reference: DAD per enabledad, arp_notify, IPv6 enabled when needed). */
export function containerSysctls(ifname: string, ips: readonly IPConfig[], enableDad: boolean): Record<string, string> {
  const s: Record<string, string> = { ...ifaceSysctls(ifname, ips) };
  if (enableDad) {
    s[`net/ipv6/conf/${ifname}/enhanced_dad`] = '1';
    s[`net/ipv6/conf/${ifname}/accept_dad`] = '1';
  } else {
    s[`net/ipv6/conf/${ifname}/accept_dad`] = '0';
  }
  s[`net/ipv4/conf/${ifname}/arp_notify`] = '1';
  return s;
}

/** The VLAN gateway interface name `<bridge>.<vlan>` must fit in 15 bytes. */
export function vlanGatewayName(conf: BridgeConf): string {
  const name = `${conf.brName}.${conf.vlan}`;
  if (Buffer.byteLength(name) > 15) throw configError(`bridge config: VLAN gateway interface name ${JSON.stringify(name)} ("bridge" + "." + "vlan") is longer than 15 bytes`);
  return name;
}

/** Is an `ip` error about a missing kernel feature (bridge VLAN filtering)? */
export const isUnsupported = (stderr: string): boolean => /Operation not supported|not supported/i.test(stderr);
